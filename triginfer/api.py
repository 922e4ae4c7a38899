"""The Python API: convert a model, then emulate, simulate, estimate and export its firmware.

::

    import triginfer
    fw = triginfer.convert("model.h5", "fw/")            # or a Keras model object
    y = fw.emulate(x)                                     # bit-exact, the generated engine
    report = triginfer.compare(fw, x)                     # emulator vs C simulation
    fw.estimate().latency_ns, fw.export_onnx("m.onnx")

One output convention everywhere: an ndarray ``(n_events, n_values)`` for a firmware with
one output, a dict ``{output name: ndarray}`` for several. Results are dataclasses.
Only :func:`convert` needs a front end (Keras 2 / QKeras: the ``keras2`` extra); a
:class:`Firmware` loaded from a directory needs neither TensorFlow nor hls4ml.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.config import FirmwareConfig
from triginfer.firmware.spec import FirmwareSpec

Outputs = np.ndarray | dict[str, np.ndarray]


@dataclass(frozen=True)
class Estimate:
    """FPGA latency and resources of a firmware (an estimate unless ``source`` says else)."""

    latency_cycles: int
    latency_ns: float
    initiation_interval: int
    resources: dict[str, int]
    not_estimated: list[str]
    within_budget: bool
    checks: list[dict[str, Any]] = field(repr=False)
    layers: list[dict[str, Any]] = field(repr=False)


@dataclass(frozen=True)
class Comparison:
    """The emulator against the C simulation on the same events (``==`` on full arrays)."""

    events: int
    equal_events: int
    mismatching_events: list[int]
    emulator: Outputs = field(repr=False)
    csim: Outputs = field(repr=False)

    @property
    def exact(self) -> bool:
        """Whether every event agrees."""
        return self.equal_events == self.events


def _as_outputs(values, names: list[str]) -> Outputs:
    values = values if isinstance(values, list) else [values]
    arrays = [np.asarray(v) for v in values]
    return arrays[0] if len(arrays) == 1 else dict(zip(names, arrays, strict=True))


def _as_list(out: Outputs, names: list[str]) -> list[np.ndarray]:
    return [out[n] for n in names] if isinstance(out, dict) else [out]


class Firmware:
    """A firmware directory (HLS project + FirmwareSpec); see the module docstring."""

    def __init__(self, directory: str | os.PathLike, _converted: Any = None) -> None:
        self.directory = Path(directory)
        self.spec = FirmwareSpec.load(self.directory)
        self._converted = _converted       # hls_export's HLSFirmware when made by convert()
        self._emulator = None
        self._csim = None

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}{tuple(s)}" for n, s in zip(self.spec.inputs,
                                                         self.spec.input_shapes, strict=True))
        return f"Firmware({str(self.directory)!r}: {self.spec.name}, inputs {ins}, " \
               f"outputs {self.spec.outputs})"

    @property
    def emulator(self):
        """The bit-exact emulator (:class:`~triginfer.emulation.Emulator`), built once."""
        if self._emulator is None:
            from triginfer.emulation import Emulator

            self._emulator = Emulator(self.spec)
        return self._emulator

    def _inputs(self, x) -> list[np.ndarray]:
        if isinstance(x, dict):
            return [np.asarray(x[n]) for n in self.spec.inputs]
        return [np.asarray(a) for a in x] if isinstance(x, list | tuple) else [np.asarray(x)]

    def emulate(self, x) -> Outputs:
        """Bit-exact outputs for ``x`` (an array, or a list/dict of arrays for several inputs)."""
        xs = self._inputs(x)
        return _as_outputs(self.emulator.predict(xs if len(xs) > 1 else xs[0]), self.spec.outputs)

    def csim(self, x) -> Outputs:
        """The HLS project's C simulation (g++; see :mod:`triginfer.hls_export.csim`)."""
        if self._csim is None:
            from triginfer.hls_export.csim import CSim

            self._csim = CSim(self.directory, self.spec)
        return _as_outputs(self._csim.predict(self._inputs(x)), self.spec.outputs)

    def estimate(self, budget: str | dict | None = None) -> Estimate:
        """Latency and resources against an L1 budget (a preset name or a budget section)."""
        from triginfer.latency_bench.budgets import budget_from_config, check
        from triginfer.latency_bench.fpga_estimate import estimate

        section = {"preset": budget} if isinstance(budget, str) else (budget or {})
        limits = budget_from_config(section)
        est = estimate(self.spec)
        checks = check(est, limits)
        return Estimate(latency_cycles=int(est["latency_cycles"]),
                        latency_ns=float(est["latency_ns"]),
                        initiation_interval=int(est["initiation_interval"]),
                        resources=dict(est["resources"]),
                        not_estimated=list(est["not_estimated"]),
                        within_budget=all(c["passed"] for c in checks),
                        checks=checks, layers=est["layers"])

    def export_onnx(self, path: str | os.PathLike) -> Path:
        """The bit-exact ONNX graph (equal to :meth:`emulate` in any ONNX runtime)."""
        from triginfer.gpu_runtime import export_bitexact_onnx

        return Path(export_bitexact_onnx(self.spec, path))

    def export_rtl(self, out: str | os.PathLike, **options) -> dict[str, Any]:
        """da4ml Verilog checked in Verilator (and counted by yosys); options as
        :func:`triginfer.hls_export.rtl.export_rtl` takes them. Returns its report."""
        from triginfer.hls_export.rtl import export_rtl

        options.setdefault("progress", lambda *a, **k: None)
        return export_rtl(self.directory, out, **options)

    def export_cmssw(self, out: str | os.PathLike, name: str | None = None) -> Path:
        """The CMSSW ``hls4mlEmulator::Model`` package; returns its directory."""
        from triginfer.hls_export.deliverables import export_cmssw

        return Path(export_cmssw(self.directory, out, name=name))


def load(directory: str | os.PathLike) -> Firmware:
    """A firmware directory someone converted (no TensorFlow, no hls4ml needed)."""
    return Firmware(directory)


def convert(model, out: str | os.PathLike, config: FirmwareConfig | dict | None = None, *,
            features: dict[str, Any] | None = None) -> Firmware:
    """Convert a Keras 2 / QKeras model (an object, or an ``.h5``/``.keras`` path read as
    untrusted data first) into a bit-exact HLS project and its FirmwareSpec under ``out``.
    A ``.keras`` file saved by Keras 3 (HGQ2) is converted in the Keras 3 environment."""
    from triginfer.hls_export.converter import convert as hls_convert

    if isinstance(config, dict):
        config = FirmwareConfig(**config)
    config = config or FirmwareConfig()
    if isinstance(model, str | os.PathLike):
        from triginfer.hls_export.keras3 import convert_file, is_keras3_file

        if is_keras3_file(model):       # Keras 3 / HGQ2: converted in .venv-keras3
            return Firmware(convert_file(
                model, out, backend=config.backend, io_type=config.io_type,
                strategy=config.strategy, reuse_factor=config.reuse_factor, part=config.part,
                clock_period_ns=config.clock_period_ns,
                hls_config=_hls_config_dict(config.hls_config), features=features))
        from triginfer.trigger_models.training import load_model

        model = load_model(model)
    converted = hls_convert(model, out, backend=config.backend, io_type=config.io_type,
                            strategy=config.strategy, reuse_factor=config.reuse_factor,
                            part=config.part, clock_period_ns=config.clock_period_ns,
                            hls_config=config.hls_config, bit_exact=config.bit_exact,
                            features=features)
    return Firmware(out, _converted=converted)


def _hls_config_dict(hls_config) -> dict | None:
    from triginfer.hls_export.converter import load_hls_config

    return load_hls_config(hls_config)


def compare(fw: Firmware, x) -> Comparison:
    """Emulator vs C simulation on ``x``: the events where any output value differs."""
    emulated, simulated = fw.emulate(x), fw.csim(x)
    names = fw.spec.outputs
    bad = np.zeros(len(_as_list(emulated, names)[0]), bool)
    for e, c in zip(_as_list(emulated, names), _as_list(simulated, names), strict=True):
        bad |= np.any(e != c, axis=1)
    return Comparison(events=int(bad.size), equal_events=int((~bad).sum()),
                      mismatching_events=np.flatnonzero(bad)[:100].tolist(),
                      emulator=emulated, csim=simulated)
