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


def assert_outputs_equal(name: str, got, want, min_std: float = 0.01) -> None:
    """Bit-exact check on full arrays (one or a list of outputs): prints the mismatch count and
    a few examples, and asserts the expected output is not trivial."""
    got = got if isinstance(got, list) else [got]
    want = want if isinstance(want, list) else [want]
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.shape == w.shape, (g.shape, w.shape)
        bad = np.flatnonzero(np.any(g != w, axis=1))
        print(f"{name} (output {k}): {len(bad)} mismatching events of {len(g)}")
        for i in bad[:5]:
            print(f"  event {i}: {g[i]} vs {w[i]}")
        assert len(bad) == 0
        assert np.std(w) > min_std, "trivial output"


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


# --- the graph zoo: every layer kind of the registry, as users bring models ------------------
@dataclass(frozen=True)
class GraphEntry:
    """A zoo model built by ``GRAPH_BUILDERS[name]``, converted with these hls4ml settings.

    ``config`` edits hls4ml's default configuration: ``{layer: {key: value}}`` merged into
    ``LayerName`` (``"Model"`` for the model section); ``kinds`` are the spec kinds the
    model must contain (so the zoo's coverage is checked, not assumed).
    """

    name: str
    kinds: tuple[str, ...]
    io_type: str = "io_parallel"
    strategy: str = "Latency"
    reuse_factor: int = 1
    input_scale: float = 3.0
    config: tuple = ()
    integer_inputs: int = 0     # > 0: integer inputs in [0, integer_inputs) (embedding)
    bit_exact: bool | None = None   # hls4ml's bit-exact pass (None: on with an input quantizer)


def _q(bits=8, integer=0):
    from qkeras import quantized_bits

    return quantized_bits(bits, integer, alpha=1)


def _qdense(units, name, bits=8, **kw):
    from qkeras import QDense
    from tensorflow import keras

    return QDense(units, name=name, kernel_quantizer=kw.pop("kq", _q(bits, 0)),
                  bias_quantizer=_q(bits, 2),
                  bias_initializer=keras.initializers.RandomNormal(stddev=0.5), **kw)


def _dense(units, name, **kw):
    from tensorflow import keras

    return keras.layers.Dense(units, name=name,
                              bias_initializer=keras.initializers.RandomNormal(stddev=0.5), **kw)


def _iq(x, bits=10, integer=3):
    from qkeras import QActivation

    return QActivation(_q(bits, integer), name="input_quant")(x)


def _concat(tensors):
    """Pairwise concatenation (hls4ml merges two tensors at a time)."""
    from tensorflow import keras

    out = tensors[0]
    for i, t in enumerate(tensors[1:]):
        out = keras.layers.Concatenate(name=f"cat{i}")([out, t])
    return out


def _build_graph(name: str):
    """Keras functional model for the graph zoo entry ``name``."""
    from qkeras import (
        QActivation,
        QConv1D,
        QConv2D,
        QConv2DBatchnorm,
        QDepthwiseConv2D,
    )
    from qkeras import quantized_relu as qr
    from tensorflow import keras

    L = keras.layers
    if name in ("jet_tagger", "softmax_latency", "softmax_stable", "softmax_argmax",
                "softmax_legacy", "jet_tagger_stream"):
        inputs = keras.Input((16,), name="jets")
        x = inputs
        for i, units in enumerate((64, 32, 32), start=1):
            x = _qdense(units, f"fc{i}", bits=6)(x)
            x = QActivation(qr(6, 0), name=f"relu{i}")(x)
        x = _qdense(5, "output", bits=6)(x)
        return keras.Model(inputs, L.Activation("softmax", name="softmax")(x), name=name)
    if name == "jet_tagger_keras":
        inputs = keras.Input((16,))
        x = _dense(32, "fc1", activation="relu")(inputs)
        x = _dense(16, "fc2", activation="relu")(x)
        return keras.Model(inputs, _dense(5, "output", activation="softmax")(x), name=name)
    if name == "mnist_cnn":
        inputs = keras.Input((8, 8, 1))
        x = L.Conv2D(4, 3, name="conv1", activation="relu")(inputs)
        x = L.MaxPooling2D(2, name="pool1")(x)
        x = L.Flatten(name="flat")(x)
        return keras.Model(inputs, _dense(10, "out", activation="softmax")(x), name=name)
    if name == "keras_batchnorm":
        inputs = keras.Input((10,))
        x = L.BatchNormalization(name="bn_in")(inputs)     # standalone: nothing to fold into
        x = _dense(16, "fc1")(x)
        x = L.Activation("relu", name="relu1")(x)
        x = L.BatchNormalization(name="bn")(x)
        return keras.Model(inputs, _dense(2, "out")(x), name=name)
    if name == "conv1d_bn_tagger":
        inputs = keras.Input((12, 3))
        x = L.Conv1D(4, 3, name="conv1")(inputs)
        x = L.Activation("relu", name="relu1")(x)
        x = L.BatchNormalization(name="bn")(x)
        x = L.Flatten(name="flat")(x)
        return keras.Model(inputs, _dense(3, "out", activation="softmax")(x), name=name)
    if name in ("activations_a", "activations_b", "activations_c"):
        inputs = keras.Input((8,))
        x = _iq(inputs)
        x = _qdense(12, "fc1")(x)
        if name == "activations_a":
            branches = [L.LeakyReLU(0.3, name="leaky")(x), L.ELU(0.7, name="elu")(x),
                        L.Activation("selu", name="selu")(x),
                        L.ThresholdedReLU(0.5, name="thresholded")(x)]
        elif name == "activations_b":
            branches = [L.PReLU(name="prelu", alpha_initializer=keras.initializers.RandomUniform(
                            0.05, 0.5))(x),
                        L.Activation("hard_sigmoid", name="hsig")(x),
                        L.Activation("softsign", name="softsign")(x),
                        L.Activation("softplus", name="softplus")(x)]
        else:
            branches = [QActivation(qr(8, 3, negative_slope=0.25), name="qleaky")(x),
                        QActivation("quantized_tanh(6)", name="qtanh")(x),
                        QActivation("quantized_sigmoid(6)", name="qsig")(x),
                        QActivation("binary()", name="binary")(x),
                        L.ReLU(name="relu_plain")(x)]
        x = _concat(branches)
        return keras.Model(inputs, _qdense(3, "out", bits=10)(x), name=name)
    if name == "ternary_activation":
        inputs = keras.Input((8,))
        x = _qdense(12, "fc1")(_iq(inputs))
        x = QActivation("ternary()", name="tern")(x)
        return keras.Model(inputs, _qdense(2, "out")(x), name=name)
    if name in ("binary_weights", "ternary_weights"):
        from qkeras import binary, ternary

        inputs = keras.Input((8,))
        kq = binary(alpha=1) if name == "binary_weights" else ternary(alpha=1)
        x = _qdense(12, "fc1", kq=kq)(_iq(inputs))
        x = QActivation(qr(8, 3), name="relu1")(x)
        return keras.Model(inputs, _qdense(2, "out")(x), name=name)
    if name in ("avgpool1d", "global_pool1d", "pad_crop_1d", "upsample_1d", "conv1d_stream_pool"):
        inputs = keras.Input((10, 3))
        x = _iq(inputs)
        x = QConv1D(4, 3, name="conv1", kernel_quantizer=_q(), bias_quantizer=_q(8, 1),
                    padding="same" if name == "pad_crop_1d" else "valid")(x)
        x = QActivation(qr(8, 3), name="relu1")(x)
        if name == "avgpool1d":
            x = L.AveragePooling1D(2, name="pool")(x)
            x = L.Flatten(name="flat")(x)
        elif name == "conv1d_stream_pool":
            x = L.MaxPooling1D(2, name="pool")(x)
            x = L.Flatten(name="flat")(x)
        elif name == "global_pool1d":
            x = L.Concatenate(name="cat")([L.GlobalAveragePooling1D(name="gap")(x),
                                           L.GlobalMaxPooling1D(name="gmp")(x)])
        elif name == "pad_crop_1d":
            x = L.ZeroPadding1D((1, 2), name="pad")(x)
            x = L.Cropping1D((2, 1), name="crop")(x)
            x = L.Flatten(name="flat")(x)
        else:
            x = L.UpSampling1D(2, name="up")(x)
            x = L.Flatten(name="flat")(x)
        return keras.Model(inputs, _qdense(2, "out")(x), name=name)
    if name in ("avgpool2d", "global_avgpool2d", "pad_crop_2d", "upsample_2d", "conv2d_stream",
                "depthwise2d", "separable1d", "pointwise2d", "conv2d_batchnorm",
                "conv2d_resource"):
        inputs = keras.Input((6, 6, 2))
        x = _iq(inputs)
        if name == "depthwise2d":
            x = QDepthwiseConv2D((3, 3), name="dw", depthwise_quantizer=_q(),
                                 bias_quantizer=_q(8, 1), use_bias=True)(x)
        elif name == "pointwise2d":
            x = QConv2D(4, (1, 1), name="pw", kernel_quantizer=_q(), bias_quantizer=_q(8, 1))(x)
        elif name == "conv2d_batchnorm":
            x = QConv2DBatchnorm(3, (3, 3), name="convbn", kernel_quantizer=_q(),
                                 bias_quantizer=_q(8, 1))(x)
        elif name == "separable1d":
            x = L.Reshape((24, 3), name="to1d")(x)
            x = L.SeparableConv1D(4, 3, name="sep")(x)
        else:
            x = QConv2D(3, (3, 3), name="conv1", kernel_quantizer=_q(), bias_quantizer=_q(8, 1),
                        padding="same" if name == "pad_crop_2d" else "valid")(x)
        x = QActivation(qr(8, 3), name="relu1")(x)
        if name == "avgpool2d":
            x = L.AveragePooling2D(2, name="pool", padding="same")(x)
        elif name == "global_avgpool2d":
            x = L.GlobalAveragePooling2D(name="gap")(x)
        elif name == "pad_crop_2d":
            x = L.ZeroPadding2D(((1, 0), (0, 2)), name="pad")(x)
            x = L.Cropping2D(((0, 1), (2, 0)), name="crop")(x)
        elif name == "upsample_2d":
            x = L.UpSampling2D((2, 1), name="up")(x)
        elif name == "conv2d_stream":
            x = L.MaxPooling2D(2, name="pool")(x)
        if len(x.shape) > 2:
            x = L.Flatten(name="flat")(x)
        return keras.Model(inputs, _qdense(2, "out")(x), name=name)
    if name == "reshape_permute":
        inputs = keras.Input((12,))
        x = _qdense(12, "fc1")(_iq(inputs))
        x = L.Reshape((3, 4), name="reshape")(x)
        x = L.Permute((2, 1), name="permute")(x)
        x = QConv1D(2, 2, name="conv1", kernel_quantizer=_q(), bias_quantizer=_q(8, 1))(x)
        x = L.Flatten(name="flat")(x)
        return keras.Model(inputs, _qdense(2, "out")(x), name=name)
    if name in ("skip_add_sub_mul", "merge_avg_max_min"):
        inputs = keras.Input((8,))
        x = _iq(inputs)
        a = QActivation(qr(8, 3), name="ra")(_qdense(8, "fa")(x))
        b = _qdense(8, "fb")(x)
        if name == "skip_add_sub_mul":
            merged = [L.Add(name="add")([a, b]), L.Subtract(name="sub")([a, b]),
                      L.Multiply(name="mul")([a, b])]
        else:
            merged = [L.Average(name="avg")([a, b]), L.Maximum(name="max")([a, b]),
                      L.Minimum(name="min")([a, b])]
        return keras.Model(inputs, _qdense(2, "out")(_concat(merged)), name=name)
    if name == "two_inputs_two_outputs":
        a_in, b_in = keras.Input((6,), name="in_a"), keras.Input((4,), name="in_b")
        a = QActivation(qr(8, 3), name="ra")(_qdense(8, "fa")(_iq(a_in)))
        b = QActivation(qr(8, 3), name="rb")(_qdense(8, "fb")(
            QActivation(_q(10, 3), name="input_quant_b")(b_in)))
        joined = L.Concatenate(name="cat")([a, b])
        out1 = _qdense(3, "out1")(joined)
        out2 = L.Activation("sigmoid", name="out2_sig")(_qdense(1, "out2")(L.Add(name="add")(
            [a, b])))
        return keras.Model([a_in, b_in], [out1, out2], name=name)
    if name == "dot":
        a_in, b_in = keras.Input((5,), name="in_a"), keras.Input((5,), name="in_b")
        a = _qdense(6, "fa")(_iq(a_in))
        b = _qdense(6, "fb")(QActivation(_q(10, 3), name="input_quant_b")(b_in))
        return keras.Model([a_in, b_in], L.Dot(axes=1, name="dot")([a, b]), name=name)
    if name == "embedding":
        inputs = keras.Input((6,))
        x = L.Embedding(10, 4, name="embed")(inputs)
        x = L.Flatten(name="flat")(x)
        return keras.Model(inputs, _dense(2, "out")(x), name=name)
    if name == "narrow_accumulator":
        inputs = keras.Input((10,))
        x = QActivation(qr(8, 3), name="relu1")(_qdense(16, "fc1")(_iq(inputs)))
        return keras.Model(inputs, _qdense(2, "out")(x), name=name)
    if name == "float_ptq_dnn":
        inputs = keras.Input((10,))
        x = _dense(16, "fc1", activation="relu")(inputs)
        x = _dense(8, "fc2", activation="tanh")(x)
        return keras.Model(inputs, _dense(1, "out")(x), name=name)
    raise KeyError(name)


def _logits(layer):
    """A user's edit: the logits' precision narrowed (hls4ml's default 'auto' result of a wide
    accumulator makes the stable softmax's normalised input so coarse every output is equal)."""
    return ((layer, {"Precision": {"result": "fixed<12,5,RND,SAT>"}}),)


def _softmax_impl(impl):
    return (("softmax", {"Implementation": impl}),)


GRAPH_ZOO = (
    GraphEntry("jet_tagger", ("dense", "relu", "softmax")),
    GraphEntry("jet_tagger_stream", ("dense", "softmax"), io_type="io_stream"),
    GraphEntry("softmax_latency", ("softmax",), config=_softmax_impl("latency")),
    GraphEntry("softmax_stable", ("softmax",), config=_softmax_impl("stable")),
    GraphEntry("softmax_argmax", ("softmax",), config=_softmax_impl("argmax")),
    GraphEntry("softmax_legacy", ("softmax",), config=_softmax_impl("legacy")),
    GraphEntry("jet_tagger_keras", ("dense", "relu", "softmax"), config=_logits("output")),
    GraphEntry("mnist_cnn", ("conv2d", "maxpool2d", "softmax"), config=_logits("out")),
    GraphEntry("keras_batchnorm", ("batchnorm",)),
    GraphEntry("conv1d_bn_tagger", ("conv1d", "batchnorm", "softmax"), config=_logits("out")),
    GraphEntry("activations_a", bit_exact=False, kinds=("leaky_relu", "elu", "selu", "thresholded_relu",
                                 "concatenate")),
    GraphEntry("activations_b", bit_exact=False, kinds=("prelu", "hard_sigmoid", "softsign", "softplus")),
    GraphEntry("activations_c", bit_exact=False, kinds=("leaky_relu", "hard_tanh", "hard_sigmoid", "binary_tanh")),
    GraphEntry("ternary_activation", ("ternary_tanh",)),
    GraphEntry("binary_weights", ("dense",)),
    GraphEntry("ternary_weights", ("dense",)),
    GraphEntry("avgpool1d", ("conv1d", "avgpool1d")),
    GraphEntry("global_pool1d", ("global_avgpool", "global_maxpool")),
    GraphEntry("pad_crop_1d", bit_exact=False, kinds=("zeropad", "cropping")),
    GraphEntry("upsample_1d", bit_exact=False, kinds=("upsampling",)),
    GraphEntry("conv1d_stream_pool", ("conv1d", "maxpool1d"), io_type="io_stream"),
    GraphEntry("avgpool2d", ("conv2d", "avgpool2d")),
    GraphEntry("global_avgpool2d", ("global_avgpool",)),
    GraphEntry("pad_crop_2d", bit_exact=False, kinds=("zeropad", "cropping")),
    GraphEntry("upsample_2d", bit_exact=False, kinds=("upsampling",)),
    GraphEntry("conv2d_stream", ("conv2d", "maxpool2d"), io_type="io_stream"),
    GraphEntry("conv2d_resource", ("conv2d",), strategy="Resource", reuse_factor=3),
    GraphEntry("depthwise2d", ("depthwise_conv2d",)),
    GraphEntry("separable1d", ("depthwise_conv1d", "conv1d")),
    GraphEntry("pointwise2d", ("conv2d",)),
    GraphEntry("conv2d_batchnorm", bit_exact=False, kinds=("conv2d",)),
    GraphEntry("reshape_permute", ("transpose",)),
    GraphEntry("skip_add_sub_mul", ("merge", "concatenate")),
    GraphEntry("merge_avg_max_min", ("merge",)),
    GraphEntry("two_inputs_two_outputs", ("merge", "concatenate", "sigmoid")),
    GraphEntry("dot", ("dot",)),
    GraphEntry("embedding", ("embedding",), integer_inputs=10),
    GraphEntry("narrow_accumulator", ("dense",), bit_exact=False,
               config=(("fc1", {"Precision": {"accum": "fixed<9,4>", "result": "fixed<9,4>"}}),)),
    GraphEntry("float_ptq_dnn", ("dense", "relu", "tanh"), input_scale=1.5),
)


def build_graph(entry: GraphEntry, seed: int = 0):
    """Build the graph-zoo model ``entry.name`` with random (non-trivial) weights."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    model = _build_graph(entry.name)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            weights = layer.get_weights()
            n = weights[-1].shape[0]
            # gamma, beta, moving mean, moving variance: non-trivial
            new = [w for w in weights[:-4]] + [rng.uniform(0.5, 1.5, n), rng.normal(0, 0.5, n),
                                               rng.normal(0, 0.5, n), rng.uniform(0.5, 2.0, n)]
            layer.set_weights(new)
    return model


def graph_config(model, entry: GraphEntry) -> dict:
    """hls4ml's default configuration for the model with the entry's edits."""
    from triginfer.hls_export.converter import default_hls_config

    config = default_hls_config(model, strategy=entry.strategy, reuse_factor=entry.reuse_factor)
    for layer, edits in entry.config:
        target = config["Model"] if layer == "Model" else config["LayerName"][layer]
        for key, value in edits.items():
            if isinstance(value, dict):
                target.setdefault(key, {}).update(value)
            else:
                target[key] = value
    return config


def graph_inputs(model, entry: GraphEntry, n: int, seed: int = 1) -> list[np.ndarray]:
    """Random inputs for every model input; a tenth far outside the input range."""
    rng = np.random.default_rng(seed)
    out = []
    for shape in (model.input_shape if isinstance(model.input_shape, list)
                  else [model.input_shape]):
        if entry.integer_inputs:
            out.append(rng.integers(0, entry.integer_inputs, (n, *shape[1:])).astype(np.float64))
            continue
        x = rng.normal(0.0, entry.input_scale, (n, *shape[1:]))
        x[: n // 10] *= 10.0
        out.append(np.round(x * 2**12) / 2**12)
    return out
