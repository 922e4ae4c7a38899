"""The PyTorch front end's zoo (``pytorch_zoo.py``): every model converted by
``convert_module`` with hls4ml's defaults, C simulations compiled in parallel once, and the
emulator (the generated engine) == C-sim on full arrays, on inputs whose outputs vary."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("torch", reason="needs the 'pytorch' extra (torch)")

from tests.hls_export.pytorch_zoo import ZOO, build, hls_config  # noqa: E402
from tests.zoo import assert_outputs_equal  # noqa: E402

EVENTS = 10_000


@pytest.fixture(scope="module")
def torch_zoo(tmp_path_factory):
    """name -> firmware (compiled) or the exception its conversion raised."""
    from triginfer.hls_export.pytorch import convert_module

    root = tmp_path_factory.mktemp("torch_zoo")
    built = {}
    for name, (_, _, shape, _) in ZOO.items():
        try:
            module = build(name)
            built[name] = convert_module(module, shape, root / name, name=name,
                                         hls_config=hls_config(name, module))
        except Exception as exc:  # reported by the model's own test
            built[name] = exc

    def compile_one(firmware):
        if not isinstance(firmware, Exception):
            firmware.compile()

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        list(pool.map(compile_one, built.values()))
    return built


def test_the_zoo_has_fifteen_models_or_more():
    assert len(ZOO) >= 15


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_pytorch_zoo_emulator_equals_csim(torch_zoo, name):
    from triginfer.emulation import Emulator

    firmware = torch_zoo[name]
    if isinstance(firmware, Exception):
        raise firmware
    spec = firmware.spec
    kinds = {layer.kind for layer in spec.layers}
    missing = set(ZOO[name][3]) - kinds
    assert not missing, f"{name}: kinds {sorted(kinds)} lack {sorted(missing)}"
    rng = np.random.default_rng(sum(map(ord, name)))
    x = rng.normal(0, 1.5, (EVENTS, *spec.input_shape))
    csim = firmware.csim_predict(x)
    emulator = Emulator(spec, engine_min_events=1)
    got = emulator.predict(x)
    assert emulator.engine_reason == "", emulator.engine_reason      # the generated engine
    assert_outputs_equal(name, got, csim, min_std=0.01)


def test_a_shared_prelu_alpha_is_refused_naming_the_layer(tmp_path):
    """hls4ml 1.3 writes one alpha for ``nn.PReLU()`` while its C++ reads one per input (past
    the end of the array): refused before anything is written, with what to use instead."""
    from torch import nn

    from tests.hls_export.pytorch_zoo import MLP
    from triginfer.errors import UnsupportedModelError
    from triginfer.hls_export.pytorch import convert_module

    module = MLP(act=nn.PReLU(), hidden=(16,)).eval()
    with pytest.raises(UnsupportedModelError, match=r"PReLU.*1 alpha.*num_parameters=16"):
        convert_module(module, (10,), tmp_path / "fw", name="shared_prelu")
    assert not (tmp_path / "fw" / "firmware_spec.json").exists()


def test_default_precision_softmax_warns_that_its_outputs_are_constant(tmp_path):
    """hls4ml's defaults give a float classifier's stable softmax an exp-table index in steps
    of 64: every output 1/n. The conversion says so (and what to change); the edited zoo
    model (narrowed logits) does not warn."""
    import logging

    from triginfer.hls_export.pytorch import convert_module

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("triginfer.firmware.kinds.softmax")
    logger.addHandler(handler)
    try:
        module = build("mlp_softmax")
        convert_module(module, ZOO["mlp_softmax"][2], tmp_path / "default", name="default")
        warned = [r.getMessage() for r in records if "(softmax)" in r.getMessage()]
        assert len(warned) == 1
        assert "steps of 64" in warned[0]
        assert "fixed<12,5,RND,SAT>" in warned[0]
        records.clear()
        convert_module(module, ZOO["mlp_softmax"][2], tmp_path / "edited", name="edited",
                       hls_config=hls_config("mlp_softmax", module))
        assert not [r for r in records if "(softmax)" in r.getMessage()]
    finally:
        logger.removeHandler(handler)
