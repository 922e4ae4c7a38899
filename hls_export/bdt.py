"""BDT firmware: an xgboost regressor as fixed-point trees (the BdtSpec) and a conifer project.

The :class:`BdtSpec` (the BDT IR, in :mod:`triginfer.firmware.bdt`) is to a boosted decision
tree what the FirmwareSpec is to a network; it loads without xgboost or conifer, and
:mod:`triginfer.emulation.bdt` executes it bit-exactly. This module converts xgboost models
into it and writes the conifer project.

Precisions are chosen and checked here, because two conifer defaults corrupt the output
silently (measured with conifer 1.11):

* a score type with one integer bit cannot hold the normalisation ``1.0``: it wraps to -1 and
  every output is negated;
* a weight type with one integer bit (conifer's default weight type is the threshold type)
  turns the one-hot weight ``1.0`` into -1: every split then compares ``-x``.

Both are refused with the reason. Thresholds are moved onto the input type's grid *before*
conifer sees them (``x < t`` is the same test as ``x < ceil_grid(t)`` for every input on the
grid), so the firmware routes every event exactly as xgboost does; a split that no input of
the type can fail (or pass) is replaced by the branch it always takes. Leaf values are rounded
(``RND_CONV`` by default: conifer's truncation biases the sum by about ``-n_trees/2`` LSBs).

:func:`write_firmware` writes the conifer HLS project (Vitis/Vivado HLS) with a working C
testbench (conifer's own calls a three-argument top function that takes two), and
:func:`csim` compiles it with g++ and runs it, the HLS C simulation without vendor tools.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.config import DEFAULT_PART
from triginfer.errors import ConfigError, InputFileError
from triginfer.features import MUON_INPUT_TYPE  # noqa: F401 (the muon features' type, re-exported)
from triginfer.firmware.bdt import (  # noqa: F401 (the BDT IR, re-exported for its users here)
    JSON_NAME,
    NPZ_NAME,
    SUMMATIONS,
    BdtSpec,
    check_precision,
    choose_precision,
    grid_type,
    is_bdt_dir,
    parse_precision,
)
from triginfer.quantization.fixed import FixedType

log = logging.getLogger(__name__)


def _xgboost_doc(model: Any) -> tuple[dict, int | None]:
    """The xgboost JSON model document and the best iteration (None: use every tree)."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise InputFileError(f"{path}: not found; give an xgboost model saved as JSON")
        try:
            doc = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputFileError(f"{path}: not an xgboost JSON model ({exc}); save it with "
                                 "`model.save_model('bdt.json')`") from exc
        best = doc.get("learner", {}).get("attributes", {}).get("best_iteration") \
            if isinstance(doc, dict) else None
        return doc, (int(best) if best is not None else None)
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    raw = booster.save_raw(raw_format="json")
    best = booster.attributes().get("best_iteration")
    return json.loads(bytes(raw).decode()), (int(best) if best is not None else None)


def xgboost_features(model: Any) -> tuple[int, list[str] | None]:
    """(number of features, feature names or None) of an xgboost model or its JSON file."""
    doc, _ = _xgboost_doc(model)
    try:
        learner = doc["learner"]
        return (int(learner["learner_model_param"]["num_feature"]),
                learner.get("feature_names") or None)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputFileError(f"not an xgboost tree model ({type(exc).__name__}: {exc})") from exc


def from_xgboost(model: Any, *, name: str = "bdt", precision: str | dict | None = None,
                 input_type: FixedType | None = None, feature_names: list[str] | None = None,
                 features: dict | None = None, settings: dict | None = None,
                 x_check: np.ndarray | None = None, score_width: int = 18) -> BdtSpec:
    """Build the :class:`BdtSpec` of an xgboost regressor (a ``Booster``, an ``XGBRegressor``
    or the path of a model saved as JSON), with trees up to the best iteration when early
    stopping recorded one.

    ``input_type`` is the type that holds the features exactly (else chosen from
    ``x_check`` or, lacking it, from the thresholds' grid); ``x_check`` (events) is also
    used to refuse an input type that does not hold the features exactly.
    """
    doc, best = _xgboost_doc(model)
    try:
        learner = doc["learner"]
        objective = learner.get("objective", {}).get("name", "reg:squarederror")
        if not str(objective).startswith("reg:"):
            raise ConfigError(f"BDT firmware supports xgboost regressors; this model's "
                              f"objective is {objective!r}")
        gbm = learner["gradient_booster"]
        if gbm.get("name", "gbtree") != "gbtree":
            raise ConfigError(f"BDT firmware needs a tree booster, not {gbm.get('name')!r}")
        trees = gbm["model"]["trees"]
        n_features = int(learner["learner_model_param"]["num_feature"])
        base = learner["learner_model_param"]["base_score"]
        init_float = float(np.float32(str(base).strip("[]").split(",")[0]))
        names = feature_names or learner.get("feature_names") or None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputFileError(f"not an xgboost tree model ({type(exc).__name__}: {exc})") from exc
    if feature_names is not None and len(feature_names) != n_features:
        raise ConfigError(f"{len(feature_names)} column names given; the model has "
                          f"{n_features} features")
    if x_check is not None and (np.ndim(x_check) != 2 or np.shape(x_check)[1] != n_features):
        raise ConfigError(f"events of shape {np.shape(x_check)} given; the model reads "
                          f"{n_features} features per event")
    if best is not None:
        trees = trees[:best + 1]
    if not trees:
        raise ConfigError("the xgboost model has no trees")
    raw = []
    for t in trees:
        left = np.asarray(t["left_children"], dtype=np.int64)
        right = np.asarray(t["right_children"], dtype=np.int64)
        cond = np.asarray(t["split_conditions"], dtype=np.float32).astype(np.float64)
        feat = np.asarray(t["split_indices"], dtype=np.int64)
        if any(int(v) for v in t.get("split_type", [])):
            raise ConfigError("categorical splits have no conifer firmware")
        raw.append((left, right, cond, feat))
    if input_type is None:
        if x_check is not None:
            input_type = grid_type(x_check)
        else:
            thr = np.concatenate([c[le != -1] for le, _, c, _ in raw])
            input_type = grid_type(thr if thr.size else np.zeros(1))
    leaves = [c[le == -1] for le, _, c, _ in raw]
    given = parse_precision(precision)
    prec = choose_precision(given, input_type, init_float, leaves, score_width)
    for warning in check_precision(prec):
        log.warning("%s", warning)
    if x_check is not None:
        _check_inputs_exact(prec.input, np.asarray(x_check), names)
    th_type = prec.threshold
    grid = prec.input.lsb
    lo, hi = prec.input.min_value, prec.input.max_value
    feats, thrs, lefts, rights, vfloat, offsets = [], [], [], [], [], [0]
    constant_splits = 0
    for left, right, cond, feat in raw:
        # rebuild each tree in preorder, snapping thresholds and dropping constant splits
        nodes: list[tuple[int, int, int, int, float]] = []

        def visit(i: int, left=left, right=right, cond=cond, feat=feat, nodes=nodes) -> int:
            nonlocal constant_splits
            if left[i] == -1:
                nodes.append((-2, 0, -1, -1, float(cond[i])))
                return len(nodes) - 1
            t = cond[i]
            if t > hi:           # every representable input goes left
                constant_splits += 1
                return visit(int(left[i]))
            if t <= lo:          # every representable input goes right
                constant_splits += 1
                return visit(int(right[i]))
            snapped = math.ceil(t / grid) * grid   # x < t  <=>  x < snapped, x on the grid
            me = len(nodes)
            nodes.append((int(feat[i]), 0, -1, -1, 0.0))
            lchild = visit(int(left[i]))
            rchild = visit(int(right[i]))
            mant = int(th_type.quantize(np.array([snapped]))[0])
            if th_type.to_float(np.array([mant]))[0] != snapped:
                raise ConfigError(
                    f"threshold type {th_type.ap_type()} cannot hold the split {snapped!r} "
                    f"on the input grid of {prec.input.ap_type()}: give the threshold type "
                    "the input type's range and resolution")
            nodes[me] = (int(feat[i]), mant, lchild, rchild, 0.0)
            return me

        visit(0)
        for f, th, lc, rc, v in nodes:
            feats.append(f)
            thrs.append(th)
            lefts.append(lc)
            rights.append(rc)
            vfloat.append(v)
        offsets.append(len(feats))
    if constant_splits:
        log.info("BDT: %d splits no input of %s can change were replaced by their branch",
                 constant_splits, prec.input)
    vfloat_arr = np.asarray(vfloat, dtype=np.float64)
    feat_arr = np.asarray(feats, dtype=np.int32)
    value = np.where(feat_arr == -2, prec.score.quantize(vfloat_arr), 0).astype(np.int64)
    one = int(prec.score.quantize(np.array([1.0]))[0])
    spec = BdtSpec(
        name=name, n_features=n_features, precision=prec, feature=feat_arr,
        threshold=np.asarray(thrs, dtype=np.int64),
        children_left=np.asarray(lefts, dtype=np.int32),
        children_right=np.asarray(rights, dtype=np.int32), value=value,
        tree_offsets=np.asarray(offsets, dtype=np.int64),
        init=int(prec.score.quantize(np.array([init_float]))[0]), norm=one,
        splitting_convention="<", summation="balanced",
        features=dict(features or ({"columns": list(names)} if names else {})),
        settings=dict(settings or {}),
        source={"library": "xgboost", "objective": objective, "trees_used": len(trees),
                "best_iteration": best, "init_float": init_float,
                "constant_splits_removed": constant_splits},
        value_float=vfloat_arr)
    spec.validate()
    return spec


def _check_inputs_exact(itype: FixedType, x: np.ndarray, names: list[str] | None) -> None:
    x = x.reshape(len(x), -1).astype(np.float64)
    back = itype.to_float(itype.quantize(x))
    bad = back != x
    if bad.any():
        col = int(np.nonzero(bad.any(axis=0))[0][0])
        label = names[col] if names and col < len(names) else f"column {col}"
        row = int(np.nonzero(bad[:, col])[0][0])
        raise ConfigError(
            f"BDT input type {itype.ap_type()} does not hold feature {label} exactly "
            f"({x[row, col]!r} becomes {back[row, col]!r}; {int(bad.sum())} values in all): "
            "give --precision input=<a type with enough integer and fractional bits>")


# --- conifer projects --------------------------------------------------------------------------
def ap_include() -> Path:
    """The ``ap_types`` headers (hls4ml's bundled copy; ``XILINX_AP_INCLUDE`` overrides)."""
    env = os.environ.get("XILINX_AP_INCLUDE")
    if env and (Path(env) / "ap_fixed.h").exists():
        return Path(env)
    import hls4ml

    path = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    if not (path / "ap_fixed.h").exists():
        raise ConfigError(f"no ap_types headers at {path}; set XILINX_AP_INCLUDE")
    return path


def json_include() -> Path:
    """The nlohmann/json headers conifer's ``cpp`` backend needs (the ``nlohmann-json``
    package; the conifer wheel does not ship them)."""
    try:
        import nlohmann_json
    except ImportError as exc:
        raise ConfigError("conifer's cpp backend needs the nlohmann-json package "
                          "(pip install nlohmann-json)") from exc
    path = Path(nlohmann_json.__file__).parent / "include"
    if not (path / "nlohmann" / "json.hpp").exists():
        raise ConfigError(f"no nlohmann/json.hpp under {path}")
    return path


def _conifer():
    from triginfer.extras import require

    conifer = require("conifer")
    import conifer.backends.cpp.writer as cpp_writer

    os.environ.setdefault("XILINX_AP_INCLUDE", str(ap_include()))
    cpp_writer._json_include = lambda: f"-I{json_include()}"   # the wheel lacks these headers
    logging.getLogger("conifer").setLevel(logging.ERROR)
    return conifer


def conifer_model(spec: BdtSpec, out_dir: str | os.PathLike, backend: str = "xilinxhls",
                  raw_values: bool = False, project_name: str = "conifer_bdt",
                  clock_period: float = 5.0, part: str = DEFAULT_PART):
    """A conifer model of the spec's trees and types (``xilinxhls``, ``cpp`` or ``vhdl``)."""
    conifer = _conifer()
    cfg = {"Backend": backend, "ProjectName": project_name, "OutputDir": str(out_dir),
           **spec.precision.conifer_config()}
    if backend == "xilinxhls":
        cfg.update({"XilinxPart": part, "ClockPeriod": clock_period, "Unroll": True})
    elif backend == "vhdl":
        cfg.update({"XilinxPart": part, "ClockPeriod": clock_period})
    return conifer.model.make_model(spec.conifer_dict(raw_values=raw_values), cfg)


def conifer_estimate(spec: BdtSpec) -> dict[str, int]:
    """conifer's experimental latency (cycles) / LUT / FF guess for the HLS firmware: a BDT
    fitted to past synthesis results from tree counts and shapes only (precision-blind)."""
    with tempfile.TemporaryDirectory() as tmp:
        model = conifer_model(spec, tmp)
        from conifer.utils.performance import performance_estimates

        return {k: int(v) for k, v in performance_estimates(model).items()}


TESTBENCH = r"""// triginfer: C simulation testbench for the conifer HLS project (links, unlike the
// generated one). Reads N events of n_features doubles from argv[1] (raw binary), writes the
// scores as doubles to argv[2].
#include <cstdio>
#include <vector>
#include "firmware/BDT.h"
#include "firmware/parameters.h"
void PROJECT(input_arr_t x, score_arr_t score);

int main(int argc, char** argv) {
  if (argc != 3) { std::fprintf(stderr, "usage: %s IN.bin OUT.bin\n", argv[0]); return 2; }
  FILE* in = std::fopen(argv[1], "rb");
  FILE* out = std::fopen(argv[2], "wb");
  if (!in || !out) { std::perror("open"); return 2; }
  std::vector<double> row(n_features);
  const int n_out = BDT::fn_classes(n_classes);
  while (std::fread(row.data(), sizeof(double), n_features, in) == (size_t) n_features) {
    input_arr_t x;
    for (int i = 0; i < n_features; i++) x[i] = row[i];
    score_arr_t score;
    PROJECT(x, score);
    for (int j = 0; j < n_out; j++) { double v = score[j].to_double(); std::fwrite(&v, sizeof v, 1, out); }
  }
  std::fclose(in);
  std::fclose(out);
  return 0;
}
"""


def write_firmware(spec: BdtSpec, out_dir: str | os.PathLike, backend: str = "hls",
                   clock_period: float = 5.0, part: str = DEFAULT_PART,
                   project_name: str = "conifer_bdt") -> dict:
    """Write the BDT firmware into ``out_dir``: the spec (``bdt_spec.json/npz``), the conifer
    HLS project under ``hls/`` with a testbench that links
    (``hls/conifer_bdt_csim.cpp``), and ``bdt_firmware.json`` (types, sizes, conifer's estimate)."""
    out_dir = Path(out_dir)
    if backend != "hls":
        raise ConfigError(f"BDT backend {backend!r}: only 'hls' is offered (conifer's VHDL "
                          "backend needs one type for inputs, thresholds and scores)")
    out_dir.mkdir(parents=True, exist_ok=True)
    spec.save(out_dir)
    sub = out_dir / "hls"
    if sub.exists():
        shutil.rmtree(sub)
    model = conifer_model(spec, sub, "xilinxhls",
                          clock_period=clock_period, part=part, project_name=project_name)
    model.write()
    header = sub / "firmware" / f"{project_name}.h"
    # conifer 1.11 declares a third argument (tree_scores) the top function does not take
    header.write_text(header.read_text().replace(
        ",\n\tscore_t tree_scores[BDT::fn_classes(n_classes) * n_trees]);", ");"))
    (sub / f"{project_name}_csim.cpp").write_text(TESTBENCH.replace("PROJECT", project_name))
    try:
        estimate = conifer_estimate(spec)
    except Exception as exc:   # experimental in conifer; never fatal
        log.info("conifer performance estimate unavailable: %s", exc)
        estimate = {}
    import conifer

    summary = {"name": spec.name, "backend": backend, "n_trees": spec.n_trees,
               "max_depth": spec.max_depth, "n_features": spec.n_features,
               "n_nodes": int(len(spec.feature)), "types": spec.precision.as_dict(),
               "conifer_types": spec.precision.conifer_config(), "clock_period_ns": clock_period,
               "part": part, "conifer_version": str(conifer.__version__),
               "conifer_estimate": {**estimate,
                                    "label": "conifer estimate (precision-blind)"}}
    (out_dir / "bdt_firmware.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def csim(firmware_dir: str | os.PathLike, x: np.ndarray, project_name: str = "conifer_bdt",
         opt: str = "-O1", timeout: float = 1800) -> np.ndarray:
    """Compile the HLS project in ``firmware_dir/hls`` with g++ (as one translation unit) and
    run it on the events ``x``: the HLS C simulation without vendor tools. Returns the scores."""
    hls = Path(firmware_dir).resolve() / "hls"      # the unity file lives in a temp dir
    if not (hls / "firmware" / "parameters.h").exists():
        raise InputFileError(f"{hls}: no conifer HLS project; write it with export-bdt")
    compiler = shutil.which(os.environ.get("CXX", "g++"))
    if compiler is None:
        raise ConfigError("the BDT C simulation needs g++ on PATH")
    conifer = _conifer()
    stream = Path(conifer.__file__).parent / "external" / "hls"
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    with tempfile.TemporaryDirectory() as tmp:
        unity = Path(tmp) / "unity.cpp"
        unity.write_text("".join(f'#include "{p}"\n' for p in (
            hls / "firmware" / "BDT.cpp", hls / "firmware" / f"{project_name}.cpp",
            hls / f"{project_name}_csim.cpp")))
        exe = Path(tmp) / "csim"
        done = subprocess.run([compiler, opt, "-std=c++14", f"-I{hls}", f"-I{ap_include()}",
                               f"-I{stream}", str(unity), "-o", str(exe)],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise ConfigError(f"g++ failed on the BDT HLS project: {done.stderr.strip()[:400]}")
        src, dst = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        x.tofile(src)
        run = subprocess.run([str(exe), str(src), str(dst)], capture_output=True, text=True,
                             timeout=timeout)
        if run.returncode != 0:
            raise ConfigError(f"BDT C simulation failed: {run.stderr.strip()[:300]}")
        return np.fromfile(dst, dtype=np.float64).reshape(len(x), -1)


def conifer_cpp_predict(spec_dir: str | os.PathLike, x: np.ndarray, work_dir: str | os.PathLike,
                        raw_values: bool = True) -> np.ndarray:
    """conifer's own ``cpp`` backend (its C++ emulation, compiled with g++ through pybind11) on
    the spec's trees and types: the independent reference the emulator is checked against.
    ``raw_values`` hands conifer the unquantized leaves so its own conversion runs too.
    Changes the working directory while compiling (conifer does): call it in a process of
    its own when others run beside it."""
    spec = BdtSpec.load(spec_dir)
    if spec.precision.input != spec.precision.threshold:
        raise ConfigError("conifer's cpp backend needs the input and threshold types equal")
    model = conifer_model(spec, work_dir, backend="cpp", raw_values=raw_values)
    model.compile()
    return np.asarray(model.decision_function(np.asarray(x, dtype=np.float64))).reshape(len(x), -1)
