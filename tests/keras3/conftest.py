"""The HGQ2 zoo, built and converted once per session in the real Keras 3 environment.

``hgq2_zoo`` builds every model of ``hgq2_zoo.py`` in ``.venv-keras3`` (one subprocess),
converts each with the Keras 3 front end (two at a time: a subprocess each), compiles
their C simulations (two at a time), draws inputs spread over each input type, and runs
da4ml's ``comb.predict`` on all of them in one more subprocess. Without the environment
the tests skip, naming the make target that builds it (``make test`` builds it).
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
#: events per zoo model (C-sim, emulator, da4ml)
EVENTS = 4000


@dataclass
class ZooModel:
    name: str
    path: Path
    firmware: object          # triginfer.api.Firmware
    x: np.ndarray
    csim: np.ndarray
    da4ml: np.ndarray


def keras3_python() -> Path:
    from triginfer.hls_export.keras3 import Keras3EnvMissing, find_python

    try:
        return find_python()
    except Keras3EnvMissing as exc:
        pytest.skip(str(exc))


def build_models(out: Path, names: list[str] | None = None) -> dict[str, Path]:
    python = keras3_python()
    done = subprocess.run([str(python), str(HERE / "hgq2_zoo.py"), str(out), *(names or [])],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return {k: Path(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def build_onnx_models(out: Path, names: list[str] | None = None) -> dict[str, dict]:
    python = keras3_python()
    done = subprocess.run([str(python), str(HERE / "qonnx_zoo.py"), str(out), *(names or [])],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def qonnx_zoo(tmp_path_factory) -> dict[str, ZooModel]:
    """Every QONNX / float ONNX zoo model converted and its C simulation run (2 at a time)."""
    from triginfer.api import Firmware
    from triginfer.emulation.files import inputs_for
    from triginfer.hls_export.qonnx import convert_file

    root = tmp_path_factory.mktemp("qonnx_zoo")
    files = {k: Path(v["path"]) for k, v in build_onnx_models(root / "models").items()}

    def one(name):
        fw = Firmware(convert_file(files[name], root / "fw" / name))
        x = inputs_for(fw.spec, None, EVENTS, seed=13)[0]
        return ZooModel(name, files[name], fw, x, np.asarray(fw.csim(x)), None)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(files, pool.map(one, files), strict=True))


@pytest.fixture(scope="session")
def hgq2_zoo(tmp_path_factory) -> dict[str, ZooModel]:
    from triginfer.api import Firmware
    from triginfer.emulation.files import inputs_for
    from triginfer.hls_export.keras3 import convert_file, da4ml_predict_many

    root = tmp_path_factory.mktemp("hgq2_zoo")
    files = build_models(root / "models")
    with ThreadPoolExecutor(2) as pool:
        firmware = dict(zip(files, pool.map(
            lambda item: Firmware(convert_file(item[1], root / "fw" / item[0])),
            files.items()),
            strict=True))
        xs = {name: inputs_for(fw.spec, None, EVENTS, seed=11)[0]
              for name, fw in firmware.items()}
        csims = dict(zip(firmware, pool.map(lambda n: firmware[n].csim(xs[n]), firmware),
                         strict=True))
    refs = da4ml_predict_many([(files[n], xs[n], str(firmware[n].spec.input_layers[0]
                                                     .fixed("result"))) for n in firmware])
    return {n: ZooModel(n, files[n], Firmware(firmware[n].directory), xs[n], csims[n],
                        refs[k][0]) for k, n in enumerate(firmware)}
