"""The lowering of a FirmwareSpec to the program the generated engine and the RTL flow share.

:func:`build_program` reduces a FirmwareSpec's graph to a :class:`~triginfer.firmware.ops.Program`
of typed operations on flat tensors of real values, each converted to the layer's fixed-point
type (its rounding, then its overflow): dense layers and convolutions become patch index maps
plus constant matrices (the emulator's own im2col, applied to index tensors); data movement
(reshape, transpose, padding, cropping, upsampling, concatenation) becomes an index map (the
layer's own emulation applied to index tensors); relu, batch norm, merges and max pooling map
to their operations; every other elementwise layer with an input of at most ``table_bits``
bits becomes a lookup table whose entries the emulator computes (right by construction). With
``engine`` the compiled emulator's variant (softmax, dot, average pooling and wide tables kept).

Each kind's lowering is registered on its kind class with ``@lower.register`` (a registered
subclass is lowered with its family: a new elementwise kind becomes a lookup table), and the
direct form of an elementwise kind too wide for a table with ``@direct_form.register``. A kind
with no registered lowering is refused naming the layer, before any tool runs; :func:`rtl_kinds`
is derived from the registrations.

It lives with the emulator (whose arithmetic fills its tables) so that the engine
(:mod:`triginfer.emulation.compiled`) and the RTL flow (:mod:`triginfer.hls_export.rtl`)
both depend on it without depending on each other.
"""

from __future__ import annotations

import dataclasses
from functools import singledispatch

import numpy as np

from triginfer.errors import UnsupportedModelError
from triginfer.firmware import kinds
from triginfer.firmware.kinds.activations import (
    BinaryTanh,
    ElementwiseKind,
    HardSigmoid,
    HardTanh,
    LeakyReLU,
    PReLU,
    ReLU,
    TernaryTanh,
    ThresholdedReLU,
)
from triginfer.firmware.kinds.base import EmuTensor, LayerKind
from triginfer.firmware.kinds.batchnorm import BatchNorm
from triginfer.firmware.kinds.core import Input, Linear
from triginfer.firmware.kinds.dense import MatMulKind
from triginfer.firmware.kinds.embedding import Embedding
from triginfer.firmware.kinds.merge import Concatenate, Dot, Merge
from triginfer.firmware.kinds.pooling import PoolKind
from triginfer.firmware.kinds.quantizer import FixedPointQuantizer
from triginfer.firmware.kinds.reshaping import GatherKind
from triginfer.firmware.kinds.softmax import Softmax, _bits
from triginfer.firmware.kinds.tables import ELU, LAMBDA_TYPE, SELU, SELU_LAMBDA, TableKind
from triginfer.firmware.ops import (
    AffineOp,
    AvgPoolOp,
    BinaryOp,
    DotOp,
    EluOp,
    EmbedOp,
    GatherOp,
    HardOp,
    InputOp,
    LinearOp,
    Op,
    Program,
    QuantizeOp,
    ReduceOp,
    ReluOp,
    SelectPosOp,
    SignOp,
    SoftmaxOp,
    TableIndexOp,
    TableOp,
    TernaryOp,
    ThresholdOp,
)
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


def _check_rtl_type(t: FixedType, layer: str) -> FixedType:
    if t.rounding not in RTL_ROUNDING:
        raise UnsupportedModelError(
            f"layer {layer!r}: rounding mode {t.rounding} of {t} has no RTL form (da4ml "
            f"expresses {', '.join(RTL_ROUNDING)})")
    if t.overflow not in RTL_OVERFLOW:
        raise UnsupportedModelError(
            f"layer {layer!r}: overflow mode {t.overflow} of {t} has no RTL form (da4ml "
            f"expresses {', '.join(RTL_OVERFLOW)})")
    return t


class _ProbeCtx:
    float_mode = False
    monitoring = False
    compiled = False
    stats = None


class Lowering:
    """What a kind's lowering needs: the spec, its reference emulator (result types, plans,
    table entries) and the arrays the program's operations name. ``engine=True`` builds it
    for the compiled emulator (:mod:`triginfer.emulation.compiled`), whose C arithmetic has
    every rounding and overflow mode, any width the emulator's float path holds, and the float
    index arithmetic of hls4ml's tables, so the RTL-only refusals are lifted there."""

    def __init__(self, spec, emulator, table_bits: int, engine: bool = False) -> None:
        self.spec = spec
        self.emu = emulator
        self.table_bits = int(table_bits)
        self.engine = bool(engine)
        self.arrays: dict[str, np.ndarray] = {}

    def real(self, mantissas, lsb: float, what: str) -> np.ndarray:
        """Mantissas times their LSB as float64 reals, refused where float64 would round them
        (the engine's arithmetic is exact only on exact constants)."""
        m = np.asarray(mantissas)
        if m.size and np.abs(m).max() >= 2.0 ** 53:
            raise UnsupportedModelError(f"{what}: constants of more than 53 bits")
        return m.astype(np.float64) * lsb

    def t(self, t: FixedType, layer: str) -> FixedType:
        """``t``, refused where the RTL flow cannot express its modes (not for the engine)."""
        return t if self.engine else _check_rtl_type(t, layer)

    def array(self, key: str, value: np.ndarray) -> str:
        """Hold ``value`` beside the program under ``key``; returns the key."""
        self.arrays[key] = np.ascontiguousarray(value)
        return key

    def held(self, name: str) -> FixedType:
        """The fixed-point type tensor ``name`` is held in."""
        return self.emu.result_type(name)

    def size(self, name: str) -> int:
        """The number of values of tensor ``name`` per event."""
        return int(np.prod(self.spec.layer(name).output_shape))

    def narrow(self, layer) -> bool:
        """Whether the layer's (first) input is narrow enough for a lookup table."""
        return self.held(layer.inputs[0]).width <= self.table_bits

    def probe_index(self, layer) -> np.ndarray:
        """Source index (into the concatenated flat inputs; -1 = zero) of each output value,
        from the layer's own emulation run on index tensors."""
        kind = kinds.get(layer.kind)
        xs, offset = [], 0
        for src in layer.inputs:
            shape = self.spec.layer(src).output_shape
            n = int(np.prod(shape))
            xs.append(EmuTensor(np.arange(offset + 1, offset + n + 1, dtype=np.int64)
                                .reshape(1, *shape), 0))
            offset += n
        value = kind.emulate(layer, self.emu.plan(layer.name), xs, _ProbeCtx())
        if value.frac != 0:
            raise UnsupportedModelError(f"layer {layer.name!r}: not a data-movement layer")
        return np.asarray(value.m).reshape(-1).astype(np.int64) - 1

    def table(self, layer, in_pos: np.ndarray) -> TableOp:
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
        return TableOp(name=layer.name, src=src,
                       in_pos=self.array(f"{layer.name}/in_pos", in_pos.astype(np.int64)),
                       table_id=self.array(f"{layer.name}/table_id", table_id.reshape(-1)),
                       tables=self.array(f"{layer.name}/tables", uniq),
                       in_type=self.t(t, layer.name))

    def op_of(self, layer) -> Op:
        """The layer's operation, from its kind's registered lowering, with its result type."""
        op = lower(kinds.get(layer.kind), layer, self)
        return dataclasses.replace(op, type=self.t(self.held(layer.name), layer.name))

    def build(self) -> Program:
        """The spec's program (its width checks first, layer by layer)."""
        ops = []
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
            ops.append(self.op_of(layer))
        return Program(self.spec.name, tuple(ops), tuple(self.spec.inputs),
                       tuple(self.spec.outputs))


# --- the registered lowerings -----------------------------------------------------------------
@singledispatch
def lower(kind: LayerKind, layer, b: Lowering) -> Op:
    """The operation of ``layer`` (of ``kind``); registered per kind class (see the module
    docstring). Unregistered kinds are refused, naming the layer."""
    raise UnsupportedModelError(
        f"layer {layer.name!r}: kind {layer.kind!r} has no RTL form (supported: "
        f"{', '.join(rtl_kinds())})")


@singledispatch
def direct_form(kind: LayerKind, layer, b: Lowering) -> Op:
    """The operation of an elementwise layer whose input is too wide for a lookup table
    (comparisons, constant products, hls4ml's index computation); registered per kind."""
    t = b.held(layer.inputs[0])
    raise UnsupportedModelError(
        f"layer {layer.name!r} ({layer.kind}): its input type {t} has {t.width} bits; lookup "
        f"tables are built for inputs of up to {b.table_bits} bits (--table-bits), and "
        "this kind has no other RTL form")


@lower.register
def _input(kind: Input, layer, b: Lowering) -> Op:
    return InputOp(name=layer.name, size=b.size(layer.name))


@lower.register
def _matmul(kind: MatMulKind, layer, b: Lowering) -> Op:
    name, plan = layer.name, b.emu.plan(layer.name)
    src = b.spec.layer(layer.inputs[0])
    n_in = int(np.prod(src.output_shape))
    idx = np.arange(1, n_in + 1, dtype=np.int64).reshape(1, *src.output_shape)
    patches = np.asarray(kind.patches(layer, idx)).reshape(-1, plan["w"].shape[0]) - 1
    w = b.real(plan["w"], plan["w_type"].lsb, f"layer {name!r} weights")
    bias = b.real(plan["b"], plan["accum"].lsb, f"layer {name!r} biases")
    return LinearOp(name=name, src=src.name, index=b.array(f"{name}/index", patches),
                    weight=b.array(f"{name}/weight", w), bias=b.array(f"{name}/bias", bias),
                    # an accumulator coarser than the products: each product rounded alone
                    round_products=bool(plan["shift"] < 0),
                    accum=(None if plan.get("accum_safe") and plan["shift"] >= 0
                           else b.t(plan["accum"], name)))


@lower.register(GatherKind)
@lower.register(Concatenate)
@lower.register(Linear)
def _gather(kind: LayerKind, layer, b: Lowering) -> Op:
    return GatherOp(name=layer.name, srcs=tuple(layer.inputs),
                    index=b.array(f"{layer.name}/index", b.probe_index(layer)))


@lower.register
def _relu(kind: ReLU, layer, b: Lowering) -> Op:
    return ReluOp(name=layer.name, src=layer.inputs[0])


@lower.register
def _batchnorm(kind: BatchNorm, layer, b: Lowering) -> Op:
    name, plan = layer.name, b.emu.plan(layer.name)
    if b.narrow(layer) and not b.engine:   # exact, cheap in RTL
        return b.table(layer, np.arange(b.size(name)))
    scale = b.real(plan["scale"], 2.0 ** -plan["sf"], f"layer {name!r} scales")
    bias = b.real(plan["bias"], 2.0 ** -plan["bf"], f"layer {name!r} shifts")
    return AffineOp(name=name, src=layer.inputs[0], scale=b.array(f"{name}/scale", scale),
                    bias=b.array(f"{name}/bias", bias))


_MERGE_FN = {"add": "add", "subtract": "sub", "multiply": "mul", "average": "avg",
             "maximum": "max", "minimum": "min"}


@lower.register
def _merge(kind: Merge, layer, b: Lowering) -> Op:
    name, size = layer.name, b.size(layer.name)
    a, c = layer.inputs
    return BinaryOp(name=name, fn=_MERGE_FN[layer.params["op"]], a=a, b=c,
                    a_index=b.array(f"{name}/a_index", np.arange(size) % b.size(a)),
                    b_index=b.array(f"{name}/b_index", np.arange(size) % b.size(c)))


@lower.register
def _pool(kind: PoolKind, layer, b: Lowering) -> Op:
    name, plan = layer.name, b.emu.plan(layer.name)
    in_t, accum = plan["in_type"], layer.fixed("accum")
    if kind.op == "max":
        pad_m = in_t.min_mantissa if in_t.signed else 1 << (in_t.width - 1)
        return ReduceOp(name=name, fn="max", src=layer.inputs[0],
                        index=b.array(f"{name}/index", plan["windows"]),
                        pad=float(pad_m) * in_t.lsb, accum=b.t(accum, name))
    addend = None
    if accum.frac < in_t.frac:      # each addend rounded to accum_t (no overflow)
        addend = b.t(FixedType(accum.width + 40, accum.integer + 40, True, accum.rounding,
                               "WRAP"), name)
    return AvgPoolOp(name=name, src=layer.inputs[0],
                     index=b.array(f"{name}/index", plan["windows"]),
                     lengths=b.array(f"{name}/lengths", plan["length"]),
                     accum=b.t(accum, name), addend=addend)


@lower.register
def _embedding(kind: Embedding, layer, b: Lowering) -> Op:
    name, depth = layer.name, layer.output_shape[-1]
    if b.narrow(layer) and not b.engine:
        return b.table(layer, np.repeat(np.arange(b.size(layer.inputs[0])), depth))
    et = layer.fixed("embeddings")
    table = layer.arrays["embeddings"].reshape(-1, depth).astype(np.float64) * et.lsb
    return EmbedOp(name=name, src=layer.inputs[0], table=b.array(f"{name}/table", table),
                   table_type=b.t(et, name))


@lower.register
def _softmax(kind: Softmax, layer, b: Lowering) -> Op:
    """hls4ml's latency/stable softmax: table lookups on the top bits, an adder tree in
    accum_t, the inverse table, one product per value."""
    p, name = layer.params, layer.name
    impl = p["implementation"]
    shape = {"name": name, "src": layer.inputs[0], "implementation": impl,
             "n_outer": int(p["n_outer"]), "n_slice": int(p["n_slice"]),
             "n_inner": int(p["n_inner"])}
    if impl == "argmax":
        return SoftmaxOp(**shape)
    if impl == "legacy" and b.engine:
        t = layer.fixed("table")
        return SoftmaxOp(
            **shape, table_type=b.t(t, name), exp_size=int(p["exp_table_size"]),
            inv_size=int(p["inv_table_size"]),
            exp_table=b.array(f"{name}/exp_table",
                              layer.arrays["exp_table"].astype(np.float64) * t.lsb),
            inv_table=b.array(f"{name}/inv_table",
                              layer.arrays["inv_table"].astype(np.float64) * t.lsb))
    if impl not in ("latency", "stable"):
        raise UnsupportedModelError(
            f"layer {name!r}: softmax implementation {impl!r} has no RTL form "
            "(latency, stable and argmax have)")
    accum, inv_inp = layer.fixed("accum"), layer.fixed("inv_inp")
    exp_t, inv_t = layer.fixed("exp_table"), layer.fixed("inv_table")
    key = layer.fixed("inp_norm") if impl == "stable" else b.emu.plan(name)["in_type"]
    exp_real = accum.requantize(layer.arrays["exp_table"].astype(np.int64),
                                exp_t.frac).astype(np.float64) * accum.lsb
    inv_real = layer.arrays["inv_table"].astype(np.float64) * inv_t.lsb
    return SoftmaxOp(
        **shape, key_type=b.t(key, name), accum=b.t(accum, name), inv_inp=b.t(inv_inp, name),
        inv_table_type=b.t(inv_t, name), exp_bits=_bits(p["exp_table_size"]),
        inv_bits=_bits(p["inv_table_size"]),
        exp_table=b.array(f"{name}/exp_table", exp_real),
        inv_table=b.array(f"{name}/inv_table", inv_real))


@lower.register
def _dot(kind: Dot, layer, b: Lowering) -> Op:
    return DotOp(name=layer.name, a=layer.inputs[0], b=layer.inputs[1],
                 accum=b.t(layer.fixed("accum"), layer.name))


@lower.register(ElementwiseKind)
@lower.register(TernaryTanh)
def _elementwise(kind: LayerKind, layer, b: Lowering) -> Op:
    """A lookup table where the input is narrow enough (the engine prefers the direct form,
    cheap in C), else the kind's direct form."""
    if b.engine:
        try:
            return direct_form(kind, layer, b)
        except UnsupportedModelError:
            pass
    if b.narrow(layer):
        return b.table(layer, np.arange(b.size(layer.name)))
    return direct_form(kind, layer, b)


@lower.register
def _quantizer(kind: FixedPointQuantizer, layer, b: Lowering) -> Op:
    """HGQ's per-value quantizer: a type per value (the engine's ``quantize``; the RTL
    flow takes it as a lookup table where the input is narrow enough)."""
    if not (b.engine or not b.narrow(layer)):
        return _elementwise(kind, layer, b)
    plan = b.emu.plan(layer.name)
    types = tuple(None if t is None else b.t(t, layer.name) for t in plan["types"])
    return QuantizeOp(name=layer.name, src=layer.inputs[0], types=types,
                      group=b.array(f"{layer.name}/group", plan["group"].astype(np.int64)))


# --- direct forms of elementwise kinds too wide for a table -----------------------------------
@direct_form.register(LeakyReLU)
@direct_form.register(PReLU)
def _select_pos(kind: LayerKind, layer, b: Lowering) -> Op:
    p = layer.fixed("param")
    alpha = layer.arrays["param"].reshape(-1).astype(np.float64) * p.lsb
    alpha = np.tile(alpha, b.size(layer.name) // alpha.size)
    return SelectPosOp(name=layer.name, src=layer.inputs[0],
                       alpha=b.array(f"{layer.name}/alpha", alpha))


@direct_form.register
def _threshold(kind: ThresholdedReLU, layer, b: Lowering) -> Op:
    name, p = layer.name, layer.fixed("param")
    negative = bool(b.emu.plan(name).get("negative_passes"))
    if negative and not b.engine:
        raise UnsupportedModelError(
            f"layer {name!r} (thresholded_relu): ap_fixed lets every negative input "
            f"through its comparison with the threshold type {p}, and its input is too "
            f"wide for a lookup table ({b.held(layer.inputs[0])}); this has no RTL form")
    return ThresholdOp(name=name, src=layer.inputs[0],
                       theta=float(layer.arrays["param"][0]) * p.lsb, negative_passes=negative)


@direct_form.register
def _ternary(kind: TernaryTanh, layer, b: Lowering) -> Op:
    name, t = layer.name, layer.fixed("threshold_hi")
    hi = layer.arrays["threshold_hi"].reshape(-1).astype(np.float64) * t.lsb
    lo = layer.arrays["threshold_lo"].reshape(-1).astype(np.float64) * t.lsb
    reps = b.size(name) // hi.size
    return TernaryOp(name=name, src=layer.inputs[0], hi=b.array(f"{name}/hi", np.tile(hi, reps)),
                     lo=b.array(f"{name}/lo", np.tile(lo, reps)))


@direct_form.register
def _hard(kind: HardSigmoid, layer, b: Lowering) -> Op:
    st, ht = layer.fixed("slope"), layer.fixed("shift")
    return HardOp(name=layer.name, src=layer.inputs[0],
                  slope=float(layer.arrays["slope"][0]) * st.lsb,
                  shift=float(layer.arrays["shift"][0]) * ht.lsb,
                  twice=isinstance(kind, HardTanh))


@direct_form.register
def _sign(kind: BinaryTanh, layer, b: Lowering) -> Op:
    result = layer.fixed("result")
    low = 0.0 if (not result.signed and result.width == 1) else -1.0
    return SignOp(name=layer.name, src=layer.inputs[0], low=low)


@direct_form.register
def _table_index(kind: TableKind, layer, b: Lowering) -> Op:
    if type(kind).emulate is not TableKind.emulate:     # its own arithmetic: no index form
        return direct_form.dispatch(ElementwiseKind)(kind, layer, b)
    name = layer.name
    n, span = int(layer.params["table_size"]), float(layer.params["table_range"])
    scale = n / span
    if scale != 2.0 ** np.round(np.log2(scale)) and not b.engine:
        raise UnsupportedModelError(
            f"layer {name!r} ({layer.kind}): table size / range = {scale:g} is not a "
            "power of two; the index has no exact RTL form")
    tt = layer.fixed("table")
    return TableIndexOp(name=name, src=layer.inputs[0], scale=scale, half=n // 2, size=n,
                        span=span,
                        table=b.array(f"{name}/table",
                                      layer.arrays["table"].astype(np.float64) * tt.lsb),
                        table_type=b.t(tt, name))


@direct_form.register(ELU)
@direct_form.register(SELU)
def _elu(kind: LayerKind, layer, b: Lowering) -> Op:
    """elu/selu for the compiled engine: the emulator's float index into hls4ml's table
    for x < 0, x (elu) or lambda * x (selu) otherwise (no RTL form)."""
    if not b.engine:
        return direct_form.dispatch(ElementwiseKind)(kind, layer, b)
    name, tt = layer.name, layer.fixed("table")
    if isinstance(kind, ELU):
        p = layer.fixed("param")
        alpha, lam = float(layer.arrays["param"][0]) * p.lsb, 1.0
    else:
        alpha = 1.0
        lam = float(LAMBDA_TYPE.quantize(np.array([SELU_LAMBDA]))[0]) * LAMBDA_TYPE.lsb
    return EluOp(name=name, src=layer.inputs[0], alpha=alpha, lam=lam,
                 size=int(layer.params["table_size"]),
                 table=b.array(f"{name}/table", layer.arrays["table"].astype(np.float64) * tt.lsb))


def rtl_kinds() -> list[str]:
    """Registered kinds the lowered program (the engine, the RTL flow) expresses, derived from
    the lowering's registrations (elementwise tables: inputs up to --table-bits)."""
    default = lower.dispatch(object)
    return sorted(name for name, kind in kinds.registry().items()
                  if lower.dispatch(type(kind)) is not default)


def build_program(spec, emulator=None, table_bits: int = DEFAULT_TABLE_BITS,
                  engine: bool = False) -> tuple[Program, dict[str, np.ndarray]]:
    """The program of a spec and the arrays its operations name (see the module docstring);
    with ``engine`` the compiled emulator's variant (see :class:`Lowering`)."""
    from triginfer.emulation import Emulator

    emulator = emulator or Emulator(spec, compiled=False)
    builder = Lowering(spec, emulator, table_bits, engine=engine)
    return builder.build(), builder.arrays
