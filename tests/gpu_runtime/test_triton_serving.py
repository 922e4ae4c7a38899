"""A real NVIDIA Triton server (the tritonserver nvidia-pytriton bundles): `triginfer serve`
under load from tritonclient, and a Python-backend repository export on the bare binary."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from triginfer.hls_export import FirmwareSpec, SpecLayer

pytest.importorskip("pytriton", reason="needs the 'serve' extra (nvidia-pytriton)")
pytest.importorskip("tritonclient.grpc", reason="needs tritonclient[grpc] (dev extra)")

from triginfer.gpu_runtime.serving import free_ports  # noqa: E402


def _spec(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    layers = [
        SpecLayer("inputs", "input", (6,), (6,), {"result": "fixed<10,4,RND_CONV,SAT>"}),
        SpecLayer("d1", "dense", (6,), (8,),
                  {"weight": "fixed<6,1>", "bias": "fixed<6,2>", "accum": "fixed<20,8>",
                   "result": "fixed<20,8>"}, {"n_in": 6, "n_out": 8},
                  {"weight": rng.integers(-31, 32, (6, 8)), "bias": rng.integers(-31, 32, 8)}),
        SpecLayer("r1", "relu", (8,), (8,), {"result": "ufixed<8,3,RND_CONV,SAT>"}),
        SpecLayer("out", "dense", (8,), (2,),
                  {"weight": "fixed<6,1>", "accum": "fixed<20,8>", "result": "fixed<20,8>"},
                  {"n_in": 8, "n_out": 2}, {"weight": rng.integers(-31, 32, (8, 2))}),
    ]
    spec = FirmwareSpec("served", layers)
    spec.save(tmp_path / "fw")
    return tmp_path / "fw"


def _leftovers() -> set[str]:
    shm = {f"/dev/shm/{p}" for p in os.listdir("/dev/shm")} if os.path.isdir("/dev/shm") else set()
    tmp = {str(p) for pattern in ("pytriton*", "triginfer-triton-*")
           for p in Path(tempfile.gettempdir()).glob(pattern)}
    return shm | tmp


@pytest.mark.slow
def test_triginfer_serve_under_load(tmp_path):
    from triginfer.gpu_runtime import export_bitexact_onnx
    from triginfer.gpu_runtime.serving import loadtest, model_from_onnx, wait_ready

    fw = _spec(tmp_path)
    onnx_path = export_bitexact_onnx(FirmwareSpec.load(fw), tmp_path / "bx.onnx")
    http, grpc, metrics = free_ports(3)
    before = _leftovers()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from triginfer.cli import main; raise SystemExit(main())",
         "serve", "--onnx", str(onnx_path), "--name", "served", "--http-port", str(http),
         "--grpc-port", str(grpc), "--metrics-port", str(metrics), "--max-batch-size", "512",
         "--max-queue-delay-us", "2000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"127.0.0.1:{grpc}"
        wait_ready(url, "served", timeout=90)
        model = model_from_onnx(onnx_path, "served", device="cpu")
        rng = np.random.default_rng(1)
        x = [np.round(rng.normal(0, 4, (5000, 6)) * 64) / 64]
        single = loadtest(url, model, x, clients=8, requests=500, batch=1)
        batched = loadtest(f"127.0.0.1:{http}", model, x, protocol="http", clients=8,
                           requests=100, batch=256)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    print(single)
    print(batched)
    for result, events in ((single, 8 * 500), (batched, 8 * 100 * 256)):
        assert result["lost"] == 0, result["first_error"]
        assert result["wrong"] == 0
        assert result["events"] == events
        assert result["triton_inference_count"] == events
        assert result["triton_execution_count"] < events, "Triton formed no batches"
    assert proc.returncode == 0, err[-2000:]
    assert "server stopped" in out
    time.sleep(1)
    leftover = subprocess.run(["pgrep", "-f", f"grpc-port={grpc}"], capture_output=True,
                              text=True).stdout.strip()
    assert not leftover, f"tritonserver still running: {leftover}"
    assert _leftovers() <= before, f"left behind: {_leftovers() - before}"


@pytest.mark.slow
def test_python_backend_repository_on_bare_tritonserver(tmp_path, cli):
    """export-triton --kind python, loaded by the bundled tritonserver binary itself."""
    import sysconfig

    import pytriton
    from pytriton.server.python_backend_config import PythonBackendConfig  # noqa: F401
    from pytriton.utils.distribution import get_libs_path

    from triginfer.gpu_runtime import Session, export_bitexact_onnx
    from triginfer.gpu_runtime.serving import loadtest, model_from_onnx, wait_ready

    fw = _spec(tmp_path)
    onnx_path = export_bitexact_onnx(FirmwareSpec.load(fw), tmp_path / "bx.onnx")
    result = cli("export-triton", "--onnx", onnx_path, "--repo", tmp_path / "repo", "--name",
                 "pymodel", "--kind", "python", "--max-batch-size", "256")
    assert result.code == 0, result.err
    assert (tmp_path / "repo" / "pymodel" / "1" / "model.py").exists()
    # the binary, with the Python-backend stub of this Python (as PyTriton lays it out)
    dist = Path(pytriton.__file__).parent / "tritonserver"
    server = tmp_path / "tritonserver"
    shutil.copytree(dist, server, ignore=shutil.ignore_patterns("python_backend_stubs"))
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    shutil.copy(dist / "python_backend_stubs" / version / "triton_python_backend_stub",
                server / "backends" / "python" / "triton_python_backend_stub")
    http, grpc, metrics = free_ports(3)
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = ":".join([sysconfig.get_config_var("LIBDIR"), str(get_libs_path()),
                                       env.get("LD_LIBRARY_PATH", "")])
    env["PYTHONPATH"] = ":".join(p for p in sys.path if p)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    proc = subprocess.Popen(
        [str(server / "bin" / "tritonserver"), f"--model-repository={tmp_path / 'repo'}",
         f"--backend-directory={server / 'backends'}", f"--http-port={http}",
         f"--grpc-port={grpc}", f"--metrics-port={metrics}", "--allow-gpu-metrics=false",
         "--http-address=127.0.0.1", "--grpc-address=127.0.0.1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"127.0.0.1:{grpc}"
        try:
            wait_ready(url, "pymodel", timeout=90)
        except Exception:
            proc.terminate()
            print(proc.communicate(timeout=30)[0][-3000:])
            raise
        model = model_from_onnx(onnx_path, "pymodel", device="cpu")
        rng = np.random.default_rng(2)
        x = [np.round(rng.normal(0, 4, (5000, 6)) * 64) / 64]
        single = loadtest(url, model, x, clients=8, requests=500, batch=1)
        batched = loadtest(url, model, x, clients=8, requests=100, batch=256)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    print(single)
    print(batched)
    for result, events in ((single, 8 * 500), (batched, 8 * 100 * 256)):
        assert result["lost"] == 0, result["first_error"]
        assert result["wrong"] == 0
        assert result["triton_inference_count"] == events
        assert result["triton_execution_count"] < events
    assert Session(onnx_path, device="cpu").run(x[0]).shape == (5000, 2)


@pytest.mark.slow
def test_two_input_two_output_firmware_served_with_named_tensors(tmp_path):
    from triginfer.gpu_runtime.serving import (
        Server,
        ServerSettings,
        loadtest,
        model_from_firmware,
        wait_ready,
    )

    rng = np.random.default_rng(9)
    types = {"weight": "fixed<6,1>", "accum": "fixed<20,8>", "result": "fixed<20,8>"}
    layers = [
        SpecLayer("a", "input", (4,), (4,), {"result": "fixed<10,4,RND_CONV,SAT>"}),
        SpecLayer("b", "input", (3,), (3,), {"result": "fixed<10,4,RND_CONV,SAT>"}),
        SpecLayer("da", "dense", (4,), (2,), dict(types), {"n_in": 4, "n_out": 2},
                  {"weight": rng.integers(-31, 32, (4, 2))}, inputs=["a"]),
        SpecLayer("db", "dense", (3,), (2,), dict(types), {"n_in": 3, "n_out": 2},
                  {"weight": rng.integers(-31, 32, (3, 2))}, inputs=["b"]),
        SpecLayer("sum", "merge", (2,), (2,), {"result": "fixed<21,9>"}, {"op": "add"},
                  inputs=["da", "db"]),
    ]
    spec = FirmwareSpec("two", layers, inputs=["a", "b"], outputs=["sum", "db"])
    spec.save(tmp_path / "fw")
    model = model_from_firmware(tmp_path / "fw", "two")
    assert [n for n, _, _ in model.inputs] == ["a", "b"]
    assert [n for n, _, _ in model.outputs] == ["sum", "db"]
    http, grpc, metrics = free_ports(3)
    x = [np.round(rng.normal(0, 3, (2000, 4)) * 64) / 64,
         np.round(rng.normal(0, 3, (2000, 3)) * 64) / 64]
    settings = ServerSettings(http_port=http, grpc_port=grpc, metrics_port=metrics)
    with Server(model, settings):
        wait_ready(f"127.0.0.1:{grpc}", "two", timeout=90)
        result = loadtest(f"127.0.0.1:{grpc}", model, x, clients=4, requests=50, batch=8)
    assert result["lost"] == 0, result["first_error"]
    assert result["wrong"] == 0
    assert result["triton_inference_count"] == 4 * 50 * 8


def _serve(onnx_path: Path, http: int, grpc: int, metrics: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from triginfer.cli import main; raise SystemExit(main())",
         "serve", "--onnx", str(onnx_path), "--name", "served", "--http-port", str(http),
         "--grpc-port", str(grpc), "--metrics-port", str(metrics)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True)      # its own process group: the server and its stubs


@pytest.mark.slow
def test_server_killed_mid_loadtest_then_restarted(tmp_path):
    """SIGKILL of the whole server (triginfer serve, tritonserver, its Python stubs) while 8
    clients load it: every request is answered (and right) or counted lost, none waits past
    its timeout; `serve` started again on the same ports answers every request."""
    import threading

    from triginfer.gpu_runtime import export_bitexact_onnx
    from triginfer.gpu_runtime.serving import loadtest, model_from_onnx, wait_ready

    fw = _spec(tmp_path)
    onnx_path = export_bitexact_onnx(FirmwareSpec.load(fw), tmp_path / "bx.onnx")
    http, grpc, metrics = free_ports(3)
    url = f"127.0.0.1:{grpc}"
    model = model_from_onnx(onnx_path, "served", device="cpu")
    x = [np.round(np.random.default_rng(2).normal(0, 4, (4000, 6)) * 64) / 64]
    proc = _serve(onnx_path, http, grpc, metrics)
    results = {}
    try:
        wait_ready(url, "served", timeout=90)
        load = threading.Thread(target=lambda: results.update(first=loadtest(
            url, model, x, clients=8, requests=1500, batch=4, timeout=3.0)))
        t0 = time.monotonic()
        load.start()
        time.sleep(2.0)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        load.join(timeout=300)
        assert not load.is_alive(), "the load test hung after the server died"
        after_kill = time.monotonic() - t0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    first = results["first"]
    print("killed:", {k: first[k] for k in ("requests", "answered", "lost", "wrong")},
          f"{after_kill:.1f} s")
    assert first["answered"] + first["lost"] == first["requests"]      # every one accounted
    assert first["wrong"] == 0
    assert first["answered"] > 0
    assert first["lost"] > 0
    assert first["triton_inference_count"] is None                    # the server is gone
    restarted = _serve(onnx_path, http, grpc, metrics)
    try:
        wait_ready(url, "served", timeout=90)
        second = loadtest(url, model, x, clients=4, requests=200, batch=4, timeout=10.0)
    finally:
        restarted.send_signal(signal.SIGTERM)
        try:
            restarted.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(restarted.pid, signal.SIGKILL)
    print("restarted:", {k: second[k] for k in ("requests", "answered", "lost", "wrong")})
    assert second["lost"] == 0, second["first_error"]
    assert second["wrong"] == 0
    assert second["answered"] == second["requests"] == 800
