"""Emulator benchmark: hls4ml C simulation vs QKeras predict vs the numpy emulator.

The same model and the same events through all three in one run: events/s,
ratios, and each one's exact-match count against the C simulation (the
firmware's reference). Writes a JSON file and prints a Markdown table for
BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_emulator.py --model runs/dnn/train/dnn_quantized.h5 \\
        --events 1000000 --out benchmarks/results/emulator_dnn.json

``--zoo`` instead runs every model of the test zoo (``tests/zoo.py``: GRAPH_ZOO) on the same
events through hls4ml C simulation, Keras predict, the numpy reference emulator (1 thread), the
default emulator (compiled kernels, all threads) and the bit-exact ONNX graph in ONNX Runtime:

    .venv/bin/python benchmarks/bench_emulator.py --zoo --events 20000 \\
        --out benchmarks/results/emulator_zoo.json
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


def _rate(fn, x, n: int, repeats: int = 2):
    """(output, events/s): best of ``repeats`` timed calls."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(x)
        best = min(best, time.perf_counter() - t0)
    return out, n / best


def zoo(events: int, out: str | None) -> None:
    """Every zoo model through every path, side by side (see the module docstring)."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.zoo import GRAPH_ZOO, build_graph, graph_config, graph_inputs
    from triginfer.emulation import Emulator
    from triginfer.gpu_runtime import Session, export_bitexact_onnx
    from triginfer.hls_export import FirmwareSpec, convert

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        built = []
        for entry in GRAPH_ZOO:
            model = build_graph(entry)
            firmware = convert(model, Path(tmp) / entry.name, io_type=entry.io_type,
                               hls_config=graph_config(model, entry), bit_exact=entry.bit_exact)
            built.append((entry, model, firmware))
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            list(pool.map(lambda b: b[2].compile(), built))
        for entry, model, firmware in built:
            x = graph_inputs(model, entry, events)
            x = x if len(x) > 1 else x[0]
            csim, r_csim = _rate(firmware.csim_predict, x, events, repeats=1)
            _, r_keras = _rate(lambda v, m=model: m.predict(v, batch_size=4096, verbose=0), x,
                                   events, repeats=1)
            spec = FirmwareSpec.load(firmware.output_dir)
            flat = csim if isinstance(csim, list) else [csim]

            def exact(got, flat=flat):
                got = got if isinstance(got, list) else [got]
                return int(np.sum(np.all(np.concatenate(
                    [np.asarray(g).reshape(len(g), -1) == np.asarray(c).reshape(len(c), -1)
                     for g, c in zip(got, flat, strict=True)], axis=1), axis=1)))

            reference = Emulator(spec, threads=1, compiled=False)
            fast = Emulator(spec)
            ref_out, r_ref = _rate(reference.predict, x, events)
            fast_out, r_fast = _rate(fast.predict, x, events)
            row = {"model": entry.name, "events": events, "csim": r_csim, "keras": r_keras,
                   "numpy_1_thread": r_ref, "engine_all_threads": r_fast,
                   "exact_numpy": exact(ref_out), "exact_engine": exact(fast_out)}
            if fast.float_mode:
                session = Session(export_bitexact_onnx(spec, Path(tmp) / f"{entry.name}.onnx"),
                                  device="cpu")
                onnx_out, row["bitexact_onnx"] = _rate(session.run, x, events)
                row["exact_onnx"] = exact(onnx_out)
            rows.append(row)
            print(f"| {entry.name} | {r_csim:,.0f} | {r_keras:,.0f} | {r_ref:,.0f} | "
                  f"{r_fast:,.0f} | {r_fast / r_csim:.0f}x | "
                  f"{row.get('bitexact_onnx', float('nan')):,.0f} | "
                  f"{row['exact_engine']}/{events} |", flush=True)
    result = {"events": events, "machine": f"{platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores", "rows": rows}
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", action="store_true",
                        help="every model of the test zoo instead of --model")
    parser.add_argument("--model", default=None, help="QKeras .h5 model (from triginfer train)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--io-type", default="io_parallel")
    parser.add_argument("--out", default=None, help="JSON results file")
    parser.add_argument("--kind", default="dnn", choices=["dnn", "cnn"],
                        help="the model's feature set: dnn (engineered) or cnn (stations)")
    args = parser.parse_args()
    if args.zoo:
        zoo(args.events, args.out)
        return
    if not args.model:
        parser.error("give --model or --zoo")

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
