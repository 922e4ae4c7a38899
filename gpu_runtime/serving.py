"""Serving on a real NVIDIA Triton Inference Server (PyTriton), and load tests with Triton's
own client.

:func:`serve` runs the ``tritonserver`` binary that ``nvidia-pytriton`` bundles
(extra ``serve``) with one model bound: an ONNX model through an ONNX Runtime
:class:`~triginfer.gpu_runtime.Session` (TensorRT -> CUDA -> CPU as the session
chooses), or a firmware's bit-exact emulator. Triton forms the batches
(dynamic batching with ``max_batch_size`` and ``max_queue_delay_us``) and
``instances`` copies of the model run side by side. The server binds 127.0.0.1
unless another host is named; on 127.0.0.1 the statistics endpoint is left
open to local clients, on another address every protected endpoint needs the
access token, which is printed. The Python backend stub loads
``libpython3.11``: the interpreter's own ``LIBDIR`` is put first on
``LD_LIBRARY_PATH`` (the system library of another 3.11 patch release fails
with ``'_thread.RLock' object has no attribute '_recursion_count'``).

:func:`loadtest` sends requests from N concurrent ``tritonclient`` clients
(gRPC or HTTP, KServe v2), single events or batches, closed-loop or open-loop
at an offered rate, checks every response against the in-process result, and
reads Triton's statistics (inference vs execution counts: the batches Triton
formed).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.errors import ConfigError, TrigInferError

log = logging.getLogger(__name__)


@dataclass
class ServedModel:
    """What Triton serves: named float inputs/outputs and a batch function."""

    name: str
    inputs: list[tuple[str, tuple[int, ...], type]]
    outputs: list[tuple[str, tuple[int, ...], type]]
    run: Callable[[list[np.ndarray]], list[np.ndarray]]
    source: str

    def reference(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The in-process result (what every response must equal)."""
        return self.run(arrays)


def model_from_onnx(path: str | os.PathLike, name: str, device: str = "auto") -> ServedModel:
    """An ONNX model served through an ONNX Runtime session."""
    from triginfer.gpu_runtime.session import Session

    session = Session(path, device=device)
    outs = session.session.get_outputs()
    outputs = [(o.name, (int(np.prod([d for d in o.shape[1:] if isinstance(d, int)] or [1])),),
                np.float64 if o.type == "tensor(double)" else np.float32) for o in outs]

    def run(arrays):
        got = session.run(arrays if len(arrays) > 1 else arrays[0])
        return got if isinstance(got, list) else [got]

    return ServedModel(name, [(n, tuple(s), d) for n, s, d in zip(
        session.input_names, session.input_shapes, session.input_dtypes, strict=True)],
        outputs, run, f"{Path(path).name} on {session.provider}")


def model_from_firmware(directory: str | os.PathLike, name: str) -> ServedModel:
    """A firmware's bit-exact emulator (inputs/outputs named as its bit-exact ONNX graph)."""
    from triginfer.emulation import Emulator
    from triginfer.firmware.spec import FirmwareSpec
    from triginfer.gpu_runtime.onnx_export import onnx_io_names

    spec = FirmwareSpec.load(directory)
    emulator = Emulator(spec)
    in_names, out_names = onnx_io_names(spec)

    def run(arrays):
        got = emulator.predict(arrays if len(arrays) > 1 else arrays[0])
        return got if isinstance(got, list) else [got]

    return ServedModel(name, [(n, tuple(s), np.float64) for n, s in zip(
        in_names, spec.input_shapes, strict=True)],
        [(n, (size,), np.float64) for n, size in zip(out_names, spec.output_sizes, strict=True)],
        run, f"emulator of {spec.name}")


def _libpython_env() -> None:
    """Put the interpreter's own libpython first on LD_LIBRARY_PATH (see the module docstring)."""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    if not libdir or not sorted(Path(libdir).glob("libpython3*.so*")):
        raise TrigInferError(
            f"this Python ({sys.executable}) has no shared libpython in {libdir!r}; Triton's "
            "Python backend needs one: use a Python built with --enable-shared")
    current = os.environ.get("LD_LIBRARY_PATH", "")
    if current.split(":")[0] != libdir:
        os.environ["LD_LIBRARY_PATH"] = f"{libdir}:{current}" if current else libdir


def _require_pytriton():
    try:
        import pytriton  # noqa: F401
    except ImportError as exc:
        from triginfer.errors import MissingExtraError

        raise MissingExtraError("serving needs nvidia-pytriton: pip install 'triginfer[serve]'"
                                ) from exc


@dataclass
class ServerSettings:
    """Addresses and batching of a served model."""

    host: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    max_batch_size: int = 4096
    max_queue_delay_us: int = 500
    instances: int = 1
    server_log: bool = False     # the server's own log on the terminal (else to a temp file)

    def check(self) -> None:
        """Range checks (a :class:`ConfigError` naming the setting)."""
        for key in ("http_port", "grpc_port", "metrics_port"):
            value = getattr(self, key)
            if not 1 <= value <= 65535:
                raise ConfigError(f"{key.replace('_', '-')}: must be a port 1..65535, got {value}")
        if len({self.http_port, self.grpc_port, self.metrics_port}) != 3:
            raise ConfigError("http, grpc and metrics ports must differ")
        if self.max_batch_size < 1 or self.instances < 1 or self.max_queue_delay_us < 0:
            raise ConfigError("max-batch-size and instances must be >= 1, max-queue-delay-us >= 0")


class Server:
    """A running Triton server with one model bound (a context manager; ``stop()`` ends it)."""

    def __init__(self, model: ServedModel, settings: ServerSettings) -> None:
        _require_pytriton()
        settings.check()
        _libpython_env()
        from pytriton.decorators import batch
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

        self.model = model
        self.settings = settings
        local = settings.host in ("127.0.0.1", "localhost", "::1")
        import tempfile

        self._log_dir = None if settings.server_log else Path(tempfile.mkdtemp(
            prefix="triginfer-triton-"))
        config = TritonConfig(http_address=settings.host, http_port=settings.http_port,
                              grpc_address=settings.host, grpc_port=settings.grpc_port,
                              metrics_port=settings.metrics_port, allow_gpu_metrics=False,
                              log_verbose=0,
                              log_file=self._log_dir / "tritonserver.log" if self._log_dir
                              else None)
        # bound to loopback, local clients read statistics without a token
        security = TritonSecurityConfig(restricted_endpoints=[]) if local else \
            TritonSecurityConfig()
        self.access_token = None if local else security.access_token
        self._triton = Triton(config=config, security_config=security)
        names_in = [n for n, _, _ in model.inputs]
        names_out = [n for n, _, _ in model.outputs]

        @batch
        def infer(**inputs):
            got = model.run([inputs[n] for n in names_in])
            return {n: np.asarray(v) for n, v in zip(names_out, got, strict=True)}

        self._triton.bind(
            model_name=model.name, infer_func=[infer] * settings.instances,
            inputs=[Tensor(name=n, shape=s, dtype=d) for n, s, d in model.inputs],
            outputs=[Tensor(name=n, shape=s, dtype=d) for n, s, d in model.outputs],
            config=ModelConfig(max_batch_size=settings.max_batch_size,
                               batcher=DynamicBatcher(
                                   max_queue_delay_microseconds=settings.max_queue_delay_us)),
            strict=False)
        self._started = False

    def start(self) -> Server:
        """Start the server and load the model (returns when it is ready)."""
        self._triton.run()
        self._started = True
        return self

    def serve_forever(self) -> None:
        """Block until SIGINT/SIGTERM, then stop cleanly."""
        stop = threading.Event()
        previous = {s: signal.signal(s, lambda *_: stop.set())
                    for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stop.wait(0.5):
                if not self._triton.is_alive():
                    raise TrigInferError("the Triton server stopped unexpectedly")
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.stop()

    def stop(self) -> None:
        """Stop the server (its processes and workspace go with it)."""
        if self._started:
            self._triton.stop()
            self._started = False
        if self._log_dir is not None:
            import shutil

            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --- load tests -------------------------------------------------------------------------------
def _client(protocol: str, url: str, timeout: float | None = None):
    from triginfer.extras import require

    if protocol not in ("grpc", "http"):
        raise ConfigError(f"protocol must be grpc or http, got {protocol!r}")
    client_mod = require(f"tritonclient.{protocol}")
    if protocol == "http" and timeout:
        return client_mod, client_mod.InferenceServerClient(
            url=url, connection_timeout=timeout, network_timeout=timeout)
    return client_mod, client_mod.InferenceServerClient(url=url)


def _statistics_or_none(url: str, model: str, protocol: str) -> dict[str, int] | None:
    """:func:`statistics`, or None when the server does not answer (it went away)."""
    try:
        return statistics(url, model, protocol)
    except Exception as exc:  # tritonclient's InferenceServerException, connection errors
        log.warning("Triton at %s: no statistics (%s)", url,
                    (str(exc).strip().splitlines() or [type(exc).__name__])[0])
        return None


def statistics(url: str, model: str, protocol: str = "grpc") -> dict[str, int]:
    """Triton's inference and execution counts for ``model`` (success and batches)."""
    mod, client = _client(protocol, url)
    kwargs = {"as_json": True} if protocol == "grpc" else {}
    stats = client.get_inference_statistics(model_name=model, **kwargs)
    entry = stats["model_stats"][0]
    return {"inference_count": int(entry.get("inference_count", 0)),
            "execution_count": int(entry.get("execution_count", 0))}


#: Seconds a load-test request may take before it is counted lost (``loadtest --timeout``).
REQUEST_TIMEOUT_S = 10.0


def loadtest(url: str, model: ServedModel, x: list[np.ndarray], *, protocol: str = "grpc",
             clients: int = 8, requests: int = 500, batch: int = 1,
             rate: float | None = None, progress: bool = False,
             timeout: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
    """Send ``clients`` x ``requests`` requests of ``batch`` events drawn from ``x``; check each
    response against ``model.reference``; report throughput, latency and batching.

    ``rate`` (requests/s over all clients): open loop at that offered rate (gRPC requests are
    sent asynchronously on schedule; HTTP clients wait for each answer); None: closed loop.
    Every request is answered (and checked) or counted ``lost`` within ``timeout`` seconds,
    also when the server dies mid-run (then the Triton counts are None).
    """
    if clients < 1 or requests < 1 or batch < 1:
        raise ConfigError("clients, requests and batch must be >= 1")
    if rate is not None and rate <= 0:
        raise ConfigError(f"offered rate must be > 0, got {rate}")
    n = len(x[0])
    expected = model.reference(x)
    before = _statistics_or_none(url, model.name, protocol)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    wrong = [0] * clients
    lost = [0] * clients
    errors: list[str] = []
    interval = clients / rate if rate else 0.0

    def build(mod, rows):
        inputs = []
        for (name, _, dtype), arr in zip(model.inputs, x, strict=True):
            data = np.ascontiguousarray(arr[rows], dtype=dtype)
            tensor = mod.InferInput(name, list(data.shape),
                                    "FP64" if dtype == np.float64 else "FP32")
            tensor.set_data_from_numpy(data)
            inputs.append(tensor)
        return inputs, [mod.InferRequestedOutput(name) for name, _, _ in model.outputs]

    tally = threading.Lock()   # callbacks of one client run on several gRPC threads

    def check(k, result, rows, t0) -> None:
        elapsed = time.perf_counter() - t0
        bad = False
        for (name, _, _), want in zip(model.outputs, expected, strict=True):
            got = result.as_numpy(name)
            if got is None or not np.array_equal(got.reshape(want[rows].shape), want[rows]):
                bad = True
                break
        with tally:
            latencies[k].append(elapsed)
            wrong[k] += int(bad)

    def worker(k: int) -> None:
        mod, client = _client(protocol, url, timeout)
        per_request = {"client_timeout": timeout} if protocol == "grpc" else {}
        rng = np.random.default_rng(k)
        t_next = time.perf_counter()
        pending = threading.Semaphore(0)
        sent = 0
        for _ in range(requests):
            start = int(rng.integers(0, max(n - batch, 0) + 1))
            rows = slice(start, start + batch)
            inputs, outs = build(mod, rows)
            if interval:
                t_next += interval
                delay = t_next - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            t0 = time.perf_counter()
            if interval and protocol == "grpc":
                # open loop: the request goes out at its time whatever is still in flight
                def done(result, error, rows=rows, t0=t0):
                    if error is not None:
                        with tally:
                            lost[k] += 1
                            if not errors:
                                errors.append(str(error))
                    else:
                        check(k, result, rows, t0)
                    pending.release()

                client.async_infer(model.name, inputs, done, outputs=outs, **per_request)
                sent += 1
                continue
            try:
                result = client.infer(model.name, inputs, outputs=outs, **per_request)
            except Exception as exc:  # a lost request is counted, the first error kept
                lost[k] += 1
                if not errors:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            check(k, result, rows, t0)
        for _ in range(sent):
            pending.acquire()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    after = _statistics_or_none(url, model.name, protocol)
    lat = np.array([v for per in latencies for v in per]) * 1e6
    sent = clients * requests
    counted = before is not None and after is not None
    inferences = after["inference_count"] - before["inference_count"] if counted else None
    executions = after["execution_count"] - before["execution_count"] if counted else None
    return {
        "protocol": protocol, "clients": clients, "requests_per_client": requests,
        "batch": batch, "offered_rate": rate, "requests": sent,
        "events": sent * batch, "answered": int(sum(len(v) for v in latencies)),
        "lost": int(sum(lost)), "wrong": int(sum(wrong)),
        "first_error": errors[0] if errors else None, "seconds": seconds,
        "requests_per_s": sent / seconds, "events_per_s": sent * batch / seconds,
        "latency_p50_us": float(np.percentile(lat, 50)) if lat.size else None,
        "latency_p90_us": float(np.percentile(lat, 90)) if lat.size else None,
        "latency_p99_us": float(np.percentile(lat, 99)) if lat.size else None,
        "triton_inference_count": inferences, "triton_execution_count": executions,
        "mean_batch": inferences / executions if counted and executions else None,
    }


def wait_ready(url: str, model: str, timeout: float = 60.0, protocol: str = "grpc") -> None:
    """Wait until the server answers and the model is ready."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            _, client = _client(protocol, url)
            if client.is_server_ready() and client.is_model_ready(model):
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.2)
    raise TrigInferError(f"Triton at {url} not ready with model {model!r} after {timeout:.0f} s"
                         f" ({last})")


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 right now."""
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def triton_under_load(onnx_path: str | os.PathLike, x_pool: np.ndarray, offered_rate_hz: float,
                      seconds: float, clients: int = 8, max_batch_size: int = 512,
                      max_queue_delay_us: int = 500) -> dict[str, Any]:
    """The in-process batcher's load test on Triton: ``triginfer serve`` in its own process on
    free loopback ports, single events sent open-loop at ``offered_rate_hz`` for ``seconds``
    by ``clients`` gRPC clients; every response checked; the server stopped afterwards."""
    import subprocess

    _require_pytriton()
    http, grpc, metrics = free_ports(3)
    model = model_from_onnx(onnx_path, "bench", device="cpu")
    server = subprocess.Popen(
        [sys.executable, "-c", "from triginfer.cli import main; raise SystemExit(main())",
         "serve", "--onnx", str(onnx_path), "--name", "bench", "--device", "cpu", "-q",
         "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics),
         "--max-batch-size", str(max_batch_size), "--max-queue-delay-us",
         str(max_queue_delay_us)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TRIGINFER_PARENT_PID": str(os.getpid())})   # dies with us
    try:
        url = f"127.0.0.1:{grpc}"
        wait_ready(url, "bench", timeout=90)
        per_client = max(1, int(offered_rate_hz * seconds / clients))
        x = [np.ascontiguousarray(x_pool, dtype=model.inputs[0][2])]
        result = loadtest(url, model, x, clients=clients, requests=per_client, batch=1,
                          rate=offered_rate_hz)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
    result["offered_rate_hz"] = offered_rate_hz
    return result
