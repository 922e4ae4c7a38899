"""HGQ's heterogeneous quantizer: every value converted to its own fixed-point type.

hls4ml reads an HGQ2 (or HGQ1) quantizer as a ``FixedPointQuantizer`` layer holding
``mask_kbi``: per value, the sign bit ``k`` (0 or 1), the total width ``b`` and the
integer bits ``i`` (sign included). Its generated C++ (``generate_mask_fn``) is one
assignment per value, ``out[j] = ap_[u]fixed<b_j, i_j, AP_RND, AP_SAT>(inp[j])``, or
``out[j] = 0`` where ``b_j == 0`` (a pruned value); the layer's result type then holds
every one of them. Where all values share one type, hls4ml folds the quantizer into the
result type of the layer before it and no such layer is left.

The spec keeps the three masks as flat int64 arrays (``mask_k``, ``mask_b``, ``mask_i``,
one entry per value) and the rounding and overflow modes as ``rounding``/``overflow``.
"""

from __future__ import annotations

import numpy as np

from triginfer.errors import UnsupportedModelError
from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.activations import ElementwiseKind
from triginfer.firmware.kinds.base import EmuTensor
from triginfer.quantization.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType

#: Widest per-value type read (the emulator's exact range).
MAX_BITS = 62


def value_types(layer) -> tuple[np.ndarray, list[FixedType | None]]:
    """``(group, types)``: the index into ``types`` of every value, and each distinct type
    (None: the value is pruned to 0)."""
    k = layer.arrays["mask_k"].reshape(-1)
    b = layer.arrays["mask_b"].reshape(-1)
    i = layer.arrays["mask_i"].reshape(-1)
    keys = np.stack([k, b, i], axis=1)
    uniq, group = np.unique(keys, axis=0, return_inverse=True)
    rnd, ovf = layer.params["rounding"], layer.params["overflow"]
    types: list[FixedType | None] = []
    for kk, bb, ii in uniq:
        types.append(None if bb <= 0 else FixedType(int(bb), int(ii), bool(kk), rnd, ovf))
    return group.reshape(-1), types


@register
class FixedPointQuantizer(ElementwiseKind):
    """HGQ's per-value quantizer (``FixedPointQuantizer``): each value its own type."""

    kind = "fixed_quantizer"
    hls_classes = ("FixedPointQuantizer",)
    summary = ("HGQ2/HGQ1 heterogeneous quantizer (FixedPointQuantizer: per-value "
               "`mask_kbi`, pruned values 0)")

    def matches(self, hls_layer):
        return hls_layer.class_name in self.hls_classes

    def read(self, hls_layer, layer, cpp):
        attrs = hls_layer.attributes
        # the layer's own mask_kbi: hls4ml's bit-exact pass rewrites it (the generated C++
        # comes from it), the attribute keeps the converter's first value
        masks_kbi = getattr(hls_layer, "mask_kbi", None)
        if masks_kbi is None:
            masks_kbi = attrs["mask_kbi"]
        k, b, i = (np.asarray(a) for a in masks_kbi)
        shape = tuple(layer.input_shape)
        n = int(np.prod(shape))
        masks = {}
        for key, a in (("mask_k", k), ("mask_b", b), ("mask_i", i)):
            a = a.reshape(a.shape[1:]) if a.ndim > len(shape) else a
            masks[key] = np.broadcast_to(a, shape).reshape(n).astype(np.int64)
        layer.arrays.update(masks)
        rnd = str(getattr(hls_layer, "RND", None) or attrs["RND"]).upper()
        ovf = str(getattr(hls_layer, "SAT", None) or attrs["SAT"]).upper()
        layer.params.update({"rounding": rnd.removeprefix("AP_"),
                             "overflow": ovf.removeprefix("AP_")})

    def validate(self, layer, producers):
        super().validate(layer, producers)
        n = int(np.prod(layer.input_shape))
        for key in ("mask_k", "mask_b", "mask_i"):
            if key not in layer.arrays:
                raise KeyError(f"array {key!r} missing")
            if layer.arrays[key].size != n:
                raise ValueError(f"{key} holds {layer.arrays[key].size} values for "
                                 f"{n} inputs")
        if layer.params.get("rounding") not in ROUNDING_MODES:
            raise ValueError(f"rounding {layer.params.get('rounding')!r} is not one of "
                             f"{ROUNDING_MODES}")
        if layer.params.get("overflow") not in OVERFLOW_MODES:
            raise ValueError(f"overflow {layer.params.get('overflow')!r} is not one of "
                             f"{OVERFLOW_MODES}")
        k, b, i = (layer.arrays[key] for key in ("mask_k", "mask_b", "mask_i"))
        if not np.isin(k, (0, 1)).all():
            raise ValueError("mask_k holds values other than 0 and 1")
        if b.min(initial=0) < 0 or b.max(initial=0) > MAX_BITS:
            raise ValueError(f"mask_b holds widths outside 0..{MAX_BITS}")
        if np.abs(i).max(initial=0) > 64:
            raise ValueError("mask_i holds integer bits beyond +-64")
        if ((b > 0) & (b - i > 128)).any():
            raise ValueError("a value type has more than 128 fractional bits")

    def prepare(self, layer, in_types):
        group, types = value_types(layer)
        live = [t for t in types if t is not None]
        frac = max((t.frac for t in live), default=0)
        members = [np.nonzero(group == g)[0] for g in range(len(types))]
        return {"group": group, "types": types, "members": members, "frac": frac}

    def bound(self, layer, plan, in_types):
        live = [t for t in plan["types"] if t is not None]
        top = max((max(abs(t.min_value), abs(t.max_value)) for t in live), default=0.0)
        in_max = max(abs(in_types[0].min_value), abs(in_types[0].max_value))
        frac = max(plan["frac"], in_types[0].frac)
        return (max(top, in_max) + 1.0) * 2.0 ** frac

    def value_range(self, layer, plan, in_types):
        live = [t for t in plan["types"] if t is not None]
        lo = min((t.min_value for t in live), default=0.0)
        hi = max((t.max_value for t in live), default=0.0)
        return min(lo, 0.0), max(hi, 0.0), plan["frac"]

    def emulate(self, layer, plan, xs, ctx):
        x = xs[0]
        n = x.m.shape[0]
        flat = x.m.reshape(n, -1)
        out_frac = plan["frac"]
        out = np.zeros_like(flat)
        for t, cols in zip(plan["types"], plan["members"], strict=True):
            if t is None or cols.size == 0:
                continue
            m = t.apply_overflow(t.round_only(flat[:, cols], x.frac))
            shift = out_frac - t.frac
            out[:, cols] = np.ldexp(m, shift) if m.dtype.kind == "f" else m << np.int64(shift)
        return EmuTensor(out.reshape(x.m.shape), out_frac)

    def onnx(self, g, layer, plan, xs):
        """Per value: scale to its own LSB, round, clip or wrap into its range, scale to the
        common LSB (every step a vector of per-value constants, exact in float64)."""
        m, frac = xs[0]
        types = plan["types"]
        group = plan["group"]
        live = [t for t in types if t is not None]
        modes = {(t.rounding, t.overflow) for t in live}
        if len(modes) > 1:
            raise UnsupportedModelError(f"layer {layer.name!r}: mixed rounding modes")
        out_frac = plan["frac"]
        if not live:
            return g.op("Mul", [m, g.const(0.0)]), out_frac
        proto = live[0]

        shape = tuple(layer.input_shape)

        def per_value(fn, fill: float) -> np.ndarray:
            by_type = np.array([fill if t is None else fn(t) for t in types], dtype=np.float64)
            return by_type[group].reshape(shape)

        to_own = per_value(lambda t: 2.0 ** (t.frac - frac), 0.0)
        v = g.op("Mul", [m, g.const(to_own)])
        if any(t.frac < frac for t in live):
            v = g.round(v, proto)
        sym = proto.overflow == "SAT_SYM"
        lo = per_value(lambda t: float(-t.max_mantissa if sym and t.signed and t.width > 1
                                       else t.min_mantissa), 0.0)
        hi = per_value(lambda t: float(t.max_mantissa), 0.0)
        if proto.overflow in ("SAT", "SAT_SYM"):
            v = g.op("Min", [g.op("Max", [v, g.const(lo)]), g.const(hi)])
        elif proto.overflow == "SAT_ZERO":
            outside = g.op("Or", [g.op("Less", [v, g.const(lo)]),
                                  g.op("Greater", [v, g.const(hi)])])
            v = g.op("Where", [outside, g.const(0.0), v])
        else:   # WRAP: m - M floor((m - lo) / M), M = 2**width per value
            modulus = per_value(lambda t: float(2 ** t.width), 1.0)
            wraps = g.op("Floor", [g.op("Mul", [g.op("Sub", [v, g.const(lo)]),
                                                g.const(1.0 / modulus)])])
            v = g.op("Sub", [v, g.op("Mul", [wraps, g.const(modulus)])])
        to_out = per_value(lambda t: 2.0 ** (out_frac - t.frac), 0.0)
        return g.op("Mul", [v, g.const(to_out)]), out_frac

    def estimate(self, layer, ctx):
        """Wiring, plus a rounding adder and a saturation compare per value that needs them."""
        b = layer.arrays["mask_b"]
        n_live = int((b > 0).sum())
        width = int(b.max(initial=0))
        return {"cycles": 0, "LUT": int(n_live * width), "FF": int(n_live * width), "DSP": 0,
                "BRAM_18K": 0}


__all__ = ["FixedPointQuantizer", "value_types"]
