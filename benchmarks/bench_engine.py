"""Emulator speed on one firmware: the numpy reference, numpy with the conversion kernel, the
generated C engine (1 thread, all threads), the float model's ONNX and the bit-exact ONNX
graph in ONNX Runtime (batch 16384), on the same events, with exact-match counts against the
reference.

    python benchmarks/bench_engine.py --firmware runs/default/firmware/dnn \\
        --onnx runs/default/onnx/dnn_float.onnx --bitexact --events 1000000 --out engine.json
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
    ap.add_argument("--bitexact", action="store_true",
                    help="also the bit-exact ONNX graph of the firmware")
    ap.add_argument("--batch", type=int, default=16384, help="ONNX Runtime batch")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    spec = FirmwareSpec.load(args.firmware)
    x = inputs_for(spec, None, args.events)[0]
    threads = os.cpu_count() or 1
    reference = Emulator(spec, threads=1, compiled=False).predict(x)
    result = {"firmware": args.firmware, "events": len(x), "cores": threads,
              "kernels": engine.library() is not None, "rows": []}
    never = 10**15   # engine_min_events: keep the numpy path
    for label, emulator in (
            ("numpy, 1 thread", Emulator(spec, threads=1, compiled=False)),
            (f"numpy + C conversions, {threads} threads", Emulator(spec, engine_min_events=never)),
            ("generated engine, 1 thread", Emulator(spec, threads=1, engine_min_events=0)),
            (f"generated engine, {threads} threads", Emulator(spec, engine_min_events=0))):
        exact = int(np.sum(np.all(emulator.predict(x) == reference, axis=1)))
        result["rows"].append({"path": label, "events_per_s": rate(emulator.predict, x),
                               "exact": exact})
    import onnxruntime as ort

    def onnx_rate(path: str, dtype) -> tuple[float, np.ndarray]:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name

        def run(xx):
            xx = xx.astype(dtype)
            return np.concatenate([sess.run(None, {name: xx[s:s + args.batch]})[0]
                                   for s in range(0, len(xx), args.batch)])
        return rate(run, x), run(x)

    if args.onnx:
        result["float_onnxruntime_events_per_s"] = onnx_rate(args.onnx, np.float32)[0]
    if args.bitexact:
        import tempfile

        from triginfer.gpu_runtime import export_bitexact_onnx

        with tempfile.TemporaryDirectory() as tmp:
            path = str(export_bitexact_onnx(spec, f"{tmp}/bx.onnx"))
            r, got = onnx_rate(path, np.float64)
        result["bitexact_onnxruntime_events_per_s"] = r
        result["bitexact_exact"] = int(np.sum(np.all(got.reshape(reference.shape) == reference,
                                                      axis=1)))
    for row in result["rows"]:
        extra = ""
        if "float_onnxruntime_events_per_s" in result:
            extra = f"  {row['events_per_s'] / result['float_onnxruntime_events_per_s']:.0%} of float ORT"
        print(f"{row['path']:<36s} {row['events_per_s'] / 1e6:6.2f} M ev/s  exact "
              f"{row['exact']}/{len(x)}{extra}")
    if "float_onnxruntime_events_per_s" in result:
        print(f"{'float ONNX Runtime':<36s} {result['float_onnxruntime_events_per_s'] / 1e6:6.2f} "
              f"M ev/s (batch {args.batch})")
    if "bitexact_onnxruntime_events_per_s" in result:
        bx = result["bitexact_onnxruntime_events_per_s"]
        extra = (f"  {bx / result['float_onnxruntime_events_per_s']:.0%} of float ORT"
                 if "float_onnxruntime_events_per_s" in result else "")
        print(f"{'bit-exact ONNX Runtime':<36s} {bx / 1e6:6.2f} M ev/s  exact "
              f"{result['bitexact_exact']}/{len(x)}{extra}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
