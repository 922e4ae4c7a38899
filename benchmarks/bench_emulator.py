"""Emulator benchmark: hls4ml C simulation vs QKeras predict vs the numpy emulator.

The same model and the same events through all three in one run: events/s,
ratios, and each one's exact-match count against the C simulation (the
firmware's reference). Writes a JSON file and prints a Markdown table for
BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_emulator.py --model runs/dnn/train/dnn_quantized.h5 \\
        --events 1000000 --out benchmarks/results/emulator_dnn.json

``--zoo`` instead runs every model of the test zoo (``tests/zoo.py``: ZOO and GRAPH_ZOO) and
the default DNN and CNN in one run, on the same events, through hls4ml C simulation, Keras
predict, the numpy reference emulator (1 thread), the generated C engine (1 thread and all
threads), the model's ONNX (the float model for the default models) and the bit-exact ONNX
graph in ONNX Runtime (CPU, batch 16384): events/s, ratios, exact-match counts against C-sim.
C-sim runs ``--events`` events; the fast paths are timed on ``--fast-events`` (the same events
repeated) so that a timing is not a millisecond:

    .venv/bin/python benchmarks/bench_emulator.py --zoo --events 20000 --fast-events 200000 \\
        --default-model dnn:runs/default/train/dnn_quantized.h5 \\
        --default-model cnn:runs/cnn/train/cnn_quantized.h5 --out benchmarks/results/engine_zoo.json
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


def _zoo_models(tmp: Path, default_models: list[tuple[str, str, str]]):
    """(name, keras model, float model or None, firmware, events(n)) of every zoo model and
    the given default models, converted with hls4ml (C simulations compiled later)."""
    from tests.zoo import GRAPH_ZOO, ZOO, build, build_graph, graph_config, graph_inputs, inputs_for
    from triginfer.hls_export import convert

    for kind, quantized, float_path in default_models:
        from triginfer.features import has_track
        from triginfer.simulation import simulate_muons
        from triginfer.trigger_models.training import load_model
        from triginfer.trigger_models.workflow import model_inputs

        model = load_model(quantized)
        firmware = convert(model, tmp / f"default_{kind}")

        def events_of(n, kind=kind):
            sample = simulate_muons(int(n * 1.01) + 100, 2024)
            return model_inputs(kind, sample.select(has_track(sample)))[:n]
        yield f"default {kind}", model, load_model(float_path), firmware, events_of
    for entry in ZOO:
        model = build(entry)
        firmware = convert(model, tmp / entry.name, io_type=entry.io_type,
                           reuse_factor=entry.reuse_factor, strategy=entry.strategy)
        yield entry.name, model, None, firmware, lambda n, m=model, e=entry: inputs_for(m, e, n)
    for entry in GRAPH_ZOO:
        model = build_graph(entry)
        firmware = convert(model, tmp / entry.name, io_type=entry.io_type,
                           hls_config=graph_config(model, entry), bit_exact=entry.bit_exact)

        def events_of(n, m=model, e=entry):
            x = graph_inputs(m, e, n)
            return x if len(x) > 1 else x[0]
        yield entry.name, model, None, firmware, events_of


def _tile(x, n: int):
    """``x`` repeated to ``n`` events (a list of arrays for several inputs)."""
    if isinstance(x, list):
        return [_tile(a, n) for a in x]
    reps = -(-n // len(x))
    return np.concatenate([x] * reps)[:n]


def zoo(events: int, fast_events: int, out: str | None,
        default_models: list[tuple[str, str, str]]) -> None:
    """Every zoo model (and the default models) through every path, side by side."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from triginfer.emulation import Emulator
    from triginfer.gpu_runtime import Session, export_bitexact_onnx, export_onnx
    from triginfer.hls_export import FirmwareSpec

    rows = []
    threads = os.cpu_count() or 1
    print("| model | C-sim | Keras | numpy (1 thread) | engine 1 thread | engine "
          f"{threads} threads | engine / C-sim | Keras ONNX | bit-exact ONNX | "
          "engine / ONNX | engine == C-sim |")
    with tempfile.TemporaryDirectory() as tmp:
        built = list(_zoo_models(Path(tmp), default_models))
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda b: b[3].compile(), built))
        for name, model, float_model, firmware, events_of in built:
            x = events_of(events)
            xf = _tile(x, fast_events)
            csim, r_csim = _rate(firmware.csim_predict, x, events, repeats=1)
            _, r_keras = _rate(lambda v, m=model: m.predict(v, batch_size=16384, verbose=0), xf,
                               fast_events, repeats=1)
            spec = FirmwareSpec.load(firmware.output_dir)
            flat = csim if isinstance(csim, list) else [csim]

            def exact(got, flat=flat):
                got = got if isinstance(got, list) else [got]
                return int(np.sum(np.all(np.concatenate(
                    [np.asarray(g)[:events].reshape(events, -1) == np.asarray(c).reshape(events, -1)
                     for g, c in zip(got, flat, strict=True)], axis=1), axis=1)))

            reference = Emulator(spec, threads=1, compiled=False)
            ref_out, r_ref = _rate(reference.predict, x, events)
            engine = Emulator(spec, engine_min_events=0)
            compiled = engine.generated_engine()
            row = {"model": name, "events": events, "fast_events": fast_events, "csim": r_csim,
                   "keras": r_keras, "numpy_1_thread": r_ref, "exact_numpy": exact(ref_out),
                   "engine": "generated" if compiled else f"numpy ({engine.engine_reason})",
                   "engine_build_s": compiled.seconds if compiled else None}
            engine.threads = 1
            _, row["engine_1_thread"] = _rate(engine.predict, xf, fast_events, repeats=3)
            engine.threads = threads
            _, row["engine_all_threads"] = _rate(engine.predict, xf, fast_events, repeats=3)
            row["exact_engine"] = exact(engine.predict(x))
            onnx_model = float_model if float_model is not None else model
            try:
                session = Session(export_onnx(onnx_model, Path(tmp) / f"{name}_f.onnx"),
                                  device="cpu", max_batch=16384)
                xs = [a.astype(np.float32) for a in xf] if isinstance(xf, list) else \
                    xf.astype(np.float32)
                _, row["keras_onnx"] = _rate(session.run, xs, fast_events, repeats=3)
                row["keras_onnx_of"] = "float model" if float_model is not None else "Keras model"
            except Exception as exc:  # noqa: BLE001 (reported in the row)
                row["keras_onnx_error"] = str(exc).splitlines()[0][:200]
            if reference.float_mode:
                session = Session(export_bitexact_onnx(spec, Path(tmp) / f"{name}_bx.onnx"),
                                  device="cpu", max_batch=16384)
                onnx_out, row["bitexact_onnx"] = _rate(session.run, xf, fast_events, repeats=3)
                row["exact_onnx"] = exact(onnx_out)
            rows.append(row)
            ratio_onnx = (f"{row['engine_all_threads'] / row['keras_onnx']:.0%}"
                          if row.get("keras_onnx") else "–")
            print(f"| {name} | {r_csim:,.0f} | {r_keras:,.0f} | {r_ref:,.0f} | "
                  f"{row['engine_1_thread']:,.0f} | {row['engine_all_threads']:,.0f} | "
                  f"{row['engine_all_threads'] / r_csim:.0f}x | "
                  f"{row.get('keras_onnx', float('nan')):,.0f} | "
                  f"{row.get('bitexact_onnx', float('nan')):,.0f} | {ratio_onnx} | "
                  f"{row['exact_engine']:,}/{events:,} |", flush=True)
    result = {"events": events, "fast_events": fast_events,
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "rows": rows}
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", action="store_true",
                        help="every model of the test zoo instead of --model")
    parser.add_argument("--model", default=None, help="QKeras .h5 model (from triginfer train)")
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="events (with --zoo: per model through C-sim, checked for exactness)")
    parser.add_argument("--fast-events", type=int, default=200_000,
                        help="with --zoo: events timed through Keras, the emulators and ONNX "
                        "(the --events events repeated)")
    parser.add_argument("--default-model", action="append", default=[], metavar="KIND:H5",
                        help="with --zoo: also a trained model (dnn:runs/default/train/"
                        "dnn_quantized.h5); its float model is the file named *_float.h5 beside")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--io-type", default="io_parallel")
    parser.add_argument("--out", default=None, help="JSON results file")
    parser.add_argument("--kind", default="dnn", choices=["dnn", "cnn"],
                        help="the model's feature set: dnn (engineered) or cnn (stations)")
    args = parser.parse_args()
    if args.zoo:
        defaults = []
        for item in args.default_model:
            kind, path = item.split(":", 1)
            defaults.append((kind, path, path.replace("_quantized", "_float")))
        zoo(args.events, args.fast_events, args.out, defaults)
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
    emulator.predict(x[:10_000])  # warm-up (the numpy path below 20k events)
    emulator.generated_engine()   # the generated engine built (or loaded) outside the timing
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
