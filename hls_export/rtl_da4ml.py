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


def _kif(t: dict) -> tuple[int, int, int]:
    """``(keep_negative, integer bits without sign, fractional bits)`` of a program type."""
    k = int(bool(t["signed"]))
    return k, int(t["integer"]) - k, int(t["width"]) - int(t["integer"])


def _quantize_var(v, t: dict):
    """One FixedVariable converted to the type ``t`` (ap_fixed semantics: round, then overflow)."""
    k, i, f = _kif(t)
    rnd, ovf = t["round"], t["overflow"]
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
    y = patches @ w                                               # (positions, n_out)
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
    from da4ml.trace.ops import relu

    return relu(env[op["src"]])


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
    if fn == "max":
        return np.maximum(a, b)
    if fn == "min":
        return np.minimum(a, b)
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
    out = vals[:, 0]
    for j in range(1, index.shape[1]):
        out = np.maximum(out, vals[:, j])
    return quantize(out, op.get("accum"))


def _op_affine(op, env, arrays):
    x = env[op["src"]]
    return x * arrays[op["scale"]] + arrays[op["bias"]]


OPS = {"linear": _op_linear, "gather": _op_gather, "table": _op_table, "relu": _op_relu,
       "binary": _op_binary, "reduce": _op_reduce, "affine": _op_affine}


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
    inputs, outputs = trace(program, arrays)
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
