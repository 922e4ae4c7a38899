"""Device run: the generated engine (threads 1..N) vs float and bit-exact ONNX Runtime (CPU)."""
import ctypes, json, os, platform, subprocess, sys, time
import numpy as np
import onnxruntime as ort

here = os.path.dirname(os.path.abspath(__file__))
out_dir = os.environ.get("OUT", "/tmp")
flags = open(os.path.join(here, "flags.txt")).read().split()
res = {"cpu": subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True,
                             text=True).stdout.strip(), "cores": os.cpu_count(),
       "onnxruntime": ort.__version__, "providers": ort.get_available_providers(),
       "numpy": np.__version__, "gcc": subprocess.run(["gcc", "--version"], capture_output=True,
                                                       text=True).stdout.splitlines()[0]}
N = int(os.environ.get("DEV_EVENTS", 4_000_000))


def best(fn, reps=3):
    b = 1e9
    for _ in range(reps):
        t = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t)
    return b


for name in ("dnn", "cnn"):
    so = f"/tmp/{name}.so"
    subprocess.run(["gcc", *flags, os.path.join(here, f"{name}.c"), "-o", so, "-lm"], check=True)
    lib = ctypes.CDLL(so)
    lib.run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
    x = np.load(os.path.join(here, f"{name}_x.npy"))
    want = np.load(os.path.join(here, f"{name}_want.npy"))

    def engine(xx, threads):
        n = len(xx)
        xx = np.ascontiguousarray(xx.reshape(n, -1))
        o = np.empty((n, want.shape[1]), np.int64)
        lib.run((ctypes.c_void_p * 1)(xx.ctypes.data), (ctypes.c_void_p * 1)(o.ctypes.data), n,
                threads)
        return o
    r = {"exact_100k": int(np.all(engine(x, 4) == want, axis=1).sum())}
    big = np.concatenate([x] * (N // len(x)))
    for th in (1, 2, 4, 8, 16):
        if th <= os.cpu_count():
            r[f"engine_{th}_threads"] = N / best(lambda: engine(big, th))
    opts = ort.SessionOptions()
    for kind, xin in (("float", big.astype(np.float32)), ("bitexact", big)):
        s = ort.InferenceSession(os.path.join(here, f"{name}_{'bx' if kind == 'bitexact' else 'float'}.onnx"),
                                 opts, providers=["CPUExecutionProvider"])
        iname = s.get_inputs()[0].name

        def run(xin=xin, s=s, iname=iname):
            return [s.run(None, {iname: xin[i:i + 16384]})[0] for i in range(0, len(xin), 16384)]
        run()
        r[f"ort_{kind}_cpu"] = N / best(run)
        if kind == "bitexact":
            got = np.concatenate(run()[: -(-100_000 // 16384)])[:100_000].reshape(100_000, -1)
            r["bitexact_exact_100k"] = int(np.all(got == np.load(os.path.join(here, f"{name}_bx_want.npy")), axis=1).sum())
    res[name] = r
    print(name, json.dumps(r), flush=True)
json.dump(res, open(os.path.join(out_dir, "device.json"), "w"), indent=1)
print(json.dumps({k: v for k, v in res.items() if k not in ("dnn", "cnn")}))
