"""Dense layers and convolutions (1D, 2D, pointwise): a matrix product per output position.

What the hls4ml templates do: each product ``x * w`` is exact, then converted
to the accumulator type; the bias is converted to the accumulator type; the
sum wraps in the accumulator (two's complement, so wrapping each partial sum
equals wrapping the total); the accumulator is converted to the result type.
When the accumulator keeps every product bit the sum is one matrix product
(float64 BLAS when the bound proves it exact, else int64); otherwise each
product is rounded separately. Convolutions are dense layers over im2col
patches (channels last, kernel position major). Binary (``weight_binary``)
weights are stored as -1/+1 mantissas.
"""

from __future__ import annotations

import math

import numpy as np

from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.base import EmuTensor, LayerKind, cpp_const, max_abs


def _product_kind(cpp) -> str:
    config = cpp.get("config", "")
    for name in ("both_binary", "weight_binary", "data_binary", "weight_ternary",
                 "weight_exponential", "mult"):
        if f"product::{name}" in config:
            return name
    return "mult"


class MatMulKind(LayerKind):
    """Shared by dense and convolution kinds."""

    def required_arrays(self, layer):
        return ("weight",)

    def required_types(self, layer):
        return ("accum", "weight") + (("bias",) if "bias" in layer.arrays else ())

    def read_weights(self, hls_layer, layer, cpp) -> None:
        """Undo the Resource strategy's kernel transpose; turn binary weights into -1/+1
        mantissas (hls4ml stores them as 0/1)."""
        if hls_layer.get_attr("_weights_transposed", False) and "weight" in layer.arrays:
            w = layer.arrays["weight"]
            # hls4ml: Dense (I,O)->(O,I); Conv1D (W,C,F)->(F,W,C); Conv2D (H,W,C,F)->(F,H,W,C)
            layer.arrays["weight"] = np.moveaxis(w, 0, -1) if w.ndim > 2 else w.T
        product = _product_kind(cpp)
        if product in ("both_binary", "data_binary", "weight_exponential"):
            from triginfer.errors import UnsupportedModelError

            raise UnsupportedModelError(
                f"layer {layer.name!r}: hls4ml's {product} product is not emulated; use "
                "binary or ternary weights with a non-binary input (e.g. quantized_bits)")
        if product == "weight_binary":
            layer.arrays["weight"] = np.where(layer.arrays["weight"] > 0, 1, -1).astype(np.int64)
            layer.types["weight"] = "fixed<2,2,TRN,WRAP>"
            layer.params["weight_binary"] = True

    def validate(self, layer, producers):
        super().validate(layer, producers)
        w = layer.arrays["weight"]
        n_in = int(np.prod(w.shape[:-1]))
        if layer.kind == "dense" and n_in != int(np.prod(producers[0].output_shape)):
            raise ValueError(f"weight shape {list(w.shape)} does not fit the input "
                             f"{list(producers[0].output_shape)}")
        if "bias" in layer.arrays and layer.arrays["bias"].shape[-1] != w.shape[-1]:
            raise ValueError(f"bias shape {list(layer.arrays['bias'].shape)} does not fit "
                             f"weight shape {list(w.shape)}")
        if layer.output_shape[-1] != w.shape[-1]:
            raise ValueError(f"weight shape {list(w.shape)} does not give the output shape "
                             f"{list(layer.output_shape)}")
        for key, want in (("n_in", n_in), ("n_out", w.shape[-1])):
            if layer.kind == "dense" and key in layer.params and layer.params[key] != want:
                raise ValueError(f"{key} is {layer.params[key]!r}, the weights say {want}")

    def prepare(self, layer, in_types):
        weight = layer.arrays["weight"]
        n_out = weight.shape[-1]
        w = weight.reshape(-1, n_out).astype(np.int64)
        accum = layer.fixed("accum")
        plan = {"w": w, "wf": w.astype(np.float64), "w_type": layer.fixed("weight"),
                "accum": accum, "in_frac": in_types[0].frac}
        if "bias" in layer.arrays:
            plan["b"] = accum.requantize(layer.arrays["bias"].reshape(-1).astype(np.int64),
                                         layer.fixed("bias").frac)
        else:
            plan["b"] = np.zeros(n_out, dtype=np.int64)
        plan["bf"] = plan["b"].astype(np.float64)
        plan["shift"] = accum.frac - (in_types[0].frac + plan["w_type"].frac)
        if accum.overflow != "WRAP":
            from triginfer.errors import UnsupportedModelError

            raise UnsupportedModelError(
                f"layer {layer.name!r}: accumulator {layer.types['accum']} does not wrap; "
                "only WRAP accumulators (hls4ml's default) are emulated")
        return plan

    def bound(self, layer, plan, in_types):
        column = float(np.abs(plan["wf"]).sum(axis=0).max(initial=0.0))
        bias = float(np.abs(plan["bf"]).max(initial=0.0))
        x = max_abs(in_types[0])
        if plan["shift"] >= 0:
            bound = x * column * 2.0 ** plan["shift"] + bias
        else:  # each product rounded to the accumulator: at most one LSB more per term
            bound = x * column * 2.0 ** plan["shift"] + plan["w"].shape[0] + bias
        plan["wf_shifted"] = np.ldexp(plan["wf"], max(plan["shift"], 0))
        # every partial sum an integer below 2**24: single precision is exact (and twice as
        # fast in BLAS)
        plan["float32"] = plan["shift"] >= 0 and bound < 2.0**24
        plan["wf32_shifted"] = plan["wf_shifted"].astype(np.float32)
        plan["accum_safe"] = bound <= plan["accum"].max_mantissa
        return max(bound, x * float(np.abs(plan["wf"]).max(initial=0.0)))

    def patches(self, layer, m: np.ndarray) -> np.ndarray:
        """``(n, positions, k)`` inputs of each output position."""
        return m.reshape(m.shape[0], 1, -1)

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        n = x.m.shape[0]
        patches = self.patches(layer, x.m)
        acc = self.accumulate(layer, plan, patches.reshape(-1, patches.shape[-1]), x.frac, ctx)
        return EmuTensor(acc.reshape((n, *layer.output_shape)), plan["accum"].frac)

    def accumulate(self, layer, plan, x: np.ndarray, frac: int, ctx) -> np.ndarray:
        """Accumulator mantissas (after wrapping), ``(rows, n_out)``."""
        accum = plan["accum"]
        prod_frac = frac + plan["w_type"].frac
        shift = plan["shift"]
        if shift >= 0 and ctx.float_mode:
            if plan["float32"] and ctx.compiled:
                exact = (x.astype(np.float32) @ plan["wf32_shifted"]).astype(np.float64)
            else:
                exact = x @ plan["wf_shifted"]  # 2**shift folded into the weights; exact
            exact += plan["bf"]
            if not ctx.monitoring and plan["accum_safe"]:
                return exact
        elif shift >= 0:
            exact = ((x.astype(np.int64) @ plan["w"]) << np.int64(shift)) + plan["b"]
        else:
            # Each product is rounded to the accumulator separately, as mult[] = x*w does.
            w = plan["wf"] if ctx.float_mode else plan["w"]
            exact = np.zeros((x.shape[0], w.shape[1]), dtype=w.dtype) + (
                plan["bf"] if ctx.float_mode else plan["b"])
            for i in range(x.shape[1]):
                exact += accum.round_only(x[:, i:i + 1] * w[i:i + 1, :], prod_frac)
        return ctx.overflow(layer, "accum", accum, exact)

    # --- ONNX ------------------------------------------------------------------------------
    def onnx_patches(self, g, layer, m: str) -> str:
        """``(rows, k)`` patch matrix."""
        return g.op("Reshape", [m, g.const(np.array([-1, layer.arrays["weight"].reshape(
            -1, layer.arrays["weight"].shape[-1]).shape[0]], np.int64))])

    def onnx(self, g, layer, plan, xs):
        m, frac = xs[0]
        accum = plan["accum"]
        w = plan["w"]
        flat = self.onnx_patches(g, layer, m)
        shift = plan["shift"]
        if shift >= 0:  # the accumulator keeps every product bit: one exact MatMul
            acc = g.op("MatMul", [flat, g.const(np.ldexp(w.astype(np.float64), shift))])
        else:  # each product x*w is rounded to the accumulator, then summed
            prods = g.op("Mul", [g.op("Unsqueeze", [flat, g.const(np.array([2]))]),
                                 g.const(w.astype(np.float64))])
            rounded = g.round(g.scale(prods, shift), accum)
            acc = g.op("ReduceSum", [rounded, g.const(np.array([1]))], keepdims=0)
        acc = g.op("Add", [acc, g.const(plan["bf"])])
        acc = g.overflow(acc, accum)
        out = g.op("Reshape", [acc, g.const(np.array([-1, *layer.output_shape], np.int64))])
        return out, accum.frac

    # --- estimate --------------------------------------------------------------------------
    def estimate(self, layer, ctx):
        w = layer.arrays["weight"].reshape(-1, layer.arrays["weight"].shape[-1])
        positions = layer.output_positions
        partitions = 1
        if positions > 1 and ctx.io_type != "io_stream":
            partitions = int(layer.params.get("n_partitions", positions))
            positions = max(1, positions // partitions)   # pixels computed in parallel
        in_width = ctx.in_width(layer)
        reuse = ctx.reuse
        acc_width = layer.fixed("accum").width
        w_width = layer.fixed("weight").width
        digits = ctx.csd_digits(w)    # the estimator's cost model, handed in by the estimator
        entry = {"cycles": 0, "LUT": 0, "FF": 0, "DSP": 0, "BRAM_18K": 0,
                 "zero_weights": int((w == 0).sum()),
                 "power_of_two_weights": int((digits == 1).sum()),
                 "multiplications": int((digits >= 2).sum()) * positions,
                 "dsp_mults": 0, "lut_mults": 0}
        if reuse == 1:
            costs = ctx.product_costs(w, in_width)
            entry["dsp_mults"] = costs["dsp"] * positions
            entry["lut_mults"] = costs["lut_products"] * positions
            entry["DSP"] = entry["dsp_mults"]
            entry["LUT"] += 2 * costs["lut_adder_bits"] * positions
        else:
            n_mult = entry["multiplications"]
            if in_width >= ctx.dsp_min_input_width:
                entry["dsp_mults"] = n_mult
                entry["DSP"] = math.ceil(n_mult / reuse)
            else:
                entry["lut_mults"] = n_mult
                entry["LUT"] += math.ceil(n_mult / reuse) * math.ceil(in_width * w_width / 2)
        # one addition per non-zero weight (the bias add included) per output position
        entry["LUT"] += int(np.count_nonzero(w)) * positions * acc_width
        terms = int(np.count_nonzero(w, axis=0).max(initial=0))
        levels = math.ceil(math.log2(terms + 1))
        entry["adder_levels"] = levels
        entry["cycles"] = 1 + math.ceil(levels / ctx.levels_per_cycle) + (partitions * reuse - 1)
        entry["FF"] = ctx.size(layer) * acc_width * entry["cycles"] // partitions
        entry["ii"] = reuse
        if partitions > 1:
            entry["partitions"] = partitions
            entry["ii"] = partitions * reuse
        if ctx.io_type == "io_stream" and layer.output_positions > 1:
            entry["cycles"] += layer.output_positions * reuse
            entry["ii"] = max(entry["ii"], layer.output_positions * reuse)
        return entry


@register
class Dense(MatMulKind):
    """A dense layer."""

    kind = "dense"
    hls_classes = ("Dense",)
    summary = "dense (QDense, Dense; binary/ternary weights; batch norm folded by hls4ml)"

    def read(self, hls_layer, layer, cpp):
        attrs = hls_layer.attributes
        layer.params = {"n_in": int(attrs["n_in"]), "n_out": int(attrs["n_out"])}
        self.read_weights(hls_layer, layer, cpp)


def _conv_geometry(layer, in_shape):
    """(padded shape, list of flat index arrays per output position) of a convolution."""
    p = layer.params
    if layer.kind in ("conv1d", "depthwise_conv1d"):
        pshape = (in_shape[0] + p["pad_left"] + p["pad_right"], in_shape[1])
        index = np.arange(int(np.prod(pshape))).reshape(pshape)
        rows = [index[o * p["stride_width"]:o * p["stride_width"] + p["filt_width"], :]
                .reshape(-1) for o in range(p["out_width"])]
    else:
        pshape = (in_shape[0] + p["pad_top"] + p["pad_bottom"],
                  in_shape[1] + p["pad_left"] + p["pad_right"], in_shape[2])
        index = np.arange(int(np.prod(pshape))).reshape(pshape)
        rows = []
        for oh in range(p["out_height"]):
            for ow in range(p["out_width"]):
                h0, w0 = oh * p["stride_height"], ow * p["stride_width"]
                rows.append(index[h0:h0 + p["filt_height"], w0:w0 + p["filt_width"], :]
                            .reshape(-1))
    return pshape, np.stack(rows)


def conv_pads(layer) -> list[tuple[int, int]]:
    """numpy pad widths over (batch, [height,] width, channels)."""
    p = layer.params
    if layer.kind in ("conv1d", "depthwise_conv1d"):
        return [(0, 0), (p["pad_left"], p["pad_right"]), (0, 0)]
    return [(0, 0), (p["pad_top"], p["pad_bottom"]), (p["pad_left"], p["pad_right"]), (0, 0)]


def conv_patches(layer, m: np.ndarray, in_shape) -> np.ndarray:
    """``(n, positions, k)`` patches of a (padded) convolution input."""
    n = m.shape[0]
    pads = conv_pads(layer)
    padded = np.pad(m, pads) if any(a or b for a, b in pads) else m
    _, idx = _conv_geometry(layer, in_shape)
    return padded.reshape(n, -1)[:, idx]


def onnx_conv_patches(g, layer, m: str, in_shape) -> str:
    """ONNX: the ``(n, positions, k)`` patches of a convolution input."""
    pads = conv_pads(layer)
    onnx_pads = [a for a, _ in pads] + [b for _, b in pads]
    padded = g.op("Pad", [m, g.const(np.array(onnx_pads, np.int64))]) if any(onnx_pads) else m
    flat_in = g.op("Reshape", [padded, g.const(np.array([0, -1], np.int64))])
    _, idx = _conv_geometry(layer, in_shape)
    return g.op("Gather", [flat_in, g.const(idx)], axis=1)


class ConvKind(MatMulKind):
    """Convolutions (channels last) as dense layers over patches."""

    keys: tuple[str, ...] = ()

    def read(self, hls_layer, layer, cpp):
        attrs = hls_layer.attributes
        layer.params = {k: int(attrs[k]) for k in self.keys}
        if attrs.get("n_partitions") is not None:
            layer.params["n_partitions"] = int(attrs["n_partitions"])
        self.read_weights(hls_layer, layer, cpp)

    def validate(self, layer, producers):
        super().validate(layer, producers)
        for key in self.keys:
            if key not in layer.params:
                raise KeyError(f"parameter {key!r} missing")

    def patches(self, layer, m):
        return conv_patches(layer, m, layer.input_shape)

    def onnx_patches(self, g, layer, m):
        patches = onnx_conv_patches(g, layer, m, layer.input_shape)
        k = layer.arrays["weight"].reshape(-1, layer.arrays["weight"].shape[-1]).shape[0]
        return g.op("Reshape", [patches, g.const(np.array([-1, k], np.int64))])


@register
class Conv1D(ConvKind):
    """A 1D convolution (and pointwise 1D)."""

    kind = "conv1d"
    hls_classes = ("Conv1D", "PointwiseConv1D")
    summary = "1D convolution, pointwise 1D (QConv1D, Conv1D)"
    keys = ("in_width", "n_chan", "n_filt", "filt_width", "stride_width", "pad_left",
            "pad_right", "out_width")


@register
class Conv2D(ConvKind):
    """A 2D convolution (and pointwise 2D, QConv2DBatchnorm folded)."""

    kind = "conv2d"
    hls_classes = ("Conv2D", "PointwiseConv2D", "Conv2DBatchnorm")
    summary = "2D convolution, pointwise 2D (QConv2D, Conv2D, QConv2DBatchnorm)"
    keys = ("in_height", "in_width", "n_chan", "n_filt", "filt_height", "filt_width",
            "stride_height", "stride_width", "pad_top", "pad_bottom", "pad_left", "pad_right",
            "out_height", "out_width")


__all__ = ["Conv1D", "Conv2D", "Dense", "MatMulKind", "conv_patches", "cpp_const",
           "onnx_conv_patches"]
