"""The lowered program the generated engine and the RTL flow share.

:func:`build_program` reduces a FirmwareSpec's graph to a few operations on flat tensors
of real values, each converted to the layer's fixed-point type (its rounding, then its
overflow): dense layers and convolutions become patch index maps plus constant matrices
(the emulator's own im2col, applied to index tensors); data movement (reshape, transpose,
padding, cropping, upsampling, concatenation) becomes an index map (the layer's own
emulation applied to index tensors); relu, batch norm, merges and max pooling map to their
operations; every other elementwise layer with an input of at most ``table_bits`` bits
becomes a lookup table whose entries the emulator computes (right by construction). A
layer with no form is refused naming the layer, before any tool runs. With ``engine`` the
compiled emulator's variant (softmax, dot, average pooling and wide tables kept).

It lives with the emulator (whose arithmetic fills its tables) so that the engine
(:mod:`triginfer.emulation.compiled`) and the RTL flow (:mod:`triginfer.hls_export.rtl`)
both depend on it without depending on each other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triginfer.errors import UnsupportedModelError
from triginfer.quantization.fixed import FixedType

#: Rounding and overflow modes the RTL flow expresses (RND_CONV and RND_MIN_INF built
#: from da4ml's TRN and an offset).
RTL_ROUNDING = ("TRN", "RND", "RND_CONV", "RND_MIN_INF")
RTL_OVERFLOW = ("WRAP", "SAT", "SAT_SYM")
#: Widest input of an elementwise layer turned into a lookup table (2**bits entries).
DEFAULT_TABLE_BITS = 12
#: Widest value (declared type) the flow takes: measured exact at 56 bits (a dense layer with a
#: 56-bit accumulator and a saturating relu), wrong at 61 (the separable1d zoo model).
MAX_VALUE_BITS = 56

def _type(t: FixedType, layer: str, check: bool = True) -> dict[str, Any]:
    if check and t.rounding not in RTL_ROUNDING:
        raise UnsupportedModelError(
            f"layer {layer!r}: rounding mode {t.rounding} of {t} has no RTL form (da4ml "
            f"expresses {', '.join(RTL_ROUNDING)})")
    if check and t.overflow not in RTL_OVERFLOW:
        raise UnsupportedModelError(
            f"layer {layer!r}: overflow mode {t.overflow} of {t} has no RTL form (da4ml "
            f"expresses {', '.join(RTL_OVERFLOW)})")
    return {"signed": bool(t.signed), "width": int(t.width), "integer": int(t.integer),
            "round": t.rounding, "overflow": t.overflow, "text": str(t)}


class _Builder:
    """The program of a spec. ``engine=True`` builds it for the compiled emulator
    (:mod:`triginfer.emulation.compiled`), whose C arithmetic has every rounding and
    overflow mode, any width the emulator's float path holds, and the float index
    arithmetic of hls4ml's tables, so the RTL-only refusals are lifted there."""

    def __init__(self, spec, emulator, table_bits: int, engine: bool = False) -> None:
        self.spec = spec
        self.emu = emulator
        self.table_bits = int(table_bits)
        self.engine = bool(engine)
        self.ops: list[dict] = []
        self.arrays: dict[str, np.ndarray] = {}

    def real(self, mantissas, lsb: float, what: str) -> np.ndarray:
        """Mantissas times their LSB as float64 reals, refused where float64 would round them
        (the engine's arithmetic is exact only on exact constants)."""
        m = np.asarray(mantissas)
        if m.size and np.abs(m).max() >= 2.0 ** 53:
            raise UnsupportedModelError(f"{what}: constants of more than 53 bits")
        return m.astype(np.float64) * lsb

    def _t(self, t: FixedType, layer: str) -> dict[str, Any]:
        return _type(t, layer, check=not self.engine)

    def array(self, key: str, value: np.ndarray) -> str:
        self.arrays[key] = np.ascontiguousarray(value)
        return key

    def held(self, name: str) -> FixedType:
        return self.emu.result_type(name)

    def size(self, name: str) -> int:
        return int(np.prod(self.spec.layer(name).output_shape))

    def probe_index(self, layer) -> np.ndarray:
        """Source index (into the concatenated flat inputs; -1 = zero) of each output value,
        from the layer's own emulation run on index tensors."""
        from triginfer.firmware import kinds
        from triginfer.firmware.kinds.base import EmuTensor

        kind = kinds.get(layer.kind)
        xs, offset = [], 0
        for src in layer.inputs:
            shape = self.spec.layer(src).output_shape
            n = int(np.prod(shape))
            xs.append(EmuTensor(np.arange(offset + 1, offset + n + 1, dtype=np.int64)
                                .reshape(1, *shape), 0))
            offset += n

        class _Ctx:
            float_mode = False
            monitoring = False
            compiled = False
            stats = None

        value = kind.emulate(layer, self.emu.plan(layer.name), xs, _Ctx())
        if value.frac != 0:
            raise UnsupportedModelError(f"layer {layer.name!r}: not a data-movement layer")
        return np.asarray(value.m).reshape(-1).astype(np.int64) - 1

    def table(self, layer, in_pos: np.ndarray) -> dict:
        """An elementwise lookup table built by the emulator (every input value)."""
        src = layer.inputs[0]
        t = self.held(src)
        if t.width > self.table_bits:
            raise UnsupportedModelError(
                f"layer {layer.name!r} ({layer.kind}): its input type {t} has {t.width} bits; "
                f"lookup tables are built for inputs of up to {self.table_bits} bits "
                "(--table-bits), and this kind has no other RTL form")
        values = np.arange(t.min_mantissa, t.max_mantissa + 1, dtype=np.int64)
        shape = self.spec.layer(src).output_shape
        m = np.repeat(values[:, None], self.size(src), axis=1).reshape(len(values), *shape)
        out = self.emu.run_layer(layer.name, [m]).reshape(len(values), -1)   # (values, outputs)
        result = self.held(layer.name)
        real = self.real(out.T, result.lsb, f"layer {layer.name!r} table")     # (outputs, values)
        uniq, table_id = np.unique(real, axis=0, return_inverse=True)
        return {"op": "table", "name": layer.name, "src": src,
                "in_pos": self.array(f"{layer.name}/in_pos", in_pos.astype(np.int64)),
                "table_id": self.array(f"{layer.name}/table_id", table_id.reshape(-1)),
                "tables": self.array(f"{layer.name}/tables", uniq),
                "in_type": self._t(t, layer.name)}

    def softmax(self, layer, plan) -> dict:
        """hls4ml's latency/stable softmax: table lookups on the top bits, an adder tree in
        accum_t, the inverse table, one product per value."""
        from triginfer.firmware.kinds.softmax import _bits

        p = layer.params
        impl = p["implementation"]
        if impl == "argmax":
            return {"op": "softmax", "name": layer.name, "src": layer.inputs[0],
                    "implementation": impl, "n_outer": int(p["n_outer"]),
                    "n_slice": int(p["n_slice"]), "n_inner": int(p["n_inner"])}
        if impl == "legacy" and self.engine:
            t = layer.fixed("table")
            return {"op": "softmax", "name": layer.name, "src": layer.inputs[0],
                    "implementation": impl, "n_outer": int(p["n_outer"]),
                    "n_slice": int(p["n_slice"]), "n_inner": int(p["n_inner"]),
                    "table_type": self._t(t, layer.name),
                    "exp_size": int(p["exp_table_size"]), "inv_size": int(p["inv_table_size"]),
                    "exp_table": self.array(f"{layer.name}/exp_table",
                                            layer.arrays["exp_table"].astype(np.float64) * t.lsb),
                    "inv_table": self.array(f"{layer.name}/inv_table",
                                            layer.arrays["inv_table"].astype(np.float64) * t.lsb)}
        if impl not in ("latency", "stable"):
            raise UnsupportedModelError(
                f"layer {layer.name!r}: softmax implementation {impl!r} has no RTL form "
                "(latency, stable and argmax have)")
        accum, inv_inp = layer.fixed("accum"), layer.fixed("inv_inp")
        exp_t, inv_t = layer.fixed("exp_table"), layer.fixed("inv_table")
        key = layer.fixed("inp_norm") if impl == "stable" else plan["in_type"]
        exp_real = accum.requantize(layer.arrays["exp_table"].astype(np.int64),
                                    exp_t.frac).astype(np.float64) * accum.lsb
        inv_real = layer.arrays["inv_table"].astype(np.float64) * inv_t.lsb
        return {"op": "softmax", "name": layer.name, "src": layer.inputs[0],
                "implementation": impl, "n_outer": int(p["n_outer"]),
                "n_slice": int(p["n_slice"]), "n_inner": int(p["n_inner"]),
                "key_type": self._t(key, layer.name), "accum": self._t(accum, layer.name),
                "inv_inp": self._t(inv_inp, layer.name),
                "inv_table_type": self._t(inv_t, layer.name),
                "exp_bits": _bits(p["exp_table_size"]), "inv_bits": _bits(p["inv_table_size"]),
                "exp_table": self.array(f"{layer.name}/exp_table", exp_real),
                "inv_table": self.array(f"{layer.name}/inv_table", inv_real)}

    def quantize(self, layer, plan) -> dict:
        """HGQ's per-value quantizer: a type per value (the engine's ``quantize``; the RTL
        flow takes it as a lookup table where the input is narrow enough)."""
        types = [None if t is None else self._t(t, layer.name) for t in plan["types"]]
        return {"op": "quantize", "name": layer.name, "src": layer.inputs[0],
                "group": self.array(f"{layer.name}/group", plan["group"].astype(np.int64)),
                "types": types}

    def wide_elementwise(self, layer, kind) -> dict:
        """Elementwise kinds whose input is too wide for a table: comparisons, constant
        products, hls4ml's index computation and a table of the table's size."""
        from triginfer.firmware.kinds.tables import TableKind

        name = layer.name
        size = self.size(name)
        if layer.kind in ("leaky_relu", "prelu"):
            p = layer.fixed("param")
            alpha = layer.arrays["param"].reshape(-1).astype(np.float64) * p.lsb
            alpha = np.tile(alpha, size // alpha.size)
            return {"op": "select_pos", "name": name, "src": layer.inputs[0],
                    "alpha": self.array(f"{name}/alpha", alpha)}
        if layer.kind == "thresholded_relu":
            p = layer.fixed("param")
            negative = bool(self.emu.plan(name).get("negative_passes"))
            if negative and not self.engine:
                raise UnsupportedModelError(
                    f"layer {name!r} (thresholded_relu): ap_fixed lets every negative input "
                    f"through its comparison with the threshold type {p}, and its input is too "
                    f"wide for a lookup table ({self.held(layer.inputs[0])}); this has no RTL "
                    "form")
            return {"op": "threshold", "name": name, "src": layer.inputs[0],
                    "theta": float(layer.arrays["param"][0]) * p.lsb,
                    "negative_passes": negative}
        if layer.kind == "ternary_tanh":
            t = layer.fixed("threshold_hi")
            hi = layer.arrays["threshold_hi"].reshape(-1).astype(np.float64) * t.lsb
            lo = layer.arrays["threshold_lo"].reshape(-1).astype(np.float64) * t.lsb
            reps = size // hi.size
            return {"op": "ternary", "name": name, "src": layer.inputs[0],
                    "hi": self.array(f"{name}/hi", np.tile(hi, reps)),
                    "lo": self.array(f"{name}/lo", np.tile(lo, reps))}
        if layer.kind in ("hard_sigmoid", "hard_tanh"):
            st, ht = layer.fixed("slope"), layer.fixed("shift")
            return {"op": "hard", "name": name, "src": layer.inputs[0],
                    "slope": float(layer.arrays["slope"][0]) * st.lsb,
                    "shift": float(layer.arrays["shift"][0]) * ht.lsb,
                    "twice": layer.kind == "hard_tanh"}
        if layer.kind == "binary_tanh":
            result = layer.fixed("result")
            low = 0.0 if (not result.signed and result.width == 1) else -1.0
            return {"op": "sign", "name": name, "src": layer.inputs[0], "low": low}
        if isinstance(kind, TableKind) and type(kind).emulate is TableKind.emulate:
            n, span = int(layer.params["table_size"]), float(layer.params["table_range"])
            scale = n / span
            if scale != 2.0 ** np.round(np.log2(scale)) and not self.engine:
                raise UnsupportedModelError(
                    f"layer {name!r} ({layer.kind}): table size / range = {scale:g} is not a "
                    "power of two; the index has no exact RTL form")
            tt = layer.fixed("table")
            return {"op": "table_index", "name": name, "src": layer.inputs[0],
                    "scale": scale, "half": n // 2, "size": n, "span": span,
                    "table": self.array(f"{name}/table",
                                        layer.arrays["table"].astype(np.float64) * tt.lsb),
                    "table_type": self._t(tt, name)}
        if self.engine and layer.kind in ("elu", "selu"):
            return self.elu(layer)
        t = self.held(layer.inputs[0])
        raise UnsupportedModelError(
            f"layer {name!r} ({layer.kind}): its input type {t} has {t.width} bits; lookup "
            f"tables are built for inputs of up to {self.table_bits} bits (--table-bits), and "
            "this kind has no other RTL form")

    def elu(self, layer) -> dict:
        """elu/selu for the compiled engine: the emulator's float index into hls4ml's table
        for x < 0, x (elu) or lambda * x (selu) otherwise."""
        from triginfer.firmware.kinds.tables import LAMBDA_TYPE, SELU_LAMBDA

        name = layer.name
        tt = layer.fixed("table")
        if layer.kind == "elu":
            p = layer.fixed("param")
            alpha, lam = float(layer.arrays["param"][0]) * p.lsb, 1.0
        else:
            alpha = 1.0
            lam = float(LAMBDA_TYPE.quantize(np.array([SELU_LAMBDA]))[0]) * LAMBDA_TYPE.lsb
        return {"op": "elu", "name": name, "src": layer.inputs[0], "alpha": alpha, "lam": lam,
                "size": int(layer.params["table_size"]),
                "table": self.array(f"{name}/table",
                                    layer.arrays["table"].astype(np.float64) * tt.lsb)}

    def layer_op(self, layer) -> dict:
        from triginfer.firmware import kinds
        from triginfer.firmware.kinds.activations import ElementwiseKind, TernaryTanh
        from triginfer.firmware.kinds.batchnorm import BatchNorm
        from triginfer.firmware.kinds.dense import MatMulKind
        from triginfer.firmware.kinds.embedding import Embedding
        from triginfer.firmware.kinds.merge import Concatenate, Merge
        from triginfer.firmware.kinds.pooling import PoolKind
        from triginfer.firmware.kinds.reshaping import GatherKind

        kind = kinds.get(layer.kind)
        name = layer.name
        plan = self.emu.plan(name)
        if layer.kind == "input":
            return {"op": "input", "name": name, "size": self.size(name)}
        if isinstance(kind, MatMulKind):
            src = self.spec.layer(layer.inputs[0])
            n_in = int(np.prod(src.output_shape))
            idx = np.arange(1, n_in + 1, dtype=np.int64).reshape(1, *src.output_shape)
            patches = np.asarray(kind.patches(layer, idx)).reshape(-1, plan["w"].shape[0]) - 1
            w = self.real(plan["w"], plan["w_type"].lsb, f"layer {name!r} weights")
            b = self.real(plan["b"], plan["accum"].lsb, f"layer {name!r} biases")
            return {"op": "linear", "name": name, "src": src.name,
                    "index": self.array(f"{name}/index", patches),
                    "weight": self.array(f"{name}/weight", w),
                    "bias": self.array(f"{name}/bias", b),
                    # an accumulator coarser than the products: each product rounded alone
                    "round_products": bool(plan["shift"] < 0),
                    "accum": (None if plan.get("accum_safe") and plan["shift"] >= 0
                              else self._t(plan["accum"], name))}
        if isinstance(kind, GatherKind | Concatenate) or layer.kind == "linear":
            return {"op": "gather", "name": name, "srcs": list(layer.inputs),
                    "index": self.array(f"{name}/index", self.probe_index(layer))}
        if layer.kind == "relu":
            return {"op": "relu", "name": name, "src": layer.inputs[0]}
        if isinstance(kind, BatchNorm):
            t_in = self.held(layer.inputs[0])
            if t_in.width <= self.table_bits and not self.engine:   # exact, cheap in RTL
                return self.table(layer, np.arange(self.size(name)))
            scale = self.real(plan["scale"], 2.0 ** -plan["sf"], f"layer {name!r} scales")
            bias = self.real(plan["bias"], 2.0 ** -plan["bf"], f"layer {name!r} shifts")
            return {"op": "affine", "name": name, "src": layer.inputs[0],
                    "scale": self.array(f"{name}/scale", scale),
                    "bias": self.array(f"{name}/bias", bias)}
        if isinstance(kind, Merge):
            fn = {"add": "add", "subtract": "sub", "multiply": "mul", "average": "avg",
                  "maximum": "max", "minimum": "min"}[layer.params["op"]]
            size = self.size(name)
            a, b = layer.inputs
            return {"op": "binary", "name": name, "fn": fn, "a": a, "b": b,
                    "a_index": self.array(f"{name}/a_index", np.arange(size) % self.size(a)),
                    "b_index": self.array(f"{name}/b_index", np.arange(size) % self.size(b))}
        if isinstance(kind, PoolKind) and kind.op != "max":
            in_t, accum = plan["in_type"], layer.fixed("accum")
            addend = None
            if accum.frac < in_t.frac:      # each addend rounded to accum_t (no overflow)
                addend = self._t(FixedType(accum.width + 40, accum.integer + 40, True,
                                         accum.rounding, "WRAP"), name)
            return {"op": "avgpool", "name": name, "src": layer.inputs[0],
                    "index": self.array(f"{name}/index", plan["windows"]),
                    "lengths": self.array(f"{name}/lengths", plan["length"]),
                    "accum": self._t(accum, name), "addend": addend}
        if isinstance(kind, PoolKind):
            in_t = plan["in_type"]
            pad_m = in_t.min_mantissa if in_t.signed else 1 << (in_t.width - 1)
            return {"op": "reduce", "fn": "max", "name": name, "src": layer.inputs[0],
                    "index": self.array(f"{name}/index", plan["windows"]),
                    "pad": float(pad_m) * in_t.lsb,
                    "accum": self._t(layer.fixed("accum"), name)}
        if isinstance(kind, Embedding):
            depth = layer.output_shape[-1]
            if self.held(layer.inputs[0]).width <= self.table_bits and not self.engine:
                return self.table(layer, np.repeat(np.arange(self.size(layer.inputs[0])),
                                                   depth))
            et = layer.fixed("embeddings")
            table = layer.arrays["embeddings"].reshape(-1, depth).astype(np.float64) * et.lsb
            return {"op": "embed", "name": name, "src": layer.inputs[0],
                    "table": self.array(f"{name}/table", table), "table_type": self._t(et, name)}
        if layer.kind == "softmax":
            return self.softmax(layer, plan)
        if layer.kind == "dot":
            return {"op": "dot", "name": name, "a": layer.inputs[0], "b": layer.inputs[1],
                    "accum": self._t(layer.fixed("accum"), name)}
        if layer.kind == "fixed_quantizer" and (
                self.engine or self.held(layer.inputs[0]).width > self.table_bits):
            return self.quantize(layer, plan)
        if isinstance(kind, ElementwiseKind | TernaryTanh):
            if self.engine:      # the direct forms are cheap in C; a table where there is none
                try:
                    return self.wide_elementwise(layer, kind)
                except UnsupportedModelError:
                    pass
            if self.held(layer.inputs[0]).width <= self.table_bits:
                return self.table(layer, np.arange(self.size(name)))
            return self.wide_elementwise(layer, kind)
        raise UnsupportedModelError(
            f"layer {name!r}: kind {layer.kind!r} has no RTL form (supported: "
            f"{', '.join(rtl_kinds())})")

    def build(self) -> dict:
        for layer in self.spec.layers:
            widths = [(self.held(src), f"its input {src!r}") for src in layer.inputs]
            widths.append((self.held(layer.name), "its result"))
            if "accum" in layer.types:
                widths.append((layer.fixed("accum"), "its accumulator"))
            for t, what in widths:
                if t.width > MAX_VALUE_BITS and not self.engine:
                    raise UnsupportedModelError(
                        f"layer {layer.name!r}: {what} is {t} ({t.width} bits); the RTL flow "
                        f"is checked exact for values of up to {MAX_VALUE_BITS} bits (da4ml "
                        "0.6 gave wrong saturations on 61-bit values); narrow the type in the "
                        "hls4ml configuration")
            op = self.layer_op(layer)
            op["type"] = self._t(self.held(layer.name), layer.name)
            self.ops.append(op)
        return {"name": self.spec.name, "ops": self.ops, "outputs": list(self.spec.outputs),
                "inputs": list(self.spec.inputs)}


def lowered_classes() -> tuple[type, ...]:
    """The kind families :meth:`_Builder.layer_op` lowers (a registered subclass of one of
    them is lowered with its family: an elementwise kind becomes a lookup table)."""
    from triginfer.firmware.kinds.activations import ElementwiseKind, TernaryTanh
    from triginfer.firmware.kinds.batchnorm import BatchNorm
    from triginfer.firmware.kinds.core import Input, Linear
    from triginfer.firmware.kinds.dense import MatMulKind
    from triginfer.firmware.kinds.embedding import Embedding
    from triginfer.firmware.kinds.merge import Concatenate, Dot, Merge
    from triginfer.firmware.kinds.pooling import PoolKind
    from triginfer.firmware.kinds.reshaping import GatherKind
    from triginfer.firmware.kinds.softmax import Softmax

    return (Input, Linear, MatMulKind, GatherKind, Concatenate, BatchNorm, Merge, PoolKind,
            Embedding, Softmax, Dot, ElementwiseKind, TernaryTanh)


def rtl_kinds() -> list[str]:
    """Registered kinds the lowered program (the engine, the RTL flow) expresses, derived from
    the registry (elementwise tables: inputs up to --table-bits)."""
    from triginfer.firmware import kinds

    families = lowered_classes()
    return sorted(name for name, kind in kinds.registry().items() if isinstance(kind, families))


def build_program(spec, emulator=None, table_bits: int = DEFAULT_TABLE_BITS,
                  engine: bool = False) -> tuple[dict, dict[str, np.ndarray]]:
    """The RTL program of a spec: ``(program, arrays)`` (see the module docstring); with
    ``engine`` the compiled emulator's variant (see :class:`_Builder`)."""
    from triginfer.emulation import Emulator

    emulator = emulator or Emulator(spec, compiled=False)
    builder = _Builder(spec, emulator, table_bits, engine=engine)
    return builder.build(), builder.arrays


