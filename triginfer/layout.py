"""The run directory's layout: the typed path of every artefact a ``triginfer run`` makes.

Every step names what it reads and writes through :class:`RunLayout` (nothing else spells a
path inside a run directory), so the pipeline knows each step's outputs exactly: a deleted
output redoes the step that wrote it and every step after it.

::

    runs/default/
      data/simulated.root, data/summary.json           data, dataset
      train/<model>_{float,quantized}.h5, <bdt>_spec/,  train
            predictions.npz, summary.json
      metrics/summary.json, plots/                      metrics (physics)
      firmware/<model>/ (HLS project + FirmwareSpec),   firmware
               summary.json
      emulation/predictions.npz, summary.json           emulate
      onnx/<model>_{float,quantized,bitexact}.onnx,     onnx
           summary.json
      bench/summary.json, plots/<model>/                bench
      rtl/<model>/, rtl/summary.json                    rtl
      report.html, metrics.json (every summary merged)  report
      steps.json                                        the pipeline's cache record
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunLayout:
    """Paths inside one run directory (see the module docstring)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def rel(self, path: Path) -> str:
        """``path`` relative to the run directory (as ``steps.json`` records it)."""
        return str(Path(path).relative_to(self.root))

    # --- data, dataset ---------------------------------------------------------------------
    @property
    def sim_file(self) -> Path:
        """The simulated sample (``data.source: simulate``)."""
        return self.root / "data" / "simulated.root"

    @property
    def data_summary(self) -> Path:
        return self.root / "data" / "summary.json"

    # --- train -----------------------------------------------------------------------------
    @property
    def train_dir(self) -> Path:
        return self.root / "train"

    def model_file(self, name: str, version: str) -> Path:
        """A trained Keras model: ``version`` float, quantized (or a training stage's name)."""
        return self.train_dir / f"{name}_{version}.h5"

    def bdt_spec(self, name: str) -> Path:
        """The BDT spec the train step derives from a trained BDT."""
        return self.train_dir / f"{name}_spec"

    @property
    def predictions(self) -> Path:
        return self.train_dir / "predictions.npz"

    @property
    def train_summary(self) -> Path:
        return self.train_dir / "summary.json"

    # --- metrics ---------------------------------------------------------------------------
    @property
    def metrics_summary(self) -> Path:
        """The physics metrics (resolution, turn-ons, rates) of the metrics step."""
        return self.root / "metrics" / "summary.json"

    @property
    def plots_dir(self) -> Path:
        return self.root / "plots"

    # --- firmware, emulate, onnx, bench, rtl -----------------------------------------------
    def firmware_dir(self, name: str) -> Path:
        """A model's HLS project and FirmwareSpec (or a BDT's conifer project and spec)."""
        return self.root / "firmware" / name

    @property
    def firmware_summary(self) -> Path:
        return self.root / "firmware" / "summary.json"

    @property
    def emulation_predictions(self) -> Path:
        return self.root / "emulation" / "predictions.npz"

    @property
    def emulation_summary(self) -> Path:
        return self.root / "emulation" / "summary.json"

    @property
    def onnx_dir(self) -> Path:
        return self.root / "onnx"

    def onnx_file(self, name: str, version: str) -> Path:
        """A model's ONNX export: float, quantized or bitexact."""
        return self.onnx_dir / f"{name}_{version}.onnx"

    @property
    def onnx_summary(self) -> Path:
        return self.onnx_dir / "summary.json"

    def bench_plots(self, name: str) -> Path:
        return self.plots_dir / name

    @property
    def bench_summary(self) -> Path:
        return self.root / "bench" / "summary.json"

    def rtl_dir(self, name: str) -> Path:
        return self.root / "rtl" / name

    @property
    def rtl_summary(self) -> Path:
        return self.root / "rtl" / "summary.json"

    # --- report ----------------------------------------------------------------------------
    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def metrics(self) -> Path:
        """Every step's summary merged (the report step's, beside the report)."""
        return self.root / "metrics.json"

    @property
    def steps_state(self) -> Path:
        """The pipeline's record of finished steps (keys, durations, summaries, outputs)."""
        return self.root / "steps.json"
