"""``triginfer export-bdt``: turn an xgboost BDT into FPGA firmware (conifer) and a BDT spec."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from triginfer.cli._common import (
    command,
    part,
    positive_float,
    positive_int,
)
from triginfer.config import DEFAULT_PART, FirmwareConfig
from triginfer.features import TARGET_SCALE


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``export-bdt`` subcommand's arguments."""
    p = sub.add_parser("export-bdt", parents=[common],
                       help="turn an xgboost BDT into FPGA firmware (conifer) and a BDT spec",
                       description="Convert an xgboost regressor (saved as JSON) with conifer "
                                   "into an HLS project with precisions triginfer "
                                   "chooses and checks (inputs exact for the features, "
                                   "thresholds on the input grid, one-hot weights exact, "
                                   "scores rounded with enough integer bits), plus "
                                   "bdt_spec.json/.npz for `triginfer emulate`. Configurations "
                                   "that corrupt conifer firmware silently are refused.")
    p.add_argument("--model", required=True, help="xgboost model saved with save_model (.json)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--backend", default="hls", choices=["hls"],
                   help="conifer backend: hls (Vitis/Vivado HLS C++; conifer's VHDL backend "
                        "needs one type for inputs, thresholds and scores and is not offered)")
    p.add_argument("--precision", default=None,
                   help="types by role, e.g. 'input=ap_fixed<12,4>,score=ap_fixed<18,5,"
                        "AP_RND_CONV,AP_SAT>' (roles: input, threshold, weight, score; the "
                        "rest chosen)")
    p.add_argument("--features", default=None, choices=["muon_engineered"],
                   help="the model reads the project's engineered muon features (found by "
                        "itself when the model's feature names are theirs)")
    p.add_argument("--columns", default=None,
                   help="comma-separated input column names for `triginfer emulate`")
    p.add_argument("--input", default=None, metavar="EVENTS.npy",
                   help="events (n x features): the input type must hold them exactly, and "
                        "--compile checks on them")
    p.add_argument("--target-scale", type=positive_float, default=TARGET_SCALE,
                   help="the model regresses q/pT times this (default 8, as triginfer run)")
    p.add_argument("--part", type=part, default=DEFAULT_PART,
                   help="FPGA part (default VU13P)")
    p.add_argument("--clock-ns", type=positive_float, default=FirmwareConfig.clock_period_ns,
                   help="clock period in ns (default 5)")
    p.add_argument("--compile", action="store_true",
                   help="compile the HLS C++ with g++ and check the emulator against it")
    p.add_argument("--check-events", type=positive_int, default=10_000,
                   help="events for the --compile check (default 10000)")


@command("export-bdt")
def _cmd_export_bdt(args: argparse.Namespace) -> int:
    from triginfer.hls_export.bdt import csim, from_xgboost, parse_precision, write_firmware
    from triginfer.pipeline import write_json

    parse_precision(args.precision)        # a bad --precision fails before any work
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    x_check = None
    features: dict = {}
    input_type = None
    if args.input:
        from triginfer.emulation.files import open_npy

        x_check = open_npy(args.input).astype(np.float64)
    from triginfer.features import ENGINEERED_NAMES
    from triginfer.hls_export.bdt import MUON_INPUT_TYPE, xgboost_features

    n_features, names = xgboost_features(args.model)
    if columns is not None and len(columns) != n_features:
        from triginfer.errors import ConfigError

        raise ConfigError(f"--columns names {len(columns)} columns; the model has "
                          f"{n_features} features")
    if args.features == "muon_engineered" or (
            args.features is None and columns is None and names == list(ENGINEERED_NAMES)):
        if n_features != len(ENGINEERED_NAMES):
            from triginfer.errors import ConfigError

            raise ConfigError(f"{args.model}: the model has {n_features} features, the "
                              f"muon_engineered set {len(ENGINEERED_NAMES)}")
        features = {"set": "muon_engineered", "columns": list(ENGINEERED_NAMES)}
        input_type = MUON_INPUT_TYPE
        settings = {"target_scale": args.target_scale}
    else:
        settings = {}
        if columns or names:
            features = {"columns": list(columns or names)}
    spec = from_xgboost(args.model, name=Path(args.out).name or "bdt", precision=args.precision,
                        input_type=input_type, feature_names=columns, x_check=x_check,
                        features=features, settings=settings)
    summary = write_firmware(spec, args.out, backend=args.backend, clock_period=args.clock_ns,
                             part=args.part)
    est = summary["conifer_estimate"]
    print(f"BDT firmware ({spec.n_trees} trees, depth {spec.max_depth}, {spec.n_features} "
          f"features) written to {args.out}: bdt_spec.json/.npz and the conifer "
          "HLS project (hls/)")
    for role, text in summary["conifer_types"].items():
        print(f"  {role:<19s} {text}")
    if est.get("latency") is not None:
        print(f"  {est['label']}: latency {est['latency']} cycles, LUT {est.get('lut')}, "
              f"FF {est.get('ff')}")
    if args.compile:
        if args.backend != "hls":
            from triginfer.errors import ConfigError

            raise ConfigError("--compile builds the HLS C simulation: use --backend hls")
        from triginfer.emulation.bdt import BdtEmulator

        if x_check is not None:
            x = x_check[:args.check_events]
        elif features.get("set"):
            from triginfer.emulation.files import firmware_inputs
            from triginfer.features import has_track
            from triginfer.simulation import simulate_muons

            sample = simulate_muons(int(args.check_events * 1.3) + 100, seed=12345)
            x = firmware_inputs(spec, sample.select(has_track(sample)))[:args.check_events]
        else:
            rng = np.random.default_rng(12345)
            t = spec.precision.input
            x = rng.uniform(t.min_value * 1.1, t.max_value * 1.1,
                            size=(args.check_events, spec.n_features))
        ref = csim(args.out, x)
        emu = BdtEmulator(spec).predict(x)
        equal = int(np.sum(ref[:, 0] == emu[:, 0]))
        write_json(Path(args.out) / "csim_check.json",
                   {"events": len(x), "emulator_equals_csim": equal})
        print(f"HLS C simulation (g++) vs emulator: {equal}/{len(x)} events equal")
        if equal != len(x):
            from triginfer.errors import TrigInferError

            raise TrigInferError(f"the emulator differs from the HLS C simulation on "
                                 f"{len(x) - equal} of {len(x)} events")
    return 0
