import os, sys, warnings, numpy as np
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"; warnings.filterwarnings("ignore")
from pathlib import Path
from triginfer.hls_export.spec import FirmwareSpec
from triginfer.emulation import Emulator
from triginfer.emulation.compiled import _Gen, FLAGS
from triginfer.hls_export.rtl import build_program
from triginfer.gpu_runtime import export_bitexact_onnx, export_onnx
from triginfer.trigger_models.training import load_model
out = Path(".devwork")
for name, fw, float_h5 in [("dnn", "runs/default/firmware/dnn", "runs/default/train/dnn_float.h5"),
                           ("cnn", "/tmp/cnn_fw", "runs/cnn/train/cnn_float.h5")]:
    spec = FirmwareSpec.load(fw)
    emu = Emulator(spec, compiled=False)
    p, a = build_program(spec, emu, engine=True)
    gen = _Gen(p, a, emu)
    src, block, ins, outs = gen.source()
    (out / f"{name}.c").write_text(src)
    rng = np.random.default_rng(7)
    x = rng.normal(0, 2, (100_000, *spec.input_shapes[0]))
    x[:10000] *= 5
    np.save(out / f"{name}_x.npy", x)
    np.save(out / f"{name}_want.npy", emu.predict_mantissa(x))
    export_bitexact_onnx(spec, out / f"{name}_bx.onnx")
    export_onnx(load_model(float_h5), out / f"{name}_float.onnx")
    np.save(out / f"{name}_bx_want.npy", emu.predict(x))
(out / "flags.txt").write_text(" ".join(FLAGS))
