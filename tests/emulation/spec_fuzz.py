"""FirmwareSpec fuzzing: mutations of real specs, and the worker process that runs each one.

A mutation edits the spec's JSON or its NPZ arrays the way a corrupt download, a hand edit
or a hostile collaborator would: a field deleted, a type string replaced (huge widths too),
a shape or parameter changed, an array's values, dtype or shape edited, a layer's input
rewired, its kind swapped. :func:`apply` writes the mutated directory.

The worker (``python -m tests.emulation.spec_fuzz``) reads one directory per line and runs
it through what a user would: ``FirmwareSpec.load``, the emulator with the generated C
engine on (every call), the numpy reference, and the bit-exact ONNX export run in ONNX
Runtime. It answers one JSON line: ``refused`` (a one-line triginfer error, at which
stage), ``exact`` (engine == numpy reference == ONNX, or an explicit refusal of one of
them), ``mismatch`` or ``unexpected`` (a Python exception that is not a triginfer error:
a bug). A crash or a hang of the worker is seen by the parent (:class:`Pool`).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

JSON_NAME, NPZ_NAME = "firmware_spec.json", "firmware_spec.npz"
KINDS_EXTRA = ("bogus", "", "input", "dense", "relu", "softmax", "conv2d", "merge", "reshape")
TYPES = ("fixed<16,6>", "ufixed<8,3,RND_CONV,SAT>", "fixed<1,1>", "ufixed<1,0>", "fixed<0,0>",
         "fixed<64,32>", "fixed<65,40>", "fixed<128,64,RND,SAT>", "fixed<4096,2048>",
         "fixed<100000,5>", "fixed<8,-20>", "fixed<8,200>", "fixed<-3,1>", "banana", "",
         "fixed<8,3,RND_CONV,SAT_SYM>", "ufixed<32,0,RND_ZERO,WRAP>", "fixed<18,8,RND_INF>",
         "int<8>", "uint<12>", "ap_fixed<16,6>", "fixed<16,6,BOGUS,SAT>")


def _nodes(doc: Any, out: list | None = None) -> list[tuple[Any, Any]]:
    """Every (container, key) of a JSON tree, depth first."""
    out = [] if out is None else out
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(
        doc, list) else ()
    for key, value in items:
        out.append((doc, key))
        _nodes(value, out)
    return out


def _type_slots(doc: dict) -> list[tuple[dict, str]]:
    slots = [(layer["types"], k) for layer in doc.get("layers", []) if isinstance(layer, dict)
             and isinstance(layer.get("types"), dict) for k in layer["types"]]
    return slots + [(doc, k) for k in ("input_type", "output_type") if k in doc]


def _layers(doc: dict) -> list[dict]:
    return [layer for layer in doc.get("layers", []) if isinstance(layer, dict)]


def mutate(doc: dict, arrays: dict[str, np.ndarray], mutation: tuple) -> None:
    """Apply one mutation (a tuple drawn by the test's hypothesis strategy) in place."""
    what, index, *args = mutation
    layers = _layers(doc)
    if what == "delete":
        nodes = _nodes(doc)
        container, key = nodes[index % len(nodes)]
        del container[key]
    elif what == "type":
        slots = _type_slots(doc)
        if slots:
            container, key = slots[index % len(slots)]
            container[key] = args[0]
    elif what == "shape" and layers:
        layer = layers[index % len(layers)]
        layer["input_shape" if args[0] else "output_shape"] = list(args[1])
    elif what == "param" and layers:
        layer = layers[index % len(layers)]
        params = layer.setdefault("params", {})
        if isinstance(params, dict):
            keys = sorted(params) or ["n_in"]
            params[keys[args[0] % len(keys)]] = args[1]
    elif what == "kind" and layers:
        layers[index % len(layers)]["kind"] = args[0]
    elif what == "rewire" and layers:
        layer = layers[index % len(layers)]
        names = [x.get("name") for x in layers] + ["nowhere"]
        layer["inputs"] = [names[args[0] % len(names)]] * (1 + args[1] % 2)
    elif what == "outputs" and layers:
        names = [x.get("name") for x in layers] + ["nowhere"]
        doc["outputs"] = [names[args[0] % len(names)]]
    elif what == "array" and arrays:
        key = sorted(arrays)[index % len(arrays)]
        array = arrays[key]
        how, value = args
        if how in ("value", "scale") and array.dtype.kind not in "biuf":
            return                          # an earlier mutation made it text: leave it
        if how == "value" and array.size:
            flat = array.astype(np.float64).reshape(-1)
            flat[value[0] % flat.size] = float(value[1])
            exact_int = isinstance(value[1], int) and abs(value[1]) < 2**62
            arrays[key] = flat.reshape(array.shape).astype(
                array.dtype if exact_int else np.float64)
        elif how == "dtype":
            arrays[key] = array.astype(value) if value != "str" else array.astype(str)
        elif how == "truncate":
            arrays[key] = array.reshape(-1)[: value[0] % (array.size + 1)]
        elif how == "reshape" and array.size > 1:
            arrays[key] = array.reshape(-1)
        elif how == "drop":
            del arrays[key]
        elif how == "scale":
            arrays[key] = array * value[0]
    elif what == "setting":
        doc.setdefault("settings", {})[str(args[0])] = args[1]


def apply(base: Path, mutations: list[tuple], out: Path) -> Path:
    """Write ``base`` (a spec directory) with ``mutations`` applied to ``out``."""
    doc = json.loads((base / JSON_NAME).read_text())
    with np.load(base / NPZ_NAME) as npz:
        arrays = {k: npz[k] for k in npz.files}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")          # casts that overflow are the point
        for mutation in mutations:
            mutate(doc, arrays, mutation)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / JSON_NAME).write_text(json.dumps(doc))
    np.savez(out / NPZ_NAME, **arrays)
    return out


# --- the worker ----------------------------------------------------------------------------------
def _one_line(exc: BaseException) -> str | None:
    text = str(exc)
    return text if text.strip() and "\n" not in text.strip() else None


def run_one(directory: Path, events: int = 300) -> dict[str, Any]:
    """Load, emulate (engine on, and the numpy reference), export and run the bit-exact ONNX."""
    from triginfer.emulation import Emulator
    from triginfer.emulation.files import inputs_for
    from triginfer.errors import TrigInferError
    from triginfer.hls_export import FirmwareSpec

    stage = "load"
    try:
        spec = FirmwareSpec.load(directory)
        stage = "emulate"
        x = inputs_for(spec, None, events)
        x = x if len(x) > 1 else x[0]
        engine = Emulator(spec, threads=1, engine_min_events=1)
        got = engine.predict(x)
        used = engine.engine_reason == ""
        want = Emulator(spec, threads=1, compiled=False).predict(x)
        got_l, want_l = (v if isinstance(v, list) else [v] for v in (got, want))
        if any(not np.array_equal(g, w) for g, w in zip(got_l, want_l, strict=True)):
            return {"outcome": "mismatch", "stage": "engine vs numpy reference"}
        stage = "export-onnx"
        from triginfer.gpu_runtime import Session, export_bitexact_onnx

        try:
            onnx = Session(export_bitexact_onnx(spec, directory / "bx.onnx"), device="cpu",
                           threads=1, warmup=False).run(x)
        except TrigInferError as exc:
            if _one_line(exc) is None:
                return {"outcome": "unexpected", "stage": stage, "message": repr(exc)[:300]}
            return {"outcome": "exact", "engine": used, "onnx": "refused"}
        onnx_l = onnx if isinstance(onnx, list) else [onnx]
        if any(not np.array_equal(o, w) for o, w in zip(onnx_l, want_l, strict=True)):
            return {"outcome": "mismatch", "stage": "bit-exact ONNX vs emulator"}
        return {"outcome": "exact", "engine": used, "onnx": "exact",
                "trivial": bool(all(np.std(w) == 0 for w in want_l))}
    except TrigInferError as exc:
        if _one_line(exc) is None:
            return {"outcome": "unexpected", "stage": stage, "message": repr(exc)[:300]}
        return {"outcome": "refused", "stage": stage, "message": str(exc)[:300]}
    except Exception as exc:   # a bug: every user-caused problem is a triginfer error
        return {"outcome": "unexpected", "stage": stage,
                "message": f"{type(exc).__name__}: {str(exc)[:300]}"}


def _worker() -> None:
    import resource

    # a runaway allocation is a MemoryError here, not the machine's OOM killer
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    for line in sys.stdin:
        result = run_one(Path(line.strip()))
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


class Pool:
    """``n`` worker processes; a worker that dies (signal) or overruns ``timeout`` is counted as
    a crash or a hang of the task it was running, and replaced."""

    def __init__(self, n: int, timeout: float = 120.0) -> None:
        self.n, self.timeout = n, timeout
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
                    "TF_CPP_MIN_LOG_LEVEL": "3",
                    "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        self.procs = [self._spawn() for _ in range(n)]

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "tests.emulation.spec_fuzz"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, env=self.env)

    def map(self, directories: list[Path]) -> list[dict]:
        """Run every directory; results in order."""
        results: list[dict | None] = [None] * len(directories)
        todo = list(enumerate(directories))[::-1]
        busy: dict[int, tuple[int, float]] = {}     # worker slot -> (task, start)
        selector = selectors.DefaultSelector()
        while todo or busy:
            for slot, proc in enumerate(self.procs):
                if slot not in busy and todo:
                    task, directory = todo.pop()
                    proc.stdin.write(f"{directory}\n")
                    proc.stdin.flush()
                    busy[slot] = (task, time.monotonic())
                    selector.register(proc.stdout, selectors.EVENT_READ, slot)
            for key, _ in selector.select(timeout=1.0):
                slot = key.data
                selector.unregister(key.fileobj)
                task, _ = busy.pop(slot)
                line = self.procs[slot].stdout.readline()
                if line:
                    results[task] = json.loads(line)
                else:                                   # the worker died on this task
                    code = self.procs[slot].wait()
                    results[task] = {"outcome": "crash", "returncode": code}
                    self.procs[slot] = self._spawn()
            now = time.monotonic()
            for slot, (task, start) in list(busy.items()):
                if now - start > self.timeout:
                    selector.unregister(self.procs[slot].stdout)
                    self.procs[slot].kill()
                    self.procs[slot].wait()
                    results[task] = {"outcome": "hang", "seconds": now - start}
                    busy.pop(slot)
                    self.procs[slot] = self._spawn()
        return [r if r is not None else {"outcome": "lost"} for r in results]

    def close(self) -> None:
        for proc in self.procs:
            proc.stdin.close()
            proc.wait(timeout=30)


if __name__ == "__main__":
    _worker()
