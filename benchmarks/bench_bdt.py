"""BDT emulation throughput: triginfer's bit-exact emulator vs conifer's cpp backend vs xgboost.

For each BDT size (default 20x3, 100x4, 300x6, trained on the toy's engineered muon features),
in one run on the same events: xgboost's float ``predict`` (all cores), conifer's ``cpp``
backend (its C++ emulation called per event through pybind11; on a subset, it is slow), the
emulator's numpy walk and its compiled walk (1 thread and all threads). Exact-match counts of
the emulator against conifer on the subset. Writes JSON.

    python benchmarks/bench_bdt.py --events 1000000 --conifer-events 20000 \
        --out benchmarks/results/bdt.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _rate(fn, n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--conifer-events", type=int, default=20_000)
    p.add_argument("--sizes", default="20x3,100x4,300x6", help="TREESxDEPTH,...")
    p.add_argument("--out", default="benchmarks/results/bdt.json")
    args = p.parse_args(argv)

    import xgboost as xgb

    from triginfer.emulation.bdt import BdtEmulator
    from triginfer.features import has_track
    from triginfer.hls_export.bdt import MUON_INPUT_TYPE, conifer_model, from_xgboost
    from triginfer.simulation import simulate_muons
    from triginfer.trigger_models.workflow import model_inputs, target

    train = simulate_muons(250_000, 1)
    train = train.select(has_track(train))
    x_tr, y_tr = model_inputs("dnn", train), target(train)
    test = simulate_muons(int(args.events * 1.01) + 1000, 2)
    x = model_inputs("dnn", test.select(has_track(test)))[:args.events]
    xd = x.astype(np.float64)
    rows = []
    cores = os.cpu_count()
    for size in args.sizes.split(","):
        trees, depth = (int(v) for v in size.split("x"))
        model = xgb.XGBRegressor(n_estimators=trees, max_depth=depth, learning_rate=0.3,
                                 tree_method="hist", n_jobs=cores, random_state=1)
        model.fit(x_tr, y_tr)
        spec = from_xgboost(model, input_type=MUON_INPUT_TYPE)
        row = {"trees": trees, "depth": depth, "events": len(x), "score_type": str(
            spec.precision.score)}
        row["xgboost_predict"] = _rate(lambda model=model: model.predict(x), len(x))
        emu = BdtEmulator(spec)
        emu1 = BdtEmulator(spec, threads=1)
        row["emulator_compiled_all_threads"] = _rate(lambda emu=emu: emu.predict(xd), len(x))
        row["emulator_compiled_1_thread"] = _rate(lambda emu1=emu1: emu1.predict(xd), len(x))
        n_np = min(len(x), 200_000)
        row["emulator_numpy"] = _rate(lambda emu=emu, n_np=n_np: emu.predict(xd[:n_np], compiled=False),
                                      n_np, repeat=1)
        nc = min(args.conifer_events, len(x))
        with tempfile.TemporaryDirectory() as tmp:
            model_c = conifer_model(spec, Path(tmp) / "cpp", backend="cpp", raw_values=True)
            t0 = time.perf_counter()
            model_c.compile()
            row["conifer_compile_s"] = round(time.perf_counter() - t0, 1)
            box = {}

            def run_conifer(m=model_c, box=box, nc=nc):
                box["ref"] = np.asarray(m.decision_function(xd[:nc])).reshape(nc, -1)

            row["conifer_cpp"] = _rate(run_conifer, nc, repeat=1)
            ref = box["ref"]
        seq = BdtEmulator(spec, summation="sequential").predict(xd[:nc])
        row["conifer_events"] = nc
        row["emulator_equals_conifer"] = int(np.sum(seq[:, 0] == ref[:, 0]))
        row["emulator_vs_conifer"] = row["emulator_compiled_all_threads"] / row["conifer_cpp"]
        row["emulator_vs_xgboost"] = row["emulator_compiled_all_threads"] / row["xgboost_predict"]
        rows.append(row)
        print(f"{trees:4d}x{depth}: xgboost {row['xgboost_predict']:,.0f}/s, emulator "
              f"{row['emulator_compiled_all_threads']:,.0f}/s ({row['emulator_compiled_1_thread']:,.0f}"
              f" on 1 thread, numpy {row['emulator_numpy']:,.0f}), conifer cpp "
              f"{row['conifer_cpp']:,.0f}/s; emulator/conifer {row['emulator_vs_conifer']:.0f}x, "
              f"emulator/xgboost {row['emulator_vs_xgboost']:.2f}; == conifer "
              f"{row['emulator_equals_conifer']}/{nc}", flush=True)
    out = {"machine": {"cores": cores, "cpu": platform.processor() or platform.machine(),
                       "python": sys.version.split()[0]},
           "xgboost": xgb.__version__, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
