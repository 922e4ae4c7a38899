"""Training workflow behind ``triginfer train``: models, baselines, predictions, metrics.

For each model in the config: train the float model; if pruning is asked for,
prune-and-fine-tune it (the *pruned float* model); initialise the QKeras model
from those weights and run quantization-aware training, keeping the pruned
zeros (the *quantized* model, the one the firmware is made from). Then the
baselines (analytic lookup table, xgboost) and every metric on the same test
set, written to ``metrics.json`` with plots.

The networks regress ``q/pT * target_scale`` (a power of two, a wiring change
in firmware) so that the output uses the fixed-point range well; every
prediction saved or evaluated here is divided back to q/pT in GeV^-1.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from triginfer import metrics as m
from triginfer import plots
from triginfer.errors import ConfigError
from triginfer.features import (
    TARGET_SCALE,
    engineered_features,
    has_track,
    split_indices,
    station_features,
)
from triginfer.simulation import Sample, SimulationConfig, minbias_rate_per_event
from triginfer.trigger_models.builders import ModelConfig, build_float, build_quantized
from triginfer.trigger_models.training import (
    TrainingConfig,
    copy_weights_by_name,
    fit,
    predict,
    save_model,
    set_seeds,
)

log = logging.getLogger(__name__)


@dataclass
class Dataset:
    """Train/validation/test muons (with a track) and the minbias sample."""

    train: Sample
    val: Sample
    test: Sample
    minbias: Sample | None
    rate_per_event: float


def prepare_dataset(muons: Sample, minbias: Sample | None, seed: int,
                    split: tuple[float, float, float], sim: SimulationConfig,
                    min_stations: int = 2) -> Dataset:
    """Select tracks and split by seed."""
    muons = muons.select(has_track(muons, min_stations))
    parts = split_indices(len(muons), seed, split)
    rpe = minbias_rate_per_event(sim, len(minbias)) if minbias is not None and len(minbias) else 0.0
    return Dataset(muons.select(parts["train"]), muons.select(parts["val"]),
                   muons.select(parts["test"]), minbias, rpe)


def model_inputs(kind: str, sample: Sample) -> np.ndarray:
    """Network inputs (float32, on the input quantizer's grid) for a model kind."""
    feats = engineered_features(sample) if kind == "dnn" else station_features(sample)
    return feats.scaled()


def target(sample: Sample, scale: float = TARGET_SCALE) -> np.ndarray:
    """Regression target ``q/pT * scale`` as float32 column."""
    return (sample.truth["gen_q_over_pt"] * scale).astype(np.float32)


def _predict_q_over_pt(model, kind: str, data: Dataset, scale: float) -> dict[str, np.ndarray]:
    out = {"test": predict(model, model_inputs(kind, data.test))[:, 0] / scale}
    if data.minbias is not None:
        mb = data.minbias
        track = has_track(mb)
        pred = np.zeros(len(mb))
        if track.any():
            pred[track] = predict(model, model_inputs(kind, mb.select(track)))[:, 0] / scale
        out["minbias"] = pred
    return out


def parse_models(section: Any) -> list[ModelConfig]:
    """The config's ``models`` list."""
    if section is None:
        return []
    items = section.get("list", section) if isinstance(section, dict) else section
    if not isinstance(items, list):
        raise ConfigError("models must be a list of model entries")
    models = [ModelConfig.from_dict(dict(item)) for item in items]
    names = [mc.name for mc in models]
    if len(set(names)) != len(names):
        raise ConfigError(f"models: names must be unique, got {names}")
    return models


def train_one(mc: ModelConfig, tcfg: TrainingConfig, data: Dataset, out_dir: Path, seed: int,
              quiet: bool = False) -> dict[str, Any]:
    """Train the float, pruned-float and quantized versions of one model; save them.

    Returns a summary with file names, sparsity, epochs and timings, and the
    predictions per version under ``"predictions"``.
    """
    from triginfer.quantization.pruning import (
        apply_pruning,
        pruning_callbacks,
        sparsity_report,
        strip,
    )

    set_seeds(seed)
    t0 = time.perf_counter()
    x_tr, x_va = model_inputs(mc.kind, data.train), model_inputs(mc.kind, data.val)
    y_tr, y_va = target(data.train), target(data.val)
    w_tr = tcfg.sample_weights(data.train.truth["gen_pt"])
    w_va = tcfg.sample_weights(data.val.truth["gen_pt"])
    if tcfg.max_train_events and len(x_tr) > tcfg.max_train_events:
        n = tcfg.max_train_events
        x_tr, y_tr, w_tr = x_tr[:n], y_tr[:n], w_tr[:n]
    weights = {"w_train": w_tr, "w_val": w_va}
    shape = x_tr.shape[1:]
    histories: dict[str, dict] = {}
    predictions: dict[str, dict[str, np.ndarray]] = {}
    summary: dict[str, Any] = {"kind": mc.kind, "input_shape": list(shape),
                               "quantization": mc.quant_spec().to_dict()}

    float_model = build_float(mc, shape)
    histories["float"] = fit(float_model, x_tr, y_tr, x_va, y_va, epochs=tcfg.epochs,
                             learning_rate=tcfg.learning_rate, cfg=tcfg, **weights,
                             desc=f"{mc.name} float", quiet=quiet)
    save_model(float_model, out_dir / f"{mc.name}_float.h5")
    predictions[f"{mc.name}_float"] = _predict_q_over_pt(float_model, mc.kind, data, TARGET_SCALE)
    source = float_model
    steps_per_epoch = max(1, int(np.ceil(len(x_tr) / tcfg.batch_size)))

    if mc.target_sparsity > 0:
        ramp = max(1, tcfg.prune_epochs * 4 // 10)
        pruned = apply_pruning(float_model, mc.target_sparsity, 0, steps_per_epoch * ramp)
        histories["float_pruned"] = fit(
            pruned, x_tr, y_tr, x_va, y_va, epochs=tcfg.prune_epochs,
            learning_rate=tcfg.qat_learning_rate, cfg=tcfg, **weights,
            extra_callbacks=pruning_callbacks(),
            early_stop_from=ramp, desc=f"{mc.name} pruning", quiet=quiet)
        pruned = strip(pruned)
        save_model(pruned, out_dir / f"{mc.name}_float_pruned.h5")
        predictions[f"{mc.name}_float_pruned"] = _predict_q_over_pt(pruned, mc.kind, data,
                                                                    TARGET_SCALE)
        summary["float_pruned_sparsity"] = sparsity_report(pruned)
        source = pruned

    quantized = build_quantized(mc, shape)
    copy_weights_by_name(source, quantized)
    callbacks = []
    if mc.target_sparsity > 0:  # keep the pruned zeros while the quantizers train
        quantized = apply_pruning(quantized, mc.target_sparsity, 0, 1, constant=True)
        callbacks = pruning_callbacks()
    histories["quantized"] = fit(quantized, x_tr, y_tr, x_va, y_va, epochs=tcfg.qat_epochs,
                                 learning_rate=tcfg.qat_learning_rate / 2, cfg=tcfg, **weights,
                                 extra_callbacks=callbacks, desc=f"{mc.name} QAT", quiet=quiet)
    if callbacks:
        quantized = strip(quantized)
    save_model(quantized, out_dir / f"{mc.name}_quantized.h5")
    predictions[f"{mc.name}_quantized"] = _predict_q_over_pt(quantized, mc.kind, data,
                                                            TARGET_SCALE)
    summary["sparsity"] = sparsity_report(quantized)
    summary["epochs"] = {k: len(h.get("loss", [])) for k, h in histories.items()}
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["files"] = sorted(p.name for p in out_dir.glob(f"{mc.name}_*.h5"))
    (out_dir / f"{mc.name}_history.json").write_text(json.dumps(histories, indent=1))
    plots.loss_curves(histories, out_dir / f"{mc.name}_loss.png")
    summary["reference_model"] = f"{source.name}"
    summary["reference_file"] = (f"{mc.name}_float_pruned.h5" if mc.target_sparsity > 0
                                 else f"{mc.name}_float.h5")
    summary["predictions"] = predictions
    return summary


def train_baselines(data: Dataset, out_dir: Path, seed: int,
                    tcfg: TrainingConfig | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Fit the analytic LUT and the BDT; return their q/pT predictions."""
    from triginfer.trigger_models.baselines import AnalyticLUT, train_bdt

    preds: dict[str, dict[str, np.ndarray]] = {}
    lut = AnalyticLUT().fit(data.train)
    (out_dir / "analytic_lut.json").write_text(json.dumps(lut.to_dict(), indent=1))
    preds["analytic"] = {"test": lut.predict(data.test)[:, 0]}
    if data.minbias is not None:
        preds["analytic"]["minbias"] = lut.predict(data.minbias)[:, 0]
    t0 = time.perf_counter()
    tcfg = tcfg or TrainingConfig()
    bdt = train_bdt(model_inputs("dnn", data.train), target(data.train),
                    model_inputs("dnn", data.val), target(data.val), seed,
                    w_train=tcfg.sample_weights(data.train.truth["gen_pt"]),
                    w_val=tcfg.sample_weights(data.val.truth["gen_pt"]))
    bdt.save_model(out_dir / "bdt.json")
    preds["bdt"] = {"test": bdt.predict(model_inputs("dnn", data.test)) / TARGET_SCALE}
    if data.minbias is not None:
        track = has_track(data.minbias)
        pred = np.zeros(len(data.minbias))
        if track.any():
            pred[track] = bdt.predict(model_inputs("dnn", data.minbias.select(track))) / TARGET_SCALE
        preds["bdt"]["minbias"] = pred
    log.info("baselines: analytic LUT and BDT (%.1f s)", time.perf_counter() - t0)
    return preds


#: Defaults of one ``bdts:`` entry (a BDT sized for an L1 FPGA, see :func:`train_trigger_bdt`).
BDT_DEFAULTS: dict[str, Any] = {"name": "bdt_l1", "max_trees": 100, "max_depth": 4,
                                "scan_trees": [25, 50, 100], "scan_depths": [3, 4],
                                "scan_tolerance": 0.02, "learning_rate": 0.3,
                                "precision": None, "score_width": 18}


def parse_bdts(section: Any) -> list[dict[str, Any]]:
    """The ``bdts:`` config entries with defaults filled in, checked (one-line errors)."""
    if section is None:
        return []
    if not isinstance(section, list):
        raise ConfigError("bdts: must be a list of BDT entries (name, max_trees, max_depth, ...)")
    out, names = [], set()
    for i, entry in enumerate(section):
        if not isinstance(entry, dict):
            raise ConfigError(f"bdts[{i}]: must be a mapping")
        unknown = sorted(set(entry) - set(BDT_DEFAULTS))
        if unknown:
            raise ConfigError(f"bdts[{i}]: unknown key(s) {unknown}; known: {sorted(BDT_DEFAULTS)}")
        bc = {**BDT_DEFAULTS, **entry}
        if not isinstance(bc["name"], str) or not bc["name"].replace("_", "").isalnum():
            raise ConfigError(f"bdts[{i}].name: {bc['name']!r} must be letters, digits, '_'")
        if bc["name"] in names:
            raise ConfigError(f"bdts[{i}].name: {bc['name']!r} used twice")
        names.add(bc["name"])
        for key in ("max_trees", "max_depth", "score_width"):
            v = bc[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"bdts[{i}].{key}: must be a positive integer, got {v!r}")
        for key in ("scan_trees", "scan_depths"):
            v = bc[key]
            if (not isinstance(v, list) or not v
                    or any(isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in v)):
                raise ConfigError(f"bdts[{i}].{key}: must be a list of positive integers")
        for key in ("scan_tolerance", "learning_rate"):
            v = bc[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 10:
                raise ConfigError(f"bdts[{i}].{key}: must be a number in [0, 10), got {v!r}")
        if not any(t <= bc["max_trees"] for t in bc["scan_trees"]) or not any(
                d <= bc["max_depth"] for d in bc["scan_depths"]):
            raise ConfigError(f"bdts[{i}]: no scan point within max_trees/max_depth")
        from triginfer.features import MUON_INPUT_TYPE
        from triginfer.firmware.bdt import (
            DEFAULT_WEIGHT,
            BdtPrecision,
            check_precision,
            parse_precision,
        )
        from triginfer.quantization.fixed import FixedType

        try:
            given = parse_precision(bc["precision"])
            inp = given.get("input", MUON_INPUT_TYPE)
            check_precision(BdtPrecision(inp, given.get("threshold", inp),
                                         given.get("weight", DEFAULT_WEIGHT),
                                         given.get("score", FixedType(18, 4))))
        except ConfigError as exc:
            raise ConfigError(f"bdts[{i}].precision: {exc}") from exc
        out.append(bc)
    return out


def train_trigger_bdt(bc: dict[str, Any], data: Dataset, out_dir: Path, seed: int,
                      tcfg: TrainingConfig) -> tuple[dict[str, Any], dict[str, dict]]:
    """A BDT sized for an L1 FPGA: scan (trees, depth) within the entry's limits, keep the
    cheapest (trees x 2^depth leaves) whose validation σ68 is within ``scan_tolerance`` of
    the best, build its firmware spec (conifer types checked, see
    :mod:`triginfer.hls_export.bdt`) and emulate it bit-exactly. Returns the summary and the
    predictions ``{name}`` (float xgboost) and ``{name}_firmware`` (bit-exact emulation)."""
    import xgboost as xgb

    from triginfer.emulation.bdt import BdtEmulator
    from triginfer.features import ENGINEERED_NAMES
    from triginfer.hls_export.bdt import MUON_INPUT_TYPE, from_xgboost

    t0 = time.perf_counter()
    name = bc["name"]
    x_tr, y_tr = model_inputs("dnn", data.train), target(data.train)
    x_va = model_inputs("dnn", data.val)
    w_tr = tcfg.sample_weights(data.train.truth["gen_pt"])
    rows, models = [], {}
    for depth in sorted(d for d in set(bc["scan_depths"]) if d <= bc["max_depth"]):
        for trees in sorted(t for t in set(bc["scan_trees"]) if t <= bc["max_trees"]):
            model = xgb.XGBRegressor(n_estimators=trees, max_depth=depth,
                                     learning_rate=bc["learning_rate"], tree_method="hist",
                                     n_jobs=2, random_state=seed)
            model.fit(x_tr, y_tr, sample_weight=w_tr, verbose=False)
            s68 = m.resolution(model.predict(x_va) / TARGET_SCALE,
                               data.val.truth["gen_pt"]).sigma68
            rows.append({"trees": trees, "depth": depth, "leaves": trees * 2**depth,
                         "val_sigma68": s68})
            models[(trees, depth)] = model
    best = min(r["val_sigma68"] for r in rows)
    ok = [r for r in rows if r["val_sigma68"] <= best * (1 + bc["scan_tolerance"])]
    chosen = min(ok, key=lambda r: (r["leaves"], r["val_sigma68"]))
    model = models[(chosen["trees"], chosen["depth"])]
    model.get_booster().feature_names = list(ENGINEERED_NAMES)
    model.save_model(out_dir / f"{name}.json")
    spec = from_xgboost(model, name=name, precision=bc["precision"], input_type=MUON_INPUT_TYPE,
                        x_check=x_tr, score_width=bc["score_width"],
                        features={"set": "muon_engineered", "columns": list(ENGINEERED_NAMES)},
                        settings={"target_scale": TARGET_SCALE})
    spec.save(out_dir / f"{name}_spec")
    emulator = BdtEmulator(spec)
    x_te = model_inputs("dnn", data.test)
    preds = {name: {"test": model.predict(x_te) / TARGET_SCALE},
             f"{name}_firmware": {"test": emulator.predict(x_te)[:, 0] / TARGET_SCALE}}
    if data.minbias is not None:
        track = has_track(data.minbias)
        flt, fw = np.zeros(len(data.minbias)), np.zeros(len(data.minbias))
        if track.any():
            x_mb = model_inputs("dnn", data.minbias.select(track))
            flt[track] = model.predict(x_mb) / TARGET_SCALE
            fw[track] = emulator.predict(x_mb)[:, 0] / TARGET_SCALE
        preds[name]["minbias"] = flt
        preds[f"{name}_firmware"]["minbias"] = fw
    summary = {"kind": "bdt", "trees": chosen["trees"], "depth": chosen["depth"],
               "scan": rows, "scan_tolerance": bc["scan_tolerance"],
               "learning_rate": bc["learning_rate"], "types": spec.precision.as_dict(),
               "model_file": f"{name}.json", "spec_dir": f"{name}_spec",
               "seconds": round(time.perf_counter() - t0, 2)}
    log.info("%s: %d trees of depth %d chosen from %d (σ68 %.4f, best %.4f), %s",
             name, chosen["trees"], chosen["depth"], len(rows), chosen["val_sigma68"], best,
             spec.precision.score)
    return summary, preds


def evaluate(predictions: dict[str, dict[str, np.ndarray]], data: Dataset, out_dir: Path,
             thresholds: tuple[float, ...] = (10.0, 20.0, 30.0),
             rate_thresholds: tuple[float, ...] = (5, 7, 10, 12, 15, 20, 25, 30, 40, 50)
             ) -> dict[str, Any]:
    """Every physics metric for every model, plus the plots; returns the metrics mapping."""
    true_pt = data.test.truth["gen_pt"]
    true_qpt = data.test.truth["gen_q_over_pt"]
    result: dict[str, Any] = {"thresholds": list(thresholds), "models": {}}
    curves: dict[float, dict[str, dict]] = {t: {} for t in thresholds}
    rate_curves: dict[str, dict] = {}
    resolutions = {}
    for name, pred in predictions.items():
        qpt = pred["test"]
        pred_pt = m.pt_from_q_over_pt(qpt)
        res = m.resolution(qpt, true_pt)
        resolutions[name] = res.as_dict()
        entry: dict[str, Any] = {"resolution_sigma68": res.sigma68,
                                 "resolution_sigma68_err": m.bootstrap_sigma68(qpt, true_pt),
                                 "resolution_gauss": res.gauss_sigma,
                                 "resolution_per_bin": res.as_dict(),
                                 "charge_misassignment": m.charge_misassignment(qpt, true_qpt),
                                 "scales": {}, "rate_hz": {}}
        for thr in thresholds:
            scale = m.derive_scale(true_pt, pred_pt, thr)
            entry["scales"][f"{thr:g}"] = scale
            curves[thr][name] = m.turn_on(true_pt, pred_pt, thr, scale,
                                          bins=np.linspace(0.25 * thr, 2.5 * thr, 46))
        if "minbias" in pred and data.rate_per_event:
            mb_pt = m.pt_from_q_over_pt(pred["minbias"])
            mb_pt[pred["minbias"] == 0] = 0.0  # no track: never fires
            points = [m.rate_with_uncertainty(mb_pt, thr, m.derive_scale(true_pt, pred_pt, thr),
                                              data.rate_per_event) for thr in rate_thresholds]
            rate_curves[name] = {"thresholds": list(rate_thresholds),
                                 **{k: [p[k] for p in points]
                                    for k in ("rate_hz", "err_lo_hz", "err_hi_hz", "passing")}}
            entry["rate"] = {}
            for thr in thresholds:
                r = m.rate_with_uncertainty(mb_pt, thr, entry["scales"][f"{thr:g}"],
                                            data.rate_per_event)
                entry["rate"][f"{thr:g}"] = r
                entry["rate_hz"][f"{thr:g}"] = r["rate_hz"]
            entry["rate_at_20GeV_hz"] = entry["rate_hz"].get("20")
            entry["rate_at_20GeV"] = entry["rate"].get("20")
        result["models"][name] = entry
    reference = "analytic" if "analytic" in result["models"] else None
    if reference and "rate" in result["models"][reference]:
        ref_rate = result["models"][reference]["rate"]
        for entry in result["models"].values():
            if "rate" in entry:
                entry["rate_ratio_to_analytic"] = {
                    thr: m.ratio_with_uncertainty(r["passing"], ref_rate[thr]["passing"])
                    for thr, r in entry["rate"].items()}
    result["plots"] = {
        "resolution": plots.resolution_vs_pt(resolutions, out_dir / "resolution_vs_pt.png").name,
        "turn_on": plots.turn_ons(curves, out_dir / "turn_on.png").name,
    }
    if rate_curves:
        result["plots"]["rate"] = plots.rates(rate_curves, out_dir / "rate_vs_threshold.png").name
    result["turn_on_curves"] = {f"{t:g}": c for t, c in curves.items()}
    result["rate_curves"] = rate_curves
    return result
