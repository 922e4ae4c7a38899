"""Runtime benchmarks: ONNX Runtime throughput and latency vs batch size, the dynamic batcher
under an offered load, Keras predict on the same inputs, and a roofline reference.

The roofline is measured, not assumed: a float32 matrix product of the same
machine gives FLOP/s; the model's multiply-adds per event (2 FLOPs each) turn
it into an events/s ceiling, so each throughput is also a fraction of it.
Shared machines change speed from minute to minute, so the matrix product is
timed again right before each batch size, the fraction is taken against that
moment's ceiling, and Keras predict is timed right after ONNX Runtime at the
same batch size; the reported ``machine_flops`` is the median of those points.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from triginfer.errors import TrigInferError

log = logging.getLogger(__name__)

DEFAULT_BATCHES = (1, 8, 64, 512, 4096, 32768)


def _latency_stats(seconds: list[float]) -> dict[str, float]:
    us = np.asarray(seconds) * 1e6
    return {"p50_us": float(np.percentile(us, 50)), "p90_us": float(np.percentile(us, 90)),
            "p99_us": float(np.percentile(us, 99)), "mean_us": float(us.mean()),
            "calls": int(len(us))}


def time_calls(fn, x: np.ndarray, min_seconds: float, min_calls: int = 5,
               max_calls: int = 100_000) -> dict[str, float]:
    """Call ``fn(x)`` repeatedly (after one warm-up); throughput and latency percentiles."""
    fn(x)
    times: list[float] = []
    t_start = time.perf_counter()
    while (len(times) < min_calls or time.perf_counter() - t_start < min_seconds) and \
            len(times) < max_calls:
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    total = sum(times)
    return {"batch": len(x), "events_per_s": len(x) * len(times) / total, **_latency_stats(times)}


def measure_flops(size: int = 1024, seconds: float = 1.0) -> float:
    """Measured float32 matrix-multiply FLOP/s of this machine (numpy BLAS)."""
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return 2.0 * size**3 * n / (time.perf_counter() - t0)


def model_flops_per_event(spec_or_layers) -> float:
    """2 x multiply-adds per event of the dense/conv layers of a FirmwareSpec (dense count,
    zeros included, as a float runtime computes them)."""
    flops = 0.0
    for layer in spec_or_layers.layers:
        if layer.kind in ("dense", "conv1d", "conv2d"):
            flops += 2.0 * layer.arrays["weight"].size * layer.output_positions
    return flops


def batcher_under_load(session, x_pool: np.ndarray, offered_rate_hz: float, seconds: float,
                       producers: int = 4, max_batch_size: int = 512,
                       max_queue_delay_us: float = 500.0) -> dict[str, Any]:
    """Open-loop load: ``producers`` threads submit single events at ``offered_rate_hz`` in
    total for ``seconds``; returns achieved throughput, latency percentiles and batch sizes."""
    from triginfer.gpu_runtime import DynamicBatcher

    batcher = DynamicBatcher(session, max_batch_size=max_batch_size,
                             max_queue_delay_us=max_queue_delay_us, max_queue=1 << 20)
    per_thread = offered_rate_hz / producers
    stop_at = time.perf_counter() + seconds
    futures: list[list] = [[] for _ in range(producers)]

    def produce(k: int) -> None:
        interval = 1.0 / per_thread
        next_t = time.perf_counter()
        i = k
        while True:
            now = time.perf_counter()
            if now >= stop_at:
                return
            if now < next_t:
                time.sleep(min(next_t - now, 0.001))
                continue
            futures[k].append(batcher.submit(x_pool[i % len(x_pool)]))
            i += producers
            next_t += interval

    t0 = time.perf_counter()
    threads = [threading.Thread(target=produce, args=(k,)) for k in range(producers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for fs in futures:
        for f in fs:
            f.result()
    elapsed = time.perf_counter() - t0
    batcher.close()
    n = sum(len(fs) for fs in futures)
    summary = batcher.stats.summary()
    return {"offered_rate_hz": offered_rate_hz, "requests": n, "seconds": elapsed,
            "achieved_events_per_s": n / elapsed, **summary,
            "latencies_us": (np.asarray(batcher.stats.latencies) * 1e6).tolist()}


def run_benchmark(onnx_path, x_pool: np.ndarray, *, keras_model=None, spec=None,
                  device: str = "auto", batch_sizes=DEFAULT_BATCHES, min_seconds: float = 0.5,
                  offered_rate_hz: float = 20_000.0, load_seconds: float = 2.0,
                  threads: int | None = None, progress: bool = True,
                  triton: bool | None = None) -> dict[str, Any]:
    """The whole runtime benchmark; see the module docstring. Returns a JSON-able mapping.

    ``triton``: also run the batcher's offered load on a real Triton server (``triginfer
    serve``); None: when nvidia-pytriton is installed.
    """
    from tqdm.auto import tqdm

    from triginfer.gpu_runtime import Session

    session = Session(onnx_path, device=device, threads=threads)
    x_pool = np.ascontiguousarray(x_pool, dtype=session.input_dtype)
    per_event = model_flops_per_event(spec) if spec is not None else None
    result: dict[str, Any] = {"provider": session.provider, "device": device,
                              "model_flops_per_event": per_event, "onnx": [], "keras": []}

    def take(batch: int) -> np.ndarray:
        reps = int(np.ceil(batch / len(x_pool)))
        return np.concatenate([x_pool] * reps)[:batch] if reps > 1 else x_pool[:batch]

    points = []
    for batch in tqdm(batch_sizes, desc="ONNX Runtime / Keras",
                      disable=True if not progress else None):
        flops_now = measure_flops(seconds=0.25)
        points.append(flops_now)
        row = time_calls(session.run, take(batch), min_seconds)
        row["machine_flops"] = flops_now
        if per_event:
            row["fraction_of_roofline"] = row["events_per_s"] * per_event / flops_now
        result["onnx"].append(row)
        if keras_model is not None:
            xb = take(batch).astype(np.float32)

            def keras_predict(x, model=keras_model, b=batch):
                return model.predict(x, batch_size=b, verbose=0)

            result["keras"].append(time_calls(keras_predict, xb, min_seconds, min_calls=3))
    flops = float(np.median(points))
    result["machine_flops"] = flops
    result["roofline_events_per_s"] = flops / per_event if per_event else None
    result["batcher"] = batcher_under_load(session, x_pool, offered_rate_hz, load_seconds)
    if triton is None:
        import importlib.util

        triton = importlib.util.find_spec("pytriton") is not None
        if not triton:
            log.info("Triton comparison skipped: nvidia-pytriton is not installed (extra serve)")
    if triton:
        from triginfer.gpu_runtime.serving import triton_under_load

        try:
            result["triton"] = triton_under_load(onnx_path, x_pool, offered_rate_hz,
                                                 load_seconds)
        except TrigInferError as exc:
            log.warning("Triton comparison failed: %s", exc)
            result["triton"] = {"error": str(exc)}
    by_batch = {r["batch"]: r for r in result["onnx"]}
    keras_by_batch = {r["batch"]: r for r in result["keras"]}
    if 4096 in by_batch and 4096 in keras_by_batch:
        result["onnx_over_keras_at_4096"] = (by_batch[4096]["events_per_s"]
                                             / keras_by_batch[4096]["events_per_s"])
    return result


def table(result: dict[str, Any]) -> str:
    """A text table of throughput and latency vs batch size."""
    keras = {r["batch"]: r for r in result.get("keras", [])}
    lines = [f"provider {result['provider']}; roofline "
             f"{(result.get('roofline_events_per_s') or 0):,.0f} events/s "
             f"({result['machine_flops'] / 1e9:.1f} GFLOP/s, median of the measurements next to "
             "each batch size)",
             f"{'batch':>7s} {'ORT ev/s':>12s} {'p50 us':>9s} {'p99 us':>9s} "
             f"{'roofline':>9s} {'Keras ev/s':>12s} {'ORT/Keras':>9s}"]
    for r in result["onnx"]:
        k = keras.get(r["batch"])
        lines.append(f"{r['batch']:>7d} {r['events_per_s']:>12,.0f} {r['p50_us']:>9.1f} "
                     f"{r['p99_us']:>9.1f} {r.get('fraction_of_roofline', 0):>9.1%} "
                     f"{(k['events_per_s'] if k else 0):>12,.0f} "
                     f"{(r['events_per_s'] / k['events_per_s'] if k else 0):>9.2f}")
    b = result.get("batcher", {})
    if b:
        tr = result.get("triton") or {}
        if tr.get("events_per_s"):
            lines.append(f"Triton at {tr['offered_rate_hz']:,.0f} Hz offered: "
                         f"{tr['events_per_s']:,.0f} events/s, p50/p99 "
                         f"{tr['latency_p50_us']:,.0f}/{tr['latency_p99_us']:,.0f} us, mean batch "
                         f"{tr.get('mean_batch') or 0:.1f}, lost {tr['lost']}, wrong {tr['wrong']}")
        lines.append(f"batcher at {b['offered_rate_hz']:,.0f} Hz offered: "
                     f"{b['achieved_events_per_s']:,.0f} ev/s, median batch "
                     f"{b.get('median_batch', 0):.0f}, latency p50/p99 "
                     f"{b.get('latency_p50_us', 0):.0f}/{b.get('latency_p99_us', 0):.0f} us")
    return "\n".join(lines)


def plots(result: dict[str, Any], out_dir) -> dict[str, str]:
    """Throughput vs batch and the batcher latency distribution (PNG files)."""
    from pathlib import Path

    from triginfer.plots import _plt, _save

    out_dir = Path(out_dir)
    plt = _plt()
    fig, ax = plt.subplots()
    xs = [r["batch"] for r in result["onnx"]]
    ax.plot(xs, [r["events_per_s"] for r in result["onnx"]], marker="o",
            label=f"ONNX Runtime ({result['provider'].replace('ExecutionProvider', '')})")
    if result.get("keras"):
        ax.plot([r["batch"] for r in result["keras"]],
                [r["events_per_s"] for r in result["keras"]], marker="s", label="Keras predict (per-call overhead at small batches)")
    if result.get("roofline_events_per_s"):
        ax.axhline(result["roofline_events_per_s"], color="k", ls="--", label="roofline")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("events / s")
    ax.legend(fontsize=11)
    ax.grid(alpha=0.3, which="both")
    names = {"throughput": _save(fig, out_dir / "throughput_vs_batch.png").name}
    lat = result.get("batcher", {}).get("latencies_us")
    if lat:
        fig, ax = plt.subplots()
        ax.hist(lat, bins=60, histtype="step", lw=2)
        ax.set_xlabel("request latency through the dynamic batcher [us]")
        ax.set_ylabel("requests")
        ax.set_yscale("log")
        names["latency"] = _save(fig, out_dir / "batcher_latency.png").name
    return names


def profile_ops(onnx_path, x: np.ndarray, calls: int = 20) -> list[dict[str, Any]]:
    """ONNX Runtime's own profiler on ``calls`` runs of ``x``: time share per operator type.

    Shows where time goes when a model is far from the matrix-multiply roofline
    (e.g. the elementwise Round/Clip/Mul ops of QKeras quantizers, memory-bound).
    """
    import json
    import os
    import tempfile
    from pathlib import Path

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(str(onnx_path), sess_options=options,
                                       providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        dtype = np.float64 if "double" in session.get_inputs()[0].type else np.float32
        xin = np.ascontiguousarray(x, dtype=dtype)
        for _ in range(calls):
            session.run(None, {name: xin})
        events = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict[str, float] = {}
    for ev in events:
        if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time"):
            op = ev.get("args", {}).get("op_name", "?")
            per_op[op] = per_op.get(op, 0.0) + float(ev.get("dur", 0))
    total = sum(per_op.values()) or 1.0
    return [{"op": op, "us_per_call": us / calls, "share": us / total}
            for op, us in sorted(per_op.items(), key=lambda kv: -kv[1])]


def benchmark_to(out_dir, onnx_path, x_pool: np.ndarray, **kwargs) -> dict[str, Any]:
    """:func:`run_benchmark`, plus the operator profile at batch 4096 and the plots written to
    ``out_dir``; the per-request latencies are dropped from the returned (JSON) mapping."""
    from pathlib import Path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = run_benchmark(onnx_path, x_pool, **kwargs)
    result["profile_at_4096"] = profile_ops(onnx_path, x_pool[:4096])
    result["plots"] = plots(result, out_dir)
    result["batcher"].pop("latencies_us", None)
    return result
