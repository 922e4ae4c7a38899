"""The HGQ2 acceptance path, through the commands a user types: export-hls --compile on a
model with QConv2D, QConv1D, pooling, QBatchNormalization, QEinsumDense, QDense, QSoftmax
and per-value widths, then ``emulate`` on a ROOT file and on ``.npy`` (100k events each):
the engine's outputs == the C simulation == da4ml's comb.predict."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from tests.keras3.conftest import build_models

pytestmark = pytest.mark.slow
EVENTS = 100_000


@pytest.fixture(scope="module")
def flagship(tmp_path_factory):
    root = tmp_path_factory.mktemp("flagship")
    return build_models(root / "models", ["flagship"])["flagship"], root


def test_flagship_export_emulate_root_and_npy(flagship, cli):
    from triginfer.api import Firmware
    from triginfer.hls_export.keras3 import da4ml_predict

    model, root = flagship
    fw_dir = root / "fw"
    r = cli("export-hls", "--model", model, "--out", fw_dir, "--compile", "--check-events",
            "3000", "--columns", "cells")
    assert r.code == 0, r.err
    assert "Keras 3 front end" in r.out
    assert "emulator == C-sim on 3000" in r.out, r.out
    assert "da4ml comb.predict == C-sim on 3000" in r.out, r.out
    fw = Firmware(fw_dir)
    assert fw.emulator.generated_engine() is not None, "the engine was not used"
    assert any(layer.kind == "fixed_quantizer" and len(np.unique(layer.arrays["mask_b"])) > 3
               for layer in fw.spec.layers)

    # 100k events of a jagged branch (90..160 cells: padded with zeros or cut to 128)
    rng = np.random.default_rng(3)
    t = fw.spec.input_layers[0].fixed("result")
    lengths = rng.integers(90, 160, EVENTS)
    values = rng.uniform(t.min_value * 1.2, t.max_value * 1.2, int(lengths.sum()))
    cells = ak.unflatten(values, lengths)
    with uproot.recreate(root / "cells.root") as f:
        f["events"] = {"cells": cells}
    x = ak.to_numpy(ak.fill_none(ak.pad_none(cells, 128, clip=True), 0.0)).astype(np.float64)
    np.save(root / "cells.npy", x)

    csim = np.asarray(fw.csim(x))
    ref, _ = da4ml_predict(model, x, str(t), threads=2)
    assert np.array_equal(ref.reshape(csim.shape), csim), \
        f"da4ml != C-sim on {int(np.any(ref.reshape(csim.shape) != csim, axis=1).sum())} events"
    assert len(np.unique(np.argmax(csim, axis=1))) == 5
    assert csim.std(axis=0).min() > 0

    for source, extra in ((root / "cells.root", ["--tree", "events"]), (root / "cells.npy", [])):
        out = root / f"out_{source.suffix[1:]}.npy"
        r = cli("emulate", "--firmware", fw_dir, "--input", source, "--out", out, *extra)
        assert r.code == 0, r.err
        table = np.load(out)
        emulated = np.stack([table[f"output_{j}"] for j in range(csim.shape[1])], axis=1)
        assert len(emulated) == EVENTS
        assert np.array_equal(table["event"], np.arange(EVENTS))
        bad = int(np.any(emulated != csim, axis=1).sum())
        assert bad == 0, f"{source.name}: emulator != C-sim on {bad} events"
