"""Emulator speed: numpy reference vs the compiled path (1 thread, all threads) vs float ONNX
Runtime, on the same events, with the exact-match count.

    python benchmarks/bench_engine.py --firmware runs/default/firmware/dnn \\
        --onnx runs/default/onnx/dnn_float.onnx --events 1000000 --out bench_engine.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def rate(fn, x, repeats: int = 3) -> float:
    """Best-of-``repeats`` events/s of ``fn(x)`` (after a warm-up call)."""
    fn(x[:5000])
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t0)
    return len(x) / best


def main() -> None:
    from triginfer.emulation import Emulator, engine
    from triginfer.emulation.files import inputs_for
    from triginfer.hls_export import FirmwareSpec

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firmware", required=True)
    ap.add_argument("--onnx", default=None, help="the float model as ONNX")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=16384, help="ONNX Runtime batch")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    spec = FirmwareSpec.load(args.firmware)
    x = inputs_for(spec, None, args.events)[0]
    threads = os.cpu_count() or 1
    reference = Emulator(spec, threads=1, compiled=False).predict(x)
    result = {"firmware": args.firmware, "events": len(x), "cores": threads,
              "kernels": engine.library() is not None, "rows": []}
    for label, emulator in (("numpy, 1 thread", Emulator(spec, threads=1, compiled=False)),
                            ("numpy, all threads", Emulator(spec, compiled=False)),
                            ("compiled, 1 thread", Emulator(spec, threads=1)),
                            (f"compiled, {threads} threads", Emulator(spec))):
        exact = int(np.sum(np.all(emulator.predict(x) == reference, axis=1)))
        result["rows"].append({"path": label, "events_per_s": rate(emulator.predict, x),
                               "exact": exact})
    if args.onnx:
        import onnxruntime as ort

        sess = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name

        def run(xx):
            xx = xx.astype(np.float32)
            for s in range(0, len(xx), args.batch):
                sess.run(None, {name: xx[s:s + args.batch]})

        result["float_onnxruntime_events_per_s"] = rate(run, x)
    for row in result["rows"]:
        extra = ""
        if "float_onnxruntime_events_per_s" in result:
            extra = f"  {row['events_per_s'] / result['float_onnxruntime_events_per_s']:.0%} of float ORT"
        print(f"{row['path']:<22s} {row['events_per_s'] / 1e6:6.2f} M ev/s  exact "
              f"{row['exact']}/{len(x)}{extra}")
    if "float_onnxruntime_events_per_s" in result:
        print(f"{'float ONNX Runtime':<22s} {result['float_onnxruntime_events_per_s'] / 1e6:6.2f} "
              f"M ev/s (batch {args.batch})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
