"""A parametrised zoo of small QKeras models for the firmware tests (hls4ml, emulator, ONNX)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model and the hls4ml settings it is converted with."""

    name: str
    io_type: str = "io_parallel"
    reuse_factor: int = 1
    strategy: str = "Latency"
    input_scale: float = 3.0  # spread of the random inputs (large values saturate)
    qkeras_exact: bool = True  # hls4ml: QBatchNormalization, table activations differ from QKeras


ZOO = (
    ZooEntry("dnn"),
    ZooEntry("dnn_pruned", io_type="io_stream"),
    ZooEntry("conv1d"),
    ZooEntry("conv1d_stream", io_type="io_stream"),
    ZooEntry("conv2d_maxpool"),
    ZooEntry("batchnorm", qkeras_exact=False),
    ZooEntry("dnn_reuse4", reuse_factor=4),
    ZooEntry("conv1d_reuse2", reuse_factor=2),
    ZooEntry("sigmoid_tanh", qkeras_exact=False),
    ZooEntry("saturating", input_scale=40.0),
)


def build(entry: ZooEntry, seed: int = 0):
    """Build the zoo model ``entry.name`` with random (non-trivial) weights."""
    import tensorflow as tf
    from qkeras import QActivation, QBatchNormalization, QConv1D, QConv2D, QDense
    from qkeras import quantized_bits as qb
    from qkeras import quantized_relu as qr
    from tensorflow import keras

    tf.keras.utils.set_random_seed(seed)
    name = entry.name

    def dense(units, lname, bits=8):
        return QDense(units, name=lname, kernel_quantizer=qb(bits, 0, alpha=1),
                      bias_quantizer=qb(bits, 2, alpha=1),
                      bias_initializer=keras.initializers.RandomNormal(stddev=0.5))

    if name.startswith("conv1d"):
        inputs = keras.Input((6, 3))
        x = QActivation(qb(10, 3, alpha=1), name="input_quant")(inputs)
        x = QConv1D(4, 2, name="conv_1", kernel_quantizer=qb(8, 0, alpha=1),
                    bias_quantizer=qb(8, 1, alpha=1),
                    bias_initializer=keras.initializers.RandomNormal(stddev=0.5))(x)
        x = QActivation(qr(8, 3), name="relu_c1")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        x = dense(8, "dense_1")(x)
        x = QActivation(qr(8, 3), name="relu_1")(x)
        outputs = dense(2, "output")(x)
    elif name == "conv2d_maxpool":
        inputs = keras.Input((6, 6, 2))
        x = QActivation(qb(10, 3, alpha=1), name="input_quant")(inputs)
        x = QConv2D(3, (3, 3), name="conv_1", kernel_quantizer=qb(8, 0, alpha=1),
                    bias_quantizer=qb(8, 1, alpha=1),
                    bias_initializer=keras.initializers.RandomNormal(stddev=0.5))(x)
        x = QActivation(qr(8, 3), name="relu_c1")(x)
        x = keras.layers.MaxPooling2D((2, 2), name="pool")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        outputs = dense(1, "output")(x)
    else:
        inputs = keras.Input((10,))
        in_bits = (8, 2) if name == "saturating" else (12, 3)
        x = QActivation(qb(*in_bits, alpha=1), name="input_quant")(inputs)
        x = dense(16, "dense_1")(x)
        if name == "batchnorm":
            x = QBatchNormalization(name="bn", gamma_quantizer=qb(8, 2, alpha=1),
                                    beta_quantizer=qb(8, 2, alpha=1),
                                    mean_quantizer=qb(8, 2, alpha=1),
                                    variance_quantizer=qb(8, 2, alpha=1))(x)
        relu_bits = (4, 1) if name == "saturating" else (8, 3)
        if name == "sigmoid_tanh":
            x = keras.layers.Activation("sigmoid", name="sigmoid_1")(x)
            x = QActivation(qb(10, 0, alpha=1), name="sigmoid_1_q")(x)
        else:
            x = QActivation(qr(*relu_bits), name="relu_1")(x)
        x = dense(8, "dense_2")(x)
        if name == "sigmoid_tanh":
            x = keras.layers.Activation("tanh", name="tanh_2")(x)
            x = QActivation(qb(10, 0, alpha=1), name="tanh_2_q")(x)
        else:
            x = QActivation(qr(*relu_bits), name="relu_2")(x)
        outputs = dense(1, "output")(x)
    model = keras.Model(inputs, outputs, name=f"zoo_{name}")
    rng = np.random.default_rng(seed)
    if name == "dnn_pruned":
        for layer in model.layers:
            if layer.name in ("dense_1", "dense_2"):
                kernel = layer.kernel.numpy()
                kernel[rng.random(kernel.shape) < 0.5] = 0.0
                layer.kernel.assign(kernel)
    if name == "batchnorm":
        bn = model.get_layer("bn")
        bn.set_weights([rng.uniform(0.5, 1.5, 16), rng.normal(0, 0.5, 16),
                        rng.normal(0, 0.5, 16), rng.uniform(0.5, 2.0, 16)])
    return model


def inputs_for(model, entry: ZooEntry, n: int, seed: int = 1) -> np.ndarray:
    """Random inputs on a fine grid, some large enough to saturate the input quantizer."""
    rng = np.random.default_rng(seed)
    shape = (n, *model.input_shape[1:])
    x = rng.normal(0.0, entry.input_scale, shape)
    x[: n // 10] *= 10.0  # a tenth far outside any input range
    return np.round(x * 2**12) / 2**12
