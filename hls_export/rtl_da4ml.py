"""Trace an RTL program (written by :mod:`triginfer.hls_export.rtl`) with da4ml; write HDL.

Runs in the RTL environment (``.venv-rtl``: da4ml 0.6 needs numpy >= 2, which
TensorFlow 2.14 refuses), as a script::

    .venv-rtl/bin/python rtl_da4ml.py PROGRAM_DIR OUT_DIR [--hdl verilog|vhdl]
        [--latency-cutoff C] [--clock-ns NS] [--name NAME]

It imports numpy and da4ml only (never the triginfer package). The program
(``rtl_program.json`` + ``rtl_program.npz``) is the firmware's graph reduced to
a few operations on flat tensors of real (dyadic) values, each followed by the
conversion to a fixed-point type with its rounding and overflow mode:

``input``, ``linear`` (patches of the input times a constant matrix plus a
bias: dense layers and convolutions), ``gather`` (data movement: reshape,
transpose, padding, cropping, concatenation), ``table`` (an elementwise lookup
table computed by the emulator), ``relu``, ``binary`` (add, sub, mul, max, min,
avg), ``reduce`` (max over windows) and ``affine`` (x * scale + bias).

da4ml's quantizer has TRN and RND rounding and WRAP/SAT/SAT_SYM overflow;
``RND_CONV`` (round half to even) and ``RND_MIN_INF`` (round half down) are built
here from its primitives: add ``2^-(f+1) - 2^-F`` (plus ``2^-F`` times the bit
that becomes the LSB, for RND_CONV) and truncate. The other modes are refused
by the caller before any tracing.

Writes, into OUT_DIR: da4ml's project (``src/*.v``), and ``trace.json`` with
the bit layout of every input and output element (keep-negative, integer and
fractional bits: da4ml narrows types to the values that can occur), the
number of pipeline stages and da4ml's cost figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

#: da4ml 0.6 computes comparisons (max, min, relu, saturation, sign tests) correctly only on
#: values of at most this many bits (measured: a 33-bit relu gives x + 64 for x = -2)
COMPARE_BITS = 32
_CURRENT = {"layer": "?"}


class WidthError(Exception):
    """A comparison on a value wider than da4ml handles."""


def _check_width(v, what: str) -> None:
    bits = int(sum(v.kif))
    if bits > COMPARE_BITS and v.low != v.high:
        raise WidthError(f"RTL-UNSUPPORTED layer {_CURRENT['layer']!r}: {what} of a {bits}-bit "
                         f"value; da4ml 0.6 compares values of at most {COMPARE_BITS} bits "
                         "(narrow this layer's input type in the hls4ml configuration)")


def _kif(t: dict) -> tuple[int, int, int]:
    """``(keep_negative, integer bits without sign, fractional bits)`` of a program type."""
    k = int(bool(t["signed"]))
    return k, int(t["integer"]) - k, int(t["width"]) - int(t["integer"])


def _quantize_var(v, t: dict):
    """One FixedVariable converted to the type ``t`` (ap_fixed semantics: round, then overflow)."""
    k, i, f = _kif(t)
    rnd, ovf = t["round"], t["overflow"]
    if ovf != "WRAP" and v.low != v.high:
        _k, _i, _f = v.kif
        if (v.low < -(2.0 ** i) * k or v.high > 2.0 ** i - 2.0 ** -f):   # saturation possible
            if _k + _i + min(_f, f + 1) > COMPARE_BITS:
                # round first (exact: rounding is monotone), then saturate the narrow value
                wide = {**t, "width": _k + _i + f + 2, "integer": _k + _i + 2, "signed": True,
                        "overflow": "WRAP"}
                v = _quantize_var(v, wide)
                rnd = "TRN"
            _check_width(v.quantize(*v.kif[:2], min(v.kif[2], f + 1), "WRAP", "TRN"),
                         "saturation")
    if rnd in ("TRN", "RND"):
        return v.quantize(k, i, f, ovf, rnd)
    _, _, big_f = v.kif
    if big_f <= f or v.low == v.high:
        # nothing below the target LSB (or a constant, exact here): no rounding happens
        if v.low == v.high:
            value = float(v.low)
            lsb = 2.0 ** -f
            q = value / lsb
            floor = np.floor(q)
            rest = q - floor
            if rest > 0.5 or (rest == 0.5 and (rnd == "RND_CONV" and floor % 2 == 1)):
                floor += 1
            return type(v).from_const(floor * lsb, hwconf=v.hwconf, _factor=1).quantize(
                k, i, f, ovf, "TRN")
        return v.quantize(k, i, f, ovf, "TRN")
    offset = 2.0 ** -(f + 1) - 2.0 ** -big_f
    if rnd == "RND_MIN_INF":
        return (v + offset).quantize(k, i, f, ovf, "TRN")
    if rnd == "RND_CONV":
        parity = (v * 2.0 ** f).quantize(0, 1, 0, "WRAP", "TRN")     # the future LSB
        return (v + offset + parity * 2.0 ** -big_f).quantize(k, i, f, ovf, "TRN")
    raise ValueError(f"rounding mode {rnd} has no da4ml form")


def quantize(x, t: dict | None):
    """A FixedVariableArray converted elementwise to ``t`` (None: unchanged)."""
    from da4ml.trace import FixedVariableArray

    if t is None:
        return x
    flat = np.array([_quantize_var(v, t) for v in x._vars.ravel()], dtype=object)
    return FixedVariableArray(flat.reshape(x._vars.shape), x.solver_options, hwconf=x.hwconf)


def _with_zero(x):
    """The flat tensor with one constant 0 appended (index -1 reads it)."""
    from da4ml.trace import FixedVariableArray

    flat = list(x._vars.ravel()) + [0.0]
    return FixedVariableArray(np.array(flat, dtype=object), x.solver_options, hwconf=x.hwconf)


def _take(x, index: np.ndarray):
    """Elements of the flat tensor by index (-1: a constant 0)."""
    ext = _with_zero(x)
    idx = np.where(index < 0, ext.shape[0] - 1, index)
    return ext[idx]


def _op_linear(op, env, arrays):
    x = env[op["src"]]
    patches = _take(x, arrays[op["index"]])                       # (positions, K)
    w = arrays[op["weight"]]
    b = arrays[op["bias"]]
    if op.get("round_products"):
        # hls4ml converts each product to the accumulator (its rounding; wrapping each term
        # then the sum equals wrapping the sum, as the accumulator wraps)
        from da4ml.trace import FixedVariableArray

        rows = patches._vars
        out = np.empty((rows.shape[0], w.shape[1]), dtype=object)
        for p in range(rows.shape[0]):
            for j in range(w.shape[1]):
                total = None
                for k in np.nonzero(w[:, j])[0]:
                    term = _quantize_var(rows[p, k] * float(w[k, j]), op["accum"])
                    total = term if total is None else total + term
                out[p, j] = (total + float(b[j])) if total is not None else float(b[j])
        y = FixedVariableArray(out, x.solver_options, hwconf=x.hwconf)
        return quantize(y, op["accum"]).reshape(-1)
    # da4ml's constant-matrix solver takes float32 matrices: weights with more significant
    # bits are split into float32-exact parts whose products are summed exactly
    y = None
    rest = w.astype(np.float64)
    while np.any(rest != 0):
        part = rest.astype(np.float32).astype(np.float64)
        term = patches @ part                                     # (positions, n_out)
        y = term if y is None else y + term
        rest = rest - part
    if y is None:
        y = patches @ w
    y = y + b[None, :]
    y = quantize(y, op.get("accum"))
    return y.reshape(-1)


def _op_gather(op, env, arrays):
    from da4ml.trace import FixedVariableArray

    parts = [env[s]._vars.ravel() for s in op["srcs"]]
    cat = FixedVariableArray(np.concatenate(parts), env[op["srcs"][0]].solver_options,
                             hwconf=env[op["srcs"][0]].hwconf)
    return _take(cat, arrays[op["index"]])


def _op_table(op, env, arrays):
    from da4ml.trace import FixedVariableArray
    from da4ml.trace.fixed_variable_array import LookupTable  # noqa: F401 (API check)

    x = env[op["src"]]
    in_pos = arrays[op["in_pos"]]
    table_id = arrays[op["table_id"]]
    tables = arrays[op["tables"]]                                 # (n_tables, 2**width) reals
    in_t = op["in_type"]
    k, i, f = _kif(in_t)
    lsb = 2.0 ** -f
    lo_m = -(1 << (int(in_t["width"]) - 1)) if k else 0
    out = []
    flat = x._vars.ravel()
    for e in range(in_pos.shape[0]):
        v = flat[in_pos[e]]
        table = tables[table_id[e]]

        def fn(values, table=table):
            m = np.round(np.asarray(values, dtype=np.float64) / lsb).astype(np.int64) - lo_m
            return table[np.clip(m, 0, table.shape[0] - 1)]

        single = FixedVariableArray(np.array([v], dtype=object), x.solver_options,
                                    hwconf=x.hwconf).apply(fn)
        ok, oi, of = _kif(op["type"])
        out.append(single.quantize(ok, oi, of, "WRAP", "TRN")._vars[0])
    return FixedVariableArray(np.array(out, dtype=object), x.solver_options, hwconf=x.hwconf)


def _op_relu(op, env, arrays):
    """max(x, 0); a wide x is rounded to the result's LSB first (exact: rounding is monotone
    and keeps 0), so the comparison is on a narrow value."""
    from da4ml.trace.ops import relu

    x = env[op["src"]]
    t = op["type"]
    _, _, f = _kif(t)
    if max(sum(v.kif) for v in x._vars.ravel()) > COMPARE_BITS:
        k0, i0, _ = (max(a) for a in zip(*(v.kif for v in x._vars.ravel()), strict=False))
        # one more integer bit: rounding up the largest value must not wrap
        x = quantize(x, {**t, "signed": bool(k0), "width": int(k0 + i0 + 1 + f),
                         "integer": int(k0 + i0 + 1), "overflow": "WRAP"})
    for v in x._vars.ravel():
        _check_width(v, "relu")
    return relu(x)


def _op_binary(op, env, arrays):
    a = _take(env[op["a"]], arrays[op["a_index"]])
    b = _take(env[op["b"]], arrays[op["b_index"]])
    fn = op["fn"]
    if fn == "add":
        return a + b
    if fn == "sub":
        return a - b
    if fn == "avg":
        return (a + b) * 0.5
    if fn == "mul":
        return a * b
    if fn in ("max", "min"):
        for v in list(a._vars.ravel()) + list(b._vars.ravel()):
            _check_width(v, f"merge {fn}")
        return np.maximum(a, b) if fn == "max" else np.minimum(a, b)
    raise ValueError(f"binary op {fn!r}")


def _op_reduce(op, env, arrays):
    from da4ml.trace import FixedVariableArray

    x = env[op["src"]]
    index = arrays[op["index"]]                                   # (outputs, window)
    pad = float(op.get("pad", 0.0))
    flat = list(x._vars.ravel()) + [pad]
    ext = FixedVariableArray(np.array(flat, dtype=object), x.solver_options, hwconf=x.hwconf)
    vals = ext[np.where(index < 0, len(flat) - 1, index)]
    if op["fn"] != "max":
        raise ValueError(f"reduce {op['fn']!r}")
    for v in x._vars.ravel():
        _check_width(v, "max pooling")
    out = vals[:, 0]
    for j in range(1, index.shape[1]):
        out = np.maximum(out, vals[:, j])
    return quantize(out, op.get("accum"))


def _op_affine(op, env, arrays):
    x = env[op["src"]]
    return x * arrays[op["scale"]] + arrays[op["bias"]]


def _tree_reduce(values: list, op):
    """hls4ml's ``nnet::reduce``: a balanced tree, the left part the largest power of 2 < N."""
    n = len(values)
    if n == 1:
        return values[0]
    if n == 2:
        return op(values[0], values[1])
    left = 1 << ((n - 1).bit_length() - 1)
    return op(_tree_reduce(values[:left], op), _tree_reduce(values[left:], op))


def _top_bits_lookup(v, t: dict, n_bits: int, table: np.ndarray, out_kif, solver, hwconf):
    """``table[top n_bits of v's bit pattern in type t]`` (hls4ml's softmax index)."""
    from da4ml.trace import FixedVariableArray

    k, i, f = _kif(t)
    fp = f - (int(t["width"]) - n_bits)
    y = v.quantize(k, i, fp, "WRAP", "TRN")

    def fn(values):
        m = np.round(np.asarray(values, dtype=np.float64) * 2.0 ** fp).astype(np.int64)
        return table[np.mod(m, 1 << n_bits)]

    single = FixedVariableArray(np.array([y], dtype=object), solver, hwconf=hwconf).apply(fn)
    return single.quantize(*out_kif, "WRAP", "TRN")._vars[0]


def _op_softmax(op, env, arrays):
    """hls4ml's latency and stable softmax (see firmware/kinds/softmax.py)."""
    from da4ml.trace import FixedVariableArray

    x = env[op["src"]]
    flat = x._vars.ravel()
    n_outer, n_slice, n_inner = op["n_outer"], op["n_slice"], op["n_inner"]
    if op["implementation"] != "argmax":
        exp_table, inv_table = arrays[op["exp_table"]], arrays[op["inv_table"]]
        exp_kif, inv_kif = _kif(op["accum"]), _kif(op["inv_table_type"])
    out = np.empty(flat.shape, dtype=object)
    for o in range(n_outer):
        for c in range(n_inner):
            pos = [o * n_slice * n_inner + j * n_inner + c for j in range(n_slice)]
            data = [flat[p] for p in pos]
            if op["implementation"] == "argmax":
                # one-hot of the first maximum: above every earlier value, not below any later
                for d in data:
                    _check_width(d, "softmax argmax")
                for j, p in enumerate(pos):
                    bits = [data[j] > data[i] for i in range(j)]
                    bits += [~(data[j] < data[i]) for i in range(j + 1, n_slice)]
                    hot = bits[0] if bits else 1.0
                    for b in bits[1:]:
                        hot = hot & b
                    out[p] = hot
                continue
            if op["implementation"] == "stable":
                for d in data:
                    _check_width(d, "softmax maximum")
                x_max = _tree_reduce(data, lambda a, b: a.max_of(b))
                keys = [_quantize_var(x_max - d, op["key_type"]) for d in data]
            else:
                keys = data
            exp_res = [_top_bits_lookup(k, op["key_type"], op["exp_bits"], exp_table, exp_kif,
                                        x.solver_options, x.hwconf) for k in keys]
            total = _tree_reduce(exp_res, lambda a, b: _quantize_var(a + b, op["accum"]))
            total = _quantize_var(total, op["inv_inp"])
            inv = _top_bits_lookup(total, op["inv_inp"], op["inv_bits"], inv_table, inv_kif,
                                   x.solver_options, x.hwconf)
            for p, e in zip(pos, exp_res, strict=False):
                out[p] = e * inv
    return FixedVariableArray(out, x.solver_options, hwconf=x.hwconf)


def _lookup(v, fn, out_type: dict, x):
    """``fn`` of one variable as a lookup table (da4ml tabulates it over v's range)."""
    from da4ml.trace import FixedVariableArray

    single = FixedVariableArray(np.array([v], dtype=object), x.solver_options,
                                hwconf=x.hwconf).apply(fn)
    return single.quantize(*_kif(out_type), "WRAP", "TRN")._vars[0]


def _trunc_int(v):
    """C's conversion to int (toward zero) of a variable."""
    k, i, f = v.kif
    floor = v.quantize(k, i, 0, "WRAP", "TRN")
    if f <= 0 or not k or v.low >= 0:
        return floor
    fractional = (v - floor).unary_bit_op("any")        # 1 when a bit below the point is set
    return floor + (v.is_negative() & fractional)


def _map(x, fn):
    from da4ml.trace import FixedVariableArray

    flat = x._vars.ravel()
    for v in flat:
        _check_width(v, "a comparison")
    out = np.array([fn(e, v) for e, v in enumerate(flat)], dtype=object)
    return FixedVariableArray(out, x.solver_options, hwconf=x.hwconf)


def _op_select_pos(op, env, arrays):
    """leaky relu / prelu: x where x > 0, else alpha * x."""
    alpha = arrays[op["alpha"]]
    return _map(env[op["src"]], lambda e, v: (v > 0).msb_mux(v, v * float(alpha[e])))


def _op_threshold(op, env, arrays):
    theta = float(op["theta"])
    return _map(env[op["src"]], lambda e, v: (v > theta).msb_mux(v, 0.0))


def _op_ternary(op, env, arrays):
    hi, lo = arrays[op["hi"]], arrays[op["lo"]]

    def one(e, v):
        low = (v > float(lo[e])).msb_mux(0.0, -1.0)     # -1 at or below lo
        return (v > float(hi[e])).msb_mux(1.0, low)
    return _map(env[op["src"]], one)


def _op_hard(op, env, arrays):
    """hard sigmoid: slope * x + shift clipped to [0, 1]; hard tanh: twice that minus 1."""
    slope, shift = float(op["slope"]), float(op["shift"])

    def one(e, v):
        h = (v * slope + shift).max_of(0.0).min_of(1.0)
        return h * 2.0 - 1.0 if op["twice"] else h
    return _map(env[op["src"]], one)


def _op_sign(op, env, arrays):
    """binary tanh: 1 where x >= 0, else ``low``."""
    low = float(op["low"])
    return _map(env[op["src"]], lambda e, v: v.is_negative().msb_mux(low, 1.0))


def _op_table_index(op, env, arrays):
    """hls4ml's table activations: table[clip(int(x * size / span) + size / 2)]."""
    x = env[op["src"]]
    table = arrays[op["table"]]
    half, size = int(op["half"]), int(op["size"])

    def one(e, v):
        idx = _trunc_int(v * float(op["scale"])).max_of(-half).min_of(size - 1 - half)
        return _lookup(idx, lambda vals: table[np.round(vals).astype(np.int64) + half],
                       op["table_type"], x)
    return _map(x, one)


def _op_embed(op, env, arrays):
    """Embedding: rows of a constant table by floor(x) clipped to the table."""
    from da4ml.trace import FixedVariableArray

    x = env[op["src"]]
    table = arrays[op["table"]]
    rows, depth = table.shape
    out = []
    for v in x._vars.ravel():
        k, i, _ = v.kif
        idx = v.quantize(k, i, 0, "WRAP", "TRN").max_of(0).min_of(rows - 1)
        for d in range(depth):
            out.append(_lookup(idx, lambda vals, d=d: table[np.round(vals).astype(np.int64), d],
                               op["table_type"], x))
    return FixedVariableArray(np.array(out, dtype=object), x.solver_options, hwconf=x.hwconf)


def _div_trunc(a, length: int, frac: int):
    """trunc(a / length) on the grid 2**-frac (C's integer division of the mantissa)."""
    if length == 1:
        return a
    _check_width(a, "average pooling sign")
    k, i, f = a.kif
    bits = k + i + f
    shift = bits + int(np.ceil(np.log2(length))) + 1
    c = float(np.ceil(2.0 ** shift / length)) / 2.0 ** shift     # floor(|a| c) = floor(|a|/L)
    q = (abs(a) * c).quantize(0, i + 1, frac, "WRAP", "TRN")
    if a.low >= 0:
        return q
    return a.is_negative().msb_mux(-q, q)


def _op_avgpool(op, env, arrays):
    """Average pooling: the window summed in accum_t (each addition converted), divided by
    the cell count with C's truncating division."""
    from da4ml.trace import FixedVariableArray

    x = env[op["src"]]
    flat = list(x._vars.ravel())
    index, lengths = arrays[op["index"]], arrays[op["lengths"]]
    accum = op["accum"]
    _, _, acc_f = _kif(accum)
    out = []
    for row, length in zip(index, lengths, strict=False):
        acc = None
        for j in row:
            term = flat[j] if j >= 0 else None
            if term is not None and op.get("addend"):
                term = _quantize_var(term, op["addend"])
            if acc is None:
                acc = _quantize_var(term, accum) if term is not None else None
            elif term is not None:
                acc = _quantize_var(acc + term, accum)
        if acc is None:
            out.append(0.0)
            continue
        out.append(_div_trunc(acc, int(length), acc_f))
    return FixedVariableArray(np.array(out, dtype=object), x.solver_options, hwconf=x.hwconf)


def _op_dot(op, env, arrays):
    """Dot: each product converted to accum_t, summed in order in accum_t."""
    from da4ml.trace import FixedVariableArray

    a, b = env[op["a"]]._vars.ravel(), env[op["b"]]._vars.ravel()
    acc = None
    for u, v in zip(a, b, strict=False):
        p = _quantize_var(u * v, op["accum"])
        acc = p if acc is None else _quantize_var(acc + p, op["accum"])
    x = env[op["a"]]
    return FixedVariableArray(np.array([acc], dtype=object), x.solver_options, hwconf=x.hwconf)


def _op_quantize(op, env, arrays):
    """HGQ's per-value quantizer: each variable converted to its own type (0 where pruned)."""
    from da4ml.trace import FixedVariableArray

    x = env[op["src"]]
    group = np.asarray(arrays[op["group"]]).reshape(-1)
    types = op["types"]
    flat = [0.0 if types[g] is None else _quantize_var(v, types[g])
            for v, g in zip(x._vars.ravel(), group, strict=True)]
    return FixedVariableArray(np.array(flat, dtype=object), x.solver_options, hwconf=x.hwconf)


OPS = {"linear": _op_linear, "gather": _op_gather, "table": _op_table, "relu": _op_relu,
       "binary": _op_binary, "reduce": _op_reduce, "affine": _op_affine,
       "softmax": _op_softmax, "select_pos": _op_select_pos, "threshold": _op_threshold,
       "ternary": _op_ternary, "table_index": _op_table_index, "embed": _op_embed,
       "avgpool": _op_avgpool, "dot": _op_dot, "hard": _op_hard, "sign": _op_sign,
       "quantize": _op_quantize}


def trace(program: dict, arrays) -> tuple[list, list]:
    """The program as da4ml variables: (input arrays, output arrays)."""
    from da4ml.trace import FixedVariableArray

    env = {}
    inputs = []
    for op in program["ops"]:
        if op["op"] == "input":
            k, i, f = _kif(op["type"])
            n = int(op["size"])
            x = FixedVariableArray.from_kif(np.full(n, k), np.full(n, i), np.full(n, f))
            inputs.append(x)
            env[op["name"]] = x
            continue
        started = time.perf_counter()
        _CURRENT["layer"] = op["name"]
        value = OPS[op["op"]](op, env, arrays)
        env[op["name"]] = quantize(value.reshape(-1), op.get("type"))
        print(f"  traced {op['name']} ({op['op']}, {env[op['name']].shape[0]} values) in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    outputs = [env[name] for name in program["outputs"]]
    return inputs, outputs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("program")
    ap.add_argument("out")
    ap.add_argument("--hdl", default="verilog", choices=("verilog", "vhdl"))
    ap.add_argument("--latency-cutoff", type=float, default=5.0)
    ap.add_argument("--clock-ns", type=float, default=5.0)
    ap.add_argument("--name", default="model")
    ap.add_argument("--predict", nargs=2, metavar=("INPUTS.npy", "OUTPUTS.npy"), default=None,
                    help="also run da4ml's own interpreter on real-valued inputs (a diagnostic)")
    args = ap.parse_args(argv)

    import da4ml
    from da4ml.codegen import RTLModel
    from da4ml.trace import FixedVariableArray, comb_trace, to_pipeline
    from da4ml.types import minimal_kif

    program_dir = Path(args.program)
    program = json.loads((program_dir / "rtl_program.json").read_text())
    arrays = dict(np.load(program_dir / "rtl_program.npz"))
    started = time.perf_counter()
    try:
        inputs, outputs = trace(program, arrays)
    except WidthError as exc:
        print(str(exc), file=sys.stderr)
        return 3
    flat_in = FixedVariableArray(np.concatenate([x._vars.ravel() for x in inputs]),
                                 inputs[0].solver_options, hwconf=inputs[0].hwconf)
    flat_out = FixedVariableArray(np.concatenate([y._vars.ravel() for y in outputs]),
                                  inputs[0].solver_options, hwconf=inputs[0].hwconf)
    comb = comb_trace(flat_in, flat_out, keep_dead_inputs=True)
    traced_s = time.perf_counter() - started
    if args.predict:
        values = np.load(args.predict[0])
        np.save(args.predict[1], np.asarray(comb.predict(values), dtype=np.float64))
    pipe = to_pipeline(comb, args.latency_cutoff, verbose=False)
    model = RTLModel(pipe, args.name, args.out, flavor=args.hdl,
                     latency_cutoff=args.latency_cutoff, clock_period=args.clock_ns,
                     print_latency=False)
    model.write()

    def kifs(qints):
        return [[int(a) for a in minimal_kif(q)] for q in qints]

    def consts(qints):
        return [float(q.min) if q.min == q.max else None for q in qints]

    info = {
        "da4ml": da4ml.__version__ if hasattr(da4ml, "__version__") else "unknown",
        "numpy": np.__version__,
        "module": args.name,
        "hdl": args.hdl,
        "stages": len(pipe.solutions),
        "latency_cutoff": args.latency_cutoff,
        "cost": float(comb.cost),
        "inputs": kifs(comb.inp_qint),
        "outputs": kifs(comb.out_qint),
        "output_constants": consts(comb.out_qint),
        "trace_s": traced_s,
    }
    Path(args.out, "trace.json").write_text(json.dumps(info, indent=1))
    print(json.dumps({k: info[k] for k in ("stages", "cost", "trace_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
