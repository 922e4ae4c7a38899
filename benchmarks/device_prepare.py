"""Prepare a standalone engine-vs-ONNX-Runtime run for another machine (the `device` GPU
machine of this workplace: 16 cores, a different numpy, no TensorFlow).

Writes, for each ``NAME=FIRMWARE_DIR:FLOAT_H5``: the generated engine's C source, 100,000
events and the reference emulator's answers, the float model's ONNX and the bit-exact ONNX
graph, plus the compiler flags. ``device_engine_vs_ort.py DIR`` then compiles and times it
there with nothing but gcc, numpy and onnxruntime::

    .venv/bin/python benchmarks/device_prepare.py --out .devwork \\
        dnn=runs/default/firmware/dnn:runs/default/train/dnn_float.h5 \\
        cnn=/tmp/cnn_fw:runs/cnn/train/cnn_float.h5
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".devwork")
    ap.add_argument("models", nargs="+", metavar="NAME=FIRMWARE[:FLOAT_H5]")
    args = ap.parse_args()

    from triginfer.emulation import Emulator
    from triginfer.emulation.compiled import FLAGS, _Gen
    from triginfer.emulation.program import build_program
    from triginfer.firmware.spec import FirmwareSpec
    from triginfer.gpu_runtime import export_bitexact_onnx, export_onnx
    from triginfer.trigger_models.training import load_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for item in args.models:
        name, rest = item.split("=", 1)
        firmware, _, float_h5 = rest.partition(":")
        spec = FirmwareSpec.load(firmware)
        emu = Emulator(spec, compiled=False)
        program, arrays = build_program(spec, emu, engine=True)
        gen = _Gen(program, arrays, emu)
        (out / f"{name}.c").write_text(gen.source()[0])
        if gen.external:
            raise SystemExit(f"{name}: tables handed over at load time; not supported here")
        rng = np.random.default_rng(7)
        x = rng.normal(0, 2, (100_000, *spec.input_shapes[0]))
        x[:10_000] *= 5
        lsb = emu.result_type(spec.inputs[0]).lsb                 # exact ties of the input
        x[10_000:40_000] = (rng.integers(-1000, 1000, x[10_000:40_000].shape) + 0.5) * lsb
        np.save(out / f"{name}_x.npy", x)
        np.save(out / f"{name}_want.npy", emu.predict_mantissa(x))
        np.save(out / f"{name}_bx_want.npy", emu.predict(x))
        export_bitexact_onnx(spec, out / f"{name}_bx.onnx")
        if float_h5:
            export_onnx(load_model(float_h5), out / f"{name}_float.onnx")
    (out / "flags.txt").write_text(" ".join(FLAGS))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
