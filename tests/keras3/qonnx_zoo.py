"""The ONNX / QONNX zoo: Brevitas models exported with ``export_qonnx``, float PyTorch models
exported with ``torch.onnx.export``, and one QCDQ export (refused by the front end).

Runs in the Keras 3 / QONNX environment (``.venv-keras3``: torch, Brevitas, qonnx):

    .venv-keras3/bin/python tests/keras3/qonnx_zoo.py OUT_DIR [NAME ...]

Prints one JSON line: name -> {"path": file, "shape": one event's input shape as exported}.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")

import brevitas.nn as qnn  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from brevitas.quant import (  # noqa: E402
    Int8ActPerTensorFixedPoint,
    Int8WeightPerTensorFixedPoint,
)


class QMLP(nn.Module):
    def __init__(self, w_bits=6, a_bits=6, per_channel=False, fixed_point=False):
        super().__init__()
        wq = {"weight_quant": Int8WeightPerTensorFixedPoint} if fixed_point else {}
        aq = {"act_quant": Int8ActPerTensorFixedPoint} if fixed_point else {}
        self.inp = qnn.QuantIdentity(bit_width=8, return_quant_tensor=True, **aq)
        self.fc1 = qnn.QuantLinear(16, 12, bias=True, weight_bit_width=w_bits,
                                   weight_scaling_per_output_channel=per_channel, **wq)
        self.act = qnn.QuantReLU(bit_width=a_bits, return_quant_tensor=True)
        self.fc2 = qnn.QuantLinear(12, 3, bias=True, weight_bit_width=w_bits,
                                   weight_scaling_per_output_channel=per_channel, **wq)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(self.inp(x))))


class QDeep(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(bit_width=8, return_quant_tensor=True)
        layers = []
        for a, b in ((20, 32), (32, 16), (16, 8)):
            layers += [qnn.QuantLinear(a, b, bias=True, weight_bit_width=5),
                       qnn.QuantReLU(bit_width=5, return_quant_tensor=True)]
        self.body = nn.Sequential(*layers)
        self.out = qnn.QuantLinear(8, 2, bias=True, weight_bit_width=5)

    def forward(self, x):
        return self.out(self.body(self.inp(x)))


class QConv1dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(bit_width=8, return_quant_tensor=True)
        self.conv = qnn.QuantConv1d(2, 4, 3, bias=True, weight_bit_width=6)
        self.act = qnn.QuantReLU(bit_width=6, return_quant_tensor=True)
        self.fc = qnn.QuantLinear(4 * 10, 2, bias=True, weight_bit_width=6)

    def forward(self, x):
        y = self.act(self.conv(self.inp(x)))
        return self.fc(torch.flatten(y, 1))


class QConv2dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(bit_width=8, return_quant_tensor=True)
        self.conv = qnn.QuantConv2d(1, 3, 3, bias=True, weight_bit_width=6)
        self.act = qnn.QuantReLU(bit_width=6, return_quant_tensor=True)
        self.fc = qnn.QuantLinear(3 * 6 * 6, 3, bias=True, weight_bit_width=6)

    def forward(self, x):
        y = self.act(self.conv(self.inp(x)))
        return self.fc(torch.flatten(y, 1))


class FloatMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(),
                                 nn.Linear(8, 2))

    def forward(self, x):
        return self.net(x)


class FloatConv1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 3, 3)
        self.fc = nn.Linear(3 * 10, 2)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))


class FloatTanhMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 12), nn.Tanh(), nn.Linear(12, 3), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)


class FloatConv2d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 3 * 3, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


class QConv1dFixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint,
                                     return_quant_tensor=True)
        self.conv = qnn.QuantConv1d(3, 4, 3, stride=2, bias=True,
                                    weight_quant=Int8WeightPerTensorFixedPoint)
        self.act = qnn.QuantReLU(bit_width=6, return_quant_tensor=True)
        self.fc = qnn.QuantLinear(4 * 7, 2, bias=True, weight_quant=Int8WeightPerTensorFixedPoint)

    def forward(self, x):
        return self.fc(torch.flatten(self.act(self.conv(self.inp(x))), 1))


#: name -> (module factory, one event's input shape (channels first), exporter)
MODELS = {
    "qmlp": (lambda: QMLP(), (16,), "qonnx"),
    "qmlp_4bit": (lambda: QMLP(w_bits=4, a_bits=4), (16,), "qonnx"),
    "qmlp_fixed_point": (lambda: QMLP(fixed_point=True), (16,), "qonnx"),
    "qmlp_2bit": (lambda: QMLP(w_bits=2, a_bits=2), (16,), "qonnx"),
    "qdeep": (QDeep, (20,), "qonnx"),
    "qconv1d": (QConv1dNet, (2, 12), "qonnx"),
    "qconv2d": (QConv2dNet, (1, 8, 8), "qonnx"),
    "float_mlp": (FloatMLP, (10,), "float"),
    "float_conv1d": (FloatConv1d, (2, 12), "float"),
    "qmlp_8bit": (lambda: QMLP(w_bits=8, a_bits=8), (16,), "qonnx"),
    "qmlp_3bit": (lambda: QMLP(w_bits=3, a_bits=3), (16,), "qonnx"),
    "qconv1d_fixed_point": (QConv1dFixed, (3, 16), "qonnx"),
    "float_tanh_mlp": (FloatTanhMLP, (8,), "float"),
    "float_conv2d": (FloatConv2d, (2, 8, 8), "float"),
    "float_deep": (lambda: nn.Sequential(nn.Linear(12, 24), nn.ReLU(), nn.Linear(24, 24),
                                         nn.ReLU(), nn.Linear(24, 4)), (12,), "float"),
}

#: models the front end refuses, with a phrase its one-line error holds
REFUSED = {
    # hls4ml 1.3 fails on per-channel weight scales (an IndexError in its Quant handling)
    "qmlp_per_channel": (lambda: QMLP(per_channel=True), (16,), "qonnx"),
    "qcdq_mlp": (lambda: QMLP(), (16,), "qcdq"),
}


def build(name: str, out_dir: str) -> dict:
    factory, shape, exporter = {**MODELS, **REFUSED}[name]
    torch.manual_seed(sum(map(ord, name)))
    module = factory().eval()
    with torch.no_grad():
        module(torch.randn(256, *shape) * 2)       # calibrate the activation scales
    path = os.path.join(out_dir, f"{name}.onnx")
    example = torch.randn(1, *shape)
    if exporter == "qonnx":
        from brevitas.export import export_qonnx

        export_qonnx(module, example, export_path=path)
    elif exporter == "qcdq":
        from brevitas.export import export_onnx_qcdq

        export_onnx_qcdq(module, example, export_path=path)
    else:
        torch.onnx.export(module, example, path, dynamo=False, input_names=["x"],
                          output_names=["y"])
    return {"path": path, "shape": list(shape), "exporter": exporter}


def main(argv: list[str]) -> int:
    out_dir, names = argv[0], argv[1:] or sorted(MODELS)
    os.makedirs(out_dir, exist_ok=True)
    print(json.dumps({name: build(name, out_dir) for name in names}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
