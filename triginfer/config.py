"""YAML run configurations: parsing, validation and defaults.

A config has a ``seed``, a ``data`` section (simulate or read the user's ROOT
files, branch map, chunk size, split), a ``simulation`` section (overrides of
:class:`~triginfer.simulation.SimulationConfig`) and one section per later
pipeline stage (``models``, ``training``, ``metrics`` ...), each validated by
the component that reads it. Unknown keys are errors naming the key, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from triginfer.errors import ConfigError
from triginfer.rootio import BranchMap
from triginfer.simulation import SimulationConfig

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "muon_pt_dnn.yaml"

#: Fewest muon events a simulated run accepts (each split fraction needs events).
MIN_SIMULATED_EVENTS = 100

#: Sections owned by later pipeline stages; kept as plain mappings here.
STAGE_SECTIONS = ("models", "bdts", "training", "quantization", "pruning", "metrics", "firmware",
                  "rtl", "emulation", "runtime", "budgets", "report")


@dataclass
class DataConfig:
    """Where events come from and how they are split.

    Attributes:
        source: ``"simulate"`` (toy simulation) or ``"files"`` (the ROOT files below).
        events: muon-gun events to simulate.
        minbias_events: minimum-bias events to simulate (for rates).
        files: ROOT files with the muon sample (``source: files``).
        minbias_files: ROOT files with the minbias sample (may be empty: no rates).
        tree: tree name of the muon sample.
        minbias_tree: tree name of the minbias sample.
        layout: ``"flat"`` per-station branches or ``"jagged"`` per-hit branches.
        branch_map: canonical name -> branch name in the user's files.
        step_size: events per chunk when reading ROOT files.
        split: train / validation / test fractions.
        min_stations: stations a track needs (events with fewer are dropped).
    """

    source: str = "simulate"
    events: int = 300_000
    minbias_events: int = 300_000
    files: list[str] = field(default_factory=list)
    minbias_files: list[str] = field(default_factory=list)
    tree: str = "muons"
    minbias_tree: str = "minbias"
    layout: str = "flat"
    branch_map: dict[str, str] = field(default_factory=dict)
    step_size: int = 200_000
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    min_stations: int = 2

    def __post_init__(self) -> None:
        if self.source not in ("simulate", "files"):
            raise ConfigError(f"data.source must be 'simulate' or 'files', got {self.source!r}")
        if self.source == "files" and not self.files:
            raise ConfigError("data.source is 'files' but data.files is empty; list ROOT files")
        for name in ("events", "minbias_events", "step_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0 or (name == "step_size" and value == 0):
                raise ConfigError(f"data.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.split, list | tuple) or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in self.split):
            raise ConfigError(f"data.split must be 3 fractions summing to 1 (e.g. [0.6, 0.2, "
                              f"0.2]), got {self.split!r}")
        self.split = tuple(float(x) for x in self.split)
        if len(self.split) != 3 or abs(sum(self.split) - 1.0) > 1e-6 or min(self.split) < 0:
            raise ConfigError(f"data.split must be 3 fractions summing to 1, got {self.split}")
        if not isinstance(self.min_stations, int) or not 1 <= self.min_stations <= 4:
            raise ConfigError(f"data.min_stations must lie in 1..4, got {self.min_stations}")
        if self.source == "simulate" and self.events < MIN_SIMULATED_EVENTS:
            raise ConfigError(f"data.events must be at least {MIN_SIMULATED_EVENTS} to simulate "
                              f"(fewer leave the train/validation/test split empty), got "
                              f"{self.events}")
        self.branch_map_obj()  # validates layout and names

    def branch_map_obj(self) -> BranchMap:
        """The :class:`BranchMap` this section describes."""
        return BranchMap(layout=self.layout, names=dict(self.branch_map))


@dataclass
class RunConfig:
    """A whole run configuration (see the module docstring)."""

    seed: int = 42
    data: DataConfig = field(default_factory=DataConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    sections: dict[str, Any] = field(default_factory=dict)
    source_path: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """A stage section as a mapping (empty when the config leaves it out)."""
        return dict(self.sections.get(name) or {})


def _dataclass_from(cls, values: Any, where: str):
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: {sorted(known)}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def config_from_dict(raw: dict[str, Any], source_path: str | None = None) -> RunConfig:
    """Validate a parsed YAML mapping into a :class:`RunConfig`."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source_path or 'config'}: top level must be a mapping")
    known_top = {"seed", "data", "simulation", *STAGE_SECTIONS}
    unknown = sorted(set(raw) - known_top)
    where = source_path or "config"
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {unknown}; known: {sorted(known_top)}")
    seed = raw.get("seed", 42)
    if not isinstance(seed, int):
        raise ConfigError(f"{where}: seed must be an integer, got {seed!r}")
    data = _dataclass_from(DataConfig, raw.get("data"), f"{where}: data")
    if source_path:
        base = Path(source_path).resolve().parent
        data.files = [str(_resolve(base, f)) for f in data.files]
        data.minbias_files = [str(_resolve(base, f)) for f in data.minbias_files]
    sim_values = raw.get("simulation") or {}
    if not isinstance(sim_values, dict):
        raise ConfigError(f"{where}: simulation must be a mapping")
    simulation = SimulationConfig.from_dict(sim_values)
    sections = {k: raw[k] for k in STAGE_SECTIONS if k in raw}
    for k, v in sections.items():
        if k in ("models", "bdts"):
            if v is not None and not isinstance(v, list):
                raise ConfigError(f"{where}: section {k!r} must be a list of entries")
        elif v is not None and not isinstance(v, dict):
            raise ConfigError(f"{where}: section {k!r} must be a mapping")
    return RunConfig(seed=seed, data=data, simulation=simulation, sections=sections,
                     source_path=source_path, raw=raw)


def _resolve(base: Path, name: str) -> Path:
    p = Path(os.path.expanduser(name))
    return p if p.is_absolute() else (base / p)


def read_yaml(path: str | os.PathLike, what: str = "config file") -> Any:
    """Parse a YAML (or JSON) file; a missing, empty, binary or malformed file is a
    :class:`ConfigError` naming it (one line, no traceback)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: {what} not found")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a {what}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text {what} (byte {exc.start} is not UTF-8)") from exc
    if not text.strip():
        raise ConfigError(f"{path}: the {what} is empty")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc


def load_config(path: str | os.PathLike | None = None) -> RunConfig:
    """Read and validate a YAML config; ``None`` loads the default one."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a YAML mapping (section: values), got "
                          f"{type(raw).__name__}")
    return config_from_dict(raw, str(path))
