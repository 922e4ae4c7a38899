"""A real Dask cluster and its faults: ``dask scheduler`` and ``dask worker`` as separate
processes on 127.0.0.1, as a site runs them, driving ``triginfer emulate --scheduler``.

- 2M events through the cluster equal the local run, byte for byte;
- a worker SIGKILLed mid-run: the run completes, identical (no row missing or doubled);
- the scheduler SIGKILLed mid-run: one line, exit 2, no output and no temporary file;
- an unreachable scheduler: one line within ``--connect-timeout``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.emulation.test_files import _dnn_spec

BIN = Path(sys.executable).parent
EVENTS = 2_000_000
STEP = 50_000


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONWARNINGS": "ignore"}


def _emulate(spec_dir, root, out, *extra) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "triginfer"), "-q", "emulate", "--firmware", str(spec_dir), "--input",
         str(root), "--out", str(out), "--step-size", str(STEP), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


class Cluster:
    """A scheduler and ``n`` single-threaded workers (no nanny: a killed worker stays dead,
    as a lost batch node would)."""

    def __init__(self, directory: Path, n_workers: int = 2) -> None:
        self.file = directory / "scheduler.json"
        self.file.unlink(missing_ok=True)
        self.scheduler = subprocess.Popen(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(self.file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
        deadline = time.monotonic() + 60
        while not self.file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.file.exists(), "the scheduler did not start"
        import json

        time.sleep(0.2)
        self.address = json.loads(self.file.read_text())["address"]
        self.workers = [subprocess.Popen(
            [str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--host", "127.0.0.1", "--memory-limit", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
            for _ in range(n_workers)]
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(n_workers, timeout=60)

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 2M-event ROOT file, its firmware, and the local run's output."""
    pytest.importorskip("dask.distributed")
    from triginfer.emulation.files import emulate_files
    from triginfer.rootio import write_samples
    from triginfer.simulation import simulate_muons

    d = tmp_path_factory.mktemp("cluster")
    spec_dir = _dnn_spec().save(d / "fw")
    root = d / "big.root"
    write_samples(root, {"muons": simulate_muons(EVENTS, 11)})
    local = d / "local.npy"
    emulate_files(spec_dir, [root], local, step_size=STEP, progress=False)
    reference = np.load(local)
    assert len(reference) == EVENTS
    assert np.std(reference["output_0"]) > 0
    return d, spec_dir, root, reference


@pytest.fixture
def cluster(big):
    c = Cluster(big[0])
    yield c
    c.stop()


def _identical(out: Path, reference: np.ndarray) -> None:
    got = np.load(out)
    assert got.dtype == reference.dtype
    assert len(got) == len(reference)
    assert np.array_equal(got["event"], np.arange(EVENTS))          # none missing, none doubled
    mismatch = np.flatnonzero(got != reference)
    assert mismatch.size == 0, f"{mismatch.size} rows differ, first {mismatch[:5]}"


def _wait_for_output_started(proc, directory: Path, stem: str, timeout: float = 120) -> None:
    """Until the run has written its first chunk (its temporary output exists)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if list(directory.glob(f".{stem}.tmp*")):
            return
        time.sleep(0.05)
    raise AssertionError(f"the run never started writing (exit {proc.poll()})")


@pytest.mark.slow
def test_cluster_run_equals_local(big, cluster, tmp_path):
    _, spec_dir, root, reference = big
    out = tmp_path / "dask.npy"
    proc = _emulate(spec_dir, root, out, "--scheduler", cluster.address)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    _identical(out, reference)


@pytest.mark.slow
def test_worker_killed_mid_run_loses_nothing(big, cluster, tmp_path):
    _, spec_dir, root, reference = big
    out = tmp_path / "dask.npy"
    proc = _emulate(spec_dir, root, out, "--scheduler", cluster.address)
    _wait_for_output_started(proc, tmp_path, "dask")
    cluster.workers[0].send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert cluster.workers[0].wait(timeout=30) == -signal.SIGKILL
    assert proc.returncode == 0, err
    _identical(out, reference)


@pytest.mark.slow
def test_scheduler_killed_mid_run_is_one_line(big, cluster, tmp_path):
    _, spec_dir, root, _ = big
    out = tmp_path / "dask.npy"
    proc = _emulate(spec_dir, root, out, "--scheduler", cluster.address, "--connect-timeout", "3")
    _wait_for_output_started(proc, tmp_path, "dask")
    cluster.scheduler.send_signal(signal.SIGKILL)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("triginfer: error:"), lines
    assert "lost the Dask scheduler" in lines[0], lines
    assert time.monotonic() - t0 < 60
    assert not out.exists()
    assert not list(tmp_path.glob(".*tmp*"))


def test_unreachable_scheduler_is_one_line_within_the_timeout(tmp_path, small_root):
    pytest.importorskip("dask.distributed")
    spec_dir = _dnn_spec().save(tmp_path / "fw")
    out = tmp_path / "o.npy"
    t0 = time.monotonic()
    proc = _emulate(spec_dir, small_root, out, "--scheduler", "tcp://127.0.0.1:1",
                    "--connect-timeout", "2")
    _, err = proc.communicate(timeout=120)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "cannot reach the Dask scheduler" in lines[0], lines
    assert "within 2 s" in lines[0], lines
    assert elapsed < 20, elapsed      # 2 s of waiting plus the start-up of the command
    assert not out.exists()
