"""Emulator benchmark: hls4ml C simulation vs QKeras predict vs the numpy emulator.

The same model and the same events through all three in one run: events/s,
ratios, and each one's exact-match count against the C simulation (the
firmware's reference). Writes a JSON file and prints a Markdown table for
BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_emulator.py --model runs/dnn/train/dnn_quantized.h5 \\
        --events 1000000 --out benchmarks/results/emulator_dnn.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="QKeras .h5 model (from triginfer train)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--io-type", default="io_parallel")
    parser.add_argument("--out", default=None, help="JSON results file")
    parser.add_argument("--kind", default="dnn", choices=["dnn", "cnn"],
                        help="the model's feature set: dnn (engineered) or cnn (stations)")
    args = parser.parse_args()

    from triginfer.emulation import Emulator
    from triginfer.features import has_track
    from triginfer.hls_export import FirmwareSpec, convert
    from triginfer.simulation import simulate_muons
    from triginfer.trigger_models.training import load_model, predict
    from triginfer.trigger_models.workflow import model_inputs

    model = load_model(args.model)
    kind = args.kind
    sample = simulate_muons(int(args.events * 1.001) + 100, args.seed)
    sample = sample.select(has_track(sample))
    x = model_inputs(kind, sample)[: args.events]
    n = len(x)
    with tempfile.TemporaryDirectory() as tmp:
        firmware = convert(model, Path(tmp) / "prj", io_type=args.io_type)
        firmware.compile()
        csim, t_csim = _timed(lambda: firmware.csim_predict(x, progress=True))
        spec = FirmwareSpec.load(Path(tmp) / "prj")
    qkeras, t_qkeras = _timed(predict, model, x)
    emulator = Emulator(spec)
    emulator.predict(x[:10_000])  # warm-up
    emulated, t_emu = _timed(emulator.predict, x)

    def matches(a):
        return int(np.sum(np.all(a == csim, axis=1)))

    result = {
        "model": args.model, "kind": kind, "events": n, "io_type": args.io_type,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "events_per_s": {"csim": n / t_csim, "qkeras": n / t_qkeras, "emulator": n / t_emu},
        "seconds": {"csim": t_csim, "qkeras": t_qkeras, "emulator": t_emu},
        "exact_vs_csim": {"csim": n, "qkeras": matches(qkeras), "emulator": matches(emulated)},
        "output_std": float(np.std(csim)),
    }
    rates = result["events_per_s"]
    result["ratios"] = {"emulator_over_csim": rates["emulator"] / rates["csim"],
                        "emulator_over_qkeras": rates["emulator"] / rates["qkeras"]}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"| {kind} | {n} | {rates['csim']:,.0f} | {rates['qkeras']:,.0f} | "
          f"{rates['emulator']:,.0f} | {result['ratios']['emulator_over_csim']:.0f}x | "
          f"{result['ratios']['emulator_over_qkeras']:.2f}x | "
          f"{result['exact_vs_csim']['qkeras']}/{n} | {result['exact_vs_csim']['emulator']}/{n} |")


if __name__ == "__main__":
    main()
