"""On another machine: the generated engine (1..16 threads) vs the float and bit-exact ONNX
graphs in ONNX Runtime (CPU, batch 16384), from a directory written by device_prepare.py.
Needs only gcc, numpy and onnxruntime::

    python3 device_engine_vs_ort.py .devwork        # results in $OUT/device.json

The engine's first 100,000 events and the bit-exact graph's are checked against the
reference emulator's answers computed on the preparing machine.
"""

import ctypes
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

BATCH = 16384


def best(fn, reps: int = 3) -> float:
    """The shortest of ``reps`` timed calls, in seconds."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def engine_runner(lib, width: int):
    def run(x: np.ndarray, threads: int) -> np.ndarray:
        n = len(x)
        x = np.ascontiguousarray(x.reshape(n, -1))
        out = np.empty((n, width), np.int64)
        lib.run((ctypes.c_void_p * 1)(x.ctypes.data), (ctypes.c_void_p * 1)(out.ctypes.data),
                n, threads)
        return out
    return run


def main() -> None:
    here = Path(sys.argv[1] if len(sys.argv) > 1 else ".devwork")
    n_events = int(os.environ.get("DEV_EVENTS", 4_000_000))
    flags = (here / "flags.txt").read_text().split()
    lscpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True,
                           text=True).stdout.strip()
    res = {"cpu": lscpu, "cores": os.cpu_count(), "onnxruntime": ort.__version__,
           "providers": ort.get_available_providers(), "numpy": np.__version__,
           "gcc": subprocess.run(["gcc", "--version"], capture_output=True,
                                 text=True).stdout.splitlines()[0], "events": n_events}
    names = sorted(p.stem for p in here.glob("*.c"))
    for name in names:
        so = f"/tmp/{name}.so"
        subprocess.run(["gcc", *flags, str(here / f"{name}.c"), "-o", so, "-lm"], check=True)
        lib = ctypes.CDLL(so)
        lib.run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
        x = np.load(here / f"{name}_x.npy")
        want = np.load(here / f"{name}_want.npy")
        engine = engine_runner(lib, want.shape[1])
        r = {"exact_100k": int(np.all(engine(x, 4) == want, axis=1).sum())}
        big = np.concatenate([x] * (n_events // len(x)))
        for threads in (1, 2, 4, 8, 16):
            if threads <= (os.cpu_count() or 1):
                r[f"engine_{threads}_threads"] = len(big) / best(
                    lambda threads=threads, engine=engine, big=big: engine(big, threads))
        for kind, xin in (("float", big.astype(np.float32)), ("bitexact", big)):
            path = here / f"{name}_{'bx' if kind == 'bitexact' else 'float'}.onnx"
            if not path.exists():
                continue
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            iname = session.get_inputs()[0].name

            def run(xin=xin, session=session, iname=iname):
                return [session.run(None, {iname: xin[i:i + BATCH]})[0]
                        for i in range(0, len(xin), BATCH)]
            got = run()
            r[f"ort_{kind}_cpu"] = len(big) / best(run)
            if kind == "bitexact":
                got = np.concatenate(got)[:len(x)].reshape(len(x), -1)
                want_bx = np.load(here / f"{name}_bx_want.npy")
                r["bitexact_exact_100k"] = int(np.all(got == want_bx, axis=1).sum())
        res[name] = r
        print(name, json.dumps(r), flush=True)
    Path(os.environ.get("OUT", "/tmp"), "device.json").write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k not in names}))


if __name__ == "__main__":
    main()
