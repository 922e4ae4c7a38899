"""The steps of ``triginfer run`` (see :mod:`triginfer.pipeline` for caching).

Today: ``data`` (simulate the default dataset, or take the user's ROOT files)
and ``dataset`` (read it back in chunks, select tracks, compute features and
write a summary). Later stages append their steps to :data:`STEPS`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from triginfer.features import engineered_features, has_track
from triginfer.pipeline import RunContext, Step, write_json
from triginfer.rootio import read_sample, write_samples
from triginfer.simulation import Sample, simulate_minbias, simulate_muons

log = logging.getLogger(__name__)

SIM_FILE = "data/simulated.root"


def dataset_files(ctx: RunContext) -> tuple[list[str], list[str]]:
    """The ROOT files holding the muon and minbias samples of this run."""
    data = ctx.cfg.data
    if data.source == "simulate":
        path = str(ctx.run_dir / SIM_FILE)
        return [path], ([path] if data.minbias_events else [])
    return list(data.files), list(data.minbias_files)


def load_dataset(ctx: RunContext) -> tuple[Sample, Sample | None]:
    """Read the run's muon and minbias samples (events with a track only)."""
    data = ctx.cfg.data
    muon_files, minbias_files = dataset_files(ctx)
    bmap = data.branch_map_obj()
    muons = read_sample(muon_files, data.tree, bmap, data.step_size)
    muons = muons.select(has_track(muons, data.min_stations))
    minbias = None
    if minbias_files:
        minbias = read_sample(minbias_files, data.minbias_tree, bmap, data.step_size)
    return muons, minbias


def _step_data(ctx: RunContext) -> dict[str, Any]:
    data = ctx.cfg.data
    if data.source != "simulate":
        return {"source": "files", "files": data.files, "minbias_files": data.minbias_files}
    samples = {"muons": simulate_muons(data.events, ctx.cfg.seed, ctx.cfg.simulation)}
    if data.minbias_events:
        samples["minbias"] = simulate_minbias(data.minbias_events, ctx.cfg.seed,
                                              ctx.cfg.simulation)
    write_samples(ctx.path(SIM_FILE), samples)
    return {"source": "simulate", "file": SIM_FILE, "events": data.events,
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
    muon_files, minbias_files = dataset_files(ctx)
    bmap = data.branch_map_obj()
    muons_all = read_sample(muon_files, data.tree, bmap, data.step_size)
    tracks = has_track(muons_all, data.min_stations)
    summary: dict[str, Any] = {"muons": _sample_summary(muons_all),
                               "muons_with_track": int(tracks.sum())}
    feats = engineered_features(muons_all.select(tracks))
    summary["feature_ranges"] = feats.ranges
    if minbias_files:
        minbias = read_sample(minbias_files, data.minbias_tree, bmap, data.step_size)
        summary["minbias"] = _sample_summary(minbias)
    write_json(ctx.path("data", "summary.json"), summary)
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


STEPS: list[Step] = [
    # With data.source 'files' nothing is written, so the (instant) data step reruns.
    Step("data", _step_data, ("seed", "data", "simulation"), outputs=(SIM_FILE,)),
    Step("dataset", _step_dataset, ("data",), outputs=("data/summary.json",)),
]
