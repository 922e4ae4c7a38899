"""ONNX export: Keras/QKeras models via tf2onnx, and a bit-exact graph built from a FirmwareSpec.

:func:`export_onnx` converts a (Q)Keras model with tf2onnx (QKeras quantizers
become Round/Clip ops), with a dynamic batch axis.

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
  Conv op, whose double support varies between execution providers).

Double is used throughout rather than float32 because accumulators here reach
22 bits and more and float32 holds integers exactly only up to 2**24; a float32
graph would be exact only for narrow models.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from triginfer.errors import UnsupportedModelError
from triginfer.hls_export.spec import FirmwareSpec, SpecLayer
from triginfer.quantization.fixed import FixedType

log = logging.getLogger(__name__)

DEFAULT_OPSET = 13


def export_onnx(model, path: str | os.PathLike, opset: int = DEFAULT_OPSET) -> Path:
    """Convert a Keras or QKeras model to ONNX (dynamic batch axis); returns the path."""
    import tensorflow as tf
    import tf2onnx

    if opset < 13:
        raise UnsupportedModelError(f"opset must be >= 13, got {opset}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="inputs"),)
    tmp = path.with_name(f".{path.name}.tmp")
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=str(tmp))
    os.replace(tmp, path)
    log.info("exported %s to %s (opset %d)", model.name, path, opset)
    return path


class _Graph:
    """A small helper that names nodes and initializers uniquely."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        arr = np.asarray(value)
        arr = arr.astype(np.int64) if arr.dtype.kind in "iu" else arr.astype(np.float64)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        from onnx import helper

        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

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
        """Apply the type's overflow mode to rounded mantissas."""
        lo, hi = float(ftype.min_mantissa), float(ftype.max_mantissa)
        mode = ftype.overflow
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


def _patch_indices(layer: SpecLayer, padded_shape: tuple[int, ...]) -> np.ndarray:
    """Flat indices into the padded input for each (output position, kernel element)."""
    p = layer.params
    index = np.arange(int(np.prod(padded_shape))).reshape(padded_shape)
    rows = []
    if layer.kind == "conv1d":
        for o in range(p["out_width"]):
            s = o * p["stride_width"]
            rows.append(index[s:s + p["filt_width"], :].reshape(-1))
    else:
        for oh in range(p["out_height"]):
            for ow in range(p["out_width"]):
                h0, w0 = oh * p["stride_height"], ow * p["stride_width"]
                rows.append(index[h0:h0 + p["filt_height"], w0:w0 + p["filt_width"], :]
                            .reshape(-1))
    return np.stack(rows)


def export_bitexact_onnx(spec: FirmwareSpec, path: str | os.PathLike,
                         opset: int = DEFAULT_OPSET) -> Path:
    """Write an ONNX graph equal (==) to the emulator of ``spec`` (see the module docstring).

    Input ``inputs``: float64 ``(batch, *input_shape)``; output ``output``: float64
    ``(batch, n_outputs)``, the firmware's output values.
    """
    import onnx
    from onnx import TensorProto, helper

    from triginfer.emulation import Emulator

    emulator = Emulator(spec)
    if not emulator.float_mode:
        raise UnsupportedModelError(
            f"firmware {spec.name!r}: some type is wider than 50 bits or a matrix product can "
            "exceed 2**51, so a float64 ONNX graph cannot be proven exact")
    g = _Graph()
    x = "inputs"
    m, frac = None, 0
    for layer in spec.layers:
        result = layer.fixed("result")
        kind = layer.kind
        if kind == "input":
            v = g.scale(x, result.frac)
            m = g.overflow(g.round(v, result), result)
        elif kind in ("dense", "conv1d", "conv2d"):
            accum = layer.fixed("accum")
            w = layer.arrays["weight"].reshape(-1, layer.arrays["weight"].shape[-1])
            shift = accum.frac - (frac + layer.fixed("weight").frac)
            bias = np.asarray(accum.requantize(
                layer.arrays.get("bias", np.zeros(w.shape[1], np.int64)),
                layer.fixed("bias").frac if "bias" in layer.types else 0), dtype=np.float64)
            if kind == "dense":
                flat = g.op("Reshape", [m, g.const(np.array([-1, w.shape[0]], np.int64))])
            else:
                p = layer.params
                # ONNX Pad: all begins, then all ends, over (batch, [height,] width, channels).
                pads = ([0, p["pad_left"], 0, 0, p["pad_right"], 0] if kind == "conv1d" else
                        [0, p["pad_top"], p["pad_left"], 0, 0, p["pad_bottom"], p["pad_right"], 0])
                padded = g.op("Pad", [m, g.const(np.array(pads, np.int64))])
                in_shape = layer.input_shape
                if kind == "conv1d":
                    pshape = (in_shape[0] + p["pad_left"] + p["pad_right"], in_shape[1])
                else:
                    pshape = (in_shape[0] + p["pad_top"] + p["pad_bottom"],
                              in_shape[1] + p["pad_left"] + p["pad_right"], in_shape[2])
                flat_in = g.op("Reshape", [padded, g.const(np.array([0, -1], np.int64))])
                idx = _patch_indices(layer, pshape)
                patches = g.op("Gather", [flat_in, g.const(idx)], axis=1)
                flat = g.op("Reshape", [patches, g.const(np.array([-1, w.shape[0]], np.int64))])
            if shift >= 0:  # the accumulator keeps every product bit: one exact MatMul
                acc = g.op("MatMul", [flat, g.const(np.ldexp(w.astype(np.float64), shift))])
            else:  # each product x*w is rounded to the accumulator, then summed
                prods = g.op("Mul", [g.op("Unsqueeze", [flat, g.const(np.array([2]))]),
                                     g.const(w.astype(np.float64))])
                rounded = g.round(g.scale(prods, shift), accum)
                acc = g.op("ReduceSum", [rounded, g.const(np.array([1]))], keepdims=0)
            acc = g.op("Add", [acc, g.const(bias)])
            acc = g.overflow(acc, accum)
            m = g.convert(acc, accum.frac, result)
            m = g.op("Reshape", [m, g.const(np.array([-1, *layer.output_shape], np.int64))])
        elif kind == "relu":
            m = g.convert(g.op("Max", [m, g.const(0.0)]), frac, result)
        elif kind == "linear":
            m = g.convert(m, frac, result)
        elif kind in ("sigmoid", "tanh"):
            size, span = layer.params["table_size"], layer.params["table_range"]
            v = g.scale(m, -frac)  # the real value
            v = g.op("Mul", [v, g.const(float(size) / span)])
            nonneg = g.op("GreaterOrEqual", [v, g.const(0.0)])
            v = g.op("Where", [nonneg, g.op("Floor", [v]), g.op("Ceil", [v])])  # C truncation
            v = g.op("Clip", [g.op("Add", [v, g.const(float(size // 2))]), g.const(0.0),
                              g.const(float(size - 1))])
            index = g.op("Cast", [v], to=TensorProto.INT64)
            table = g.op("Gather", [g.const(layer.arrays["table"].astype(np.float64)), index],
                         axis=0)
            m = g.convert(table, layer.fixed("table").frac, result)
        elif kind == "batchnorm":
            sf, bf = layer.fixed("scale").frac, layer.fixed("bias").frac
            top = max(frac + sf, bf)
            prod = g.op("Mul", [m, g.const(np.ldexp(layer.arrays["scale"].astype(np.float64),
                                                    top - frac - sf))])
            total = g.op("Add", [prod, g.const(np.ldexp(layer.arrays["bias"].astype(np.float64),
                                                        top - bf))])
            m = g.convert(total, top, result)
        elif kind == "flatten":
            m = g.op("Reshape", [m, g.const(np.array([-1, *layer.output_shape], np.int64))])
        elif kind == "maxpool2d" or kind == "maxpool1d":
            p = layer.params
            in_shape = layer.input_shape
            flat_in = g.op("Reshape", [m, g.const(np.array([0, -1], np.int64))])
            index = np.arange(int(np.prod(in_shape))).reshape(in_shape)
            rows = []
            if kind == "maxpool1d":
                width = p.get("pool_width", 2)
                stride = p.get("stride_width", width)
                for o in range(layer.output_shape[0]):
                    rows.append(index[o * stride:o * stride + width, :])
                idx = np.stack(rows)  # (out, window, C)
            else:
                ph, pw = p.get("pool_height", 2), p.get("pool_width", 2)
                sh, sw = p.get("stride_height", ph), p.get("stride_width", pw)
                for i in range(layer.output_shape[0]):
                    for j in range(layer.output_shape[1]):
                        rows.append(index[i * sh:i * sh + ph, j * sw:j * sw + pw, :]
                                    .reshape(ph * pw, -1))
                idx = np.stack(rows)  # (out, window, C)
            windows = g.op("Gather", [flat_in, g.const(idx)], axis=1)
            pooled = g.op("ReduceMax", [windows], axes=[2], keepdims=0)
            pooled = g.op("Reshape", [pooled, g.const(np.array([-1, *layer.output_shape],
                                                                np.int64))])
            m = g.convert(pooled, frac, result)
        else:
            raise UnsupportedModelError(f"layer {layer.name!r} of kind {kind!r} has no "
                                        "bit-exact ONNX translation")
        frac = result.frac
    out = g.op("Reshape", [m, g.const(np.array([-1, spec.n_outputs], np.int64))])
    values = g.op("Mul", [out, g.const(2.0 ** -frac)], hint="output_values")
    g.nodes.append(helper.make_node("Identity", [values], ["output"]))
    graph = helper.make_graph(
        g.nodes, f"{spec.name}_bitexact",
        [helper.make_tensor_value_info("inputs", TensorProto.DOUBLE, ["batch", *spec.input_shape])],
        [helper.make_tensor_value_info("output", TensorProto.DOUBLE, ["batch", spec.n_outputs])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="triginfer")
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    onnx.save(model, tmp)
    os.replace(tmp, path)
    return path
