"""EinsumDense (Keras 3 ``EinsumDense``, HGQ2 ``QEinsumDense``): a dense layer on a
transposed input, read as one equivalent dense matrix.

hls4ml's ``nnet::einsum_dense`` transposes the input (``inp_tpose_idxs``) into
``n_inplace x n_free_data`` rows of ``n_contract`` values, runs its dense kernel on each
row (the ``n_inplace`` index picking the kernel slice, a bias per output value), and
transposes the ``(n_inplace, n_free_data, n_free_kernel)`` result (``out_interpert_shape``,
``out_tpose_idxs``). Each output value is therefore one dot product of input values with
kernel entries, the products and the bias in ``accum_t`` (wrapping), then ``result_t``:
exactly a dense layer whose ``(inputs, outputs)`` matrix holds those entries and zeros
elsewhere. A zero weight contributes an exact 0 to a wrapping sum, so the dense kind's
arithmetic, its engine lowering, its ONNX form and its estimate (zeros cost nothing) apply
unchanged. The matrix is built from the generated kernel's own index arithmetic.
"""

from __future__ import annotations

import numpy as np

from triginfer.firmware.kinds import register
from triginfer.firmware.kinds.dense import MatMulKind


def einsum_matrix(weight: np.ndarray, bias: np.ndarray | None, in_shape, perm_in,
                  interp_shape, perm_out, n_free_data: int, n_free_kernel: int,
                  n_contract: int, n_inplace: int) -> tuple[np.ndarray, np.ndarray]:
    """``(matrix, bias)`` of the dense layer equal to hls4ml's ``einsum_dense``: matrix
    ``(prod(in_shape), n_out)`` on the flat input, bias per flat output value."""
    L0, L1, C, I = n_free_data, n_free_kernel, n_contract, n_inplace  # noqa: E741 (hls4ml's)
    n_in = int(np.prod(in_shape))
    n_out = L0 * L1 * I
    if weight.size != I * C * L1:
        raise ValueError(f"kernel of {weight.size} values, the layout needs {I * C * L1}")
    if n_in != L0 * C * I:
        raise ValueError(f"input of {n_in} values, the layout needs {L0 * C * I}")
    # nnet::transpose: res[q] = data[src[q]] (C order over the permuted shape)
    src_in = np.arange(n_in).reshape(tuple(in_shape)).transpose(tuple(perm_in)).reshape(-1)
    src_out = np.arange(n_out).reshape(tuple(interp_shape)).transpose(tuple(perm_out)).reshape(-1)
    w = weight.reshape(I, C, L1)
    b = (np.zeros(n_out, dtype=np.int64) if bias is None
         else np.broadcast_to(bias.reshape(-1), (n_out,)))
    matrix = np.zeros((n_in, n_out), dtype=np.int64)
    out_bias = np.zeros(n_out, dtype=np.int64)
    for s, r in enumerate(src_out):      # output value s is out_tpose[r]
        i, rest = divmod(int(r), L0 * L1)
        l0, j = divmod(rest, L1)
        rows = src_in[(i * L0 + l0) * C + np.arange(C)]
        matrix[rows, s] = w[i, :, j]
        out_bias[s] = b[r]
    return matrix, out_bias


@register
class EinsumDense(MatMulKind):
    """EinsumDense / QEinsumDense: a dense matrix over the flat input (see the module)."""

    kind = "einsum_dense"
    hls_classes = ("EinsumDense",)
    summary = "EinsumDense, HGQ2 QEinsumDense(Batchnorm) (any equation hls4ml lowers)"

    def read(self, hls_layer, layer, cpp):
        attrs = hls_layer.attributes
        in_shape = tuple(int(s) for s in attrs.get("inp_shape", layer.input_shape))
        bias = layer.arrays.get("bias")
        matrix, out_bias = einsum_matrix(
            layer.arrays["weight"], bias, in_shape, attrs["inp_tpose_idxs"],
            attrs["out_interpert_shape"], attrs["out_tpose_idxs"], int(attrs["n_free_data"]),
            int(attrs["n_free_kernel"]), int(attrs["n_contract"]), int(attrs["n_inplace"]))
        layer.arrays["weight"] = matrix
        layer.arrays["bias"] = out_bias
        if "bias" not in layer.types:
            layer.types["bias"] = layer.types["weight"]
        layer.params = {"equation": str(attrs.get("equation", "")),
                        "n_in": int(matrix.shape[0]), "n_out": int(matrix.shape[1])}
        self.read_weights(hls_layer, layer, cpp)

    def validate(self, layer, producers):
        w = layer.arrays.get("weight")
        if w is None:
            raise KeyError("array 'weight' missing")
        if w.ndim != 2:
            raise ValueError(f"weight of shape {list(w.shape)}, an einsum_dense layer holds "
                             "its (inputs, outputs) matrix")
        if producers and w.shape[0] != int(np.prod(producers[0].output_shape)):
            raise ValueError(f"weight shape {list(w.shape)} does not fit the input "
                             f"{list(producers[0].output_shape)}")
        if w.shape[1] != int(np.prod(layer.output_shape)):
            raise ValueError(f"weight shape {list(w.shape)} does not give the output shape "
                             f"{list(layer.output_shape)}")
        if "bias" in layer.arrays and layer.arrays["bias"].size != w.shape[1]:
            raise ValueError(f"bias of {layer.arrays['bias'].size} values for "
                             f"{w.shape[1]} outputs")
        super(MatMulKind, self).validate(layer, producers)


__all__ = ["EinsumDense", "einsum_matrix"]
