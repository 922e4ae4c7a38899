"""The float and bit-exact ONNX graphs on the GPU through PyTorch (onnx2torch; the device image's
ONNX Runtime has no CUDA provider): events/s at batch 16384 and 262144, exactness of the
bit-exact graph against the reference emulator's answers (first 100,000 events)."""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from onnx2torch import convert

torch.backends.cuda.matmul.allow_tf32 = False     # IEEE float32 products, as on the CPU
torch.backends.cudnn.allow_tf32 = False
here = Path(sys.argv[1] if len(sys.argv) > 1 else ".devwork")
dev = torch.device("cuda")
res = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
for name in sorted(p.stem for p in here.glob("*.c")):
    x = np.load(here / f"{name}_x.npy")
    r = {}
    for kind in ("float", "bx"):
        path = here / f"{name}_{kind}.onnx"
        if not path.exists():
            continue
        try:
            model = convert(str(path)).to(dev).eval()
        except Exception as exc:  # noqa: BLE001
            r[f"{kind}_error"] = str(exc)[:300]
            continue
        dtype = torch.float32 if kind == "float" else torch.float64
        xt = torch.tensor(x, dtype=dtype, device=dev)
        big = xt.repeat(40, *([1] * (xt.dim() - 1)))            # 4M events
        with torch.no_grad():
            try:
                out = model(xt[:16384])
            except Exception as exc:  # noqa: BLE001
                r[f"{kind}_error"] = str(exc)[:300]
                continue
            if kind == "bx":
                got = torch.cat([model(xt[i:i + 16384]) for i in range(0, len(xt), 16384)])
                want = np.load(here / f"{name}_bx_want.npy")
                r["bx_exact_100k"] = int(np.all(got.cpu().numpy().reshape(want.shape) == want,
                                                axis=1).sum())
            for batch in (16384, 262144):
                for _ in range(2):
                    [model(big[i:i + batch]) for i in range(0, len(big), batch)]
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                [model(big[i:i + batch]) for i in range(0, len(big), batch)]
                torch.cuda.synchronize()
                r[f"{kind}_gpu_batch{batch}"] = len(big) / (time.perf_counter() - t0)
    res[name] = r
    print(name, json.dumps(r), flush=True)
Path(os.environ.get("OUT", "/tmp"), "gpu.json").write_text(json.dumps(res, indent=1))
