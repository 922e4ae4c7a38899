"""The lowered program's operations: one frozen dataclass per operation.

A :class:`Program` is what the generated engine (:mod:`triginfer.emulation.compiled`) and the
RTL flow (:mod:`triginfer.hls_export.rtl`) execute: the spec's graph reduced to a few
operations on flat tensors of real values, each converted to its layer's fixed-point type
(``type``: rounding, then overflow). Operations name the tensors they read; their constants
are arrays held beside the program, named by key (``index``, ``weight``, ...), so the
program itself stays small and serialisable. :meth:`Program.to_json` is the wire format the
RTL worker reads in its own environment (``{"op": tag, field: value}`` per operation, each
fixed-point type as ``{"signed", "width", "integer", "round", "overflow", "text"}``).

The lowering (:mod:`triginfer.emulation.program`) builds these from the registered kinds;
da4ml's ``CombLogic`` is the model of a typed op graph.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from triginfer.quantization.fixed import FixedType


def type_json(t: FixedType | None) -> dict[str, Any] | None:
    """A fixed-point type as the program's JSON holds it."""
    if t is None:
        return None
    return {"signed": bool(t.signed), "width": int(t.width), "integer": int(t.integer),
            "round": t.rounding, "overflow": t.overflow, "text": str(t)}


@dataclass(frozen=True, kw_only=True)
class Op:
    """One operation: its output tensor ``name`` and that tensor's fixed-point ``type``."""

    #: The operation's tag in the JSON wire format (and in messages).
    op: ClassVar[str] = ""
    name: str
    type: FixedType | None = None

    def sources(self) -> tuple[str, ...]:
        """Names of the tensors the operation reads."""
        return tuple(getattr(self, k) for k in ("src", "a", "b") if hasattr(self, k))

    def to_json(self) -> dict[str, Any]:
        """The operation as ``{"op": tag, field: value}`` (see the module docstring)."""
        out: dict[str, Any] = {"op": self.op}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, FixedType):
                v = type_json(v)
            elif isinstance(v, tuple):
                v = [type_json(x) if isinstance(x, FixedType) else x for x in v]
            out[f.name] = v
        return out


@dataclass(frozen=True, kw_only=True)
class InputOp(Op):
    """An input tensor of ``size`` values (the caller's, converted to ``type``)."""

    op: ClassVar[str] = "input"
    size: int


@dataclass(frozen=True, kw_only=True)
class LinearOp(Op):
    """``y[p, j] = sum_k x[index[p, k]] * weight[k, j] + bias[j]`` (dense layers and
    convolutions: ``index`` is the patch map, -1 a zero), summed in ``accum`` (None: exact),
    each product converted alone to ``accum`` when ``round_products``."""

    op: ClassVar[str] = "linear"
    src: str
    index: str
    weight: str
    bias: str
    round_products: bool = False
    accum: FixedType | None = None


@dataclass(frozen=True, kw_only=True)
class GatherOp(Op):
    """Data movement: ``y[i] = cat(srcs)[index[i]]`` (-1: zero)."""

    op: ClassVar[str] = "gather"
    srcs: tuple[str, ...]
    index: str

    def sources(self) -> tuple[str, ...]:
        return tuple(self.srcs)


@dataclass(frozen=True, kw_only=True)
class ReluOp(Op):
    """``max(x, 0)``."""

    op: ClassVar[str] = "relu"
    src: str


@dataclass(frozen=True, kw_only=True)
class AffineOp(Op):
    """``x * scale + bias`` per value (batch normalisation)."""

    op: ClassVar[str] = "affine"
    src: str
    scale: str
    bias: str


@dataclass(frozen=True, kw_only=True)
class BinaryOp(Op):
    """``fn(a[a_index[i]], b[b_index[i]])``: add, sub, mul, avg, max or min."""

    op: ClassVar[str] = "binary"
    fn: str
    a: str
    b: str
    a_index: str
    b_index: str


@dataclass(frozen=True, kw_only=True)
class AvgPoolOp(Op):
    """Average pooling: window sums in ``accum`` (each addend converted to ``addend`` first
    when that is set), divided by each window's length."""

    op: ClassVar[str] = "avgpool"
    src: str
    index: str
    lengths: str
    accum: FixedType
    addend: FixedType | None = None


@dataclass(frozen=True, kw_only=True)
class ReduceOp(Op):
    """A reduction over windows (``fn``: max), padding reading ``pad``, in ``accum``."""

    op: ClassVar[str] = "reduce"
    fn: str
    src: str
    index: str
    pad: float = 0.0
    accum: FixedType | None = None


@dataclass(frozen=True, kw_only=True)
class EmbedOp(Op):
    """Embedding: row ``x`` of ``table`` (values of ``table_type``)."""

    op: ClassVar[str] = "embed"
    src: str
    table: str
    table_type: FixedType


@dataclass(frozen=True, kw_only=True)
class SoftmaxOp(Op):
    """hls4ml's softmax over ``n_slice`` values, ``n_outer`` x ``n_inner`` times.

    ``argmax`` needs nothing more; ``legacy`` (engine only) its two tables of ``table_type``
    indexed over ``exp_size`` / ``inv_size`` entries; ``latency`` and ``stable`` the exp table
    indexed by the top ``exp_bits`` of ``key_type``, a sum in ``accum``, and the inverse table
    indexed by the top ``inv_bits`` of ``inv_inp``.
    """

    op: ClassVar[str] = "softmax"
    src: str
    implementation: str
    n_outer: int
    n_slice: int
    n_inner: int
    table_type: FixedType | None = None
    exp_size: int | None = None
    inv_size: int | None = None
    key_type: FixedType | None = None
    accum: FixedType | None = None
    inv_inp: FixedType | None = None
    inv_table_type: FixedType | None = None
    exp_bits: int | None = None
    inv_bits: int | None = None
    exp_table: str | None = None
    inv_table: str | None = None


@dataclass(frozen=True, kw_only=True)
class DotOp(Op):
    """The dot product of ``a`` and ``b``, each product and the sum in ``accum``."""

    op: ClassVar[str] = "dot"
    a: str
    b: str
    accum: FixedType


@dataclass(frozen=True, kw_only=True)
class QuantizeOp(Op):
    """HGQ's per-value quantizer: value ``i`` converted to ``types[group[i]]`` (None: 0)."""

    op: ClassVar[str] = "quantize"
    src: str
    group: str
    types: tuple[FixedType | None, ...]


@dataclass(frozen=True, kw_only=True)
class TableOp(Op):
    """A lookup table per output: ``tables[table_id[i]][x[in_pos[i]] - min(in_type)]``."""

    op: ClassVar[str] = "table"
    src: str
    in_pos: str
    table_id: str
    tables: str
    in_type: FixedType


@dataclass(frozen=True, kw_only=True)
class TableIndexOp(Op):
    """hls4ml's activation table: index ``floor(x * scale) + half`` clipped to
    ``[0, size)``, into ``table`` (values of ``table_type``)."""

    op: ClassVar[str] = "table_index"
    src: str
    scale: float
    half: int
    size: int
    span: float
    table: str
    table_type: FixedType


@dataclass(frozen=True, kw_only=True)
class EluOp(Op):
    """elu/selu (engine only): hls4ml's table for x < 0 (scaled by ``alpha``), ``lam * x``
    otherwise."""

    op: ClassVar[str] = "elu"
    src: str
    alpha: float
    lam: float
    size: int
    table: str


@dataclass(frozen=True, kw_only=True)
class SelectPosOp(Op):
    """``x > 0 ? x : alpha[i] * x`` (leaky relu, prelu)."""

    op: ClassVar[str] = "select_pos"
    src: str
    alpha: str


@dataclass(frozen=True, kw_only=True)
class ThresholdOp(Op):
    """``x > theta ? x : 0``; ``negative_passes``: ap_fixed's signed/unsigned comparison
    lets every negative input through."""

    op: ClassVar[str] = "threshold"
    src: str
    theta: float
    negative_passes: bool = False


@dataclass(frozen=True, kw_only=True)
class TernaryOp(Op):
    """``x > hi ? 1 : (x > lo ? 0 : -1)`` per value."""

    op: ClassVar[str] = "ternary"
    src: str
    hi: str
    lo: str


@dataclass(frozen=True, kw_only=True)
class HardOp(Op):
    """Hard sigmoid ``clip(slope * x + shift, 0, 1)`` (``twice``: hard tanh, ``2 h - 1``)."""

    op: ClassVar[str] = "hard"
    src: str
    slope: float
    shift: float
    twice: bool = False


@dataclass(frozen=True, kw_only=True)
class SignOp(Op):
    """``x < 0 ? low : 1`` (binary tanh)."""

    op: ClassVar[str] = "sign"
    src: str
    low: float


#: Every operation class, by its tag.
OPS: dict[str, type[Op]] = {cls.op: cls for cls in (
    InputOp, LinearOp, GatherOp, ReluOp, AffineOp, BinaryOp, AvgPoolOp, ReduceOp, EmbedOp,
    SoftmaxOp, DotOp, QuantizeOp, TableOp, TableIndexOp, EluOp, SelectPosOp, ThresholdOp,
    TernaryOp, HardOp, SignOp)}


@dataclass(frozen=True)
class Program:
    """A lowered spec: its operations in order, and the names of its inputs and outputs."""

    name: str
    ops: tuple[Op, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def op(self, name: str) -> Op:
        """The operation that computes tensor ``name``."""
        for o in self.ops:
            if o.name == name:
                return o
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The program's JSON wire format (see the module docstring)."""
        return {"name": self.name, "ops": [o.to_json() for o in self.ops],
                "outputs": list(self.outputs), "inputs": list(self.inputs)}
