"""Bit-width scan: quantization-aware training at a list of uniform widths, resolution vs bits.

Each point starts from the same float (pruned) weights, uses
:meth:`QuantSpec.uniform` for every weight, bias and activation, trains for a
few epochs and measures the sigma68 resolution on the test set. The chosen
width is the smallest whose resolution is within ``tolerance`` (relative) of
the float model's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from triginfer import metrics as m
from triginfer import plots
from triginfer.quantization.spec import QuantSpec

log = logging.getLogger(__name__)


def choose_width(bits: list[int], sigmas: list[float], float_sigma: float,
                 tolerance: float) -> int | None:
    """Smallest width with ``sigma <= float_sigma * (1 + tolerance)`` (None if none)."""
    for b, s in sorted(zip(bits, sigmas, strict=True)):
        if s <= float_sigma * (1.0 + tolerance):
            return b
    return None


def scan_bit_widths(mc, reference_model, data, tcfg, bits_list: list[int], epochs: int,
                    tolerance: float, out_dir: Path, seed: int, quiet: bool = False,
                    unpruned_model=None) -> dict[str, Any]:
    """Run the scan for model config ``mc`` starting from ``reference_model``'s weights (the
    pruned float model when the model is pruned). ``unpruned_model``, when given, is the
    float model before pruning: each point is also compared with it (and both references
    are drawn, labelled), since pruning alone already costs resolution."""
    from tqdm.auto import tqdm

    from triginfer.quantization.pruning import apply_pruning, pruning_callbacks, strip
    from triginfer.trigger_models.builders import build_quantized
    from triginfer.trigger_models.training import copy_weights_by_name, fit, predict, set_seeds
    from triginfer.trigger_models.workflow import TARGET_SCALE, model_inputs, target

    x_tr, x_va = model_inputs(mc.kind, data.train), model_inputs(mc.kind, data.val)
    y_tr, y_va = target(data.train), target(data.val)
    x_te, true_pt = model_inputs(mc.kind, data.test), data.test.truth["gen_pt"]
    float_sigma = m.sigma68(m.relative_residual(
        predict(reference_model, x_te)[:, 0] / TARGET_SCALE, true_pt))
    unpruned_sigma = None
    if unpruned_model is not None:
        unpruned_sigma = m.sigma68(m.relative_residual(
            predict(unpruned_model, x_te)[:, 0] / TARGET_SCALE, true_pt))
    rows = []
    for bits in tqdm(bits_list, desc=f"{mc.name} bit scan", disable=True if quiet else None):
        set_seeds(seed)
        spec = QuantSpec.uniform(bits, mc.quant_spec().input_bits, mc.quant_spec().input_integer)
        model = build_quantized(mc, x_tr.shape[1:], spec)
        copy_weights_by_name(reference_model, model)
        callbacks = []
        if mc.target_sparsity > 0:
            model = apply_pruning(model, mc.target_sparsity, 0, 1, constant=True)
            callbacks = pruning_callbacks()
        fit(model, x_tr, y_tr, x_va, y_va, epochs=epochs, learning_rate=tcfg.qat_learning_rate / 2,
            cfg=tcfg, w_train=tcfg.sample_weights(data.train.truth["gen_pt"]),
            w_val=tcfg.sample_weights(data.val.truth["gen_pt"]), extra_callbacks=callbacks, desc=f"{bits} bits", quiet=True)
        if callbacks:
            model = strip(model)
        sigma = m.sigma68(m.relative_residual(predict(model, x_te)[:, 0] / TARGET_SCALE, true_pt))
        rows.append({"bits": bits, "sigma68": sigma,
                     "relative_to_float": sigma / float_sigma - 1.0})
        if unpruned_sigma is not None:
            rows[-1]["relative_to_unpruned_float"] = sigma / unpruned_sigma - 1.0
        log.info("bit scan %s: %2d bits -> sigma68 %.4f (%+.1f%% vs float)", mc.name, bits, sigma,
                 100 * (sigma / float_sigma - 1.0))
    sigmas = [r["sigma68"] for r in rows]
    chosen = choose_width(bits_list, sigmas, float_sigma, tolerance)
    pruned = mc.target_sparsity > 0
    plot = plots.bit_scan(list(bits_list), sigmas, float_sigma, tolerance, chosen,
                          out_dir / f"{mc.name}_bit_scan.png",
                          float_label="float, pruned (reference)" if pruned else "float",
                          unpruned_sigma=unpruned_sigma if pruned else None)
    return {"model": mc.name, "float_sigma68": float_sigma, "tolerance": tolerance,
            "reference": "float_pruned" if pruned else "float",
            "unpruned_float_sigma68": unpruned_sigma,
            "rows": rows, "chosen_bits": chosen, "plot": plot.name,
            "epochs_per_point": epochs}
