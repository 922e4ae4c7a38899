"""Triton (PyTriton's tritonserver) vs the in-process dynamic batcher at the same offered loads.

For each offered rate, single-event requests: Triton with 8 open-loop tritonclient gRPC
clients, and the in-process ``DynamicBatcher`` with 8 producer threads; events/s served,
latency p50/p99 and the mean batch formed, side by side in one run. Every Triton response
is checked against the in-process result.

    python benchmarks/bench_serving.py --onnx runs/default/onnx/dnn_bitexact.onnx \\
        --out runs/default/bench/serving.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--rates", default="1000,5000,20000", help="offered requests/s")
    parser.add_argument("--seconds", type=float, default=3.0, help="per rate and path")
    parser.add_argument("--max-batch-size", type=int, default=512)
    parser.add_argument("--max-queue-delay-us", type=int, default=500)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import signal
    import subprocess
    import sys

    from triginfer.gpu_runtime import Session
    from triginfer.gpu_runtime.serving import free_ports, loadtest, model_from_onnx, wait_ready
    from triginfer.latency_bench.runtime import batcher_under_load

    model = model_from_onnx(args.onnx, "bench", device="cpu")
    shape, dtype = model.inputs[0][1], model.inputs[0][2]
    rng = np.random.default_rng(3)
    x = (np.round(rng.normal(0, 2, (20_000, *shape)) * 256) / 256).astype(dtype)
    http, grpc, metrics = free_ports(3)
    rows = []
    session = Session(args.onnx, device="cpu")
    # the server in its own process (`triginfer serve`), as it is deployed
    server = subprocess.Popen(
        [sys.executable, "-c", "from triginfer.cli import main; raise SystemExit(main())",
         "serve", "--onnx", args.onnx, "--name", "bench", "--device", "cpu",
         "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics),
         "--max-batch-size", str(args.max_batch_size),
         "--max-queue-delay-us", str(args.max_queue_delay_us)],
        stdout=subprocess.DEVNULL)
    try:
        url = f"127.0.0.1:{grpc}"
        wait_ready(url, "bench")
        for rate in (float(r) for r in args.rates.split(",")):
            per_client = max(1, int(rate * args.seconds / 8))
            triton = loadtest(url, model, [x], clients=8, requests=per_client, batch=1,
                              rate=rate)
            local = batcher_under_load(session, x, rate, args.seconds, producers=8,
                                       max_batch_size=args.max_batch_size,
                                       max_queue_delay_us=args.max_queue_delay_us)
            local.pop("latencies_us", None)
            rows.append({"offered_rate": rate, "triton": triton, "batcher": local})
            print(f"{rate:>8.0f}/s offered | Triton {triton['events_per_s']:>8.0f} ev/s "
                  f"p50 {triton['latency_p50_us']:>7.0f} us p99 {triton['latency_p99_us']:>7.0f} "
                  f"us batch {triton['mean_batch'] or 0:5.1f} (lost {triton['lost']}, wrong "
                  f"{triton['wrong']}) | batcher {local['achieved_events_per_s']:>8.0f} ev/s "
                  f"p50 {local.get('latency_p50_us', 0):>7.0f} us p99 "
                  f"{local.get('latency_p99_us', 0):>7.0f} us batch "
                  f"{local.get('mean_batch', 0):5.1f}", flush=True)
        batched = loadtest(url, model, [x], clients=8, requests=100, batch=256)
        rows.append({"closed_loop_batch": 256, "triton": batched})
        print(f"closed loop, 8 clients x 100 requests of 256 events | Triton "
              f"{batched['events_per_s']:.0f} ev/s p50 {batched['latency_p50_us']:.0f} us p99 "
              f"{batched['latency_p99_us']:.0f} us per request, batch "
              f"{batched['mean_batch'] or 0:.1f} (lost {batched['lost']}, wrong "
              f"{batched['wrong']})", flush=True)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"onnx": args.onnx, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
