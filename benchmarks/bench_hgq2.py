"""triginfer's engine vs da4ml's ``comb.predict`` (HGQ2's bit-exact reference) on HGQ2 models:
the same events, the same thread counts, one run side by side.

    .venv/bin/python benchmarks/bench_hgq2.py --events 1000000 --threads 1 2 \
        --out benchmarks/results/hgq2_engine_vs_da4ml.json

Builds the zoo models named by ``--models`` (tests/keras3/hgq2_zoo.py, in .venv-keras3),
converts each with the Keras 3 front end, then per model and thread count: the engine's
events/s (best of ``--repeats``, after one warm call), da4ml's (its own timer around
``comb.predict``, in the Keras 3 environment, best of ``--repeats``), and whether the two
outputs are equal on every event (``==`` on full arrays). Needs ``make keras3-env``.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_MODELS = ("flagship", "conv2d_softmax", "wide_mlp", "einsum_3d", "dense_relu")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=str(REPO / "benchmarks/results/hgq2_engine_vs_da4ml.json"))
    args = p.parse_args(argv)

    from tests.keras3.conftest import build_models
    from triginfer.api import Firmware
    from triginfer.emulation import Emulator
    from triginfer.emulation.files import inputs_for
    from triginfer.hls_export.keras3 import convert_file, da4ml_predict_many

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-hgq2-") as tmp:
        files = build_models(Path(tmp) / "models", list(args.models))
        for name in args.models:
            fw = Firmware(convert_file(files[name], Path(tmp) / "fw" / name))
            t = fw.spec.input_layers[0].fixed("result")
            x = inputs_for(fw.spec, None, args.events, seed=5)[0]
            x = t.to_float(t.quantize(x))
            for threads in args.threads:
                emu = Emulator(fw.spec, threads=threads)
                emu.predict(x[:1000])
                assert emu.generated_engine() is not None, emu.engine_reason
                best = np.inf
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    y = np.asarray(emu.predict(x))
                    best = min(best, time.perf_counter() - t0)
                y_d, info = da4ml_predict_many([(files[name], x, str(t))], threads=threads,
                                               repeats=args.repeats)[0]
                d_best = info["predict_s"]
                y_d = y_d.reshape(len(x), -1)
                equal = bool(np.array_equal(y.reshape(y_d.shape), y_d))
                rows.append({"model": name, "threads": threads, "events": int(len(x)),
                             "layers": len(fw.spec.layers),
                             "engine_events_per_s": len(x) / best,
                             "da4ml_events_per_s": len(x) / d_best,
                             "speedup": d_best / best, "engine_equals_da4ml": equal})
                print(f"{name:20s} threads {threads}: engine {len(x) / best:12,.0f} ev/s, "
                      f"da4ml {len(x) / d_best:12,.0f} ev/s, x{d_best / best:6.1f}, "
                      f"outputs equal: {equal}", flush=True)
    result = {"command": "python benchmarks/bench_hgq2.py " + " ".join(argv or sys.argv[1:]),
              "machine": {"cpu": platform.processor() or platform.machine(),
                          "cores": os.cpu_count()},
              "date": time.strftime("%Y-%m-%d"), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
