"""The steps of ``triginfer run`` (see :mod:`triginfer.pipeline` for caching).

Today: ``data`` (simulate the default dataset, or take the user's ROOT files)
and ``dataset`` (read it back in chunks, select tracks, compute features and
write a summary). Later stages append their steps to :data:`STEPS`.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.atomic import atomic_path
from triginfer.config import RtlConfig, RunFirmwareConfig, RuntimeConfig, check_value
from triginfer.errors import ConfigError
from triginfer.features import engineered_features, has_track
from triginfer.layout import RunLayout
from triginfer.pipeline import RunContext, Step, write_json
from triginfer.rootio import read_sample, write_samples
from triginfer.simulation import Sample, simulate_minbias, simulate_muons

log = logging.getLogger(__name__)

def dataset_files(ctx: RunContext) -> tuple[list[str], list[str]]:
    """The ROOT files holding the muon and minbias samples of this run."""
    data = ctx.cfg.data
    if data.source == "simulate":
        path = str(ctx.layout.sim_file)
        return [path], ([path] if data.minbias_events else [])
    return list(data.files), list(data.minbias_files)


def _read_samples(ctx: RunContext) -> tuple[Sample, Sample | None]:
    """The run's muon and minbias samples as read (read once per process, then shared)."""
    if "samples" not in ctx.cache:
        data = ctx.cfg.data
        muon_files, minbias_files = dataset_files(ctx)
        bmap = data.branch_map_obj()
        muons = read_sample(muon_files, data.tree, bmap, data.step_size)
        minbias = None
        if minbias_files:
            minbias = read_sample(minbias_files, data.minbias_tree, bmap, data.step_size,
                                  require_truth=False)
        ctx.cache["samples"] = (muons, minbias)
    return ctx.cache["samples"]


def load_dataset(ctx: RunContext) -> tuple[Sample, Sample | None]:
    """Read the run's muon and minbias samples (events with a track only)."""
    muons, minbias = _read_samples(ctx)
    return muons.select(has_track(muons, ctx.cfg.data.min_stations)), minbias


#: Steps that read the input events (a user's files are read and checked before they run).
READS_EVENTS = ("dataset", "train", "metrics", "emulate", "bench")


def preflight(ctx: RunContext, to_run: list[str]) -> None:
    """Before any step runs: read (and so check) the user's event files when a step that
    needs them will run, so a bad file is one error line before any work."""
    if ctx.cfg.data.source == "files" and set(to_run) & set(READS_EVENTS):
        _read_samples(ctx)


def _step_data(ctx: RunContext) -> dict[str, Any]:
    data = ctx.cfg.data
    if data.source != "simulate":
        return {"source": "files", "files": data.files, "minbias_files": data.minbias_files}
    samples = {"muons": simulate_muons(data.events, ctx.cfg.seed, ctx.cfg.simulation)}
    if data.minbias_events:
        samples["minbias"] = simulate_minbias(data.minbias_events, ctx.cfg.seed,
                                              ctx.cfg.simulation)
    write_samples(ctx.layout.sim_file, samples)
    return {"source": "simulate", "file": ctx.layout.rel(ctx.layout.sim_file),
            "events": data.events,
            "minbias_events": data.minbias_events}


def _sample_summary(sample: Sample) -> dict[str, Any]:
    modes = np.bincount(sample.mode, minlength=16)
    out: dict[str, Any] = {
        "events": len(sample),
        "station_efficiency": [round(float(x), 4) for x in sample.present.mean(axis=0)],
        "mode_fractions": {f"{m:04b}": round(float(modes[m]) / max(len(sample), 1), 4)
                           for m in range(16) if modes[m]},
    }
    if "gen_pt" in sample.truth and len(sample):
        pt = sample.truth["gen_pt"]
        out["gen_pt_percentiles"] = {p: round(float(np.percentile(pt, p)), 3)
                                     for p in (0, 50, 90, 100)}
    return out


def _step_dataset(ctx: RunContext) -> dict[str, Any]:
    data = ctx.cfg.data
    muons_all, minbias = _read_samples(ctx)
    tracks = has_track(muons_all, data.min_stations)
    summary: dict[str, Any] = {"muons": _sample_summary(muons_all),
                               "muons_with_track": int(tracks.sum())}
    feats = engineered_features(muons_all.select(tracks))
    summary["feature_ranges"] = feats.ranges
    if minbias is not None:
        summary["minbias"] = _sample_summary(minbias)
    write_json(ctx.layout.data_summary, summary)
    if not ctx.quiet:
        _print_summary(summary)
    return {"muons": len(muons_all), "muons_with_track": int(tracks.sum()),
            "minbias": summary.get("minbias", {}).get("events", 0)}


def _print_summary(summary: dict[str, Any]) -> None:
    mu = summary["muons"]
    lines = [f"muons: {mu['events']} events, {summary['muons_with_track']} with a track "
             f"(>= 2 stations)",
             f"  station efficiency: {mu['station_efficiency']}"]
    if "gen_pt_percentiles" in mu:
        lines.append(f"  gen pT percentiles (0/50/90/100): {list(mu['gen_pt_percentiles'].values())}")
    top = sorted(mu["mode_fractions"].items(), key=lambda kv: -kv[1])[:5]
    lines.append("  commonest modes: " + ", ".join(f"{m}: {f:.3f}" for m, f in top))
    if "minbias" in summary:
        mb = summary["minbias"]
        lines.append(f"minbias: {mb['events']} events, gen pT percentiles "
                     f"{list(mb.get('gen_pt_percentiles', {}).values())}")
    for line in lines:
        log.info("%s", line)


def _dataset_for_training(ctx: RunContext):
    """The split dataset, read once per run and shared by the steps that need it."""
    from triginfer.trigger_models.workflow import prepare_dataset

    if "dataset" not in ctx.cache:
        muons, minbias = load_dataset(ctx)
        data = ctx.cfg.data
        ctx.cache["dataset"] = prepare_dataset(muons, minbias, ctx.cfg.seed, data.split,
                                               ctx.cfg.simulation, data.min_stations)
    return ctx.cache["dataset"]


def _step_train(ctx: RunContext) -> dict[str, Any]:
    from triginfer.trigger_models.scan import scan_bit_widths
    from triginfer.trigger_models.training import TrainingConfig, load_model
    from triginfer.trigger_models.workflow import parse_models, train_baselines, train_one

    models = parse_models(ctx.cfg.sections.get("models"))
    if not models:
        raise ConfigError(f"{ctx.cfg.source_path or 'config'}: no models to train (section 'models')")
    tcfg = TrainingConfig.from_dict(ctx.cfg.section("training"))
    qcfg = ctx.cfg.section("quantization")
    unknown = sorted(set(qcfg) - {"scan_bits", "scan_epochs", "scan_tolerance", "scan_model"})
    if unknown:
        raise ConfigError(f"quantization: unknown key(s) {unknown}")
    data = _dataset_for_training(ctx)
    out = ctx.layout.train_dir
    out.mkdir(parents=True, exist_ok=True)
    predictions: dict[str, dict[str, np.ndarray]] = {}
    summary: dict[str, Any] = {"models": {}, "events": {"train": len(data.train),
                                                        "val": len(data.val),
                                                        "test": len(data.test)}}
    for mc in models:
        result = train_one(mc, tcfg, data, out, ctx.cfg.seed, quiet=ctx.quiet)
        predictions.update(result.pop("predictions"))
        summary["models"][mc.name] = result
    predictions.update(train_baselines(data, out, ctx.cfg.seed, tcfg))
    from triginfer.trigger_models.workflow import parse_bdts, train_trigger_bdt

    for bc in parse_bdts(ctx.cfg.sections.get("bdts")):
        bdt_summary, bdt_preds = train_trigger_bdt(bc, data, out, ctx.cfg.seed, tcfg)
        summary.setdefault("bdts", {})[bc["name"]] = bdt_summary
        predictions.update(bdt_preds)
    if qcfg.get("scan_bits"):
        name = qcfg.get("scan_model", models[0].name)
        mc = next((x for x in models if x.name == name), None)
        if mc is None:
            raise ConfigError(f"quantization.scan_model {name!r} is not one of the models")
        reference = load_model(out / summary["models"][name]["reference_file"])
        unpruned = None
        if summary["models"][name]["reference_file"] != f"{name}_float.h5":
            unpruned = load_model(out / f"{name}_float.h5")
        summary["bit_scan"] = scan_bit_widths(
            mc, reference, data, tcfg, [int(b) for b in qcfg["scan_bits"]],
            int(qcfg.get("scan_epochs", 6)), float(qcfg.get("scan_tolerance", 0.05)), out,
            ctx.cfg.seed, quiet=ctx.quiet, unpruned_model=unpruned)
    flat = {f"{model}/{part}": arr for model, parts in predictions.items()
            for part, arr in parts.items()}
    with atomic_path(ctx.layout.predictions) as tmp:
        np.savez(tmp, **flat)
    write_json(ctx.layout.train_summary, summary)
    return {"models": list(summary["models"]), "predictions": sorted(predictions)}


def _load_predictions(path) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path) as npz:
        for key in npz.files:
            model, part = key.split("/")
            out.setdefault(model, {})[part] = npz[key]
    return out


def _step_metrics(ctx: RunContext) -> dict[str, Any]:
    import json

    from triginfer.trigger_models.workflow import evaluate

    section = ctx.cfg.section("metrics")
    unknown = sorted(set(section) - {"thresholds", "rate_thresholds"})
    if unknown:
        raise ConfigError(f"metrics: unknown key(s) {unknown}")
    data = _dataset_for_training(ctx)
    predictions = _load_predictions(ctx.layout.predictions)
    kwargs = {}
    if "thresholds" in section:
        kwargs["thresholds"] = tuple(float(t) for t in section["thresholds"])
    if "rate_thresholds" in section:
        kwargs["rate_thresholds"] = tuple(float(t) for t in section["rate_thresholds"])
    result = evaluate(predictions, data, ctx.layout.plots_dir, **kwargs)
    training = json.loads(ctx.layout.train_summary.read_text())
    metrics = {"dataset": ctx.summaries.get("dataset", {}), "training": training, **result}
    write_json(ctx.layout.metrics_summary, metrics)
    _log_metrics(metrics)
    return {"models": sorted(result["models"])}


def _log_metrics(metrics: dict[str, Any]) -> None:
    log.info("%-22s %9s %9s %9s %12s", "model", "sigma68", "gauss", "q-misID", "rate@20 [kHz]")
    for name, e in metrics["models"].items():
        rate20 = e.get("rate_at_20GeV_hz")
        log.info("%-22s %9.4f %9.4f %9.4f %12s", name, e["resolution_sigma68"],
                 e["resolution_gauss"], e["charge_misassignment"],
                 f"{rate20 / 1e3:.2f}" if rate20 is not None else "-")


def _firmware_settings(ctx: RunContext) -> RunFirmwareConfig:
    return RunFirmwareConfig.of(ctx.cfg.section("firmware"))


def _step_firmware(ctx: RunContext) -> dict[str, Any]:
    """Convert every quantized model with hls4ml, compile the C simulation, cross-check."""
    from triginfer.emulation import Emulator
    from triginfer.emulation.files import feature_set_of
    from triginfer.hls_export import convert
    from triginfer.trigger_models.training import load_model, predict
    from triginfer.trigger_models.workflow import (
        TARGET_SCALE,
        model_inputs,
        parse_models,
    )

    settings = _firmware_settings(ctx)
    data = _dataset_for_training(ctx)
    summary: dict[str, Any] = {"settings": settings.as_dict(), "models": {}}
    staged: dict[Path, Path] = {}
    for mc in parse_models(ctx.cfg.sections.get("models")):
        model = load_model(ctx.layout.model_file(mc.name, "quantized"))
        out = ctx.layout.firmware_dir(mc.name)
        # built in a staging directory, swapped in only when every model is done: an
        # interrupted step leaves the previous complete firmware (or none), never a mix
        stage = out.with_name(f".{mc.name}.partial")
        shutil.rmtree(stage, ignore_errors=True)
        staged[out] = stage
        firmware = convert(model, stage, backend=settings.backend, io_type=settings.io_type,
                           strategy=settings.strategy, reuse_factor=settings.reuse_factor,
                           part=settings.part, clock_period_ns=settings.clock_period_ns,
                           project_name=mc.name, features={"set": feature_set_of(mc.kind)})
        firmware.spec.settings["target_scale"] = TARGET_SCALE
        firmware.spec.save(stage)
        firmware.compile()
        x = model_inputs(mc.kind, data.test)
        if settings.csim_events:  # 0: the whole test set
            x = x[: settings.csim_events]
        csim = firmware.csim_predict(x, progress=not ctx.quiet)
        qkeras = predict(model, x)
        emulated = Emulator(firmware.spec).predict(x)
        entry = {"csim_events": len(x),
                 "csim_equals_qkeras": int(np.sum(np.all(csim == qkeras, axis=1))),
                 "emulator_equals_csim": int(np.sum(np.all(emulated == csim, axis=1))),
                 "output_std": float(np.std(csim)),
                 "project": ctx.layout.rel(out)}
        log.info("%s firmware: C-sim == QKeras on %d/%d, emulator == C-sim on %d/%d events",
                 mc.name, entry["csim_equals_qkeras"], len(x), entry["emulator_equals_csim"],
                 len(x))
        summary["models"][mc.name] = entry
    from triginfer.trigger_models.workflow import parse_bdts

    for bc in parse_bdts(ctx.cfg.sections.get("bdts")):
        summary.setdefault("bdts", {})[bc["name"]] = _bdt_firmware(ctx, bc["name"], settings,
                                                                   staged)
    for out, stage in staged.items():
        config = stage / "hls4ml_config.yml"
        if config.exists():
            config.write_text(config.read_text().replace(str(stage), str(out)))
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            os.replace(out, old)
        os.replace(stage, out)
        shutil.rmtree(old, ignore_errors=True)
    write_json(ctx.layout.firmware_summary, summary)
    return summary


def _bdt_firmware(ctx: RunContext, name: str, settings: RunFirmwareConfig,
                  staged: dict[Path, Path]) -> dict[str, Any]:
    """The conifer HLS project of a trigger-sized BDT (from the spec the train step built),
    staged like the networks' projects; with ``firmware.bdt_csim_events`` > 0 its C++ is
    compiled with g++ and checked against the emulator on that many test events."""
    from triginfer.emulation.bdt import BdtEmulator
    from triginfer.hls_export.bdt import BdtSpec, csim, write_firmware
    from triginfer.trigger_models.workflow import model_inputs

    spec = BdtSpec.load(ctx.layout.bdt_spec(name))
    out = ctx.layout.firmware_dir(name)
    stage = out.with_name(f".{name}.partial")
    shutil.rmtree(stage, ignore_errors=True)
    staged[out] = stage
    entry = write_firmware(spec, stage, clock_period=settings.clock_period_ns,
                           part=settings.part)
    entry["project"] = ctx.layout.rel(out)
    n = settings.bdt_csim_events
    if n:
        x = model_inputs("dnn", _dataset_for_training(ctx).test)[:n]
        ref = csim(stage, x)
        entry["csim_events"] = len(x)
        entry["emulator_equals_csim"] = int(np.sum(ref[:, 0] == BdtEmulator(spec).predict(x)[:, 0]))
        log.info("%s firmware: emulator == HLS C-sim (g++) on %d/%d events", name,
                 entry["emulator_equals_csim"], len(x))
    est = entry["conifer_estimate"]
    log.info("%s firmware: %d trees, depth %d, %s; %s: latency %s cycles, LUT %s, FF %s", name,
             spec.n_trees, spec.max_depth, spec.precision.score, est["label"],
             est.get("latency"), est.get("lut"), est.get("ff"))
    return entry


def _step_emulate(ctx: RunContext) -> dict[str, Any]:
    """Emulate the firmware on the whole test and minbias samples; compare with QKeras."""
    import time

    from triginfer.emulation import Emulator
    from triginfer.hls_export import FirmwareSpec
    from triginfer.trigger_models.workflow import TARGET_SCALE, model_inputs, parse_models

    data = _dataset_for_training(ctx)
    predictions = _load_predictions(ctx.layout.predictions)
    summary: dict[str, Any] = {"models": {}}
    emulated_preds: dict[str, np.ndarray] = {}
    for mc in parse_models(ctx.cfg.sections.get("models")):
        spec = FirmwareSpec.load(ctx.layout.firmware_dir(mc.name))
        emulator = Emulator(spec)
        x = model_inputs(mc.kind, data.test)
        t0 = time.perf_counter()
        values, report = emulator.predict(x, monitor=True)
        seconds = time.perf_counter() - t0
        q_over_pt = values[:, 0] / TARGET_SCALE
        qkeras = predictions[f"{mc.name}_quantized"]["test"]
        entry = {"test_events": len(x), "events_per_s": len(x) / seconds,
                 "emulator_equals_qkeras": int(np.sum(q_over_pt == qkeras)),
                 "overflow": report.as_dict()}
        emulated_preds[f"{mc.name}/test"] = q_over_pt
        if data.minbias is not None:
            mb = data.minbias.select(has_track(data.minbias))
            mb_values = emulator.predict(model_inputs(mc.kind, mb))[:, 0] / TARGET_SCALE
            full = np.zeros(len(data.minbias))
            full[has_track(data.minbias)] = mb_values
            entry["minbias_events"] = len(data.minbias)
            entry["minbias_equals_qkeras"] = int(np.sum(full == predictions[
                f"{mc.name}_quantized"]["minbias"]))
            emulated_preds[f"{mc.name}/minbias"] = full
        log.info("%s emulation: %d test events at %.2g events/s, emulator == QKeras on %d",
                 mc.name, len(x), entry["events_per_s"], entry["emulator_equals_qkeras"])
        if not ctx.quiet:
            log.info("overflow monitor (%s, test sample):\n%s", mc.name, report.table())
        summary["models"][mc.name] = entry
    from triginfer.emulation.bdt import BdtEmulator
    from triginfer.hls_export.bdt import BdtSpec
    from triginfer.trigger_models.workflow import parse_bdts

    for bc in parse_bdts(ctx.cfg.sections.get("bdts")):
        name = bc["name"]
        emulator = BdtEmulator(BdtSpec.load(ctx.layout.firmware_dir(name)))
        x = model_inputs("dnn", data.test)
        t0 = time.perf_counter()
        q_over_pt = emulator.predict(x)[:, 0] / TARGET_SCALE
        seconds = time.perf_counter() - t0
        trained = predictions[f"{name}_firmware"]
        entry = {"kind": "bdt", "test_events": len(x), "events_per_s": len(x) / seconds,
                 "emulator_equals_train": int(np.sum(q_over_pt == trained["test"]))}
        emulated_preds[f"{name}/test"] = q_over_pt
        if data.minbias is not None:
            track = has_track(data.minbias)
            full = np.zeros(len(data.minbias))
            if track.any():
                full[track] = emulator.predict(model_inputs(
                    "dnn", data.minbias.select(track)))[:, 0] / TARGET_SCALE
            entry["minbias_events"] = len(data.minbias)
            entry["minbias_equals_train"] = int(np.sum(full == trained["minbias"]))
            emulated_preds[f"{name}/minbias"] = full
        log.info("%s emulation: %d test events at %.2g events/s, firmware emulation == the "
                 "train step's on %d", name, len(x), entry["events_per_s"],
                 entry["emulator_equals_train"])
        summary["models"][name] = entry
    with atomic_path(ctx.layout.emulation_predictions) as tmp:
        np.savez(tmp, **emulated_preds)
    write_json(ctx.layout.emulation_summary, summary)
    return {k: {kk: v[kk] for kk in ("test_events", "emulator_equals_qkeras",
                                     "emulator_equals_train") if kk in v}
            for k, v in summary["models"].items()}


def _step_onnx(ctx: RunContext) -> dict[str, Any]:
    """Export float, QKeras and bit-exact ONNX; check them against Keras and the emulator."""
    from triginfer.emulation import Emulator
    from triginfer.gpu_runtime import Session, export_bitexact_onnx, export_onnx
    from triginfer.hls_export import FirmwareSpec
    from triginfer.trigger_models.training import load_model, predict
    from triginfer.trigger_models.workflow import model_inputs, parse_models

    data = _dataset_for_training(ctx)
    summary: dict[str, Any] = {"models": {}}
    for mc in parse_models(ctx.cfg.sections.get("models")):
        x = model_inputs(mc.kind, data.test)
        entry: dict[str, Any] = {"events": len(x)}
        for version in ("float", "quantized"):
            model = load_model(ctx.layout.model_file(mc.name, version))
            path = export_onnx(model, ctx.layout.onnx_file(mc.name, version))
            got = Session(path, device="cpu").run(x)
            want = predict(model, x)
            if version == "float":
                import onnx

                entry["float_export"] = ("keras-order" if onnx.load(str(path)).producer_name
                                         == "triginfer-keras-order" else "tf2onnx")
                entry["float_max_abs_diff"] = float(np.max(np.abs(got - want)))
                entry["float_equals_keras"] = int(np.sum(np.all(got == want, axis=1)))
            else:
                entry["quantized_equals_qkeras"] = int(np.sum(np.all(got == want, axis=1)))
        spec = FirmwareSpec.load(ctx.layout.firmware_dir(mc.name))
        path = export_bitexact_onnx(spec, ctx.layout.onnx_file(mc.name, "bitexact"))
        got = Session(path, device="cpu").run(x)
        entry["bitexact_equals_emulator"] = int(np.sum(np.all(got == Emulator(spec).predict(x),
                                                              axis=1)))
        log.info("%s ONNX: float max |diff| %.2g, QKeras ONNX == QKeras on %d/%d, bit-exact "
                 "ONNX == emulator on %d/%d", mc.name, entry["float_max_abs_diff"],
                 entry["quantized_equals_qkeras"], len(x), entry["bitexact_equals_emulator"],
                 len(x))
        summary["models"][mc.name] = entry
    write_json(ctx.layout.onnx_summary, summary)
    return summary


def _step_bench(ctx: RunContext) -> dict[str, Any]:
    """Runtime benchmark of each model's ONNX export, and the FPGA budget check."""
    from triginfer.hls_export import FirmwareSpec
    from triginfer.latency_bench import budget_from_config, check, estimate, with_synthesis
    from triginfer.latency_bench.runtime import benchmark_to, table
    from triginfer.trigger_models.training import load_model
    from triginfer.trigger_models.workflow import model_inputs, parse_models

    runtime = RuntimeConfig.of(ctx.cfg.section("runtime"))
    budget = budget_from_config(ctx.cfg.section("budgets"))
    data = _dataset_for_training(ctx)
    summary: dict[str, Any] = {"budget": budget.__dict__, "models": {}}
    version = runtime.version
    for mc in parse_models(ctx.cfg.sections.get("models")):
        spec = FirmwareSpec.load(ctx.layout.firmware_dir(mc.name))
        report_path = ctx.layout.firmware_dir(mc.name) / "report.json"
        synth = None
        if report_path.exists():
            import json

            synth = json.loads(report_path.read_text())
        fpga = with_synthesis(estimate(spec), synth)
        checks = check(fpga, budget)
        x = model_inputs(mc.kind, data.test)
        result = benchmark_to(
            ctx.layout.bench_plots(mc.name), ctx.layout.onnx_file(mc.name, version), x,
            keras_model=load_model(ctx.layout.model_file(mc.name, version)), spec=spec,
            device=runtime.device, batch_sizes=tuple(runtime.batch_sizes),
            min_seconds=float(runtime.seconds), offered_rate_hz=float(runtime.offered_rate),
            load_seconds=float(runtime.load_seconds), progress=not ctx.quiet,
            triton=runtime.triton)
        result["onnx_version"] = version
        log.info("%s runtime benchmark (%s ONNX):\n%s", mc.name, version, table(result))
        log.info("%s FPGA (%s): %d cycles = %.0f ns, II %d, %s; budget %s", mc.name,
                 fpga["source"], fpga["latency_cycles"], fpga["latency_ns"],
                 fpga["initiation_interval"], fpga["resources"],
                 "passed" if all(r["passed"] for r in checks) else "FAILED")
        summary["models"][mc.name] = {"fpga": fpga, "budget_check": checks, "runtime": result}
    write_json(ctx.layout.bench_summary, summary)
    return {name: all(r["passed"] for r in m["budget_check"])
            for name, m in summary["models"].items()}


def _rtl_settings(ctx: RunContext) -> RtlConfig:
    return RtlConfig.of(ctx.cfg.section("rtl"))


def _step_rtl(ctx: RunContext) -> dict[str, Any]:
    """The open-source RTL flow (da4ml, Verilator, yosys) on the configured models: RTL ==
    emulator on the test events, latency and II measured, resources counted."""
    from triginfer.hls_export import FirmwareSpec
    from triginfer.hls_export.rtl import RtlToolMissing, export_rtl, find_tools
    from triginfer.trigger_models.workflow import model_inputs, parse_models

    settings = _rtl_settings(ctx)
    summary: dict[str, Any] = {"settings": settings.as_dict(), "models": {}}
    models = parse_models(ctx.cfg.sections.get("models"))
    wanted = settings.models or [models[0].name]
    unknown = sorted(set(wanted) - {mc.name for mc in models})
    if unknown:
        raise ConfigError(f"rtl.models: {unknown} are not models of this config")
    if not settings.enabled:
        summary["skipped"] = "rtl.enabled is false"
    else:
        try:
            find_tools()
        except RtlToolMissing as exc:
            summary["skipped"] = str(exc)
            log.warning("rtl step skipped: %s", exc)
    if "skipped" not in summary:
        data = _dataset_for_training(ctx)
        clock = _firmware_settings(ctx).clock_period_ns
        for mc in models:
            if mc.name not in wanted:
                continue
            spec = FirmwareSpec.load(ctx.layout.firmware_dir(mc.name))
            x = model_inputs(mc.kind, data.test)[: settings.events]
            final = ctx.layout.rtl_dir(mc.name)
            # built in a directory of this process, renamed into place when done: the tools
            # of a killed run (which outlive it for seconds) never write into this one's
            for stale in final.parent.glob(f".{mc.name}.*.partial"):
                shutil.rmtree(stale, ignore_errors=True)
            stage = final.with_name(f".{mc.name}.{os.getpid()}.partial")
            report = export_rtl(spec, stage, events=len(x), x=x,
                                clock_ns=clock, resources=settings.resources,
                                latency_cutoff=settings.latency_cutoff,
                                table_bits=settings.table_bits,
                                progress=(lambda _m: None) if ctx.quiet else log.info)
            shutil.rmtree(stage / "sim" / "obj_dir", ignore_errors=True)   # build products
            shutil.rmtree(final, ignore_errors=True)
            os.replace(stage, final)
            report["directory"] = ctx.layout.rel(final)
            summary["models"][mc.name] = report
            level = logging.INFO if report["exact"] == report["events"] else logging.ERROR
            log.log(level, "%s RTL: == emulator on %d/%d test events, latency %d clocks, II %s",
                    mc.name, report["exact"], report["events"], report["latency_cycles"],
                    report["ii"])
    write_json(ctx.layout.rtl_summary, summary)
    return {name: r["exact"] == r["events"] for name, r in summary["models"].items()}


def _step_report(ctx: RunContext) -> dict[str, Any]:
    from triginfer.report import write_report

    path = write_report(ctx.layout, ctx.cfg)
    log.debug("report: %s", path)
    return {"report": ctx.layout.rel(path)}


def write_metrics(ctx: RunContext) -> Path:
    """The run's ``metrics.json``: the metrics step's physics summary with every other step's
    summary merged in (those that exist), the package versions and the seed. Written by the
    pipeline when a run finishes (``run_pipeline(finish=...)``), so no step rewrites
    another's output."""
    import json

    from triginfer.report import package_versions

    layout = ctx.layout
    merged: dict[str, Any] = {}
    if layout.metrics_summary.exists():
        merged.update(json.loads(layout.metrics_summary.read_text()))
    for key, path in (("firmware", layout.firmware_summary),
                      ("emulation", layout.emulation_summary), ("onnx", layout.onnx_summary),
                      ("bench", layout.bench_summary), ("rtl", layout.rtl_summary)):
        if path.exists():
            merged[key] = json.loads(path.read_text())
    merged.update({"versions": package_versions(), "seed": ctx.cfg.seed})
    write_json(layout.metrics, merged)
    return layout.metrics


# --- what each step reads and writes, in the run layout's terms -------------------------------
def _models(cfg) -> list[str]:
    from triginfer.trigger_models.workflow import parse_models

    return [mc.name for mc in parse_models(cfg.sections.get("models"))]


def _bdts(cfg) -> list[str]:
    from triginfer.trigger_models.workflow import parse_bdts

    return [bc["name"] for bc in parse_bdts(cfg.sections.get("bdts"))]


def _sim(layout: RunLayout, cfg) -> tuple[Path, ...]:
    return (layout.sim_file,) if cfg.data.source == "simulate" else ()


def _trained(layout: RunLayout, cfg) -> tuple[Path, ...]:
    return (layout.predictions, layout.train_summary,
            *[layout.model_file(m, v) for m in _models(cfg) for v in ("float", "quantized")],
            *[layout.bdt_spec(b) / "bdt_spec.json" for b in _bdts(cfg)])


def _firmware(layout: RunLayout, cfg) -> tuple[Path, ...]:
    return (layout.firmware_summary,
            *[layout.firmware_dir(m) / f for m in _models(cfg)
              for f in ("firmware_spec.json", "firmware_spec.npz")],
            *[layout.firmware_dir(b) / "bdt_spec.json" for b in _bdts(cfg)])


def _emulated(layout: RunLayout, cfg) -> tuple[Path, ...]:
    return layout.emulation_predictions, layout.emulation_summary


def _onnx(layout: RunLayout, cfg) -> tuple[Path, ...]:
    return (layout.onnx_summary, *[layout.onnx_file(m, v) for m in _models(cfg)
                                   for v in ("float", "quantized", "bitexact")])


def _summaries(layout: RunLayout, cfg) -> tuple[Path, ...]:
    return (layout.data_summary, layout.metrics_summary, layout.firmware_summary,
            layout.emulation_summary, layout.onnx_summary, layout.bench_summary,
            layout.rtl_summary)


def _paths(*paths):
    """A ``Step.writes``/``reads`` of fixed layout attributes."""
    return lambda layout, cfg: tuple(getattr(layout, p) for p in paths)


STEPS: list[Step] = [
    # With data.source 'files' nothing is written, so the (instant) data step reruns.
    # version 2: the toy's non-Gaussian tails
    Step("data", _step_data, ("seed", "data", "simulation"), writes=_sim, version=2),
    Step("dataset", _step_dataset, ("seed", "data", "simulation"), after=("data",),
         reads=_sim, writes=_paths("data_summary")),
    # version 2: trigger-sized BDTs (section bdts) with their firmware spec
    Step("train", _step_train, ("seed", "data", "simulation", "models", "bdts", "training",
                                "quantization"), after=("dataset",),
         reads=_sim, writes=_trained, version=2),
    # version 2: statistical uncertainties, ratios to the analytic lookup, linear turn-ons
    # version 3: written to metrics/summary.json (the report merges every summary)
    Step("metrics", _step_metrics, ("metrics",), after=("train",),
         reads=_paths("predictions", "train_summary"), writes=_paths("metrics_summary"),
         version=3),
    # version 2: conifer firmware of the BDTs
    Step("firmware", _step_firmware, ("firmware",), after=("train",), reads=_trained,
         writes=_firmware, version=2),
    Step("emulate", _step_emulate, (), after=("train", "firmware"),
         reads=lambda layout, cfg: (layout.predictions, *_firmware(layout, cfg)),
         writes=_emulated, version=2),
    # version 2: float models exported in TensorFlow's summation order
    Step("onnx", _step_onnx, (), after=("train", "firmware"),
         reads=lambda layout, cfg: (*_trained(layout, cfg), *_firmware(layout, cfg)),
         writes=_onnx, version=2),
    # version 3: FPGA estimator checked against synthesis reports (CSD/DSP rules), and
    # io_parallel convolutions with hls4ml's partitioned, pipelined pixel loop
    # version 4: the batcher's offered load also served by a real Triton server
    # version 5: Keras labelled as per-call overhead
    Step("bench", _step_bench, ("runtime", "budgets"), after=("train", "firmware", "onnx"),
         reads=lambda layout, cfg: (*_trained(layout, cfg), *_firmware(layout, cfg),
                                    *_onnx(layout, cfg)),
         writes=_paths("bench_summary"), version=5),
    Step("rtl", _step_rtl, ("rtl",), after=("train", "firmware"),
         reads=_firmware, writes=_paths("rtl_summary")),
    # version 2: the rate normalisation stated in the Physics section; 3: BDT firmware;
    # 4: uncertainties, ratios and the "How these numbers are made" box
    # version 5: the RTL (open-source flow) section
    # version 6: the report writes report.html only (the pipeline merges metrics.json)
    Step("report", _step_report, ("report", "simulation"),
         after=("dataset", "train", "metrics", "firmware", "emulate", "onnx", "bench", "rtl"),
         reads=_summaries, writes=_paths("report"), version=6),
]
TRAIN_STEPS = ("data", "dataset", "train", "metrics")


def steps_for(cfg) -> list[Step]:
    """The steps ``triginfer run`` does for a config (no models: data steps only)."""
    if not cfg.sections.get("models"):
        return [s for s in STEPS if s.name in ("data", "dataset")]
    return list(STEPS)


# --- the whole config checked before any work ---------------------------------------------------
def validate_config(cfg, *, need_models: bool = False) -> None:
    """Check every section a run will read, with each key's path in the message, before any
    step runs (so a typo in ``firmware`` is not found after training). ``need_models``:
    the command trains, so an empty ``models`` list is an error too."""
    from triginfer.latency_bench import budget_from_config
    from triginfer.trigger_models.training import TrainingConfig
    from triginfer.trigger_models.workflow import parse_models

    models = parse_models(cfg.sections.get("models"))
    if need_models and not models:
        raise ConfigError(f"{cfg.source_path or 'config'}: no models to train (section "
                          "'models' is empty or missing); add a model entry, or use "
                          "`triginfer simulate` for data only")
    from triginfer.trigger_models.workflow import parse_bdts

    parse_bdts(cfg.sections.get("bdts"))
    try:
        TrainingConfig.from_dict(cfg.section("training"))
    except TypeError as exc:
        raise ConfigError(f"training: {exc}") from exc
    for key, value in cfg.section("training").items():
        if key in ("epochs", "prune_epochs", "qat_epochs", "batch_size", "patience"):
            check_value(f"training.{key}", value, "int", low=0 if "epochs" in key else 1)
        elif key in ("learning_rate", "qat_learning_rate", "pt_weight_power", "pt_weight_cap",
                     "huber_delta"):
            check_value(f"training.{key}", value, "number",
                        low=0 if key == "pt_weight_power" else 1e-12)
    quant = cfg.section("quantization")
    unknown = sorted(set(quant) - {"scan_bits", "scan_epochs", "scan_tolerance", "scan_model"})
    if unknown:
        raise ConfigError(f"quantization: unknown key(s) {unknown}")
    if "scan_bits" in quant and quant["scan_bits"]:
        check_value("quantization.scan_bits", quant["scan_bits"], "list-int", low=2)
    if "scan_epochs" in quant:
        check_value("quantization.scan_epochs", quant["scan_epochs"], "int", low=1)
    if "scan_tolerance" in quant:
        check_value("quantization.scan_tolerance", quant["scan_tolerance"], "number", low=0)
    if "scan_model" in quant and quant["scan_model"] not in {m.name for m in models}:
        raise ConfigError(f"quantization.scan_model: {quant['scan_model']!r} is not one of "
                          f"the models {[m.name for m in models]}")
    metrics = cfg.section("metrics")
    unknown = sorted(set(metrics) - {"thresholds", "rate_thresholds"})
    if unknown:
        raise ConfigError(f"metrics: unknown key(s) {unknown}")
    for key in ("thresholds", "rate_thresholds"):
        if key in metrics:
            check_value(f"metrics.{key}", metrics[key], "list-number", low=1e-9)
    RunFirmwareConfig.of(cfg.section("firmware"))
    rtl_section = cfg.section("rtl")
    RtlConfig.of(rtl_section)
    stray = sorted(set(rtl_section.get("models") or []) - {mc.name for mc in models})
    if stray:
        raise ConfigError(f"rtl.models: {stray} are not models of this config "
                          f"({[mc.name for mc in models]})")
    RuntimeConfig.of(cfg.section("runtime"))
    import dataclasses

    from triginfer.latency_bench.budgets import PRESETS

    budgets = cfg.section("budgets")
    defaults = next(iter(PRESETS.values()))
    for f in dataclasses.fields(defaults):
        if f.name in budgets:
            kind = "str" if isinstance(getattr(defaults, f.name), str) else "number"
            check_value(f"budgets.{f.name}", budgets[f.name], kind,
                        low=1e-12 if kind == "number" else None)
    budget_from_config(budgets)
    for name in ("pruning", "emulation", "report"):
        if cfg.section(name):
            raise ConfigError(f"{name}: this section is not read by triginfer (pruning is set "
                              "per model under models[].pruning); remove it")
