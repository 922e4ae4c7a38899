"""Emulation over ROOT files: outputs, event index, formats, Dask path identical to local."""

from __future__ import annotations

import numpy as np
import pytest
import uproot

from triginfer.emulation import Emulator
from triginfer.emulation.files import emulate_files, firmware_inputs
from triginfer.errors import ConfigError, ShapeError, UnsupportedModelError
from triginfer.hls_export import FirmwareSpec, SpecLayer
from triginfer.rootio import read_sample


def _dnn_spec(seed: int = 0) -> FirmwareSpec:
    """A hand-made 21-input firmware spec (no hls4ml needed): dense -> relu -> dense."""
    rng = np.random.default_rng(seed)
    layers = [
        SpecLayer("inputs", "input", (21,), (21,), {"result": "fixed<12,4,RND_CONV,SAT>"}),
        SpecLayer("dense_1", "dense", (21,), (8,),
                  {"weight": "fixed<8,1>", "bias": "fixed<8,3>", "accum": "fixed<24,10>",
                   "result": "fixed<24,10>"}, {"n_in": 21, "n_out": 8},
                  {"weight": rng.integers(-100, 100, (21, 8)), "bias": rng.integers(-50, 50, 8)}),
        SpecLayer("relu_1", "relu", (8,), (8,), {"result": "ufixed<8,3,RND_CONV,SAT>"}),
        SpecLayer("output", "dense", (8,), (1,),
                  {"weight": "fixed<8,1>", "bias": "fixed<8,3>", "accum": "fixed<24,10>",
                   "result": "fixed<24,10>"}, {"n_in": 8, "n_out": 1},
                  {"weight": rng.integers(-100, 100, (8, 1)), "bias": rng.integers(-50, 50, 1)}),
    ]
    return FirmwareSpec("handmade", layers, {"target_scale": 8.0})


@pytest.fixture
def spec_dir(tmp_path):
    return _dnn_spec().save(tmp_path / "fw")


def test_emulate_files_all_formats(spec_dir, small_root, tmp_path):
    spec = FirmwareSpec.load(spec_dir)
    sample = read_sample(small_root, "muons", require_truth=False)
    want = Emulator(spec).predict(firmware_inputs(spec, sample))
    assert np.std(want) > 0
    outputs = {}
    for suffix in (".root", ".parquet", ".npy"):
        out = tmp_path / f"pred{suffix}"
        summary = emulate_files(spec_dir, [small_root, small_root], out, step_size=1500,
                                progress=False)
        assert summary["events"] == 2 * len(sample)
        if suffix == ".root":
            arrays = uproot.open(out)["emulation"].arrays(library="np")
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            arrays = {k: np.asarray(v) for k, v in pq.read_table(out).to_pydict().items()}
        else:
            rec = np.load(out)
            arrays = {k: rec[k] for k in rec.dtype.names}
        np.testing.assert_array_equal(arrays["event"], np.arange(2 * len(sample)))
        np.testing.assert_array_equal(arrays["output_0"], np.concatenate([want[:, 0]] * 2))
        np.testing.assert_array_equal(arrays["q_over_pt"], arrays["output_0"] / 8.0)
        outputs[suffix] = arrays
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.slow
def test_dask_workers_identical_to_local(spec_dir, small_root, tmp_path):
    pytest.importorskip("dask.distributed")
    local = tmp_path / "local.npy"
    dask = tmp_path / "dask.npy"
    emulate_files(spec_dir, [small_root], local, step_size=700, progress=False)
    emulate_files(spec_dir, [small_root], dask, step_size=700, workers=2, progress=False)
    a, b = np.load(local), np.load(dask)
    assert a.dtype == b.dtype
    for name in a.dtype.names:
        np.testing.assert_array_equal(a[name], b[name])


def test_bad_output_suffix_and_shape(spec_dir, small_root, tmp_path):
    with pytest.raises(ConfigError, match="must end in"):
        emulate_files(spec_dir, [small_root], tmp_path / "out.csv")
    emulator = Emulator(FirmwareSpec.load(spec_dir))
    with pytest.raises(ShapeError, match="expects input shape"):
        emulator.predict(np.zeros((3, 20)))


def test_monitor_counts_saturation(spec_dir):
    emulator = Emulator(FirmwareSpec.load(spec_dir))
    x = np.zeros((100, 21))
    x[:7, 0] = 50.0  # beyond fixed<12,4>: saturates
    _, report = emulator.predict(x, monitor=True)
    stat = report.stats[0]
    assert (stat.layer, stat.count, stat.total) == ("inputs", 7, 2100)
    assert stat.max_seen == 50.0
    assert "inputs" in report.table()


def test_unsupported_layer_refused():
    spec = _dnn_spec()
    spec.layers[2].kind = "lstm"
    with pytest.raises(UnsupportedModelError, match="'relu_1' of kind 'lstm'"):
        Emulator(spec)


def test_int64_path_equals_float_path():
    spec = _dnn_spec(3)
    x = np.random.default_rng(0).normal(0, 4, (5000, 21))
    fast = Emulator(spec)
    assert fast.float_mode
    slow = Emulator(spec)
    slow.float_mode = False
    np.testing.assert_array_equal(fast.predict_mantissa(x), slow.predict_mantissa(x))


def _emulate_cli(spec_dir, root, out, *extra, **kw):
    import os
    import signal
    import subprocess
    import sys

    def default_sigint() -> None:
        # as at a terminal: a test runner started in the background (SIGINT ignored, which
        # its children inherit) must not make the CLI deaf to Ctrl-C
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen([sys.executable, "-m", "triginfer.cli", "emulate", "--firmware",
                             str(spec_dir), "--input", str(root), "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                            preexec_fn=default_sigint, **kw)


@pytest.mark.slow
def test_dask_worker_error_is_the_local_one_line_error(spec_dir, tmp_path):
    """A bad value found by a Dask worker (in the third chunk) is the same one line as in the
    local path, not a worker traceback; nothing is left behind."""
    pytest.importorskip("dask.distributed")
    from triginfer.rootio import write_samples
    from triginfer.simulation import simulate_muons

    muons = simulate_muons(3000, 5)
    muons.theta = muons.theta.astype(np.float64)
    muons.theta[2500, 1] = np.nan
    root = tmp_path / "nan.root"
    write_samples(root, {"muons": muons})
    errors = []
    for extra in ((), ("--workers", "2")):
        proc = _emulate_cli(spec_dir, root, tmp_path / "out" / "o.npy", "--step-size", "1000",
                            *extra)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err
        assert len(err.strip().splitlines()) == 1, err
        errors.append(err.strip())
    assert errors[0] == errors[1]
    assert errors[0].startswith("triginfer: error:")
    assert "NaN/inf" in errors[0]
    assert not (tmp_path / "out").exists()


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    from pathlib import Path

    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


@pytest.mark.slow
def test_ctrl_c_under_dask_is_one_line(spec_dir, tmp_path):
    """Ctrl-C reaches the whole process group (workers too): exit 130, one line, no temporary
    file left."""
    import os
    import signal
    import subprocess
    import time

    pytest.importorskip("dask.distributed")
    from triginfer.rootio import write_samples
    from triginfer.simulation import simulate_muons

    root = tmp_path / "big.root"
    write_samples(root, {"muons": simulate_muons(600_000, 6)})
    out = tmp_path / "o.npy"
    proc = _emulate_cli(spec_dir, root, out, "--step-size", "2000", "--workers", "2",
                        start_new_session=True)
    # Ctrl-C while the Dask workers start is ignored (they are spawned with SIGINT ignored so
    # that only this process answers it): wait for the workers, then press Ctrl-C as a user
    # would, again if the first press landed in the start-up
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and not _children(proc.pid):
        time.sleep(0.1)
    assert proc.poll() is None, "finished before the interrupt: use a larger file"
    err = ""
    for _ in range(6):
        time.sleep(1.0)
        if proc.poll() is not None:
            break
        os.killpg(proc.pid, signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=4)
            break
        except subprocess.TimeoutExpired:
            continue
    else:
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["triginfer: interrupted; partial outputs removed"], err
    assert not list(tmp_path.glob(".*tmp*"))
    assert not out.exists()
