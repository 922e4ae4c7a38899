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


# --- the stage sections: one frozen dataclass each, every default written once -----------------
#: The FPGA part every firmware default targets (AMD/Xilinx Virtex UltraScale+ VU13P).
DEFAULT_PART = "xcvu13p-flga2577-2-e"


def check_value(path: str, value: Any, kind: str, *, low: float | None = None,
                choices: tuple | None = None) -> None:
    """Raise a ConfigError naming ``path`` unless ``value`` is of ``kind`` (int, number, bool,
    str, list-int, list-number, list-str) within ``low``/``choices``."""
    def bad(what: str) -> ConfigError:
        return ConfigError(f"{path}: must be {what}, got {value!r}")

    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise bad("a non-empty string")
        if choices and value not in choices:
            raise bad(f"one of {list(choices)}")
        return
    if kind.startswith("list-"):
        if not isinstance(value, list | tuple) or not value:
            raise bad("a non-empty list")
        for i, item in enumerate(value):
            check_value(f"{path}[{i}]", item, kind[5:], low=low)
        return
    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_num = is_int or (isinstance(value, float) and value == value and abs(value) != float("inf"))
    if kind == "int" and not is_int:
        raise bad("an integer")
    if kind == "number" and not is_num:
        raise bad("a number")
    if low is not None and value < low:
        raise ConfigError(f"{path}: must be >= {low:g}, got {value!r}")


def _rule(kind: str, low: float | None = None, choices: tuple | None = None,
          optional: bool = False) -> dict[str, Any]:
    """Field metadata: what :class:`Section` checks in ``__post_init__``."""
    return {"check": (kind, low, choices, optional)}


@dataclass(frozen=True)
class Section:
    """A config section: a frozen dataclass whose fields carry their check (``_rule``); built
    from the YAML mapping by :meth:`of`, unknown keys named."""

    #: The section's name in the YAML config (set by each subclass).
    NAME = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            rule = f.metadata.get("check")
            if rule is None:
                continue
            kind, low, choices, optional = rule
            value = getattr(self, f.name)
            if value is None and optional:
                continue
            check_value(f"{self.NAME}.{f.name}" if self.NAME else f.name, value, kind, low=low,
                        choices=choices)

    @classmethod
    def of(cls, values: dict[str, Any] | None):
        """The section from its YAML mapping (``None``: every default)."""
        values = dict(values or {})
        known = cls.known()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{cls.NAME}: unknown key(s) {unknown}; known: {known}")
        return cls(**values)

    @classmethod
    def known(cls) -> list[str]:
        """The keys the section takes in a YAML config."""
        return sorted(f.name for f in dataclasses.fields(cls) if f.init)

    def as_dict(self) -> dict[str, Any]:
        """The section's values, by the keys a config takes (the run's summaries record them)."""
        return {k: getattr(self, k) for k in self.known()}


@dataclass(frozen=True)
class FirmwareConfig(Section):
    """How hls4ml builds the firmware (hls4ml's own names), for :func:`triginfer.convert`,
    ``triginfer export-hls`` and the run's ``firmware`` section.

    ``hls_config``: a full hls4ml configuration (dict or YAML path) instead of the defaults;
    ``bit_exact``: hls4ml's precision propagation (None: on when the model starts with an
    input quantizer)."""

    NAME = "firmware"
    backend: str = field(default="Vitis", metadata=_rule("str", choices=("Vitis", "Vivado")))
    io_type: str = field(default="io_parallel",
                         metadata=_rule("str", choices=("io_parallel", "io_stream")))
    strategy: str = field(default="Latency", metadata=_rule("str", choices=(
        "Latency", "Resource", "latency", "resource")))
    reuse_factor: int = field(default=1, metadata=_rule("int", 1))
    part: str = field(default=DEFAULT_PART, metadata=_rule("str"))
    clock_period_ns: float = field(default=5.0, metadata=_rule("number", 1e-3))
    bit_exact: bool | None = field(default=None, metadata=_rule("bool", optional=True))
    hls_config: dict | str | None = None


@dataclass(frozen=True)
class RunFirmwareConfig(FirmwareConfig):
    """The run's ``firmware`` section: :class:`FirmwareConfig` plus the C-simulation checks
    (``csim_events``: events of the test sample each network's C-sim is compared on, 0 = all;
    ``bdt_csim_events``: the same for BDTs, 0 = none)."""

    csim_events: int = field(default=0, metadata=_rule("int", 0))
    bdt_csim_events: int = field(default=0, metadata=_rule("int", 0))

    @classmethod
    def known(cls) -> list[str]:
        """The keys a run config's firmware section takes (a run converts with hls4ml's
        defaults: no ``bit_exact`` or ``hls_config``)."""
        return sorted(f.name for f in dataclasses.fields(cls)
                      if f.name not in ("bit_exact", "hls_config"))


@dataclass(frozen=True)
class RtlConfig(Section):
    """The run's ``rtl`` section: the open-source RTL flow (da4ml, Verilator, yosys)."""

    NAME = "rtl"
    enabled: bool = field(default=True, metadata=_rule("bool"))
    #: models to build (None: the first of the config)
    models: tuple[str, ...] | None = field(default=None,
                                           metadata=_rule("list-str", optional=True))
    events: int = field(default=100_000, metadata=_rule("int", 1))
    resources: bool = field(default=True, metadata=_rule("bool"))
    latency_cutoff: float = field(default=5.0, metadata=_rule("number", 1e-3))
    table_bits: int = field(default=12, metadata=_rule("int", 1))


@dataclass(frozen=True)
class RuntimeConfig(Section):
    """The run's ``runtime`` section, and ``triginfer bench``'s defaults: ONNX Runtime
    throughput and latency against batch size, and the dynamic batcher under load."""

    NAME = "runtime"
    batch_sizes: tuple[int, ...] = field(default=(1, 8, 64, 512, 4096, 32768),
                                         metadata=_rule("list-int", 1))
    seconds: float = field(default=0.3, metadata=_rule("number", 1e-3))
    offered_rate: float = field(default=5000.0, metadata=_rule("number", 1e-3))
    load_seconds: float = field(default=1.0, metadata=_rule("number", 1e-3))
    device: str = field(default="auto", metadata=_rule("str", choices=(
        "auto", "tensorrt", "cuda", "cpu")))
    version: str = field(default="float", metadata=_rule("str", choices=("float", "quantized")))
    #: also serve the offered load on a real Triton server (None: where PyTriton is installed)
    triton: bool | None = field(default=None, metadata=_rule("bool", optional=True))
