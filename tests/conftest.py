"""Shared fixtures: small simulated samples and ROOT files, and a CLI runner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

from triginfer.cli import main  # noqa: E402
from triginfer.rootio import write_samples  # noqa: E402
from triginfer.simulation import simulate_minbias, simulate_muons  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run ``triginfer ARGS`` in-process; returns exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse --help / --version / usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def small_root(tmp_path_factory) -> Path:
    """A ROOT file with 5000 muons and 3000 minbias events, seed 7."""
    path = tmp_path_factory.mktemp("data") / "small.root"
    write_samples(path, {"muons": simulate_muons(5000, 7), "minbias": simulate_minbias(3000, 7)})
    return path


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``gpu`` when ONNX Runtime has no CUDA provider."""
    try:
        import onnxruntime

        has_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (onnxruntime-gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
