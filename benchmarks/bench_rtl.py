"""The open-source RTL flow over many models: RTL == emulator, latency, II, (resources).

For each firmware directory given, and with ``--zoo`` for every model of the test zoo
(``tests/zoo.py``: ZOO and GRAPH_ZOO, converted with hls4ml here), runs
``triginfer.hls_export.rtl.export_rtl``: da4ml Verilog, Verilator testbench one event
per clock over ``--events`` events, exact-match count against the emulator, latency and
II; with ``--resources`` also yosys ``synth_xilinx -family xcup`` counts. Models with a
layer the RTL flow cannot express are listed with the refusal. Writes one JSON and
prints a Markdown table::

    .venv/bin/python benchmarks/bench_rtl.py --zoo --events 100000 \\
        --out benchmarks/results/rtl_zoo.json
    .venv/bin/python benchmarks/bench_rtl.py --firmware runs/default/firmware/dnn \\
        --events 100000 --resources --out benchmarks/results/rtl_default.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _row(name: str, kinds: str, report: dict | None, error: str | None = None) -> dict:
    if report is None:
        return {"model": name, "kinds": kinds, "refused": error}
    res = report.get("resources") or {}
    return {"model": name, "kinds": kinds, "events": report["events"], "exact": report["exact"],
            "latency_cycles": report["latency_cycles"], "ii": report["ii"],
            "stages": report["pipeline_stages"], "da4ml_cost": report["da4ml_cost"],
            "seconds": report["seconds"], "resources": res or None,
            "tools": report["tools"]}


def _one(name, spec_or_dir, out_dir, args, x=None) -> dict:
    from triginfer.errors import UnsupportedModelError
    from triginfer.hls_export import FirmwareSpec
    from triginfer.hls_export.rtl import export_rtl

    spec = spec_or_dir if isinstance(spec_or_dir, FirmwareSpec) else FirmwareSpec.load(
        spec_or_dir)
    kinds = ", ".join(sorted({layer.kind for layer in spec.layers} - {"input"}))
    started = time.perf_counter()
    try:
        report = export_rtl(spec, out_dir, events=args.events, resources=args.resources,
                            clock_ns=args.clock_ns, x=x, progress=lambda _m: None)
    except UnsupportedModelError as exc:
        print(f"{name:<24s} refused: {exc}", flush=True)
        return _row(name, kinds, None, str(exc))
    row = _row(name, kinds, report)
    print(f"{name:<24s} {row['exact']}/{row['events']} exact, latency {row['latency_cycles']} "
          f"clocks, II {row['ii']}, {time.perf_counter() - started:.0f} s", flush=True)
    return row


def zoo_specs(tmp: Path):
    """(name, spec, inputs) of every zoo model, converted with hls4ml (no C compile)."""
    from tests.zoo import (
        GRAPH_ZOO,
        ZOO,
        build,
        build_graph,
        graph_config,
        graph_inputs,
        inputs_for,
    )
    from triginfer.hls_export import FirmwareSpec, convert

    for entry in ZOO:
        model = build(entry)
        firmware = convert(model, tmp / entry.name, io_type=entry.io_type,
                           reuse_factor=entry.reuse_factor)
        yield entry.name, FirmwareSpec.load(firmware.output_dir), lambda n, m=model, e=entry: (
            inputs_for(m, e, n))
    for entry in GRAPH_ZOO:
        model = build_graph(entry)
        try:
            firmware = convert(model, tmp / entry.name, io_type=entry.io_type,
                               hls_config=graph_config(model, entry), bit_exact=entry.bit_exact)
        except Exception as exc:  # noqa: BLE001 (reported as a row)
            print(f"{entry.name}: conversion failed: {exc}")
            continue

        def inputs(n, m=model, e=entry):
            x = graph_inputs(m, e, n)
            return x if len(x) > 1 else x[0]

        yield entry.name, FirmwareSpec.load(firmware.output_dir), inputs


def table(rows: list[dict]) -> str:
    lines = ["| model | layer kinds | events | RTL == emulator | latency [clocks] | II | "
             "stages | LUT | FF | CARRY | DSP |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("refused"):
            lines.append(f"| {r['model']} | {r['kinds']} | – | refused: {r['refused'].split(' (supported')[0]} | | | | "
                         "| | | |")
            continue
        res = r.get("resources") or {}
        lines.append(f"| {r['model']} | {r['kinds']} | {r['events']:,} | "
                     f"{r['exact']:,}/{r['events']:,} | {r['latency_cycles']} | {r['ii']} | "
                     f"{r['stages']} | {res.get('LUT', '–')} | {res.get('FF', '–')} | "
                     f"{res.get('CARRY', '–')} | {res.get('DSP', '–')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firmware", nargs="*", default=[], help="firmware directories")
    parser.add_argument("--zoo", action="store_true", help="every model of the test zoo")
    parser.add_argument("--only", default=None, help="comma-separated zoo model names")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--clock-ns", type=float, default=5.0)
    parser.add_argument("--resources", action="store_true", help="also run yosys")
    parser.add_argument("--out", default=None, help="write the rows as JSON")
    args = parser.parse_args()
    if not args.firmware and not args.zoo:
        parser.error("give --firmware DIR... or --zoo")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for path in args.firmware:
            rows.append(_one(Path(path).name, path, tmp / f"rtl_{Path(path).name}", args))
        if args.zoo:
            only = set(args.only.split(",")) if args.only else None
            for name, spec, inputs in zoo_specs(tmp):
                if only and name not in only:
                    continue
                rows.append(_one(name, spec, tmp / f"rtl_{name}", args, inputs(args.events)))
    print(table(rows))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
