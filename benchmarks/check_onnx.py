"""ONNX exactness over many events: bit-exact graph vs emulator, QKeras ONNX vs QKeras,
float ONNX vs Keras (max absolute and relative difference).

    .venv/bin/python benchmarks/check_onnx.py --run runs/dnn --model dnn --events 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from triginfer.emulation.files import FEATURE_SETS, spec_feature_set

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory of `triginfer run`")
    parser.add_argument("--model", required=True, help="model name in the config")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    from triginfer.emulation import Emulator
    from triginfer.features import has_track
    from triginfer.gpu_runtime import Session, export_bitexact_onnx, export_onnx
    from triginfer.hls_export import FirmwareSpec
    from triginfer.simulation import simulate_muons
    from triginfer.trigger_models.training import load_model, predict
    from triginfer.trigger_models.workflow import model_inputs

    run = Path(args.run)
    spec = FirmwareSpec.load(run / "firmware" / args.model)
    kind = FEATURE_SETS[spec_feature_set(spec)][0]
    sample = simulate_muons(int(args.events * 1.001) + 100, args.seed)
    x = model_inputs(kind, sample.select(has_track(sample)))[: args.events]
    result = {"model": args.model, "events": len(x)}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        bitexact = Session(export_bitexact_onnx(spec, Path(tmp) / "bx.onnx"), device="cpu").run(x)
        result["bitexact_seconds"] = time.perf_counter() - t0
        emulated = Emulator(spec).predict(x)
        result["bitexact_equals_emulator"] = int(np.sum(np.all(bitexact == emulated, axis=1)))
        quantized = load_model(run / "train" / f"{args.model}_quantized.h5")
        q_onnx = Session(export_onnx(quantized, Path(tmp) / "q.onnx"), device="cpu").run(x)
        result["qkeras_onnx_equals_qkeras"] = int(np.sum(np.all(q_onnx == predict(quantized, x),
                                                                axis=1)))
        float_model = load_model(run / "train" / f"{args.model}_float.h5")
        f_onnx = Session(export_onnx(float_model, Path(tmp) / "f.onnx"), device="cpu").run(x)
        keras = predict(float_model, x)
        diff = np.abs(f_onnx - keras)
        result["float_max_abs_diff"] = float(diff.max())
        result["float_max_rel_diff"] = float((diff / np.maximum(np.abs(keras), 1e-3)).max())
        result["float_output_max_abs"] = float(np.abs(keras).max())
        result["float_events_within_1e-6_abs"] = int(np.sum(np.all(diff <= 1e-6, axis=1)))
        result["float_events_equal"] = int(np.sum(np.all(diff == 0, axis=1)))
        import onnx

        result["float_export"] = ("keras-order" if onnx.load(str(Path(tmp) / "f.onnx"))
                                  .producer_name == "triginfer-keras-order" else "tf2onnx")
        t_out = Session(export_onnx(float_model, Path(tmp) / "t.onnx", method="tf2onnx"),
                        device="cpu").run(x)
        result["tf2onnx_float_max_abs_diff"] = float(np.abs(t_out - keras).max())
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
