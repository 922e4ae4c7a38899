"""Magnitude pruning with tensorflow_model_optimization, and the sparsity actually reached.

Only the weight layers (Dense, Conv and their QKeras versions) are wrapped with
``prune_low_magnitude``; the schedule ramps the sparsity polynomially from 0
to the target between ``begin_step`` and ``end_step``. ``strip_pruning``
removes the wrappers before saving, leaving zeros in the kernels.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

PRUNABLE = ("Dense", "QDense", "Conv1D", "QConv1D", "Conv2D", "QConv2D")


def apply_pruning(model, target_sparsity: float, begin_step: int, end_step: int,
                  skip: tuple[str, ...] = ("output",), constant: bool = False):
    """A copy of ``model`` whose weight layers (except ``skip``) are pruned to the target.

    The sparsity ramps polynomially from 0 at ``begin_step`` to the target at
    ``end_step``; with ``constant`` it is held at the target from the first step
    (used to keep an already-pruned model's zeros during quantization-aware training).
    """
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    if constant:
        schedule = tfmot.sparsity.keras.ConstantSparsity(
            float(target_sparsity), begin_step=0, end_step=-1, frequency=10)
    else:
        end_step = max(int(end_step), int(begin_step) + 1)
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.0, final_sparsity=float(target_sparsity),
            begin_step=int(begin_step), end_step=end_step,
            # mask updates at least ~10 times during the ramp, and at its end
            frequency=int(min(50, max(1, (end_step - int(begin_step)) // 10))),
        )

    def wrap(layer):
        if type(layer).__name__ in PRUNABLE and layer.name not in skip:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer.__class__.from_config(layer.get_config())

    clone = tf.keras.models.clone_model(model, clone_function=wrap)
    _copy(model, clone)
    return clone


def _copy(src, dst) -> None:
    """Copy kernels/biases by layer name (pruning wrappers add mask/threshold weights)."""
    by_name = {layer.name: layer for layer in src.layers}
    for layer in dst.layers:
        inner = getattr(layer, "layer", layer)  # the layer inside a pruning wrapper
        source = by_name.get(inner.name)
        if source is not None and source.get_weights():
            inner.set_weights(source.get_weights())


def pruning_callbacks():
    """Callbacks a pruned model needs during ``fit``."""
    import tensorflow_model_optimization as tfmot

    return [tfmot.sparsity.keras.UpdatePruningStep()]


def strip(model):
    """Remove pruning wrappers (the zeros stay in the kernels)."""
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.strip_pruning(model)


def sparsity_report(model) -> dict[str, float]:
    """Fraction of exactly-zero kernel weights per weight layer, plus ``"total"``."""
    report: dict[str, float] = {}
    zeros = total = 0
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        kernel = getattr(inner, "kernel", None)
        if kernel is None:
            continue
        values = np.asarray(kernel.numpy())
        report[inner.name] = float(np.mean(values == 0))
        zeros += int(np.sum(values == 0))
        total += values.size
    report["total"] = zeros / total if total else 0.0
    return report
