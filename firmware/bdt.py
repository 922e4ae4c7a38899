"""The BDT firmware's IR: the BdtSpec, fixed-point trees, and their precisions.

The :class:`BdtSpec` is to a boosted decision tree what the FirmwareSpec is to a network: the
one description of what the firmware computes, written as ``bdt_spec.json`` (types, tree
count, depth, splitting convention, feature names, the summation order) and ``bdt_spec.npz``
(per node: feature, threshold mantissa, children, leaf-value mantissa). It loads without
xgboost or conifer; :mod:`triginfer.emulation.bdt` executes it bit-exactly, and
:mod:`triginfer.hls_export.bdt` converts xgboost models into it and writes conifer projects.

Precisions are chosen and checked here, because two conifer defaults corrupt the output
silently (measured with conifer 1.11): a score type with one integer bit cannot hold the
normalisation ``1.0`` (it wraps to -1 and every output is negated), and a weight type with
one integer bit turns the one-hot weight ``1.0`` into -1 (every split then compares ``-x``).
Both are refused with the reason.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.atomic import atomic_path
from triginfer.errors import ConfigError, InputFileError
from triginfer.quantization.fixed import FixedType

log = logging.getLogger(__name__)

BDT_SCHEMA_VERSION = 1
JSON_NAME = "bdt_spec.json"
NPZ_NAME = "bdt_spec.npz"
#: Summation orders: ``balanced`` is the HLS firmware's adder tree (conifer's ``reduce``),
#: ``sequential`` the conifer ``cpp`` backend's ``std::accumulate``. They differ only when a
#: partial sum saturates.
SUMMATIONS = ("balanced", "sequential")
CONVENTIONS = ("<", "<=")
_NODE_ARRAYS = ("feature", "threshold", "children_left", "children_right", "value")


def is_bdt_dir(directory: str | os.PathLike) -> bool:
    """True when ``directory`` holds a BDT spec (rather than a network's FirmwareSpec)."""
    return (Path(directory) / JSON_NAME).exists()


# --- precisions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class BdtPrecision:
    """The four fixed-point types of conifer's firmware (input, threshold, weight, score)."""

    input: FixedType
    threshold: FixedType
    weight: FixedType
    score: FixedType

    def as_dict(self) -> dict[str, str]:
        """Type strings (``fixed<W,I,RND,OVF>``) by role."""
        return {"input": str(self.input), "threshold": str(self.threshold),
                "weight": str(self.weight), "score": str(self.score)}

    def conifer_config(self) -> dict[str, str]:
        """The conifer configuration keys with the C++ spellings of the types."""
        return {"InputPrecision": self.input.ap_type(),
                "ThresholdPrecision": self.threshold.ap_type(),
                "WeightPrecision": self.weight.ap_type(),
                "ScorePrecision": self.score.ap_type()}


#: One-hot weights need 0 and 1: a signed type with 2 integer bits holds both exactly.
DEFAULT_WEIGHT = FixedType(2, 2)


def parse_precision(text: str | dict | None) -> dict[str, FixedType]:
    """Parse ``input=ap_fixed<12,4>,score=ap_fixed<18,5,AP_RND_CONV,AP_SAT>`` (or a mapping
    with those keys) into types by role; roles not named are chosen later."""
    if text is None or text == "":
        return {}
    if isinstance(text, str):
        items: dict[str, Any] = {}
        depth, start = 0, 0
        parts = []
        for i, ch in enumerate(text):   # split on commas outside <...>
            depth += ch == "<"
            depth -= ch == ">"
            if ch == "," and depth == 0:
                parts.append(text[start:i])
                start = i + 1
        parts.append(text[start:])
        for part in parts:
            if "=" not in part:
                raise ConfigError(f"--precision: {part.strip()!r} is not ROLE=TYPE "
                                  "(roles: input, threshold, weight, score)")
            key, value = part.split("=", 1)
            items[key.strip()] = value.strip()
    elif isinstance(text, dict):
        items = dict(text)
    else:
        raise ConfigError(f"BDT precision must be ROLE=TYPE pairs or a mapping, got {text!r}")
    out = {}
    for key, value in items.items():
        if key not in ("input", "threshold", "weight", "score"):
            raise ConfigError(f"BDT precision: unknown role {key!r} "
                              "(roles: input, threshold, weight, score)")
        try:
            out[key] = FixedType.parse(str(value))
        except ValueError as exc:
            raise ConfigError(f"BDT precision {key}: {exc}") from exc
    return out


def grid_type(x: np.ndarray, max_frac: int = 16) -> FixedType:
    """The narrowest signed saturating type that holds every value of ``x`` exactly (inputs of
    a trigger are integers on a power-of-two grid); fractional bits capped at ``max_frac``."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ConfigError("BDT inputs must be finite numbers to choose an input type")
    frac = 0
    while frac < max_frac and np.any(np.ldexp(x, frac) != np.round(np.ldexp(x, frac))):
        frac += 1
    m = np.round(np.ldexp(x, frac))
    bound = max(float(np.max(m)) + 1, float(-np.min(m)), 1.0)
    width = int(math.ceil(math.log2(bound))) + 1
    integer_bits = width - frac
    return FixedType(width, integer_bits, True, "RND_CONV", "SAT")


def choose_precision(given: dict[str, FixedType], input_type: FixedType,
                     init: float, leaves: list[np.ndarray], score_width: int = 18
                     ) -> BdtPrecision:
    """Fill the roles not ``given``: input = ``input_type`` (exact for the features), threshold
    = input (conifer's ``cpp`` backend requires them equal), weight = ``fixed<2,2>``, score =
    enough integer bits for ``|init| + sum of the largest |leaf| per tree`` (no partial sum
    can overflow) in ``score_width`` bits, rounding to nearest even, saturating."""
    inp = given.get("input", input_type)
    thr = given.get("threshold", inp)
    weight = given.get("weight", DEFAULT_WEIGHT)
    score = given.get("score")
    if score is None:
        bound = abs(init) + sum(float(np.max(np.abs(v))) if len(v) else 0.0 for v in leaves)
        integer_bits = max(int(math.ceil(math.log2(max(bound, 1.0) * 1.001))) + 1, 2)
        score = FixedType(max(score_width, integer_bits + 4), integer_bits, True, "RND_CONV",
                          "SAT")
    return BdtPrecision(inp, thr, weight, score)


def check_precision(p: BdtPrecision) -> list[str]:
    """Refuse the configurations that silently corrupt conifer firmware; returns warnings
    (truncating leaf values, inputs that wrap) for the caller to log."""
    w1 = p.weight.to_float(p.weight.quantize(np.array([1.0])))[0]
    if w1 != 1.0:
        raise ConfigError(
            f"weight type {p.weight.ap_type()} turns the one-hot weight 1.0 into {w1:g}: every "
            "split would compare the wrong value (conifer's WeightPrecision defaults to the "
            "threshold type); use a type with at least 2 integer bits, e.g. ap_fixed<2,2>")
    n1 = p.score.to_float(p.score.quantize(np.array([1.0])))[0]
    if n1 != 1.0:
        raise ConfigError(
            f"score type {p.score.ap_type()} turns the normalisation 1.0 into {n1:g}: every "
            "output would be wrong (negated for one integer bit); give the score type at "
            "least 2 integer bits")
    warnings = []
    if p.score.rounding in ("TRN", "TRN_ZERO"):
        warnings.append(f"score type {p.score.ap_type()} truncates leaf values: the sum is "
                        "biased by about -n_trees/2 LSB; AP_RND_CONV avoids it")
    if p.input.overflow == "WRAP":
        warnings.append(f"input type {p.input.ap_type()} wraps inputs outside its range "
                        "(AP_SAT saturates them)")
    return warnings


# --- the spec ----------------------------------------------------------------------------------
@dataclass
class BdtSpec:
    """Fixed-point boosted trees, exactly as the conifer firmware holds them.

    Node arrays are concatenated over trees (``tree_offsets[t]:tree_offsets[t+1]`` is tree
    ``t``; children are indices inside the tree, -1 for none; ``feature`` -2 marks a leaf).
    ``threshold`` holds mantissas in the threshold type, ``value`` (leaves) in the score type;
    ``init`` and ``norm`` are score-type mantissas.
    """

    name: str
    n_features: int
    precision: BdtPrecision
    feature: np.ndarray
    threshold: np.ndarray
    children_left: np.ndarray
    children_right: np.ndarray
    value: np.ndarray
    tree_offsets: np.ndarray
    init: int
    norm: int
    splitting_convention: str = "<"
    summation: str = "balanced"
    features: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    #: The leaf values before quantization (float64), kept to check conifer's conversion.
    value_float: np.ndarray | None = None
    schema_version: int = BDT_SCHEMA_VERSION

    # the attributes the network FirmwareSpec offers to the file-emulation code
    kind = "bdt"
    multi_io = False
    inputs = ("x",)

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return len(self.tree_offsets) - 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One event's input shape."""
        return (self.n_features,)

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        """Input shapes, one per input (a BDT has one)."""
        return [self.input_shape]

    @property
    def outputs(self) -> list[str]:
        """Output names (one score)."""
        return ["score"]

    @property
    def max_depth(self) -> int:
        """Depth of the deepest tree."""
        depth = 0
        for t in range(self.n_trees):
            depth = max(depth, _tree_depth(self.children_left[self._slice(t)],
                                           self.children_right[self._slice(t)]))
        return depth

    def _slice(self, t: int) -> slice:
        return slice(int(self.tree_offsets[t]), int(self.tree_offsets[t + 1]))

    def tree(self, t: int) -> dict[str, np.ndarray]:
        """Node arrays of tree ``t``."""
        s = self._slice(t)
        return {k: getattr(self, k)[s] for k in _NODE_ARRAYS}

    def to_json(self) -> dict:
        """The human-readable JSON document."""
        return {"schema_version": self.schema_version, "kind": "bdt", "name": self.name,
                "n_features": self.n_features, "n_trees": self.n_trees,
                "max_depth": self.max_depth, "n_nodes": int(len(self.feature)),
                "types": self.precision.as_dict(), "init": int(self.init),
                "norm": int(self.norm), "splitting_convention": self.splitting_convention,
                "summation": self.summation, "features": self.features,
                "settings": self.settings, "source": self.source}

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``bdt_spec.json`` and ``bdt_spec.npz`` into ``directory`` atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {k: getattr(self, k) for k in (*_NODE_ARRAYS, "tree_offsets")}
        if self.value_float is not None:
            arrays["value_float"] = self.value_float
        # the arrays are renamed into place first, then the JSON that names them
        with atomic_path(directory / JSON_NAME) as tmp_json, \
                atomic_path(directory / NPZ_NAME) as tmp_npz:
            np.savez(tmp_npz, **arrays)
            tmp_json.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> BdtSpec:
        """Read a spec written by :meth:`save`; a missing, corrupt or inconsistent file is an
        :class:`~triginfer.errors.InputFileError` naming it."""
        directory = Path(directory)
        json_path, npz_path = directory / JSON_NAME, directory / NPZ_NAME
        for path in (json_path, npz_path):
            if not path.is_file():
                raise InputFileError(f"{path}: not found; write BDT firmware with "
                                     "`triginfer export-bdt`")
        try:
            doc = json.loads(json_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputFileError(f"{json_path}: not valid JSON ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("schema_version") != BDT_SCHEMA_VERSION:
            raise InputFileError(f"{json_path}: not a BDT spec of schema "
                                 f"{BDT_SCHEMA_VERSION}; re-export with `triginfer export-bdt`")
        try:
            with np.load(npz_path, allow_pickle=False) as npz:
                stored = {k: npz[k] for k in npz.files}
        except Exception as exc:
            raise InputFileError(f"{npz_path}: not a readable NPZ of plain arrays ({exc}); "
                                 "re-export the BDT") from exc
        try:
            types = doc["types"]
            precision = BdtPrecision(*(FixedType.parse(types[k])
                                       for k in ("input", "threshold", "weight", "score")))
            spec = cls(name=str(doc["name"]), n_features=int(doc["n_features"]),
                       precision=precision,
                       **{k: stored[k] for k in (*_NODE_ARRAYS, "tree_offsets")},
                       init=int(doc["init"]), norm=int(doc["norm"]),
                       splitting_convention=doc.get("splitting_convention", "<"),
                       summation=doc.get("summation", "balanced"),
                       features=dict(doc.get("features", {})),
                       settings=dict(doc.get("settings", {})),
                       source=dict(doc.get("source", {})),
                       value_float=stored.get("value_float"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputFileError(f"{json_path}: malformed BDT spec ({type(exc).__name__}: "
                                 f"{exc}); re-export the BDT") from exc
        spec.validate(json_path)
        return spec

    def validate(self, where: str | os.PathLike = "BDT spec") -> None:
        """Check the arrays describe well-formed trees within their types."""
        def bad(msg: str) -> InputFileError:
            return InputFileError(f"{where}: {msg}; re-export the BDT")

        if self.splitting_convention not in CONVENTIONS:
            raise bad(f"splitting convention {self.splitting_convention!r} is not one of "
                      f"{CONVENTIONS}")
        if self.summation not in SUMMATIONS:
            raise bad(f"summation {self.summation!r} is not one of {SUMMATIONS}")
        if self.n_features < 1:
            raise bad("n_features must be positive")
        n = len(self.feature)
        for key in _NODE_ARRAYS:
            arr = getattr(self, key)
            if arr.ndim != 1 or len(arr) != n or arr.dtype.kind not in "iu":
                raise bad(f"node array {key!r} must be 1-D integers of length {n}")
        off = self.tree_offsets
        if (off.ndim != 1 or len(off) < 2 or off[0] != 0 or off[-1] != n
                or np.any(np.diff(off) < 1)):
            raise bad("tree_offsets must rise from 0 to the node count")
        p = self.precision
        for t in range(self.n_trees):
            tr = self.tree(t)
            size = len(tr["feature"])
            leaf = tr["feature"] == -2
            inner = ~leaf
            if np.any((tr["feature"][inner] < 0) | (tr["feature"][inner] >= self.n_features)):
                raise bad(f"tree {t}: a split on a feature outside 0..{self.n_features - 1}")
            for side in ("children_left", "children_right"):
                ch = tr[side]
                if np.any(ch[leaf] != -1) or np.any((ch[inner] <= np.nonzero(inner)[0])
                                                     | (ch[inner] >= size)):
                    raise bad(f"tree {t}: {side} must point forward inside the tree")
            th = tr["threshold"][inner]
            if np.any((th < p.threshold.min_mantissa) | (th > p.threshold.max_mantissa)):
                raise bad(f"tree {t}: a threshold outside the threshold type {p.threshold}")
            va = tr["value"][leaf]
            if np.any((va < p.score.min_mantissa) | (va > p.score.max_mantissa)):
                raise bad(f"tree {t}: a leaf value outside the score type {p.score}")
        for name, v in (("init", self.init), ("norm", self.norm)):
            if not p.score.min_mantissa <= v <= p.score.max_mantissa:
                raise bad(f"{name} outside the score type {p.score}")

    # --- conifer -------------------------------------------------------------------------------
    def conifer_dict(self, raw_values: bool = False) -> dict:
        """The ensemble as conifer's ``ensembleDict`` (thresholds and leaves as exact doubles;
        with ``raw_values`` the leaves before quantization, so conifer's own conversion
        is exercised)."""
        p = self.precision
        trees = []
        for t in range(self.n_trees):
            tr = self.tree(t)
            s = self._slice(t)
            leaf = tr["feature"] == -2
            thr = p.threshold.to_float(tr["threshold"])
            thr[leaf] = 0.0
            if raw_values and self.value_float is not None:
                val = np.asarray(self.value_float[s], dtype=np.float64).copy()
            else:
                val = p.score.to_float(tr["value"])
            val[~leaf] = 0.0
            weights = np.zeros((len(leaf), self.n_features), dtype=int)
            rows = np.nonzero(~leaf)[0]
            weights[rows, tr["feature"][rows]] = 1
            trees.append([{"feature": tr["feature"].tolist(), "threshold": thr.tolist(),
                           "weight": weights.tolist(),
                           "children_left": tr["children_left"].tolist(),
                           "children_right": tr["children_right"].tolist(),
                           "value": val.tolist()}])
        init = (float(self.source["init_float"]) if raw_values and "init_float" in self.source
                else float(p.score.to_float(np.array([self.init]))[0]))
        return {"max_depth": max(self.max_depth, 1), "n_trees": self.n_trees, "n_classes": 2,
                "n_features": self.n_features, "trees": trees, "init_predict": [init],
                "norm": float(p.score.to_float(np.array([self.norm]))[0]),
                "library": "xgboost", "splitting_convention": self.splitting_convention,
                "feature_map": {n: i for i, n in enumerate(self.feature_names())}}

    def feature_names(self) -> list[str]:
        """Input column names (``f0``... when the model did not name them)."""
        names = self.features.get("columns")
        if names and len(names) == self.n_features:
            return list(names)
        return [f"f{i}" for i in range(self.n_features)]


def _tree_depth(left: np.ndarray, right: np.ndarray) -> int:
    depth = np.zeros(len(left), dtype=np.int64)
    for i in range(len(left)):   # children come after parents
        for c in (left[i], right[i]):
            if c >= 0:
                depth[c] = depth[i] + 1
    return int(depth.max()) if len(depth) else 0


# --- from xgboost ------------------------------------------------------------------------------
