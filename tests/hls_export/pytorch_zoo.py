"""The PyTorch zoo: float PyTorch modules covering the layers hls4ml's PyTorch converter takes
(Linear, Conv1d/2d, BatchNorm1d/2d, pooling, the activations, padding, flatten, add, multiply,
subtract and concatenation), each converted with hls4ml's defaults by the PyTorch front end
(``triginfer.hls_export.pytorch.convert_module``).

``ZOO`` maps a name to ``(module class, one event's input shape channels first, the
FirmwareSpec kinds it must produce)``. Weights are drawn from a fixed seed and scaled so that
hls4ml's default ``fixed<16,6>`` neither saturates every output nor rounds it to a constant.
"""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, act: nn.Module | None = None, hidden=(16, 8), n_in=10, n_out=2):
        super().__init__()
        layers, a = [], n_in
        for h in hidden:
            layers += [nn.Linear(a, h), act if act is not None else nn.ReLU()]
            a = h
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(a, n_out)

    def forward(self, x):
        return self.out(self.body(x))


class MLPSoftmax(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.act = nn.Linear(12, 16), nn.ReLU()
        self.fc2, self.sm = nn.Linear(16, 5), nn.Softmax(dim=1)

    def forward(self, x):
        return self.sm(self.fc2(self.act(self.fc1(x))))


class MLPBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.bn, self.act = nn.Linear(10, 16), nn.BatchNorm1d(16), nn.ReLU()
        self.out = nn.Linear(16, 2)

    def forward(self, x):
        return self.out(self.act(self.bn(self.fc1(x))))


class Conv1dFlat(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.act = nn.Conv1d(2, 4, kernel_size=3), nn.ReLU()
        self.flat, self.fc = nn.Flatten(), nn.Linear(4 * 10, 2)

    def forward(self, x):
        return self.fc(self.flat(self.act(self.conv(x))))


class Conv1dPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.act = nn.Conv1d(3, 6, kernel_size=3, padding=1), nn.ReLU()
        self.pool, self.flat = nn.MaxPool1d(2), nn.Flatten()
        self.fc = nn.Linear(6 * 6, 3)

    def forward(self, x):
        return self.fc(self.flat(self.pool(self.act(self.conv(x)))))


class Conv1dPad(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = nn.ConstantPad1d((2, 1), 0.0)
        self.conv, self.act = nn.Conv1d(4, 4, kernel_size=3), nn.ReLU()
        self.flat, self.fc = nn.Flatten(), nn.Linear(4 * 13, 2)

    def forward(self, x):
        return self.fc(self.flat(self.act(self.conv(self.pad(x)))))


class Conv2dPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.act = nn.Conv2d(1, 4, kernel_size=3), nn.ReLU()
        self.pool, self.flat = nn.MaxPool2d(2), nn.Flatten()
        self.fc = nn.Linear(4 * 3 * 3, 3)

    def forward(self, x):
        return self.fc(self.flat(self.pool(self.act(self.conv(x)))))


class Conv2dBnAvg(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(2, 4, kernel_size=3, padding=1), nn.BatchNorm2d(4)
        self.act, self.pool = nn.ReLU(), nn.AvgPool2d(2)
        self.flat, self.fc = nn.Flatten(), nn.Linear(4 * 3 * 3, 2)

    def forward(self, x):
        return self.fc(self.flat(self.pool(self.act(self.bn(self.conv(x))))))


class Conv2dSoftmax(nn.Module):
    """A float Conv2D + Dense 5-class classifier (hls4ml's default precisions)."""

    def __init__(self):
        super().__init__()
        self.conv, self.act = nn.Conv2d(1, 4, kernel_size=3), nn.ReLU()
        self.pool, self.flat = nn.MaxPool2d(2), nn.Flatten()
        self.fc, self.sm = nn.Linear(4 * 3 * 3, 5), nn.Softmax(dim=1)

    def forward(self, x):
        return self.sm(self.fc(self.flat(self.pool(self.act(self.conv(x))))))


class SkipAdd(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(8, 8), nn.Linear(8, 8), nn.ReLU()
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        h = self.act(self.fc1(x))
        return self.out(h + self.fc2(h))


class Branches(nn.Module):
    """Two branches multiplied and subtracted, then concatenated."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.act = nn.Linear(8, 6), nn.Linear(8, 6), nn.ReLU()
        self.out = nn.Linear(12, 2)

    def forward(self, x):
        a, b = self.act(self.a(x)), self.b(x)
        return self.out(torch.cat([a * b, a - b], dim=1))


ZOO: dict[str, tuple[type[nn.Module], dict, tuple[int, ...], tuple[str, ...]]] = {
    "mlp_relu": (MLP, {}, (10,), ("dense", "relu")),
    "mlp_deep": (MLP, {"hidden": (32, 16, 16, 8), "n_in": 16, "n_out": 3}, (16,),
                 ("dense", "relu")),
    "mlp_tanh": (MLP, {"act": nn.Tanh()}, (10,), ("dense", "tanh")),
    "mlp_sigmoid": (MLP, {"act": nn.Sigmoid()}, (10,), ("dense", "sigmoid")),
    "mlp_leaky_relu": (MLP, {"act": nn.LeakyReLU(0.1)}, (10,), ("dense", "leaky_relu")),
    "mlp_elu": (MLP, {"act": nn.ELU()}, (10,), ("dense", "elu")),
    "mlp_prelu": (MLP, {"act": nn.PReLU(16), "hidden": (16,)}, (10,), ("dense", "prelu")),
    "mlp_softmax": (MLPSoftmax, {}, (12,), ("dense", "relu", "softmax")),
    "mlp_batchnorm": (MLPBatchNorm, {}, (10,), ("dense", "relu")),
    "conv1d_flat": (Conv1dFlat, {}, (2, 12), ("conv1d", "relu", "dense")),
    "conv1d_pool": (Conv1dPool, {}, (3, 12), ("conv1d", "maxpool1d", "dense")),
    "conv1d_pad": (Conv1dPad, {}, (4, 12), ("zeropad", "conv1d", "dense")),
    "conv2d_pool": (Conv2dPool, {}, (1, 8, 8), ("conv2d", "maxpool2d", "dense")),
    "conv2d_bn_avgpool": (Conv2dBnAvg, {}, (2, 6, 6), ("conv2d", "avgpool2d", "dense")),
    "conv2d_softmax": (Conv2dSoftmax, {}, (1, 8, 8), ("conv2d", "maxpool2d", "softmax")),
    "skip_add": (SkipAdd, {}, (8,), ("dense", "merge")),
    "branches_cat_mul_sub": (Branches, {}, (8,), ("dense", "concatenate", "merge")),
}


#: A user's edits of hls4ml's defaults, layer -> result type. The classifiers' logits are
#: narrowed: hls4ml's default precisions give the stable softmax a normalised input of
#: ufixed<36,16> whose top 10 bits index the exp table in steps of 64, so every output is
#: 1/n_classes (triginfer warns about that at conversion). The product of two branches is
#: narrowed: its default (the exact product's width) makes the next dense layer's accumulator
#: 73 bits, beyond what the emulator holds (it refuses that, naming the layer).
LOGITS = {"mlp_softmax": {"fc2": "fixed<12,5,RND,SAT>"},
          "conv2d_softmax": {"fc": "fixed<12,5,RND,SAT>"},
          "branches_cat_mul_sub": {"mul": "fixed<16,6,RND,SAT>"}}


def hls_config(name: str, module: nn.Module) -> dict | None:
    """hls4ml's default configuration of the zoo model with :data:`LOGITS`' edits (None:
    no edit, the front end's defaults)."""
    if name not in LOGITS:
        return None
    import hls4ml

    config = hls4ml.utils.config_from_pytorch_model(
        module, input_shape=[tuple(ZOO[name][2])], granularity="name", backend="Vitis")
    for layer, result in LOGITS[name].items():
        config["LayerName"][layer].setdefault("Precision", {})["result"] = result
    return config


def build(name: str) -> nn.Module:
    """The zoo module ``name`` in eval mode, its weights drawn from a seed of its own (batch
    norms with non-trivial running statistics)."""
    cls, kwargs, _, _ = ZOO[name]
    torch.manual_seed(sum(map(ord, name)))
    module = cls(**kwargs)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
            if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d):
                m.weight.mul_(1.5)
    return module.eval()
