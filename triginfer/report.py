"""The self-contained HTML report of a run (plots embedded): the report step's one file (it
reads every other step's summary and writes nothing else).

Sections: dataset; models and bit widths; physics (resolution, turn-ons with
baselines, rate vs threshold); firmware (bit-exact match counts, overflow
table); latency and resources vs the L1 budget (estimate or synthesis,
labelled); batched runtime (throughput and latency vs batch); reproducibility
(package versions, seed, the config). Every number the
report shows is also in the run's ``metrics.json`` (the physics metrics of the metrics step
with every other step's summary merged in, written by :func:`triginfer.steps.write_metrics`
when a run finishes).
"""

from __future__ import annotations

import base64
import html
import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any

import yaml

from triginfer.atomic import write_text
from triginfer.config import RunConfig
from triginfer.layout import RunLayout

PACKAGES = ("triginfer", "tensorflow", "qkeras", "hls4ml", "numpy", "uproot", "awkward",
            "onnx", "onnxruntime", "xgboost-cpu", "tensorflow-model-optimization")

CSS = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1150px; color: #222; }
h1 { border-bottom: 3px solid #2a6fb0; padding-bottom: .2em; }
h2 { color: #2a6fb0; margin-top: 1.6em; }
.box { border: 1px solid #2a6fb0; background: #f3f8fd; padding: .4em 1em; margin: .8em 0; }
table { border-collapse: collapse; margin: .6em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #eef3f8; } td.l, th.l { text-align: left; }
img { max-width: 100%; border: 1px solid #ddd; margin: .4em 0; }
.ok { color: #17803d; font-weight: bold; } .bad { color: #b3261e; font-weight: bold; }
.note { color: #555; font-size: 13px; } pre { background: #f6f8fa; padding: .8em; font-size: 12px; }
"""


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _img(path: Path, alt: str) -> str:
    if not path.exists():
        return f'<p class="note">({alt}: not produced)</p>'
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any, tag: str, first: bool) -> str:
        cls = ' class="l"' if first else ""
        if isinstance(v, float):
            v = f"{v:.4g}"
        return f"<{tag}{cls}>{v if str(v).startswith('<span') else html.escape(str(v))}</{tag}>"

    head = "".join(cell(h, "th", i == 0) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell(v, "td", i == 0) for i, v in enumerate(r)) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _verdict(equal: int, total: int) -> str:
    cls = "ok" if equal == total else "bad"
    return f'<span class="{cls}">{equal} / {total}</span>'


def package_versions() -> dict[str, str]:
    """Python's and the key packages' versions (the report's reproducibility table)."""
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _rtl_section(run_dir: Path, bench: dict[str, Any]) -> list[str]:
    """"RTL (open-source flow)": measured latency, II, yosys counts, exactness, next to the
    HLS estimate and the budget."""
    from triginfer.hls_export.rtl import RESOURCE_LABEL

    summary = _read(RunLayout(run_dir).rtl_summary)
    if not summary:
        return []
    parts = ["<h2>RTL (open-source flow)</h2>"]
    if summary.get("skipped"):
        parts.append(f"<p class='note'>Not run: {html.escape(summary['skipped'])}</p>")
        return parts
    parts.append("<p class='note'>Verilog written by da4ml (distributed arithmetic: constant "
                 "matrix products as adder trees, no multipliers) from the firmware spec; every "
                 "value in its declared type. A testbench of triginfer's own feeds one test event "
                 "per clock in Verilator and compares every output with the emulator; latency "
                 "and II are <b>measured</b> there. Resources are " + html.escape(RESOURCE_LABEL)
                 + " (yosys synth_xilinx -family xcup; not Vivado's numbers, timing closure "
                 "not checked). The HLS estimate is of hls4ml's architecture (DSP "
                 "multipliers), a different design of the same network.</p>")
    budget = bench.get("budget", {}) if bench else {}
    rows = []
    for name, r in summary.get("models", {}).items():
        res = r.get("resources") or {}
        fpga = (bench.get("models", {}).get(name, {}) if bench else {}).get("fpga", {})
        est = fpga.get("resources", {})
        limit = budget.get("algorithm_latency_ns")
        verdict = ("" if limit is None else '<span class="ok">pass</span>'
                   if r["latency_ns"] <= limit else '<span class="bad">FAIL</span>')
        rows.append([name, _verdict(r["exact"], r["events"]), r["latency_cycles"],
                     f"{r['latency_ns']:g}", r["ii"] if r["ii"] else "not 1",
                     res.get("LUT", "–"), res.get("FF", "–"), res.get("CARRY", "–"),
                     res.get("DSP", "–"), res.get("BRAM_18K", "–"),
                     f"{fpga.get('latency_ns', '–')}", est.get("LUT", "–"), est.get("DSP", "–"),
                     f"{limit if limit is not None else '–'}", verdict])
    parts.append(_table(["model", "RTL == emulator [events]", "latency [clocks]",
                         "latency [ns]", "II [clocks]", "LUT (yosys)", "FF (yosys)",
                         "CARRY (yosys)", "DSP (yosys)", "BRAM 18K (yosys)",
                         "HLS estimate latency [ns]", "HLS estimate LUT", "HLS estimate DSP",
                         "budget [ns]", "RTL latency vs budget"], rows))
    for name, r in summary.get("models", {}).items():
        if r.get("resources_error"):
            parts.append(f"<p class='note'>{html.escape(name)}: yosys resource count failed: "
                         f"{html.escape(r['resources_error'])}</p>")
    tools = next(iter(summary.get("models", {}).values()), {}).get("tools", {})
    if tools:
        parts.append("<p class='note'>Tools: " + html.escape(", ".join(
            f"{k} {v}" for k, v in tools.items())) + "</p>")
    return parts


def write_report(run_dir: str | Path | RunLayout, cfg: RunConfig) -> Path:
    """Write ``report.html`` into the run directory, from the steps' summaries."""
    layout = run_dir if isinstance(run_dir, RunLayout) else RunLayout(Path(run_dir))
    run_dir = layout.root
    metrics = _read(layout.metrics_summary)
    firmware = _read(layout.firmware_summary)
    emulation = _read(layout.emulation_summary)
    dataset = _read(layout.data_summary)
    onnx_summary = _read(layout.onnx_summary)
    bench = _read(layout.bench_summary)
    training = metrics.get("training", {})
    versions = package_versions()

    parts = [f"<h1>triginfer run report</h1><p class='note'>run directory {html.escape(str(run_dir))}"
             f" &middot; config {html.escape(str(cfg.source_path))}</p>"]

    # Dataset
    mu = dataset.get("muons", {})
    parts.append("<h2>Dataset</h2>")
    parts.append(_table(["sample", "events", "with a track", "station efficiency", "pT median [GeV]"], [
        ["muons", mu.get("events", "-"), dataset.get("muons_with_track", "-"),
         mu.get("station_efficiency", "-"), mu.get("gen_pt_percentiles", {}).get("50", "-")],
        ["minbias", dataset.get("minbias", {}).get("events", "-"), "-",
         dataset.get("minbias", {}).get("station_efficiency", "-"),
         dataset.get("minbias", {}).get("gen_pt_percentiles", {}).get("50", "-")]]))
    ev = training.get("events", {})
    parts.append(f"<p>Split: {ev.get('train', '-')} train, {ev.get('val', '-')} validation, "
                 f"{ev.get('test', '-')} test muons.</p>")

    # Models
    parts.append("<h2>Models and bit widths</h2>")
    rows = []
    for name, m in training.get("models", {}).items():
        q = m.get("quantization", {})
        d = q.get("default", {})
        rows.append([name, m.get("kind"), f"input {q.get('input_bits')}.{q.get('input_integer')}",
                     f"w{d.get('weight_bits')} b{d.get('bias_bits')} a{d.get('activation_bits')}",
                     f"{m.get('sparsity', {}).get('total', 0):.3f}",
                     m.get("epochs"), m.get("seconds")])
    parts.append(_table(["model", "kind", "input bits", "widths", "sparsity", "epochs",
                         "train [s]"], rows))
    for name, b in training.get("bdts", {}).items():
        parts.append(f"<p>Trigger-sized BDT <b>{html.escape(name)}</b> (xgboost, learning rate "
                     f"{b['learning_rate']}): <b>{b['trees']} trees of depth {b['depth']}</b>, "
                     f"the fewest leaves within {b['scan_tolerance']:.0%} of the best validation "
                     f"σ68 of the scan; firmware types "
                     + ", ".join(f"{k} <code>{html.escape(v)}</code>"
                                 for k, v in b["types"].items())
                     + f". The {html.escape(name)} row of the physics table is xgboost in float, "
                     f"{html.escape(name)}_firmware its bit-exact fixed-point emulation; "
                     "<i>bdt</i> is the 300-tree depth-6 float baseline.</p>")
        parts.append(_table(["trees", "depth", "leaves", "validation σ68 (relative)"],
                            [[r["trees"], r["depth"], r["leaves"], r["val_sigma68"]]
                             for r in b["scan"]]))
    scan = training.get("bit_scan")
    if scan:
        unpruned = scan.get("unpruned_float_sigma68")
        ref_name = "pruned float" if scan.get("reference") == "float_pruned" else "float"
        parts.append(f"<p>Bit-width scan of {scan['model']} (quantization-aware training from "
                     f"the {ref_name} weights): chosen <b>{scan['chosen_bits']}</b> bits (within "
                     f"{scan['tolerance']:.0%} of the {ref_name} σ68 {scan['float_sigma68']:.4f})"
                     + (f"; the unpruned float model has σ68 {unpruned:.4f}, so pruning alone "
                        f"costs {100 * (scan['float_sigma68'] / unpruned - 1):+.1f}%"
                        if unpruned else "") + ".</p>")
        header = ["bits", "σ68 (relative)", f"vs {ref_name}"]
        if unpruned:
            header.append("vs unpruned float")
        parts.append(_table(header, [
            [r["bits"], r["sigma68"], f"{100 * r['relative_to_float']:+.1f}%"]
            + ([f"{100 * r['relative_to_unpruned_float']:+.1f}%"] if unpruned else [])
            for r in scan["rows"]]))
        parts.append(_img(layout.train_dir / scan["plot"], "bit scan"))

    # Physics
    parts.append("<h2>Physics</h2>")
    rows = []
    for name, e in metrics.get("models", {}).items():
        r20 = e.get("rate_at_20GeV") or {}
        ratio = (e.get("rate_ratio_to_analytic") or {}).get("20")
        err = e.get("resolution_sigma68_err")
        rows.append([
            name,
            f"{e['resolution_sigma68']:.4f} ± {err:.4f}" if err == err and err is not None
            else f"{e['resolution_sigma68']:.4f}",
            f"{e['resolution_gauss']:.4f}", f"{100 * e['charge_misassignment']:.2f}",
            (f"{r20['rate_hz'] / 1e3:.2f} +{r20['err_hi_hz'] / 1e3:.2f} "
             f"−{r20['err_lo_hz'] / 1e3:.2f}") if r20 else "-",
            f"{ratio['ratio']:.2f} ± {ratio['error']:.2f}" if ratio else "-",
            ", ".join(f"{k} GeV: {v:.3f}" for k, v in e.get("scales", {}).items())])
    parts.append(_table(["model", "σ68 (relative, ± bootstrap)", "Gaussian σ (relative)",
                         "charge mis-ID [%]", "rate @ 20 GeV [kHz] (± stat, 68% CL)",
                         "rate ratio to analytic @ 20 GeV", "90% scale factors"], rows))
    sim = cfg.simulation
    n_minbias = metrics.get("dataset", {}).get("minbias")
    data_cfg = cfg.data
    if data_cfg.source == "files":
        inputs = ("the user's files: muons " + ", ".join(html.escape(str(f)) for f in
                                                          data_cfg.files)
                  + "; minbias " + ", ".join(html.escape(str(f)) for f in
                                             (data_cfg.minbias_files or ["(none)"])))
    else:
        inputs = (f"the toy simulation (seed {cfg.seed}): Gaussian resolutions plus the "
                  f"non-Gaussian tails of <code>SimulationConfig</code> — single large-angle "
                  f"scatters ({100 * sim.ms_tail_probability:.3g}% per station), background "
                  f"segments ({100 * sim.noise_segment_probability:.3g}% per station, taken "
                  f"instead of the muon's {100 * sim.wrong_segment_fraction:.3g}% of the time), "
                  f"showers at high momentum ({sim.shower_probability_per_tev:g}/TeV per "
                  f"station), ghost segments ({100 * sim.ghost_probability:.3g}%)")
    rate_khz = sim.bunch_crossing_rate_hz * sim.minbias_muon_fraction / 1e3
    parts.append(
        "<div class='box'><b>How these numbers are made</b><ul>"
        f"<li>Events: {inputs}.</li>"
        "<li>Resolution: σ68 is half the central 68% interval of "
        "(1/pT<sub>pred</sub> − 1/pT<sub>true</sub>)·pT<sub>true</sub> over the test muons "
        "(flat in q/pT, 2–1000 GeV); its error is the spread of 100 bootstrap resamples.</li>"
        "<li>Thresholds follow the L1 convention: each model's predicted pT is scaled so that "
        "90% of the muons with true pT within ±5% of the threshold pass (the scale factors "
        "in the table). Turn-on error bands are Clopper–Pearson 68% intervals.</li>"
        "<li>Rates: each minbias event stands for one bunch crossing holding a muon in the "
        f"acceptance; {100 * sim.minbias_muon_fraction:.3g}% of the "
        f"{sim.bunch_crossing_rate_hz / 1e6:.1f} MHz crossings hold one (config "
        "<code>simulation.bunch_crossing_rate_hz</code>, <code>simulation.minbias_muon_"
        f"fraction</code>), so rate = {rate_khz:,.0f} kHz × (passing / all minbias events)"
        + (f", here over {n_minbias:,} minbias events" if n_minbias else "")
        + ". The statistical interval is Clopper–Pearson on that fraction (68% CL).</li>"
        "<li>Ratios to the analytic lookup treat the two passing counts as independent "
        "Poisson counts (they share minbias events, so the true error is smaller).</li>"
        "<li>Firmware rows (<code>*_quantized</code> = the firmware, bit-exact; "
        "<code>*_firmware</code> for BDTs) are the integer arithmetic of the FPGA; "
        "<code>*_float</code> rows are the same networks in floating point.</li>"
        "</ul></div>")
    parts.append("<p class='note'>Rate normalisation: see the box above "
                 f"({rate_khz:,.0f} kHz × passing fraction; "
                 f"{sim.bunch_crossing_rate_hz / 1e6:.1f} MHz crossings).</p>")
    plots = metrics.get("plots", {})
    for key, alt in (("resolution", "resolution vs pT"), ("turn_on", "turn-on curves"),
                     ("rate", "rate vs threshold")):
        if key in plots:
            parts.append(_img(layout.plots_dir / plots[key], alt))

    # Firmware
    parts.append("<h2>Firmware</h2>")
    settings = firmware.get("settings", {})
    parts.append(f"<p>hls4ml {html.escape(str(versions.get('hls4ml')))}, backend "
                 f"{settings.get('backend')}, {settings.get('io_type')}, {settings.get('strategy')}"
                 f", reuse factor {settings.get('reuse_factor')}, part {settings.get('part')}, "
                 f"clock {settings.get('clock_period_ns')} ns.</p>")
    rows = []
    for name, f in firmware.get("models", {}).items():
        e = emulation.get("models", {}).get(name, {})
        rows.append([name, _verdict(f["csim_equals_qkeras"], f["csim_events"]),
                     _verdict(f["emulator_equals_csim"], f["csim_events"]),
                     _verdict(e.get("emulator_equals_qkeras", 0), e.get("test_events", 0)),
                     _verdict(e.get("minbias_equals_qkeras", 0), e.get("minbias_events", 0)),
                     f"{e.get('events_per_s', 0):,.0f}"])
    parts.append(_table(["model", "C-sim == QKeras", "emulator == C-sim",
                         "emulator == QKeras (test)", "emulator == QKeras (minbias)",
                         "emulator events/s"], rows))
    bdt_rows = []
    for name, f in firmware.get("bdts", {}).items():
        e = emulation.get("models", {}).get(name, {})
        bdt_rows.append([name, f"{f['n_trees']} × depth {f['max_depth']}",
                         f["conifer_types"]["ScorePrecision"],
                         _verdict(f["emulator_equals_csim"], f["csim_events"])
                         if "csim_events" in f else "not run (firmware.bdt_csim_events)",
                         _verdict(e.get("emulator_equals_train", 0), e.get("test_events", 0)),
                         _verdict(e.get("minbias_equals_train", 0), e.get("minbias_events", 0)),
                         f"{e.get('events_per_s', 0):,.0f}"])
    if bdt_rows:
        parts.append(f"<p>BDT firmware: conifer {html.escape(str(next(iter(firmware['bdts'].values())).get('conifer_version')))}"
                     " HLS project (Vitis/Vivado HLS C++), thresholds on the input grid, one-hot "
                     "weights and the normalisation checked exact.</p>")
        parts.append(_table(["BDT", "trees", "score type", "emulator == HLS C-sim (g++)",
                             "firmware dir emulation == train step (test)",
                             "… (minbias)", "emulator events/s"], bdt_rows))
    for name, e in emulation.get("models", {}).items():
        if e.get("kind") == "bdt":
            continue
        parts.append(f"<h3>Overflow monitor: {html.escape(name)} (test sample)</h3>")
        parts.append(_table(
            ["layer", "stage", "type", "overflows", "fraction", "min seen", "max seen", "range"],
            [[s["layer"], s["stage"], s["type"], s["count"],
              f"{s['count'] / s['total']:.2e}" if s["total"] else "0",
              s["min_seen"], s["max_seen"], f"[{s['min_allowed']:.4g}, {s['max_allowed']:.4g}]"]
             for s in e.get("overflow", [])]))

    # Latency and resources vs budget
    if bench:
        b = bench.get("budget", {})
        parts.append("<h2>Latency and resources vs the L1 budget</h2>")
        parts.append(f"<p>Budget {html.escape(str(b.get('name')))}: algorithm latency ≤ "
                     f"{b.get('algorithm_latency_ns')} ns at {b.get('clock_mhz')} MHz, a new event "
                     f"every {b.get('max_initiation_interval_ns')} ns, ≤ "
                     f"{100 * b.get('max_resource_fraction', 0):.0f}% of each resource of "
                     f"{html.escape(str(b.get('part')))}.</p>")
        for name, m in bench.get("models", {}).items():
            fpga = m["fpga"]
            label = ("<b>estimate</b> (no vendor synthesis report; the estimator's error "
                     "against three published hls4ml Vivado HLS reports: DSP within 2% (11% at "
                     "6 bits), LUT within 16% per dense layer, latency ±1 cycle, FF ±35%; see BENCHMARKS.md)"
                     if fpga["source"] == "estimate" else "<b>synthesis report</b>")
            parts.append(f"<h3>{html.escape(name)}: {fpga['latency_cycles']} cycles = "
                         f"{fpga['latency_ns']:.0f} ns, II {fpga['initiation_interval']} — "
                         f"{label}</h3>")
            parts.append(_table(["check", "value", "limit", "unit", "source", "result"], [
                [r["check"], r["value"], r["limit"], r["unit"], r["source"],
                 '<span class="ok">pass</span>' if r["passed"] else '<span class="bad">FAIL</span>']
                for r in m["budget_check"]]))

        bdt_budget = []
        clock_ns = 1e3 / float(b.get("clock_mhz") or 200)
        for name, f in firmware.get("bdts", {}).items():
            est = f.get("conifer_estimate", {})
            if est.get("latency") is None:
                continue
            ns = est["latency"] * clock_ns
            limit = b.get("algorithm_latency_ns")
            bdt_budget.append([name, est["latency"], f"{ns:.0f}", limit, est.get("lut"),
                               est.get("ff"), est["label"],
                               ('<span class="ok">pass</span>' if limit is None or ns <= limit
                                else '<span class="bad">FAIL</span>')])
        if bdt_budget:
            parts.append("<h3>BDTs: conifer estimate (precision-blind)</h3>")
            parts.append("<p class='note'>conifer's experimental performance model (a BDT "
                         "fitted to past HLS synthesis results from tree counts and shapes, "
                         "blind to the fixed-point widths); no synthesis was run.</p>")
            parts.append(_table(["BDT", "latency [cycles]", "latency [ns]", "budget [ns]", "LUT",
                                 "FF", "source", "latency vs budget"], bdt_budget))

    parts.extend(_rtl_section(run_dir, bench))

    if bench:
        # Runtime
        parts.append("<h2>Batched runtime (ONNX Runtime)</h2>")
        for name, m in bench.get("models", {}).items():
            rt = m["runtime"]
            keras = {r["batch"]: r for r in rt.get("keras", [])}
            o = onnx_summary.get("models", {}).get(name, {})
            parts.append(f"<p>{html.escape(name)} ({rt.get('onnx_version')} ONNX) on "
                         f"{html.escape(rt['provider'])}; roofline "
                         f"{(rt.get('roofline_events_per_s') or 0):,.0f} events/s from "
                         f"{rt['machine_flops'] / 1e9:.1f} GFLOP/s measured. ONNX checks: float "
                         f"({html.escape(str(o.get('float_export', 'tf2onnx')))} export) vs Keras "
                         f"max |diff| {o.get('float_max_abs_diff', float('nan')):.2g}, QKeras ONNX"
                         f" == QKeras {_verdict(o.get('quantized_equals_qkeras', 0), o.get('events', 0))}"
                         f", bit-exact ONNX == emulator "
                         f"{_verdict(o.get('bitexact_equals_emulator', 0), o.get('events', 0))}.</p>")
            parts.append(_table(
                ["batch", "ORT events/s", "p50 µs", "p90 µs", "p99 µs", "of roofline",
                 "Keras events/s (per-call overhead)"],
                [[r["batch"], f"{r['events_per_s']:,.0f}", r["p50_us"], r["p90_us"], r["p99_us"],
                  f"{r.get('fraction_of_roofline', 0):.1%}",
                  f"{keras[r['batch']]['events_per_s']:,.0f}" if r["batch"] in keras else "-"]
                 for r in rt["onnx"]]))
            parts.append("<p class='note'>Keras events/s at small batches is Keras's per-call "
                         "overhead (<code>model.predict</code> builds its input pipeline on "
                         "every call), not the speed of a runtime: compare the runtimes at "
                         "batch ≥ 4096.</p>")
            bt = rt.get("batcher", {})
            parts.append(f"<p>Dynamic batcher at {bt.get('offered_rate_hz', 0):,.0f} events/s "
                         f"offered: {bt.get('achieved_events_per_s', 0):,.0f} events/s, median "
                         f"batch {bt.get('median_batch', 0):.0f}, latency p50/p99 "
                         f"{bt.get('latency_p50_us', 0):.0f}/{bt.get('latency_p99_us', 0):.0f} µs."
                         "</p>")
            for key in ("throughput", "latency"):
                if key in rt.get("plots", {}):
                    parts.append(_img(layout.bench_plots(name) / rt["plots"][key], key))

        # Serving: the same offered load in process and on a real Triton server
        parts.append("<h2>Serving</h2>")
        for name, m in bench.get("models", {}).items():
            rt = m["runtime"]
            bt, tr = rt.get("batcher", {}), rt.get("triton")
            if not tr:
                parts.append(f"<p>{html.escape(name)}: Triton not measured (install the "
                             "<code>serve</code> extra, nvidia-pytriton).</p>")
                continue
            if "error" in tr:
                parts.append(f"<p>{html.escape(name)}: Triton run failed: "
                             f"{html.escape(tr['error'])}</p>")
                continue
            parts.append(f"<p>{html.escape(name)}: single events offered at "
                         f"{bt.get('offered_rate_hz', 0):,.0f}/s to the in-process dynamic "
                         "batcher and, by 8 open-loop tritonclient gRPC clients, to "
                         "<code>triginfer serve</code> (PyTriton's tritonserver, its own "
                         f"process, CPU); Triton responses checked: {tr['lost']} lost, "
                         f"{tr['wrong']} wrong of {tr['requests']:,}.</p>")
            parts.append(_table(
                ["path", "served events/s", "p50 µs", "p99 µs", "mean batch"],
                [["in-process DynamicBatcher", f"{bt.get('achieved_events_per_s', 0):,.0f}",
                  f"{bt.get('latency_p50_us', 0):,.0f}", f"{bt.get('latency_p99_us', 0):,.0f}",
                  f"{bt.get('mean_batch', 0):.1f}"],
                 ["Triton (gRPC)", f"{tr['events_per_s']:,.0f}",
                  f"{tr['latency_p50_us'] or 0:,.0f}", f"{tr['latency_p99_us'] or 0:,.0f}",
                  f"{tr.get('mean_batch') or 0:.1f}"]]))

    # Reproducibility
    parts.append("<h2>Reproducibility</h2>")
    parts.append(f"<p>Seed {cfg.seed}; {html.escape(platform.platform())}.</p>")
    parts.append(_table(["package", "version"], [[k, v] for k, v in versions.items()]))
    parts.append("<pre>" + html.escape(yaml.safe_dump(cfg.raw, sort_keys=False)) + "</pre>")

    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>triginfer report</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")
    return write_text(layout.report, page)
