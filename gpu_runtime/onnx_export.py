"""ONNX export: Keras/QKeras models via tf2onnx, and a bit-exact graph built from a FirmwareSpec.

:func:`export_onnx` converts a (Q)Keras model with a dynamic batch axis. QKeras
models (and any model with layers the builder below does not know) go through
tf2onnx: quantizers become Round/Clip ops and the result equals QKeras exactly.
Float Keras models built from Dense, Conv1D, Activation, ReLU, Flatten and
Dropout are written by :func:`_keras_order_graph` in *TensorFlow's CPU
summation order*: TensorFlow's dense and convolution kernels accumulate each
output with fused multiply-adds over the inputs in order (kernel position
major, channel minor for convolutions), and so does ONNX Runtime's MatMul, so
convolutions become the patches in that order (strided Slices, Concat) times
the kernel (MatMul), and the results are the same floats as Keras's. The exception is a dense layer
with one unit, which TensorFlow computes with a vectorised matrix-vector
kernel whose order depends on the CPU; that layer is computed in double
(``Cast``), i.e. correctly rounded, which is within one or two float32 ulps of
TensorFlow's result. Measured on the default DNN and CNN: max |ONNX - Keras|
below 1e-6 on 1M events (BENCHMARKS.md). tf2onnx's own graph (``method=
"tf2onnx"``, pure float32, what TensorRT prefers) differs from Keras by a few
float32 ulps (2.6e-6 on the CNN, whose outputs reach 4.9).

:func:`export_bitexact_onnx` builds, with ``onnx.helper``, a graph that
reproduces the firmware's fixed-point arithmetic with float ops, so that any
ONNX runtime (CPU, CUDA, TensorRT, Triton) computes exactly what the FPGA
computes. Why it is exact:

* every tensor holds integer *mantissas* (value times 2**frac) as float64
  (ONNX ``DOUBLE``); a float64 holds every integer below 2**53 exactly;
* the graph is only built when the emulator's proof holds
  (:attr:`Emulator.float_mode`): every type at most 50 bits wide and every
  partial sum of every matrix product below 2**51, so MatMul is exact in any
  summation order; the power-of-two scalings (Mul by 2**k) are exact;
* rounding to a type's LSB is Floor / Ceil / Round (ONNX Round is
  round-half-to-even, i.e. RND_CONV) on values that are exact multiples of
  2**-k, and overflow is Clip (saturation) or ``v - 2**W * Floor((v - lo) /
  2**W)`` (wrapping), all exact on such integers;
* convolutions are matrix products over patches gathered with Gather (no
  Conv op, whose double support varies between execution providers);
* each layer is written by its kind in the layer-kind registry
  (:mod:`triginfer.firmware.kinds`), next to its emulation, from the same plan.

Double is used throughout rather than float32 because accumulators here reach
22 bits and more and float32 holds integers exactly only up to 2**24; a float32
graph would be exact only for narrow models.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from triginfer.atomic import atomic_path
from triginfer.errors import UnsupportedModelError
from triginfer.firmware.spec import FirmwareSpec, layer_guard
from triginfer.quantization.fixed import FixedType

log = logging.getLogger(__name__)

DEFAULT_OPSET = 13


EXPORT_METHODS = ("auto", "keras-order", "tf2onnx")


def export_onnx(model, path: str | os.PathLike, opset: int = DEFAULT_OPSET,
                method: str = "auto") -> Path:
    """Convert a Keras or QKeras model to ONNX (dynamic batch axis); returns the path.

    ``method``: ``"keras-order"`` (float models of supported layers, equal to Keras's
    float32 results, see the module docstring), ``"tf2onnx"``, or ``"auto"`` (the
    first where it applies, else the second).
    """
    if opset < 13:
        raise UnsupportedModelError(f"opset must be >= 13, got {opset}")
    if method not in EXPORT_METHODS:
        raise UnsupportedModelError(f"export method {method!r} unknown; known: {EXPORT_METHODS}")
    path = Path(path)
    problem = _keras_order_problem(model)
    if method == "keras-order" and problem:
        raise UnsupportedModelError(f"cannot export {model.name} in Keras order: {problem}; "
                                    "use method='tf2onnx'")
    with atomic_path(path) as tmp:
        if method != "tf2onnx" and not problem:
            import onnx

            onnx.save(_keras_order_graph(model, opset), str(tmp))
            used = "keras-order"
        else:
            import tensorflow as tf
            import tf2onnx

            spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="inputs"),)
            tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset,
                                       output_path=str(tmp))
            used = "tf2onnx"
    log.info("exported %s to %s (%s, opset %d)", model.name, path, used, opset)
    return path


_ACTIVATIONS = {"linear": None, "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}


def _activation_name(layer) -> str:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", str(act)) if act is not None else "linear"


def _keras_order_problem(model) -> str | None:
    """Why ``model`` cannot be written by :func:`_keras_order_graph` (None if it can)."""
    if not hasattr(model, "layers") or len(model.inputs) != 1 or len(model.outputs) != 1:
        return "only single-input, single-output models are supported"
    for i, layer in enumerate(model.layers):
        kind = type(layer).__name__
        if i and len(getattr(layer, "_inbound_nodes", [None])) != 1:
            return f"layer {layer.name} is shared"
        if kind in ("InputLayer", "Flatten", "Dropout", "ReLU"):
            if kind == "ReLU" and (layer.max_value is not None or float(layer.negative_slope)
                                   or float(layer.threshold)):
                return f"layer {layer.name}: only a plain ReLU is supported"
            continue
        if kind not in ("Dense", "Conv1D", "Activation"):
            return f"layer {layer.name} ({kind}) is not supported"
        if _activation_name(layer) not in _ACTIVATIONS:
            return f"layer {layer.name}: activation {_activation_name(layer)!r} is not supported"
        if kind == "Conv1D" and (layer.data_format != "channels_last"
                                 or tuple(layer.dilation_rate) != (1,)
                                 or layer.padding not in ("valid", "same")
                                 or getattr(layer, "groups", 1) != 1):
            return f"layer {layer.name}: only channels_last, undilated, valid/same Conv1D"
    # a plain chain: every layer feeds the next
    names = [layer.name for layer in model.layers]
    for prev, layer in zip(model.layers, model.layers[1:], strict=False):
        inbound = layer._inbound_nodes[0].inbound_layers
        inbound = inbound if isinstance(inbound, list) else [inbound]
        if [x.name for x in inbound] != [prev.name]:
            return f"layer {layer.name} does not follow {prev.name} ({names})"
    return None


def _keras_order_graph(model, opset: int):
    """The float model as an ONNX graph in TensorFlow's CPU summation order."""
    from onnx import TensorProto, helper

    g = _Graph()
    x = "inputs"
    in_shape = [None, *model.input_shape[1:]]
    shape = list(model.input_shape[1:])
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in ("InputLayer", "Dropout"):
            continue
        if kind == "Flatten":
            x = g.op("Flatten", [x], axis=1)
            shape = [int(np.prod(shape))]
            continue
        if kind == "ReLU":
            x = g.op("Relu", [x])
            continue
        if kind == "Conv1D":
            kernel, *bias = layer.get_weights()
            k, channels, filters = kernel.shape
            stride = int(layer.strides[0])
            width = shape[0]
            if layer.padding == "same":
                out_w = -(-width // stride)
                total = max((out_w - 1) * stride + k - width, 0)
                pads = g.const([0, total // 2, 0, 0, total - total // 2, 0], dtype=np.int64)
                x = g.op("Pad", [x, pads])
                width += total
            out_w = (width - k) // stride + 1
            # patches (events, positions, k * channels), kernel position major: one strided
            # Slice per kernel position, concatenated on the channel axis
            taps = [g.op("Slice", [x, g.const([j], dtype=np.int64),
                                   g.const([j + (out_w - 1) * stride + 1], dtype=np.int64),
                                   g.const([1], dtype=np.int64),
                                   g.const([stride], dtype=np.int64)]) for j in range(k)]
            patches = taps[0] if k == 1 else g.op("Concat", taps, axis=2)
            # 2-D (events * positions, k * channels) so MatMul + Add fuse into one Gemm
            patches = g.op("Reshape", [patches, g.const([-1, k * channels], dtype=np.int64)])
            x = g.op("MatMul", [patches, g.const(kernel.reshape(k * channels, filters),
                                                 dtype=np.float32)])
            if bias:
                x = g.op("Add", [x, g.const(bias[0], dtype=np.float32)])
            x = g.op("Reshape", [x, g.const([-1, out_w, filters], dtype=np.int64)])
            shape = [out_w, filters]
        elif kind == "Dense":
            kernel, *bias = layer.get_weights()
            if kernel.shape[1] == 1:    # TensorFlow's GEMV order is CPU-dependent: use double
                # (elementwise Mul + ReduceSum: ONNX Runtime's double MatMul is slow)
                x = g.op("Cast", [x], to=TensorProto.DOUBLE)
                x = g.op("Mul", [x, g.const(kernel[:, 0], dtype=np.float64)])
                x = g.op("ReduceSum", [x, g.const([-1], dtype=np.int64)], keepdims=1)
                if bias:
                    x = g.op("Add", [x, g.const(bias[0], dtype=np.float64)])
                x = g.op("Cast", [x], to=TensorProto.FLOAT)
            else:
                x = g.op("MatMul", [x, g.const(kernel, dtype=np.float32)])
                if bias:
                    x = g.op("Add", [x, g.const(bias[0], dtype=np.float32)])
            shape = [*shape[:-1], kernel.shape[1]]
        act = _ACTIVATIONS[_activation_name(layer)] if kind in ("Dense", "Conv1D",
                                                                  "Activation") else None
        if act:
            x = g.op(act, [x])
    g.nodes.append(helper.make_node("Identity", [x], ["output"]))
    graph = helper.make_graph(
        g.nodes, model.name,
        [helper.make_tensor_value_info("inputs", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, *shape])],
        g.inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                   producer_name="triginfer-keras-order")
    onnx_model.ir_version = min(onnx_model.ir_version, 8)
    return onnx_model


class _Graph:
    """A small helper that names nodes and initializers uniquely; float constants take
    ``float_dtype`` (the bit-exact graph's number type) unless given one."""

    def __init__(self, float_dtype=np.float64) -> None:
        self.nodes: list = []
        self.inits: list = []
        self.count = 0
        self.float_dtype = float_dtype
        #: constant values by name, and the interval of values a tensor is known to lie in
        #: (from the input's range through the graph): an overflow step is left out where
        #: the interval proves it cannot act, as the compiled engine does
        self.values: dict[str, np.ndarray] = {}
        self.ranges: dict[str, tuple[float, float]] = {}

    @property
    def onnx_float(self) -> int:
        """The ONNX element type of ``float_dtype``."""
        from onnx import TensorProto

        return TensorProto.FLOAT if self.float_dtype == np.float32 else TensorProto.DOUBLE

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value, hint: str = "c", dtype=None) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        arr = np.asarray(value)
        if dtype is not None:
            arr = arr.astype(dtype)
        else:
            arr = arr.astype(np.int64) if arr.dtype.kind in "iu" else arr.astype(self.float_dtype)
        self.inits.append(numpy_helper.from_array(arr, name))
        self.values[name] = arr
        if arr.size and arr.dtype.kind == "f":
            self.ranges[name] = (float(arr.min()), float(arr.max()))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        from onnx import helper

        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        known = _range_of(op_type, inputs, self.ranges, self.values)
        if known is not None and all(np.isfinite(known)):
            self.ranges[out] = known
        return out

    def known(self, name: str, lo: float, hi: float) -> None:
        """Declare that tensor ``name`` lies in ``[lo, hi]``."""
        self.ranges[name] = (float(lo), float(hi))

    # --- fixed-point steps on mantissa tensors -----------------------------------------------
    def scale(self, x: str, bits: int) -> str:
        """Multiply by 2**bits (exact)."""
        return x if bits == 0 else self.op("Mul", [x, self.const(2.0**bits)])

    def round(self, v: str, ftype: FixedType) -> str:
        """Round values given in LSB units with the type's rounding mode."""
        mode = ftype.rounding
        if mode == "TRN":
            return self.op("Floor", [v])
        if mode == "RND_CONV":
            # where the values are known small, x + 1.5 2**23 (2**52 in float64) rounds half
            # to even in the FPU's own rounding and subtracting it back is exact: two
            # vectorised additions instead of ONNX Runtime's Round (4x slower per value)
            small = 2.0**22 if self.float_dtype == np.float32 else 2.0**51
            if v in self.ranges and max(abs(r) for r in self.ranges[v]) < small:
                magic = self.const(1.5 * small * 2.0)
                return self.op("Sub", [self.op("Add", [v, magic]), magic])
            return self.op("Round", [v])
        half = self.const(0.5)
        up = self.op("Floor", [self.op("Add", [v, half])])
        down = self.op("Ceil", [self.op("Sub", [v, half])])
        if mode == "RND":
            return up
        if mode == "RND_MIN_INF":
            return down
        nonneg = self.op("GreaterOrEqual", [v, self.const(0.0)])
        if mode == "TRN_ZERO":
            return self.op("Where", [nonneg, self.op("Floor", [v]), self.op("Ceil", [v])])
        if mode == "RND_ZERO":
            return self.op("Where", [nonneg, down, up])
        return self.op("Where", [nonneg, up, down])  # RND_INF

    def overflow(self, m: str, ftype: FixedType) -> str:
        """Apply the type's overflow mode to rounded mantissas (nothing where their known
        interval lies inside the type's range)."""
        lo, hi = float(ftype.min_mantissa), float(ftype.max_mantissa)
        mode = ftype.overflow
        low = -hi if mode == "SAT_SYM" and ftype.signed and ftype.width > 1 else lo
        if m in self.ranges and self.ranges[m][0] >= low and self.ranges[m][1] <= hi:
            return m
        if mode == "SAT":
            return self.op("Clip", [m, self.const(lo), self.const(hi)])
        if mode == "SAT_SYM":
            low = -hi if ftype.signed and ftype.width > 1 else lo
            return self.op("Clip", [m, self.const(low), self.const(hi)])
        if mode == "SAT_ZERO":
            outside = self.op("Or", [self.op("Less", [m, self.const(lo)]),
                                     self.op("Greater", [m, self.const(hi)])])
            return self.op("Where", [outside, self.const(0.0), m])
        modulus = float(2**ftype.width)
        shifted = self.op("Sub", [m, self.const(lo)])
        wraps = self.op("Floor", [self.op("Mul", [shifted, self.const(1.0 / modulus)])])
        return self.op("Sub", [m, self.op("Mul", [wraps, self.const(modulus)])])

    def convert(self, m: str, frac: int, ftype: FixedType) -> str:
        """Mantissas with ``frac`` fractional bits -> mantissas of ``ftype``."""
        shift = frac - ftype.frac
        v = self.scale(m, -shift)
        if shift > 0:
            v = self.round(v, ftype)
        return self.overflow(v, ftype)


def _range_of(op_type: str, inputs: list[str], ranges: dict, values: dict
              ) -> tuple[float, float] | None:
    """The interval of an op's output from its inputs' intervals (None: not known)."""
    if op_type == "Clip" and len(inputs) == 3 and all(i in ranges for i in inputs[1:]):
        lo, hi = ranges.get(inputs[0], (-np.inf, np.inf))
        return max(lo, ranges[inputs[1]][0]), min(hi, ranges[inputs[2]][1])
    if not inputs or inputs[0] not in ranges:
        return None
    lo, hi = ranges[inputs[0]]
    if op_type in ("Reshape", "Cast", "Identity", "Transpose", "Flatten", "Squeeze",
                   "Unsqueeze", "Slice", "Gather", "Expand", "Tile"):
        return lo, hi
    if op_type in ("Floor", "Ceil", "Round"):
        return float(np.floor(lo)), float(np.ceil(hi))
    if op_type == "Relu":
        return max(lo, 0.0), max(hi, 0.0)
    if op_type == "Concat":
        if not all(i in ranges for i in inputs):
            return None
        return min(ranges[i][0] for i in inputs), max(ranges[i][1] for i in inputs)
    if len(inputs) != 2 or inputs[1] not in ranges:
        return None
    lo2, hi2 = ranges[inputs[1]]
    if op_type == "Add":
        return lo + lo2, hi + hi2
    if op_type == "Sub":
        return lo - hi2, hi - lo2
    if op_type == "Mul":
        ends = [lo * lo2, lo * hi2, hi * lo2, hi * hi2]
        return min(ends), max(ends)
    if op_type == "Max":
        return max(lo, lo2), max(hi, hi2)
    if op_type == "Min":
        return min(lo, lo2), min(hi, hi2)
    if op_type == "MatMul" and inputs[1] in values and values[inputs[1]].ndim == 2:
        w = values[inputs[1]].astype(np.float64)
        pos, neg = np.clip(w, 0, None).sum(0), np.clip(w, None, 0).sum(0)
        return float(np.min(pos * lo + neg * hi)), float(np.max(pos * hi + neg * lo))
    return None


_SAME_SHAPE = {"Round", "Floor", "Ceil", "Relu", "Cast", "Identity", "Clip"}
_SCALAR_BINARY = {"Mul", "Max", "Min", "Sub", "Add", "Div"}


def _simplify(nodes: list, values: dict[str, np.ndarray], shapes: dict[str, int],
              keep: set[str]) -> list:
    """Peephole passes over the finished bit-exact graph, each exact by construction:
    reshapes to the shape a tensor already has are dropped, additions of zero dropped,
    ``Max(x, 0)`` becomes ``Relu`` (which ONNX Runtime fuses into the matrix product), and a
    power-of-two rescaling after a matrix product (and its bias and relu) is folded into
    the constant weights and bias (``values`` gets the new constants). ``shapes``: the
    width of the ``(batch, width)`` tensors known so far (the inputs); ``keep``: names that
    must stay (graph outputs)."""
    from onnx import helper

    alias: dict[str, str] = {}
    out: list = []
    for node in nodes:
        ins = [alias.get(i, i) for i in node.input]
        o = node.output[0]
        op = node.op_type
        const = [values.get(i) for i in ins]
        width = shapes.get(ins[0]) if ins else None
        if op == "Reshape" and const[1] is not None and const[1].tolist() == [-1, width] and \
                o not in keep:
            alias[o] = ins[0]
            continue
        if op == "Add" and const[1] is not None and const[1].ndim <= 1 and \
                not np.any(const[1]) and width is not None and const[1].size in (1, width) and \
                o not in keep:
            alias[o] = ins[0]
            continue
        if op == "Max" and const[1] is not None and const[1].size == 1 and \
                float(const[1].reshape(-1)[0]) == 0.0:
            node = helper.make_node("Relu", [ins[0]], [o])
            op, ins = "Relu", [ins[0]]
        else:
            node = helper.make_node(op, ins, list(node.output), name=node.name,
                                    **{a.name: helper.get_attribute_value(a)
                                       for a in node.attribute})
        if op == "Reshape" and const[1] is not None and len(const[1]) == 2 and \
                const[1][0] == -1:
            shapes[o] = int(const[1][1])
        elif op == "MatMul" and const[1] is not None and const[1].ndim == 2 and \
                width == const[1].shape[0]:
            shapes[o] = int(const[1].shape[1])
        elif width is not None and (op in _SAME_SHAPE or (
                op in _SCALAR_BINARY and const[1] is not None and
                (const[1].size == 1 or (const[1].ndim == 1 and const[1].size == width)))):
            shapes[o] = width
        out.append(node)
    return _fold_scales(out, values, keep)


def _fold_scales(nodes: list, values: dict[str, np.ndarray], keep: set[str]) -> list:
    """``Mul(Relu(Add(MatMul(x, W), b)), c)`` with ``c`` a positive power of two (Relu and
    Add optional) -> the same without the Mul, W and b scaled by c (exact: only exponents
    change)."""
    from onnx import helper

    producer = {n.output[0]: n for n in nodes}
    uses: dict[str, int] = {}
    for n in nodes:
        for i in n.input:
            uses[i] = uses.get(i, 0) + 1
    dropped, alias = set(), {}
    for n in nodes:
        if n.op_type != "Mul" or n.input[1] not in values or n.output[0] in keep:
            continue
        c = values[n.input[1]]
        if c.size != 1 or not float(c.reshape(-1)[0]) > 0:
            continue
        c = float(c.reshape(-1)[0])
        if 2.0 ** np.round(np.log2(c)) != c:
            continue
        chain, cur = [], producer.get(n.input[0])
        while cur is not None and uses.get(cur.output[0]) == 1 and cur.op_type in ("Relu", "Add"):
            chain.append(cur)
            cur = producer.get(cur.input[0])
        if cur is None or cur.op_type != "MatMul" or uses.get(cur.output[0]) != 1 or \
                cur.input[1] not in values or uses.get(cur.input[1]) != 1:
            continue
        adds = [a for a in chain if a.op_type == "Add"]
        if len(adds) > 1 or any(a.input[1] not in values or uses.get(a.input[1]) != 1
                                for a in adds):
            continue
        scaled = {}
        for name in [cur.input[1]] + [a.input[1] for a in adds]:
            v = values[name]
            new = (v * c).astype(v.dtype)
            nz = np.abs(v[v != 0])
            if not np.all(np.isfinite(new)) or not np.array_equal(new / c, v) or (
                    nz.size and nz.min() * c < np.finfo(v.dtype).tiny):
                break
            scaled[name] = new
        else:
            values.update(scaled)
            dropped.add(id(n))
            alias[n.output[0]] = n.input[0]
    if not dropped:
        return nodes
    out = []
    for n in nodes:
        if id(n) in dropped:
            continue
        ins = [alias.get(i, i) for i in n.input]
        out.append(helper.make_node(n.op_type, ins, list(n.output), name=n.name,
                                    **{a.name: helper.get_attribute_value(a)
                                       for a in n.attribute}))
    return out


def onnx_io_names(spec: FirmwareSpec) -> tuple[list[str], list[str]]:
    """Input and output names of the bit-exact graph: ``inputs``/``output`` for a model with
    one of each, the spec's input and output layer names otherwise."""
    if not spec.multi_io:
        return ["inputs"], ["output"]
    return list(spec.inputs), list(spec.outputs)


def export_bitexact_onnx(spec: FirmwareSpec, path: str | os.PathLike,
                         opset: int = DEFAULT_OPSET) -> Path:
    """Write an ONNX graph equal (==) to the emulator of ``spec`` (see the module docstring).

    Inputs float64 ``(batch, *input_shape)``, outputs float64 ``(batch, n_values)``: the
    firmware's output values; named as :func:`onnx_io_names` says. Every layer is
    translated by its kind in the layer-kind registry; a kind without a translation is
    refused before anything is written.
    """
    import onnx
    from onnx import TensorProto, helper

    from triginfer.emulation import Emulator
    from triginfer.firmware import kinds

    registry = kinds.registry()
    missing = [f"{layer.name} ({layer.kind})" for layer in spec.layers
               if layer.kind != "input" and not registry[layer.kind].has_onnx]
    if missing:
        raise UnsupportedModelError(
            f"firmware {spec.name!r}: no bit-exact ONNX translation for {', '.join(missing)} "
            f"(translated kinds: {', '.join(kinds.supported('onnx'))})")
    emulator = Emulator(spec)
    if not emulator.float_mode:
        raise UnsupportedModelError(
            f"firmware {spec.name!r}: some type is wider than 50 bits or a value can exceed "
            "2**51, so a float64 ONNX graph cannot be proven exact")
    in_names, out_names = onnx_io_names(spec)
    # float32 where every value provably stays below 2**22 (exact, with margin for the
    # average pooling's division), else float64
    use32 = emulator.max_width <= 22 and max(emulator.bounds.values()) < 2.0**22
    g = _Graph(np.float32 if use32 else np.float64)
    tensors: dict[str, tuple[str, int]] = {}
    for layer in spec.layers:
        result = emulator.result_type(layer.name)
        if layer.kind == "input":   # the float input is converted in double, then narrowed
            x = in_names[spec.inputs.index(layer.name)]
            g.float_dtype = np.float64
            v = g.scale(x, result.frac)
            if result.overflow in ("SAT", "SAT_SYM"):
                # clipping first to one LSB beyond the range gives the same result (rounding is
                # monotone and keeps integers) and bounds the values for the fast rounding
                v = g.op("Clip", [v, g.const(float(result.min_mantissa) - 1.0),
                                  g.const(float(result.max_mantissa) + 1.0)])
            m = g.overflow(g.round(v, result), result)
            g.known(m, result.min_mantissa, result.max_mantissa)
            g.float_dtype = np.float32 if use32 else np.float64
            if use32:
                m = g.op("Cast", [m], to=TensorProto.FLOAT)
            tensors[layer.name] = (m, result.frac)
            continue
        kind = registry[layer.kind]
        xs = [tensors[name] for name in layer.inputs]
        with layer_guard(spec.name, layer, "bit-exact ONNX"):
            m, frac = kind.onnx(g, layer, emulator._plans[layer.name], xs)
        if kind.converts_result:
            m = g.convert(m, frac, result)
        tensors[layer.name] = (m, result.frac)
    outputs = []
    for name, out_name, size in zip(spec.outputs, out_names, spec.output_sizes, strict=True):
        m, frac = tensors[name]
        flat = g.op("Reshape", [m, g.const(np.array([-1, size], np.int64))])
        if use32:
            flat = g.op("Cast", [flat], to=TensorProto.DOUBLE)
        values = g.op("Mul", [flat, g.const(2.0 ** -frac, dtype=np.float64)],
                      hint="output_values")
        g.nodes.append(helper.make_node("Identity", [values], [out_name]))
        outputs.append(helper.make_tensor_value_info(out_name, TensorProto.DOUBLE,
                                                     ["batch", size]))
    inputs = [helper.make_tensor_value_info(n, TensorProto.DOUBLE, ["batch", *shape])
              for n, shape in zip(in_names, spec.input_shapes, strict=True)]
    from onnx import numpy_helper

    values = dict(g.values)
    nodes = _simplify(g.nodes, values, {n: int(shape[0]) for n, shape in
                                       zip(in_names, spec.input_shapes, strict=True)
                                       if len(shape) == 1}, set(out_names))
    used = {i for n in nodes for i in n.input}
    inits = [numpy_helper.from_array(values[t.name], t.name) for t in g.inits if t.name in used]
    graph = helper.make_graph(nodes, f"{spec.name}_bitexact", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="triginfer")
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    path = Path(path)
    with atomic_path(path) as tmp:
        onnx.save(model, tmp)
    return path
