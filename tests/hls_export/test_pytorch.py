"""The PyTorch front end: a float PyTorch model through `export-hls --compile` and `emulate`
(emulator == C simulation on full arrays), and the files it refuses before they can run code.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs the 'pytorch' extra (torch)")

ARCH = '''
import torch
from torch import nn


class Net(nn.Module):
    """A trigger-sized float MLP: 16 inputs -> 32 -> 16 -> 3."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.act1 = nn.ReLU()
        self.fc2 = nn.Linear(32, 16)
        self.act2 = nn.ReLU()
        self.out = nn.Linear(16, 3)

    def forward(self, x):
        return self.out(self.act2(self.fc2(self.act1(self.fc1(x)))))


class Conv(nn.Module):
    """A 1D CNN over 8 positions of 2 channels (channels first, as PyTorch has it)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, kernel_size=3)
        self.act = nn.ReLU()
        self.flat = nn.Flatten()
        self.fc = nn.Linear(24, 2)

    def forward(self, x):
        return self.fc(self.flat(self.act(self.conv(x))))
'''


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("torch")
    (d / "arch.py").write_text(ARCH)
    import importlib.util

    spec = importlib.util.spec_from_file_location("arch_for_test", d / "arch.py")
    arch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(arch)
    torch.manual_seed(0)
    for name in ("Net", "Conv"):
        model = getattr(arch, name)()
        torch.save(model.state_dict(), d / f"{name.lower()}.pt")
    return d


def _one_line(result, *words):
    lines = result.err.strip().splitlines()
    assert result.code == 2, result.err[-2000:]
    assert len(lines) == 1, result.err[-2000:]
    assert lines[0].startswith("triginfer: error:")
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.slow
@pytest.mark.parametrize(("cls", "shape", "n_in"), [("Net", "16", 16), ("Conv", "2,8", 16)])
def test_state_dict_export_compile_emulate(cli, saved, tmp_path, cls, shape, n_in):
    fw = tmp_path / "fw"
    result = cli("export-hls", "--model", saved / f"{cls.lower()}.pt", "--architecture",
                 f"{saved / 'arch.py'}:{cls}", "--input-shape", shape, "--out", fw,
                 "--compile", "--check-events", "5000")
    assert result.code == 0, result.err[-3000:]
    assert "emulator == C-sim on 5000" in result.out, result.out
    import triginfer

    firmware = triginfer.load(fw)
    x = np.random.default_rng(4).normal(0, 2, (6000, *firmware.spec.input_shape))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "o.npy"
    result = cli("emulate", "--firmware", fw, "--input", tmp_path / "x.npy", "--out", out)
    assert result.code == 0, result.err[-3000:]
    emulated = np.load(out)
    got = np.stack([emulated[f"output_{j}"] for j in range(firmware.spec.output_sizes[0])], 1)
    csim = firmware.csim(x)
    bad = np.flatnonzero(np.any(got != csim, axis=1))
    print(f"{cls}: emulator vs C-sim: {len(bad)} mismatching events of {len(x)}")
    assert len(bad) == 0
    assert np.std(csim) > 0.01
    assert int(np.prod(firmware.spec.input_shape)) == n_in


def test_pickled_payload_is_refused_before_it_runs(cli, tmp_path):
    marker = tmp_path / "payload_ran"

    class Payload:
        def __reduce__(self):
            import pathlib

            return (pathlib.Path.touch, (pathlib.Path(marker),))

    torch.save({"weight": Payload()}, tmp_path / "evil.pt")
    assert not marker.exists()
    result = cli("export-hls", "--model", tmp_path / "evil.pt", "--input-shape", "4",
                 "--out", tmp_path / "fw")
    _one_line(result, "pickled", "--trust-model", "Nothing was run")
    assert not marker.exists(), "the pickle's code ran"
    assert not (tmp_path / "fw").exists()


class _Whole(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)


@pytest.mark.slow
def test_whole_module_needs_trust_model(cli, tmp_path):
    torch.save(_Whole(), tmp_path / "whole.pt")
    result = cli("export-hls", "--model", tmp_path / "whole.pt", "--input-shape", "4",
                 "--out", tmp_path / "fw")
    _one_line(result, "--trust-model")
    assert not (tmp_path / "fw").exists()
    result = cli("export-hls", "--model", tmp_path / "whole.pt", "--input-shape", "4",
                 "--out", tmp_path / "fw", "--trust-model", "--compile", "--check-events",
                 "2000")
    assert result.code == 0, result.err[-3000:]
    assert "emulator == C-sim on 2000" in result.out


def test_torchscript_and_bad_requests_are_one_line(cli, tmp_path, saved):
    torch.jit.script(_Whole()).save(str(tmp_path / "ts.pt"))
    result = cli("export-hls", "--model", tmp_path / "ts.pt", "--input-shape", "4",
                 "--out", tmp_path / "fw")
    _one_line(result, "TorchScript", "--architecture")
    result = cli("export-hls", "--model", saved / "net.pt", "--out", tmp_path / "fw")
    _one_line(result, "--input-shape")
    result = cli("export-hls", "--model", saved / "net.pt", "--input-shape", "16",
                 "--out", tmp_path / "fw")
    _one_line(result, "state dict", "--architecture")
    (tmp_path / "wrong.py").write_text(textwrap.dedent('''
        import torch
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = torch.nn.Linear(3, 3)
    '''))
    result = cli("export-hls", "--model", saved / "net.pt", "--architecture",
                 f"{tmp_path / 'wrong.py'}:Net", "--input-shape", "16", "--out", tmp_path / "fw")
    _one_line(result, "does not fit")
    assert not (tmp_path / "fw").exists()
