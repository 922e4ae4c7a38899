"""The HGQ2 zoo: builds Keras 3 / HGQ2 models and saves them as ``.keras`` files.

Runs in the Keras 3 environment (``.venv-keras3``), started by ``tests/keras3/conftest.py``:

    .venv-keras3/bin/python tests/keras3/hgq2_zoo.py OUT_DIR [NAME ...]

Each model's quantizers get per-value bit widths (the trainable ``b``/``i``/``f`` of every
quantizer moved by a seeded random integer, as training leaves them heterogeneous; some
values pruned to 0 bits where the model says so), then HGQ2's ``trace_minmax`` calibrates
the integer bits on random inputs. Prints one JSON line: name -> file.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

os.environ.setdefault("KERAS_BACKEND", "numpy")   # forward passes only: no XLA compiles
os.environ.setdefault("JAX_PLATFORMS", "cpu")
warnings.filterwarnings("ignore")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from hgq.config import LayerConfigScope, QuantizerConfigScope  # noqa: E402
from hgq.layers import (  # noqa: E402
    QAdd,
    QAvgPool1D,
    QAvgPool2D,
    QBatchNormalization,
    QBatchNormDense,
    QConv1D,
    QConv2D,
    QDense,
    QEinsumDense,
    QEinsumDenseBatchnorm,
    QGlobalAvgPool1D,
    QGlobalMaxPool1D,
    QGlobalMaxPool2D,
    QMaximum,
    QMaxPool1D,
    QMaxPool2D,
    QMultiply,
    QSoftmax,
    QSubtract,
)
from hgq.utils import trace_minmax  # noqa: E402

L = keras.layers


def _dense_relu():
    x = inp = keras.Input((16,))
    x = QDense(24, activation="relu")(x)
    x = QDense(12, activation="relu")(x)
    return inp, QDense(1)(x)


def _dense_batchnorm():
    x = inp = keras.Input((12,))
    x = QDense(16)(x)
    x = QBatchNormalization()(x)
    return inp, QDense(3)(x)


def _keras_relu_layer():
    x = inp = keras.Input((12,))
    x = QDense(16)(x)
    x = L.ReLU()(x)
    return inp, QDense(3)(x)


def _batchnorm_dense():
    x = inp = keras.Input((10,))
    x = QBatchNormDense(16, activation="relu")(x)
    return inp, QBatchNormDense(4)(x)


def _conv1d_maxpool():
    x = inp = keras.Input((20, 3))
    x = QConv1D(6, 3, activation="relu")(x)
    x = QMaxPool1D(2)(x)
    x = QConv1D(4, 2)(x)
    x = QGlobalMaxPool1D()(x)
    return inp, QDense(2)(x)


def _conv1d_avgpool_strided():
    x = inp = keras.Input((24, 2))
    x = QConv1D(5, 4, strides=2, padding="same")(x)
    x = QAvgPool1D(2)(x)
    x = QConv1D(4, 3, activation="relu")(x)
    x = QGlobalAvgPool1D()(x)
    return inp, QDense(3)(x)


def _conv2d_softmax():
    x = inp = keras.Input((8, 8, 2))
    x = QConv2D(4, 3, activation="relu")(x)
    x = QMaxPool2D(2)(x)
    x = L.Flatten()(x)
    x = QDense(5)(x)
    return inp, QSoftmax()(x)


def _conv2d_avgpool():
    x = inp = keras.Input((9, 9, 1))
    x = QConv2D(3, 2, padding="same", activation="relu")(x)
    x = QAvgPool2D(3)(x)
    x = QConv2D(4, 2)(x)
    x = L.Flatten()(x)
    return inp, QDense(2)(x)


def _global_maxpool2d():
    """hls4ml 1.3's bit-exact pass cannot take GlobalMaxPooling2D (an assertion in
    bit_exact.py): not in MODELS, the refusal test builds it."""
    x = inp = keras.Input((6, 6, 1))
    x = QConv2D(2, 2)(x)
    x = QGlobalMaxPool2D()(x)
    return inp, QDense(2)(x)


def _einsum_dense():
    x = inp = keras.Input((12,))
    x = QEinsumDense("bi,ij->bj", output_shape=10, bias_axes="j", activation="relu")(x)
    return inp, QEinsumDense("bi,ij->bj", output_shape=3, bias_axes="j")(x)


def _einsum_3d():
    x = inp = keras.Input((4, 6))
    x = QEinsumDense("bij,jk->bik", output_shape=(4, 5), bias_axes="k")(x)
    x = QEinsumDense("bik,ik->bk", output_shape=(5,), bias_axes="k")(x)
    return inp, QDense(2)(x)


def _einsum_batchnorm():
    x = inp = keras.Input((8,))
    x = QEinsumDenseBatchnorm("bi,ij->bj", output_shape=12, bias_axes="j",
                              activation="relu")(x)
    return inp, QDense(2)(x)


def _softmax_classifier():
    x = inp = keras.Input((10,))
    x = QDense(16, activation="relu")(x)
    x = QDense(5)(x)
    return inp, QSoftmax()(x)


def _add_branches():
    inp = keras.Input((8,))
    a = QDense(6, activation="relu")(inp)
    b = QDense(6)(inp)
    x = QAdd()([a, b])
    return inp, QDense(2)(x)


def _merge_ops():
    inp = keras.Input((6,))
    a = QDense(5)(inp)
    b = QDense(5)(inp)
    c = QDense(5)(inp)
    x = QMaximum()([QMultiply()([a, b]), QSubtract()([b, c])])
    return inp, QDense(1)(x)


def _pruned_inputs():
    x = inp = keras.Input((20,))
    x = QDense(8, activation="relu")(x)
    return inp, QDense(2)(x)


def _kif_wrap_trn():
    x = inp = keras.Input((10,))
    x = QDense(12, activation="relu")(x)
    return inp, QDense(3)(x)


def _wide_mlp():
    x = inp = keras.Input((32,))
    for width in (48, 32, 16):
        x = QDense(width, activation="relu")(x)
    return inp, QDense(4)(x)


def _flagship():
    """Every family the issue names in one model: QConv2D, QConv1D, pooling, batch norm,
    QEinsumDense, QDense, QSoftmax, per-value widths, on a flat 128-value input."""
    x = inp = keras.Input((128,))
    x = L.Reshape((8, 8, 2))(x)
    x = QConv2D(4, 3, activation="relu")(x)
    x = L.Reshape((36, 4))(x)
    x = QConv1D(6, 3, activation="relu")(x)
    x = QMaxPool1D(2)(x)
    x = L.Flatten()(x)
    x = QEinsumDense("bi,ij->bj", output_shape=16, bias_axes="j")(x)
    x = QBatchNormalization()(x)
    x = QDense(5)(x)
    return inp, QSoftmax()(x)


#: Known differences between hls4ml 1.3's firmware (its C simulation, which the emulator
#: equals) and HGQ2's own bit-exact reference (da4ml), measured on this zoo:
KERAS_RELU = ("a Keras ReLU layer becomes hls4ml's thresholded_relu with the threshold typed "
              "ap_ufixed<2,32>; ap_fixed's comparison of a signed value with that wide "
              "unsigned type lets every negative value through (then wrapped)")
AVG_POOL = ("average pooling: measured; not isolated, likely hls4ml truncating the average to "
            "the pooling result type before the next quantizer rounds it, where HGQ2 rounds "
            "the exact average once")
SIGN_ONLY = ("a signed value with 0 magnitude bits (kbi b=0, k=1) is ap_fixed<1,I,AP_RND,"
             "AP_SAT_SYM> in hls4ml, which saturates to [-2**(I-1), 0]; HGQ2 gives 0")

BN_SAT = ("QBatchNormalization between SAT quantizers (with SAT_SYM ones, and a QDense-only "
          "model with SAT ones, da4ml == C-sim): measured, cause not isolated yet")

#: name -> (builder, quantizer type, overflow, rounding, fraction of values pruned,
#:          None where da4ml == C-sim, else the known hls4ml difference)
MODELS = {
    "dense_relu": (_dense_relu, "kbi", "SAT_SYM", "RND", 0.0, None),
    "dense_batchnorm": (_dense_batchnorm, "kbi", "SAT_SYM", "RND", 0.0, None),
    "dense_batchnorm_sat": (_dense_batchnorm, "kbi", "SAT", "RND", 0.0, BN_SAT),
    "dense_sat": (_kif_wrap_trn, "kbi", "SAT", "RND", 0.0, None),
    "batchnorm_dense": (_batchnorm_dense, "kbi", "SAT_SYM", "RND", 0.0, None),
    "conv1d_maxpool": (_conv1d_maxpool, "kbi", "SAT_SYM", "RND", 0.0, None),
    "conv1d_avgpool_strided": (_conv1d_avgpool_strided, "kbi", "SAT", "RND", 0.0, AVG_POOL),
    "conv2d_softmax": (_conv2d_softmax, "kbi", "SAT_SYM", "RND", 0.0, None),
    "conv2d_avgpool": (_conv2d_avgpool, "kbi", "SAT_SYM", "RND", 0.0, AVG_POOL),
    "einsum_dense": (_einsum_dense, "kbi", "SAT_SYM", "RND", 0.0, None),
    "einsum_3d": (_einsum_3d, "kbi", "SAT_SYM", "RND", 0.0, None),
    "einsum_batchnorm": (_einsum_batchnorm, "kbi", "SAT_SYM", "RND", 0.0, None),
    "softmax_classifier": (_softmax_classifier, "kbi", "SAT_SYM", "RND", 0.0, None),
    "add_branches": (_add_branches, "kbi", "SAT_SYM", "RND", 0.0, None),
    "merge_ops": (_merge_ops, "kbi", "SAT_SYM", "RND", 0.0, None),
    "pruned_inputs": (_pruned_inputs, "kbi", "SAT_SYM", "RND", 0.3, None),
    "sign_only_values": (_pruned_inputs, "kbi", "SAT_SYM", "RND", -0.3, SIGN_ONLY),
    "kif_wrap_trn": (_kif_wrap_trn, "kif", "WRAP", "TRN", 0.0, None),
    "wide_mlp": (_wide_mlp, "kbi", "SAT_SYM", "RND", 0.0, None),
    "keras_relu_layer": (_keras_relu_layer, "kbi", "SAT_SYM", "RND", 0.0, KERAS_RELU),
    "flagship": (_flagship, "kbi", "SAT_SYM", "RND", 0.0, None),
}


def _heterogeneous(model, rng, prune: float) -> None:
    """Per-value bit widths: every quantizer's trainable b (kbi) or f (kif) and i moved by
    a random integer; with ``prune``, that fraction of the data-lane widths set to 0."""
    for w in model.weights:
        leaf = w.path.rsplit("/", 1)[-1]
        if leaf not in ("b", "i", "f"):
            continue
        v = np.asarray(w.numpy())
        if v.size <= 1:
            continue
        step = rng.integers(-2, 3, size=v.shape).astype(v.dtype)
        new = v + step
        if leaf == "b":
            new = np.maximum(new, 1.0)
            if prune and "_iq" in w.path:     # 0 magnitude bits (the sign bit stays)
                new = np.where(rng.random(v.shape) < abs(prune), 0.0, new)
        if leaf == "f":
            new = np.maximum(new, -1.0)
        w.assign(new.astype(v.dtype))


#: models hls4ml refuses (the front end's error is tested on them)
REFUSED = {"global_maxpool2d": (_global_maxpool2d, "kbi", "SAT_SYM", "RND", 0.0, None)}


def _prune_signs(model) -> None:
    """Where a data-lane quantizer has 0 magnitude bits, drop its sign bit too (k = 0):
    the value is pruned (hls4ml writes 0 for it)."""
    by_quantizer: dict[str, dict] = {}
    for w in model.weights:
        stem, leaf = w.path.rsplit("/", 1)
        if "_iq" in stem and leaf in ("k", "b"):
            by_quantizer.setdefault(stem, {})[leaf] = w
    for pair in by_quantizer.values():
        if "k" in pair and "b" in pair:
            k, b = np.asarray(pair["k"].numpy()), np.asarray(pair["b"].numpy())
            if k.shape == b.shape:
                pair["k"].assign(np.where(b <= 0, 0.0, k).astype(k.dtype))


def build(name: str, out_dir: str, seed: int = 2026) -> str:
    builder, q_type, overflow, rounding, prune, _ = {**MODELS, **REFUSED}[name]
    rng = np.random.default_rng(seed + sum(map(ord, name)))
    keras.utils.set_random_seed(seed)
    with QuantizerConfigScope(place="all", default_q_type=q_type, overflow_mode=overflow,
                              round_mode=rounding), LayerConfigScope(enable_ebops=True):
        inp, out = builder()
        model = keras.Model(inp, out, name=name)
    x = rng.normal(size=(2048, *model.input_shape[1:])).astype(np.float32) * 2.0
    model(x[:4])
    _heterogeneous(model, rng, prune)
    if prune > 0:
        _prune_signs(model)
    for layer in model.layers:      # batch norm statistics away from the identity
        if "batch_normalization" in layer.name or "batchnorm" in layer.name.lower():
            for w in layer.weights:
                leaf = w.path.rsplit("/", 1)[-1]
                if leaf in ("moving_mean", "moving_variance", "gamma", "beta"):
                    v = np.asarray(w.numpy())
                    if leaf == "moving_variance":
                        w.assign((rng.uniform(0.5, 2.0, v.shape)).astype(v.dtype))
                    elif leaf == "gamma":
                        w.assign((rng.uniform(0.5, 1.5, v.shape)).astype(v.dtype))
                    else:
                        w.assign((rng.normal(0, 0.5, v.shape)).astype(v.dtype))
    trace_minmax(model, x, batch_size=1024, verbose=0)
    path = os.path.join(out_dir, f"{name}.keras")
    model.save(path)
    return path


def main(argv: list[str]) -> int:
    out_dir, names = argv[0], argv[1:] or sorted(MODELS)
    os.makedirs(out_dir, exist_ok=True)
    print(json.dumps({name: build(name, out_dir) for name in names}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
