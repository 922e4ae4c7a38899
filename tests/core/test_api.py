"""The Python API: the README's quick start runs as written, and the API's conventions."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.conftest import REPO


def _readme_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Python quick start"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_readme_example(), "README.md", "exec"), namespace)   # noqa: S102
    check, est, y = namespace["check"], namespace["est"], namespace["y"]
    assert check.exact, check.mismatching_events
    assert check.events == 20_000
    assert y.shape == (20_000, 1)
    assert np.std(y) > 0.01
    assert est.latency_cycles >= 1
    assert (tmp_path / "fw_example" / "bitexact.onnx").is_file()
    from triginfer.gpu_runtime import Session

    onnx = Session(namespace["onnx_path"], device="cpu").run(namespace["x"])
    assert np.array_equal(onnx, y)
    # a loaded directory gives the same, without the converted model in memory
    import triginfer

    again = triginfer.load(tmp_path / "fw_example")
    assert np.array_equal(again.emulate(namespace["x"]), y)
    assert np.array_equal(again.csim(namespace["x"][:500]), check.csim[:500])
    assert "True 20000 of 20000" in capsys.readouterr().out


@pytest.mark.slow
def test_several_outputs_come_back_as_a_dict(tmp_path):
    """A two-input, two-output firmware: dict out (by output name), list or dict in; the C
    simulation of the directory equals the emulator."""
    import triginfer
    from tests.zoo import GRAPH_ZOO, build_graph, graph_config, graph_inputs

    entry = next(e for e in GRAPH_ZOO if e.name == "two_inputs_two_outputs")
    model = build_graph(entry)
    fw = triginfer.convert(model, tmp_path / "fw",
                           triginfer.FirmwareConfig(hls_config=graph_config(model, entry)))
    x = graph_inputs(model, entry, 3000)
    out = fw.emulate(x)
    assert isinstance(out, dict)
    assert sorted(out) == sorted(fw.spec.outputs)
    by_name = fw.emulate(dict(zip(fw.spec.inputs, x, strict=True)))
    assert all(np.array_equal(out[k], by_name[k]) for k in out)
    check = triginfer.compare(fw, x)
    assert check.exact, check.mismatching_events
    assert all(np.std(v) > 0 for v in out.values())
    # triginfer's own build of the C simulation equals hls4ml's compile()/predict()
    fw._converted.compile()
    hls4ml_csim = fw._converted.csim_predict(x)
    for name, want in zip(fw.spec.outputs, hls4ml_csim, strict=True):
        assert np.array_equal(check.csim[name], want), name


def test_firmware_config_is_validated():
    import triginfer
    from triginfer.errors import ConfigError

    with pytest.raises(ConfigError, match="reuse_factor"):
        triginfer.FirmwareConfig(reuse_factor=0)
    with pytest.raises(ConfigError, match="io_type"):
        triginfer.FirmwareConfig(io_type="io_banana")
    with pytest.raises(AttributeError):
        _ = triginfer.no_such_thing
