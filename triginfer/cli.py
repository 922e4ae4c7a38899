"""The ``triginfer`` command line: subcommands, logging set-up and one-line errors.

Every subcommand has ``--help``. A :class:`~triginfer.errors.TrigInferError`
is printed as ``triginfer: error: <message>`` on one line and the command exits
with status 2, without a traceback (``-v`` adds the traceback for debugging).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from triginfer._version import __version__
from triginfer.errors import TrigInferError

log = logging.getLogger("triginfer")

_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def _command(name: str):
    def register(func: Callable[[argparse.Namespace], int]):
        _COMMANDS[name] = func
        return func

    return register


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (robust to redirection)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


#: Third-party loggers silenced unless -v (TensorFlow's Python logger among them).
_NOISY_LOGGERS = ("tensorflow", "absl", "h5py", "numba", "distributed", "pytriton",
                  "tritonclient", "matplotlib", "hls4ml", "tf2onnx", "urllib3")


def _quiet_third_party(verbosity: int) -> None:
    """Silence TensorFlow's C++ and Python logging and third-party warnings (shown with -v).

    Runs before TensorFlow is imported (the subcommands import it lazily)."""
    if verbosity >= 1:
        return
    import warnings

    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"       # C++ start-up lines, cuDNN/cuFFT/cuBLAS too
    os.environ.setdefault("PYTHONWARNINGS", "ignore")   # subprocesses (Dask workers, servers)
    warnings.filterwarnings("ignore")             # third-party deprecation/user warnings
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # Dask logs a worker's exception with its traceback; the CLI reports it as one line
    # (the environment variable reaches the worker processes, which log on their own)
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")


def _nonneg_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _port(text: str) -> int:
    """argparse type: a TCP port 1..65535."""
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port 1..65535, got {value}")
    return value


def _batch_sizes(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated integers >= 1."""
    sizes = tuple(_positive_int(t.strip()) for t in text.split(",") if t.strip())
    if not sizes:
        raise argparse.ArgumentTypeError(f"give comma-separated integers >= 1, got {text!r}")
    return sizes


def _opset(text: str) -> int:
    """argparse type: an ONNX opset the exporters and ONNX Runtime both support."""
    value = _positive_int(text)
    if not 13 <= value <= 21:
        raise argparse.ArgumentTypeError(f"must be an opset 13..21, got {value}")
    return value


def _part(text: str) -> str:
    """argparse type: an AMD/Xilinx part name (e.g. xcvu13p-flga2577-2-e)."""
    if not re.fullmatch(r"x[a-z0-9]+(-[a-z0-9]+)+", text.strip().lower()):
        raise argparse.ArgumentTypeError(f"not an FPGA part name: {text!r} (e.g. "
                                         "xcvu13p-flga2577-2-e)")
    return text.strip()


def _setup_logging(verbosity: int) -> None:
    _quiet_third_party(verbosity)
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s" if verbosity <= 0
                                           else "%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("triginfer")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@_command("simulate")
def _cmd_simulate(args: argparse.Namespace) -> int:
    from triginfer.config import load_config
    from triginfer.rootio import write_samples
    from triginfer.simulation import SimulationConfig, simulate_minbias, simulate_muons

    sim_cfg = load_config(args.config).simulation if args.config else SimulationConfig()
    t0 = time.perf_counter()
    samples = {"muons": simulate_muons(args.events, args.seed, sim_cfg)}
    if args.minbias:
        samples["minbias"] = simulate_minbias(args.minbias, args.seed, sim_cfg)
    t_sim = time.perf_counter() - t0
    write_samples(args.out, samples)
    log.info("simulated %d muons%s in %.1f s, wrote %s in %.1f s total",
             args.events, f" + {args.minbias} minbias" if args.minbias else "",
             t_sim, args.out, time.perf_counter() - t0)
    return 0


@_command("inspect")
def _cmd_inspect(args: argparse.Namespace) -> int:
    from triginfer.features import engineered_features, has_track
    from triginfer.rootio import BranchMap, inspect_file, read_sample

    bmap = BranchMap()
    if args.config:
        from triginfer.config import load_config

        bmap = load_config(args.config).data.branch_map_obj()
    trees = inspect_file(args.file)
    if not trees:
        print(f"{args.file}: no TTrees or RNTuples")
        return 0
    for tree in trees:
        print(f"tree {tree.name}: {tree.entries} entries, {len(tree.branches)} branches")
        for name, typename in tree.branches.items():
            print(f"  {name:<18s} {typename}")
        if tree.entries and all(bmap.branch(b) in tree.branches for b in bmap.required()):
            sample = read_sample(args.file, tree.name, bmap, require_truth=False,
                                 entry_stop=args.max_events)
            tracks = has_track(sample)
            feats = engineered_features(sample.select(tracks))
            print(f"  feature ranges over {len(sample)} events "
                  f"({int(tracks.sum())} with >= 2 stations), hardware units:")
            for name, (lo, hi) in feats.ranges.items():
                print(f"    {name:<12s} [{lo:6d}, {hi:6d}]")
    return 0


def _require_keras2(what: str) -> None:
    """The Keras 2 / QKeras stack (extra ``keras2``), checked before any work."""
    from triginfer.extras import require

    for module in ("tensorflow", "qkeras"):
        require(module, what)


@_command("run")
def _cmd_run(args: argparse.Namespace) -> int:
    from triginfer.config import load_config
    from triginfer.pipeline import run_pipeline
    from triginfer.steps import preflight, steps_for, validate_config

    cfg = load_config(args.config)
    validate_config(cfg)
    if cfg.sections.get("models"):
        _require_keras2("training the config's models")
    out = Path(args.out) if args.out else Path("runs") / Path(cfg.source_path or "run").stem
    run_pipeline(cfg, out, force=args.force, quiet=args.quiet, steps=steps_for(cfg),
                 preflight=preflight)
    report = out / "report.html"
    print(f"report: {report}" if report.exists() else f"run directory: {out}")
    return 0


@_command("train")
def _cmd_train(args: argparse.Namespace) -> int:
    from triginfer.config import load_config
    from triginfer.pipeline import run_pipeline
    from triginfer.steps import STEPS, TRAIN_STEPS, preflight, validate_config

    cfg = load_config(args.config)
    validate_config(cfg, need_models=True)
    _require_keras2("training")
    steps = [s for s in STEPS if s.name in TRAIN_STEPS]
    run_pipeline(cfg, Path(args.out), force=args.force, quiet=args.quiet, steps=steps,
                 preflight=preflight)
    return 0


def _features_arg(args: argparse.Namespace, model) -> dict:
    """The spec's feature record from --features/--columns (muon feature sets by default for
    models of their input shape only when asked)."""
    if args.columns is not None:
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        if not columns:
            from triginfer.errors import ConfigError

            raise ConfigError(f"--columns {args.columns!r}: give comma-separated column names")
        return {"columns": columns}
    if args.features:
        return {"set": args.features}
    return {}


def _export_hls_torch(args: argparse.Namespace) -> int:
    """export-hls for a PyTorch file (the PyTorch front end, hls_export/pytorch.py)."""
    from triginfer.errors import ConfigError
    from triginfer.hls_export.pytorch import convert_module, load_module, parse_input_shape

    shape = parse_input_shape(args.input_shape)
    for flag in ("write_config", "hls_config"):
        if getattr(args, flag):
            raise ConfigError(f"--{flag.replace('_', '-')} is for Keras models; a PyTorch "
                              "model is converted with hls4ml's PyTorch defaults")
    if not args.out:
        raise ConfigError("export-hls needs --out")
    features = _features_arg(args, None)
    module = load_module(args.model, architecture=args.architecture,
                         trust_model=args.trust_model)
    firmware = convert_module(module, shape, args.out, name=Path(args.model).stem,
                              backend=args.backend, io_type=args.io_type,
                              strategy=args.strategy, reuse_factor=args.reuse_factor,
                              part=args.part, clock_period_ns=args.clock_ns, features=features)
    print(f"HLS project and firmware_spec.json written to {args.out}")
    if args.compile:
        _self_check(firmware, args.check_events, reference=None)
    return 0


def _self_check(firmware, events: int, reference) -> None:
    """Compile the C simulation and print emulator == C-sim (and the float reference's
    distance) on ``events`` inputs spread over the input types."""
    from triginfer.emulation import Emulator
    from triginfer.emulation.files import inputs_for

    firmware.compile()
    x = inputs_for(firmware.spec, None, events)
    x = x if len(x) > 1 else x[0]
    csim = firmware.csim_predict(x)
    emulated = Emulator(firmware.spec).predict(x)
    csim_l = csim if isinstance(csim, list) else [csim]
    emu_l = emulated if isinstance(emulated, list) else [emulated]
    for k, (c, e) in enumerate(zip(csim_l, emu_l, strict=True)):
        label = f" (output {firmware.spec.outputs[k]})" if len(csim_l) > 1 else ""
        print(f"self-check on {len(c)} events{label}: emulator == C-sim on "
              f"{int(np.sum(np.all(e == c, axis=1)))}")


def _export_hls_onnx(args: argparse.Namespace) -> int:
    """export-hls for an ONNX / QONNX file (hls_export/qonnx.py: converted in .venv-keras3)."""
    from triginfer.api import Firmware
    from triginfer.errors import ConfigError
    from triginfer.hls_export.qonnx import convert_file

    for flag in ("write_config", "testbench", "synth", "hls_config"):
        if getattr(args, flag, None):
            raise ConfigError(f"--{flag.replace('_', '-')} is not offered for ONNX models yet")
    if args.input_shape or args.architecture or args.trust_model:
        raise ConfigError("--input-shape, --architecture and --trust-model are for PyTorch "
                          "models (.pt/.pth); an ONNX model carries its input shape")
    if not args.out:
        raise ConfigError("export-hls needs --out")
    firmware = Firmware(convert_file(args.model, args.out, backend=args.backend,
                                     io_type=args.io_type, strategy=args.strategy,
                                     reuse_factor=args.reuse_factor, part=args.part,
                                     clock_period_ns=args.clock_ns,
                                     features=_features_arg(args, None)))
    print(f"HLS project and firmware_spec.json written to {args.out} "
          f"({firmware.spec.settings.get('front_end', 'onnx').upper()} front end, "
          f"{len(firmware.spec.layers)} layers; inputs channels last: "
          f"{[list(s) for s in firmware.spec.input_shapes]})")
    if args.compile:
        from triginfer.api import compare
        from triginfer.emulation.files import inputs_for

        x = inputs_for(firmware.spec, None, args.check_events)
        result = compare(firmware, x if len(x) > 1 else x[0])
        print(f"self-check on {result.events} events: emulator == C-sim on "
              f"{result.equal_events}")
    return 0


def _export_hls_keras3(args: argparse.Namespace) -> int:
    """export-hls for a Keras 3 / HGQ2 ``.keras`` file (hls_export/keras3.py: converted in
    .venv-keras3 as a subprocess)."""
    from triginfer.errors import ConfigError
    from triginfer.hls_export.keras3 import convert_file

    for flag in ("write_config", "testbench", "synth"):
        if getattr(args, flag, None):
            raise ConfigError(f"--{flag.replace('_', '-')} is not offered for Keras 3 models "
                              "yet (export the project, then use the emulator's commands)")
    if args.input_shape or args.architecture or args.trust_model:
        raise ConfigError("--input-shape, --architecture and --trust-model are for PyTorch "
                          "models (.pt/.pth)")
    if not args.out:
        raise ConfigError("export-hls needs --out")
    hls_config = None
    if args.hls_config:
        from triginfer.hls_export.converter import load_hls_config

        hls_config = load_hls_config(args.hls_config)
    features = _features_arg(args, None)
    from triginfer.api import Firmware

    firmware = Firmware(convert_file(args.model, args.out, backend=args.backend,
                                     io_type=args.io_type, strategy=args.strategy,
                                     reuse_factor=args.reuse_factor, part=args.part,
                                     clock_period_ns=args.clock_ns, hls_config=hls_config,
                                     features=features))
    firmware.spec.settings["target_scale"] = args.target_scale
    firmware.spec.save(args.out)
    print(f"HLS project and firmware_spec.json written to {args.out} (Keras 3 front end, "
          f"{len(firmware.spec.layers)} layers)")
    if args.compile:
        from triginfer.api import compare
        from triginfer.emulation.files import inputs_for
        from triginfer.hls_export.keras3 import da4ml_predict

        x = inputs_for(firmware.spec, None, args.check_events)
        result = compare(firmware, x if len(x) > 1 else x[0])
        line = (f"self-check on {result.events} events: emulator == C-sim on "
                f"{result.equal_events}")
        if len(x) == 1 and len(firmware.spec.outputs) == 1:
            ref, _ = da4ml_predict(args.model, x[0],
                                  str(firmware.spec.input_layers[0].fixed("result")))
            c = np.asarray(result.csim).reshape(len(ref), -1)
            line += f", da4ml comb.predict == C-sim on {int(np.sum(np.all(ref == c, axis=1)))}"
        print(line)
    return 0


@_command("export-hls")
def _cmd_export_hls(args: argparse.Namespace) -> int:
    from triginfer.hls_export.converter import convert, write_hls_config
    from triginfer.hls_export.pytorch import TORCH_SUFFIXES
    from triginfer.hls_export.report import hls_tool
    from triginfer.pipeline import write_json
    from triginfer.trigger_models.training import load_model

    if Path(args.model).suffix.lower() in TORCH_SUFFIXES:
        return _export_hls_torch(args)
    from triginfer.hls_export.keras3 import is_keras3_file

    if is_keras3_file(args.model):
        return _export_hls_keras3(args)
    if Path(args.model).suffix.lower() == ".onnx":
        return _export_hls_onnx(args)
    if args.input_shape or args.architecture or args.trust_model:
        from triginfer.errors import ConfigError

        raise ConfigError("--input-shape, --architecture and --trust-model are for PyTorch "
                          "models (.pt/.pth)")
    model = load_model(args.model)
    features = _features_arg(args, model)
    if args.input:   # read at the end (test bench), checked before any work
        from triginfer.emulation.files import check_event_files

        check_event_files(None, [args.input])
    if args.hls_config:
        from triginfer.hls_export.converter import load_hls_config

        load_hls_config(args.hls_config)
    if args.write_config:
        write_hls_config(model, args.write_config, backend=args.backend, strategy=args.strategy,
                         reuse_factor=args.reuse_factor)
        print(f"hls4ml configuration written to {args.write_config}; edit it and pass it back "
              "with --hls-config")
        if not args.out:
            return 0
    if not args.out:
        from triginfer.errors import ConfigError

        raise ConfigError("export-hls needs --out (or only --write-config)")
    firmware = convert(model, args.out, backend=args.backend, io_type=args.io_type,
                       strategy=args.strategy, reuse_factor=args.reuse_factor, part=args.part,
                       clock_period_ns=args.clock_ns, hls_config=args.hls_config,
                       bit_exact=args.bit_exact, features=features)
    firmware.spec.settings["target_scale"] = args.target_scale
    firmware.spec.save(args.out)
    print(f"HLS project and firmware_spec.json written to {args.out}")
    if args.testbench:
        from triginfer.emulation.files import inputs_for
        from triginfer.hls_export.deliverables import write_testbench

        x = inputs_for(firmware.spec, args.input, args.testbench)
        tb = write_testbench(args.out, x if len(x) > 1 else x[0])
        print(f"testbench vectors ({tb['events']} events, expected outputs from the bit-exact "
              f"emulator) written to {Path(args.out) / 'tb_data'}")
    if args.compile:
        from triginfer.emulation import Emulator
        from triginfer.trigger_models.training import predict

        firmware.compile()
        from triginfer.emulation.files import inputs_for

        x = inputs_for(firmware.spec, None, args.check_events)
        x = x if len(x) > 1 else x[0]
        csim = firmware.csim_predict(x)
        keras_out = model.predict(x, batch_size=4096, verbose=0) if isinstance(x, list) else (
            predict(model, x))
        emulated = Emulator(firmware.spec).predict(x)
        csim_l = csim if isinstance(csim, list) else [csim]
        keras_l = keras_out if isinstance(keras_out, list) else [keras_out]
        emu_l = emulated if isinstance(emulated, list) else [emulated]
        n = len(csim_l[0])
        for k, (c, q, e) in enumerate(zip(csim_l, keras_l, emu_l, strict=True)):
            q = np.asarray(q, np.float64).reshape(c.shape)
            label = f" (output {firmware.spec.outputs[k]})" if len(csim_l) > 1 else ""
            print(f"self-check on {n} events{label}: C-sim == Keras on "
                  f"{int(np.sum(np.all(c == q, axis=1)))} (max |C-sim - Keras| "
                  f"{float(np.max(np.abs(c - q))):.3g}), emulator == C-sim on "
                  f"{int(np.sum(np.all(e == c, axis=1)))}")
    if args.synth:
        tool = hls_tool()
        if tool is None:
            log.warning("synthesis skipped: neither vitis_hls nor vivado_hls is on PATH "
                        "(the HLS project in %s is ready for them: build_prj.tcl)", args.out)
        else:
            report = firmware.synthesize()
            write_json(Path(args.out) / "report.json", report)
            print(f"synthesis ({tool}): latency {report['latency_cycles_worst']} cycles, "
                  f"II {report['initiation_interval_max']}, resources {report['resources']}")
    return 0


@_command("export-cmssw")
def _cmd_export_cmssw(args: argparse.Namespace) -> int:
    from triginfer.hls_export.deliverables import emulator_extras, export_cmssw

    package = export_cmssw(args.firmware, args.out, name=args.name, version=args.plugin_version)
    print(f"CMSSW emulator package written to {package}")
    if args.extras:
        import subprocess

        extras = emulator_extras(args.extras)
        done = subprocess.run(["make", "-C", str(package), f"EMULATOR_EXTRAS={extras.resolve()}"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            from triginfer.errors import TrigInferError

            tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
            raise TrigInferError(f"building {package} failed: {tail[0]}")
        print(f"built {package}/{package.name}_{args.plugin_version}/"
              f"{package.name}_{args.plugin_version}.so against {extras}")
    return 0


@_command("export-bdt")
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


@_command("patterns")
def _cmd_patterns(args: argparse.Namespace) -> int:
    from triginfer.emulation.files import inputs_for
    from triginfer.firmware.spec import FirmwareSpec
    from triginfer.hls_export.deliverables import write_patterns

    spec = FirmwareSpec.load(args.firmware)
    x = inputs_for(spec, args.input, args.events, tree=args.tree)
    summary = write_patterns(args.firmware, x if len(x) > 1 else x[0], args.out)
    print(f"bit patterns of {summary['events']} events written to {args.out}")
    return 0


@_command("export-rtl")
def _cmd_export_rtl(args: argparse.Namespace) -> int:
    from triginfer.firmware.spec import FirmwareSpec
    from triginfer.hls_export.rtl import RESOURCE_LABEL, export_rtl

    spec = FirmwareSpec.load(args.firmware)
    x = None
    if args.input:
        from triginfer.emulation.files import inputs_for

        x = inputs_for(spec, args.input, args.events, tree=args.tree)
        x = x if len(x) > 1 else x[0]
    report = export_rtl(spec, args.out, hdl=args.hdl, latency_cutoff=args.latency_cutoff,
                        clock_ns=args.clock_ns, events=args.events,
                        resources=not args.no_resources, table_bits=args.table_bits, x=x,
                        progress=(lambda _m: None) if args.quiet else print)
    print(f"RTL of {spec.name!r} written to {args.out} (src/, rtl_report.json)")
    print(f"  RTL == emulator on {report['exact']}/{report['events']} events; latency "
          f"{report['latency_cycles']} clocks = {report['latency_ns']:g} ns at "
          f"{report['clock_ns']:g} ns, II {report['ii'] if report['ii'] else 'not 1'}")
    res = report.get("resources")
    if res:
        print(f"  {RESOURCE_LABEL}: LUT {res['LUT']}, FF {res['FF']}, CARRY {res['CARRY']}, "
              f"DSP {res['DSP']}, BRAM_18K {res['BRAM_18K']} (timing closure not checked)")
    elif report.get("resources_error"):
        print(f"  yosys resource count failed: {report['resources_error']}")
    if report["exact"] != report["events"]:
        from triginfer.errors import TrigInferError

        raise TrigInferError(f"RTL differs from the emulator on "
                             f"{report['events'] - report['exact']} events (first: "
                             f"{report['first_mismatch']})")
    return 0


@_command("emulate")
def _cmd_emulate(args: argparse.Namespace) -> int:
    from triginfer.config import load_config
    from triginfer.emulation.files import (
        emulate_columns,
        emulate_files,
        load_firmware,
        spec_feature_set,
    )
    from triginfer.rootio import BranchMap

    firmware = load_firmware(args.firmware)
    if args.monitor and getattr(firmware, "kind", None) == "bdt":
        from triginfer.errors import ConfigError

        raise ConfigError("--monitor reports per-layer overflows of network firmware; a BDT's "
                          "types are checked when export-bdt writes it")
    if spec_feature_set(firmware) is None:
        # a user's model: inputs read as named columns / arrays, every output written
        if args.workers or args.scheduler or args.monitor:
            from triginfer.errors import ConfigError

            raise ConfigError("--workers/--scheduler/--monitor apply to the muon feature sets; "
                              "this firmware reads named columns")
        summary = emulate_columns(args.firmware, args.input, args.out, tree=args.tree,
                                  step_size=args.step_size, progress=not args.quiet)
        print(f"emulated {summary['events']} events -> {args.out}")
        return 0
    bmap = BranchMap()
    tree = args.tree
    if args.config:
        data = load_config(args.config).data
        bmap = data.branch_map_obj()
        tree = args.tree or data.tree
    summary = emulate_files(args.firmware, args.input, args.out, tree=tree or "muons",
                            branch_map=bmap, step_size=args.step_size, workers=args.workers,
                            scheduler=args.scheduler, connect_timeout=args.connect_timeout,
                            progress=not args.quiet)
    print(f"emulated {summary['events']} events in {summary['chunks']} chunks -> {args.out}")
    if args.monitor:
        from triginfer.emulation import Emulator
        from triginfer.emulation.files import firmware_inputs
        from triginfer.firmware.spec import FirmwareSpec
        from triginfer.rootio import read_sample

        spec = FirmwareSpec.load(args.firmware)
        sample = read_sample(args.input, tree or "muons", bmap, args.step_size,
                             require_truth=False, entry_stop=args.monitor_events)
        _, report = Emulator(spec).predict(firmware_inputs(spec, sample), monitor=True)
        print(f"overflow monitor over the first {len(sample)} events:")
        print(report.table())
    return 0


@_command("export-onnx")
def _cmd_export_onnx(args: argparse.Namespace) -> int:
    from triginfer.gpu_runtime import Session, export_bitexact_onnx, export_onnx

    if bool(args.model) == bool(args.firmware):
        from triginfer.errors import ConfigError

        raise ConfigError("give exactly one of --model (Keras/QKeras .h5) or --firmware "
                          "(a FirmwareSpec directory, for the bit-exact graph)")
    if args.model:
        from triginfer.trigger_models.training import load_model

        path = export_onnx(load_model(args.model), args.out, opset=args.opset,
                           method=args.method)
    else:
        from triginfer.hls_export import FirmwareSpec

        path = export_bitexact_onnx(FirmwareSpec.load(args.firmware), args.out, opset=args.opset)
    session = Session(path, device="cpu")
    print(f"wrote {path} (input {session.input_name} {session.input_shape}, "
          f"{'double' if session.input_dtype == np.float64 else 'float'})")
    return 0


@_command("export-triton")
def _cmd_export_triton(args: argparse.Namespace) -> int:
    from triginfer.gpu_runtime import export_triton_repository

    model_dir = export_triton_repository(args.onnx, args.repo, args.name,
                                         max_batch_size=args.max_batch_size,
                                         max_queue_delay_us=args.max_queue_delay_us,
                                         instance_count=args.instances, kind=args.kind)
    print(f"wrote {model_dir}/config.pbtxt and {model_dir}/1/model.onnx")
    return 0


def _served_model(args: argparse.Namespace):
    from triginfer.gpu_runtime.serving import model_from_firmware, model_from_onnx

    if bool(args.onnx) == bool(args.firmware):
        from triginfer.errors import ConfigError

        raise ConfigError("give exactly one of --onnx (an ONNX model) or --firmware (a "
                          "FirmwareSpec directory: its bit-exact emulator)")
    if args.onnx:
        return model_from_onnx(args.onnx, args.name, device=args.device)
    return model_from_firmware(args.firmware, args.name)


def _exit_with_parent() -> None:
    """When started by another triginfer process (``TRIGINFER_PARENT_PID``, e.g. the bench
    step's Triton load test), stop like Ctrl-C as soon as that process is gone, even when it
    was SIGKILLed and could not stop us itself."""
    import signal
    import threading

    parent = os.environ.get("TRIGINFER_PARENT_PID")
    if not parent or not parent.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)
        # a SIGINT that lands while the server starts or stops can be lost: then, after a
        # grace period, kill our own children (tritonserver) and leave without cleanup
        time.sleep(15)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == os.getpid():
                    os.kill(int(stat.parent.name), signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                continue
        os._exit(130)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@_command("serve")
def _cmd_serve(args: argparse.Namespace) -> int:
    from triginfer.gpu_runtime.serving import Server, ServerSettings

    settings = ServerSettings(host=args.host, http_port=args.http_port, grpc_port=args.grpc_port,
                              metrics_port=args.metrics_port,
                              max_batch_size=args.max_batch_size,
                              max_queue_delay_us=args.max_queue_delay_us,
                              instances=args.instances, server_log=args.verbose)
    settings.check()
    model = _served_model(args)
    server = Server(model, settings)
    server.start()
    _exit_with_parent()
    print(f"serving {model.name} ({model.source}) on Triton: http {args.host}:{args.http_port}, "
          f"grpc {args.host}:{args.grpc_port}, metrics {args.host}:{args.metrics_port}; "
          "Ctrl-C or SIGTERM stops it", flush=True)
    if server.access_token:
        print(f"access token for protected endpoints (header triton-access-token): "
              f"{server.access_token}", flush=True)
    server.serve_forever()
    print("server stopped", flush=True)
    return 0


@_command("loadtest")
def _cmd_loadtest(args: argparse.Namespace) -> int:
    from triginfer.emulation.files import inputs_for
    from triginfer.gpu_runtime.serving import loadtest, wait_ready
    from triginfer.pipeline import write_json

    model = _served_model(args)
    if args.firmware:
        from triginfer.firmware.spec import FirmwareSpec

        x = inputs_for(FirmwareSpec.load(args.firmware), args.input, args.events)
    else:
        rng = np.random.default_rng(7)
        x = [rng.normal(0, 2, (args.events, *shape)).astype(dtype)
             for _, shape, dtype in model.inputs]
    wait_ready(args.url, model.name, timeout=args.wait, protocol=args.protocol)
    result = loadtest(args.url, model, x, protocol=args.protocol, clients=args.clients,
                      requests=args.requests, batch=args.batch, rate=args.rate,
                      timeout=args.timeout)
    print(f"{result['requests']} requests ({result['events']} events) from {args.clients} "
          f"clients over {args.protocol}: {result['requests_per_s']:.0f} requests/s, "
          f"{result['events_per_s']:.0f} events/s, p50/p90/p99 "
          f"{result['latency_p50_us'] or 0:.0f}/{result['latency_p90_us'] or 0:.0f}/"
          f"{result['latency_p99_us'] or 0:.0f} us; answered {result['answered']}, lost "
          f"{result['lost']}, wrong {result['wrong']}; "
          + (f"Triton: {result['triton_inference_count']} inferences in "
             f"{result['triton_execution_count']} executions (mean batch "
             f"{result['mean_batch'] or 0:.1f})" if result["triton_inference_count"] is not None
             else "Triton's statistics: no answer (server gone)"))
    if args.out:
        write_json(Path(args.out), result)
    if result["lost"] or result["wrong"]:
        from triginfer.errors import TrigInferError

        raise TrigInferError(f"{result['lost']} requests lost, {result['wrong']} wrong "
                             f"({result['first_error'] or 'responses differ from in-process'})")
    return 0


@_command("bench")
def _cmd_bench(args: argparse.Namespace) -> int:
    from triginfer.features import has_track
    from triginfer.latency_bench.runtime import benchmark_to, table
    from triginfer.pipeline import write_json
    from triginfer.simulation import simulate_muons
    from triginfer.trigger_models.workflow import model_inputs

    keras_model = None
    if args.keras:
        from triginfer.trigger_models.training import load_model

        keras_model = load_model(args.keras)
    spec = None
    if args.firmware:
        from triginfer.hls_export import FirmwareSpec

        spec = FirmwareSpec.load(args.firmware)
    from triginfer.gpu_runtime import Session

    probe = Session(args.onnx, device=args.device, warmup=False)
    if spec is not None:
        from triginfer.emulation.files import FEATURE_SETS, spec_feature_set

        feature_set = spec_feature_set(spec)
        if feature_set is None:
            from triginfer.errors import ConfigError

            raise ConfigError(f"{args.firmware}: bench runs simulated muons and the firmware "
                              "does not read a muon feature set")
        kind = FEATURE_SETS[feature_set][0]
    else:  # an ONNX model alone records no feature set: the project's two input shapes
        kind = "dnn" if tuple(probe.input_shape) == (21,) else "cnn"
    sample = simulate_muons(args.events, seed=777)
    x = model_inputs(kind, sample.select(has_track(sample)))
    batches = tuple(args.batch_sizes)
    out = Path(args.out)
    result = benchmark_to(out, args.onnx, x, keras_model=keras_model, spec=spec,
                          device=args.device, batch_sizes=batches, min_seconds=args.seconds,
                          offered_rate_hz=args.offered_rate, load_seconds=args.load_seconds,
                          threads=args.threads, progress=not args.quiet)
    write_json(out / "bench.json", result)
    print(table(result))
    print("time per operator at batch 4096 (ONNX Runtime profiler):")
    for row in result["profile_at_4096"][:8]:
        print(f"  {row['op']:<14s} {row['share']:6.1%} {row['us_per_call']:10.1f} us/call")
    print(f"wrote {out / 'bench.json'} and plots")
    return 0


#: What each command writes (argument, "file" or "dir"): checked before any work. Files are
#: replaced atomically (written beside, then renamed); directories are created or updated.
_OUTPUTS = {
    "simulate": [("out", "file")], "run": [("out", "dir")], "train": [("out", "dir")],
    "export-hls": [("out", "dir"), ("write_config", "file")],
    "export-cmssw": [("out", "dir")], "patterns": [("out", "file")],
    "export-bdt": [("out", "dir")], "export-rtl": [("out", "dir")],
    "emulate": [("out", "file")], "export-onnx": [("out", "file")],
    "export-triton": [("repo", "dir")], "bench": [("out", "dir")],
    "loadtest": [("out", "file")],
}


def check_output(path: str | os.PathLike, kind: str) -> None:
    """Refuse, before any work, an output path that cannot be written: a directory where a
    file goes (or the reverse), a file in the way of a parent directory, a read-only
    parent. Missing parent directories are fine (they are created)."""
    from triginfer.errors import InputFileError

    path = Path(path)
    if path.exists() and kind == "file" and path.is_dir():
        raise InputFileError(f"{path}: is a directory; give a file name for this output")
    if path.exists() and kind == "dir" and not path.is_dir():
        raise InputFileError(f"{path}: is a file; give a directory for this output")
    parent = path if kind == "dir" and path.exists() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputFileError(f"{path}: {parent} is a file, not a directory; choose another "
                             "output path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputFileError(f"{path}: {parent} is not writable; choose a writable path")


class _Terminated(BaseException):
    """Raised in the main thread on SIGTERM so ``finally``/``except BaseException`` clean-ups
    (temporary files of writers) run as for Ctrl-C."""


def threading_main() -> bool:
    """Whether this is the main thread (signal handlers can only be set there)."""
    import threading

    return threading.current_thread() is threading.main_thread()


class _Parser(argparse.ArgumentParser):
    """Usage errors as the project's one line: ``triginfer: error: <command>: <problem>``
    (``--help`` shows the usage), exit status 2."""

    def error(self, message: str):
        command = self.prog.removeprefix("triginfer").strip()
        where = f"{command}: " if command else ""
        print(f"triginfer: error: {where}{' '.join(message.split())} (see `{self.prog} --help`)",
              file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand (exposed for tests and docs)."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a flag given before or after the subcommand is kept (no default overwrite).
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="debug logging and tracebacks on errors")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="only warnings and errors, no progress bars")

    parser = _Parser(
        prog="triginfer", parents=[common],
        description="Real-time trigger inference: quantized models, hls4ml firmware, "
                    "bit-exact emulation, batched GPU runtime, latency benchmarks.",
        epilog="Outputs: an existing output file is replaced atomically (written beside it, "
               "then renamed, so it is never half-written); output directories are created "
               "or updated in place (run/train resume from their step cache, --force redoes "
               "every step). Every input and output path is checked before any work: a bad "
               "one is a single 'triginfer: error:' line with exit status 2.")
    parser.add_argument("--version", action="version", version=f"triginfer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("simulate", parents=[common],
                       help="simulate the toy forward-muon trigger sample into a ROOT file",
                       description="Simulate muon-gun (tree 'muons') and optionally minimum-bias "
                                   "(tree 'minbias') events and write them to a ROOT file.")
    p.add_argument("--events", type=_positive_int, default=100_000,
                   help="muon-gun events (default 100000)")
    p.add_argument("--minbias", type=_nonneg_int, default=0, help="minimum-bias events (default 0: none)")
    p.add_argument("--seed", type=_nonneg_int, default=42, help="random seed (default 42)")
    p.add_argument("--config", default=None,
                   help="YAML config whose 'simulation' section overrides detector parameters")
    p.add_argument("--out", required=True, help="output ROOT file")

    p = sub.add_parser("inspect", parents=[common],
                       help="list trees, branches, event counts and feature ranges of a ROOT file",
                       description="Print the trees, branches and entry counts of a ROOT file, "
                                   "and the ranges of the trigger features for trees in the "
                                   "simulate layout.")
    p.add_argument("file", help="ROOT file")
    p.add_argument("--config", default=None,
                   help="YAML config whose data section gives the branch map and layout")
    p.add_argument("--max-events", type=_positive_int, default=200_000,
                   help="events read for the feature ranges (default 200000)")

    p = sub.add_parser("run", parents=[common],
                       help="run the whole pipeline on a config (default: configs/muon_pt_dnn.yaml)",
                       description="Run the pipeline described by a YAML config; finished steps "
                                   "in the run directory are reused unless --force.")
    p.add_argument("config", nargs="?", default=None, help="YAML config (default: the default one)")
    p.add_argument("--out", default=None, help="run directory (default runs/<config name>)")
    p.add_argument("--force", action="store_true", help="redo every step")

    p = sub.add_parser("export-hls", parents=[common],
                       help="convert a Keras/QKeras model into an hls4ml HLS project",
                       description="Convert a Keras or QKeras .h5 model with hls4ml (your "
                                   "configuration with --hls-config, else hls4ml's default), "
                                   "write the HLS project and firmware_spec.json/.npz; "
                                   "optionally compile the C simulation, compare it with Keras "
                                   "and the emulator, and run vendor synthesis.")
    p.add_argument("--model", required=True,
                   help="the model: Keras/QKeras (.h5, .keras) or PyTorch (.pt, .pth)")
    p.add_argument("--out", default=None, help="output directory for the HLS project")
    p.add_argument("--input-shape", default=None,
                   help="PyTorch: one event's input shape, channels first (e.g. 16 or 1,28,28)")
    p.add_argument("--architecture", default=None, metavar="FILE.py:CLASS",
                   help="PyTorch: the module class for a state dict (your own code, imported)")
    p.add_argument("--trust-model", action="store_true",
                   help="PyTorch: unpickle a whole saved module (runs code from the file)")
    p.add_argument("--hls-config", default=None,
                   help="hls4ml configuration (YAML, as --write-config writes it, edited: "
                        "per-layer precisions, reuse factor, strategy, table sizes)")
    p.add_argument("--write-config", default=None, metavar="FILE.yml",
                   help="write hls4ml's configuration for the model to start editing from "
                        "(alone: write it and stop)")
    p.add_argument("--bit-exact", action=argparse.BooleanOptionalAction, default=None,
                   help="hls4ml's bit-exact precision propagation (default: on when the model "
                        "starts with an input quantizer)")
    p.add_argument("--features", default=None, choices=["muon_engineered", "muon_stations"],
                   help="the model's inputs are one of the project's feature sets")
    p.add_argument("--columns", default=None,
                   help="comma-separated input column names (branches) for `triginfer emulate`")
    p.add_argument("--backend", default="Vitis", choices=["Vitis", "Vivado"],
                   help="hls4ml backend (default Vitis)")
    p.add_argument("--io-type", default="io_parallel", choices=["io_parallel", "io_stream"])
    p.add_argument("--strategy", default="Latency", choices=["Latency", "Resource"])
    p.add_argument("--reuse-factor", type=_positive_int, default=1)
    p.add_argument("--part", type=_part, default="xcvu13p-flga2577-2-e",
                   help="FPGA part (default VU13P)")
    p.add_argument("--clock-ns", type=_positive_float, default=5.0, help="clock period in ns (default 5)")
    p.add_argument("--target-scale", type=_positive_float, default=8.0,
                   help="the model regresses q/pT times this (default 8, as triginfer train)")
    p.add_argument("--compile", action="store_true",
                   help="build the C simulation (g++) and report its agreement with Keras "
                        "(exact count, max difference) and the emulator's with it")
    p.add_argument("--check-events", type=_positive_int, default=20_000,
                   help="events for the --compile self-check (simulated muons for the muon "
                        "feature sets, else random values over the input type's range)")
    p.add_argument("--synth", action="store_true",
                   help="run Vitis/Vivado HLS synthesis if on PATH and write report.json")
    p.add_argument("--testbench", type=_positive_int, default=0, metavar="N",
                   help="write hls4ml's tb_data with N events whose expected outputs are the "
                        "bit-exact emulator's (the C testbench then prints at full precision)")
    p.add_argument("--input", default=None,
                   help="events for --testbench: ROOT/Parquet/.npy (default: simulated muons "
                        "for the muon feature sets, else values over the input type's range)")

    p = sub.add_parser("export-cmssw", parents=[common],
                       help="write the CMSSW emulator plugin package of a firmware",
                       description="Write NAME/NAME_VERSION/ in the hls4mlEmulatorExtras "
                                   "convention: the emulator class, NN/ with the hls4ml "
                                   "sources (weights compiled in) and Makefiles; build with "
                                   "`make -C OUT/NAME EMULATOR_EXTRAS=DIR`. An existing "
                                   "package of that name is replaced.")
    p.add_argument("--firmware", required=True, help="HLS project directory (export-hls)")
    p.add_argument("--out", required=True, help="output directory for the package")
    p.add_argument("--name", default=None, help="plugin name (default: the project name)")
    p.add_argument("--version", dest="plugin_version", default="v1",
                   help="plugin version (default v1)")
    p.add_argument("--extras", default=None, metavar="DIR",
                   help="also lay out DIR as hls4mlEmulatorExtras installs itself, from "
                        "triginfer's clean-room interface, and build the plugin against it")

    p = sub.add_parser("patterns", parents=[common],
                       help="write input and expected output bit patterns for RTL testbenches",
                       description="One event per line: each value in its declared width, "
                                   "two's complement, hex; inputs then the firmware's exact "
                                   "outputs; the layout is documented in the file's header.")
    p.add_argument("--firmware", required=True, help="directory holding firmware_spec.json")
    p.add_argument("--input", default=None,
                   help="events: ROOT/Parquet/.npy (default: simulated muons for the muon "
                        "feature sets, else values over the input type's range)")
    p.add_argument("--events", type=_positive_int, default=1000, help="events (default 1000)")
    p.add_argument("--tree", default=None, help="tree name for ROOT input")
    p.add_argument("--out", required=True, help="pattern file to write")

    p = sub.add_parser("serve", parents=[common],
                       help="serve a model on a real NVIDIA Triton server (PyTriton)",
                       description="Serve an ONNX model (ONNX Runtime session) or a firmware's "
                                   "bit-exact emulator on the tritonserver that nvidia-pytriton "
                                   "bundles, with Triton's dynamic batching; binds 127.0.0.1 "
                                   "unless --host names another address (then the protected "
                                   "endpoints need the printed token). Ctrl-C/SIGTERM stop it.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--onnx", default=None, help="ONNX model")
    src.add_argument("--firmware", default=None, help="FirmwareSpec directory (emulator)")
    p.add_argument("--name", required=True, help="model name on the server")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--http-port", type=_port, default=8000)
    p.add_argument("--grpc-port", type=_port, default=8001)
    p.add_argument("--metrics-port", type=_port, default=8002)
    p.add_argument("--max-batch-size", type=_positive_int, default=4096)
    p.add_argument("--max-queue-delay-us", type=_nonneg_int, default=500)
    p.add_argument("--instances", type=_positive_int, default=1)
    p.add_argument("--device", default="auto", choices=["auto", "tensorrt", "cuda", "cpu"])

    p = sub.add_parser("loadtest", parents=[common],
                       help="load-test a Triton server with tritonclient, checking every answer",
                       description="N concurrent tritonclient clients (gRPC or HTTP), single "
                                   "events or batches, closed loop or open loop at --rate; every "
                                   "response is compared with the in-process result; prints "
                                   "requests/s, events/s, latency percentiles and the batches "
                                   "Triton formed. Exit 2 if any request is lost or wrong.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--onnx", default=None, help="the ONNX model the server serves")
    src.add_argument("--firmware", default=None, help="the FirmwareSpec directory it serves")
    p.add_argument("--name", required=True, help="model name on the server")
    p.add_argument("--url", default="127.0.0.1:8001", help="server address (default gRPC port)")
    p.add_argument("--protocol", default="grpc", choices=["grpc", "http"])
    p.add_argument("--clients", type=_positive_int, default=8)
    p.add_argument("--requests", type=_positive_int, default=500, help="requests per client")
    p.add_argument("--batch", type=_positive_int, default=1, help="events per request")
    p.add_argument("--rate", type=_positive_float, default=None,
                   help="offered requests/s over all clients (open loop; default closed loop)")
    p.add_argument("--events", type=_positive_int, default=20_000, help="distinct input events")
    p.add_argument("--input", default=None, help="events file for --firmware (ROOT/Parquet/npy)")
    p.add_argument("--device", default="cpu", choices=["auto", "tensorrt", "cuda", "cpu"],
                   help="device of the in-process reference session")
    p.add_argument("--wait", type=_positive_float, default=60.0, help="seconds to wait for the server")
    p.add_argument("--timeout", type=_positive_float, default=10.0,
                   help="seconds a request may take before it counts as lost")
    p.add_argument("--out", default=None, help="write the result as JSON")

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
    p.add_argument("--target-scale", type=_positive_float, default=8.0,
                   help="the model regresses q/pT times this (default 8, as triginfer run)")
    p.add_argument("--part", type=_part, default="xcvu13p-flga2577-2-e",
                   help="FPGA part (default VU13P)")
    p.add_argument("--clock-ns", type=_positive_float, default=5.0,
                   help="clock period in ns (default 5)")
    p.add_argument("--compile", action="store_true",
                   help="compile the HLS C++ with g++ and check the emulator against it")
    p.add_argument("--check-events", type=_positive_int, default=10_000,
                   help="events for the --compile check (default 10000)")

    p = sub.add_parser("export-rtl", parents=[common],
                       help="Verilog of a firmware (da4ml), checked in Verilator, counted by yosys",
                       description="The firmware's graph as da4ml operations (each value's "
                                   "declared type, rounding and overflow honoured) written as "
                                   "pipelined Verilog; a testbench of triginfer's own feeds one "
                                   "event per clock in Verilator, measures latency and II and "
                                   "compares every output with the emulator; yosys counts "
                                   "UltraScale+ resources of the design. Writes rtl_report.json. "
                                   "Needs the RTL environment (`make rtl-env`).")
    p.add_argument("--firmware", required=True, help="directory holding firmware_spec.json")
    p.add_argument("--out", required=True, help="output directory (src/, sim/, rtl_report.json)")
    p.add_argument("--hdl", default="verilog", choices=["verilog", "vhdl"],
                   help="verilog (default), or vhdl: da4ml's VHDL of the same trace in vhdl/, the checks run on its Verilog")
    p.add_argument("--latency-cutoff", type=_positive_float, default=5.0,
                   help="da4ml's delay budget per pipeline stage (its units: about one adder "
                        "level each; smaller = more stages, default 5)")
    p.add_argument("--clock-ns", type=_positive_float, default=5.0,
                   help="clock period for the latency in ns (default 5)")
    p.add_argument("--events", type=_positive_int, default=10_000,
                   help="events the testbench checks (default 10000)")
    p.add_argument("--input", default=None,
                   help="events file (ROOT/Parquet/npy, as `triginfer emulate`); default: random "
                        "values over each input type's range, a tenth beyond it")
    p.add_argument("--tree", default=None, help="tree name for a ROOT --input")
    p.add_argument("--table-bits", type=_positive_int, default=12,
                   help="widest input of an elementwise layer built as a lookup table "
                        "(default 12)")
    p.add_argument("--no-resources", action="store_true",
                   help="skip the yosys resource count (minutes on big designs)")

    p = sub.add_parser("emulate", parents=[common],
                       help="emulate the firmware bit-exactly over ROOT files",
                       description="Read events chunk by chunk, compute features, emulate the "
                                   "firmware and write predictions with the event index.")
    p.add_argument("--firmware", required=True, help="directory holding firmware_spec.json")
    p.add_argument("--input", required=True, nargs="+", help="input file(s): ROOT (muon feature sets, or the branches the spec names), Parquet or .npy (a user model's columns/arrays)")
    p.add_argument("--out", required=True, help="output .root, .parquet or .npy")
    p.add_argument("--tree", default=None, help="tree name (default muons, or the config's)")
    p.add_argument("--config", default=None, help="YAML config whose data section has the branch map")
    p.add_argument("--step-size", type=_positive_int, default=200_000, help="events per chunk")
    p.add_argument("--workers", type=_positive_int, default=None, help="local Dask workers (extra 'dask')")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    p.add_argument("--connect-timeout", type=_positive_float, default=10.0,
                   help="seconds to wait for the scheduler to answer (at the start, or after "
                        "losing it mid-run) before giving up with one line")
    p.add_argument("--monitor", action="store_true", help="print the per-layer overflow table")
    p.add_argument("--monitor-events", type=_positive_int, default=1_000_000,
                   help="events (per file) the overflow table covers")

    p = sub.add_parser("export-onnx", parents=[common],
                       help="export a (Q)Keras model, or the bit-exact firmware graph, to ONNX",
                       description="--model exports a Keras/QKeras .h5 (float Keras models in "
                                   "TensorFlow's summation order, QKeras via tf2onnx; see "
                                   "--method); --firmware builds the bit-exact graph of a "
                                   "FirmwareSpec (equal to the emulator).")
    p.add_argument("--model", default=None, help="Keras/QKeras model (.h5)")
    p.add_argument("--firmware", default=None, help="FirmwareSpec directory (bit-exact graph)")
    p.add_argument("--out", required=True, help="output .onnx")
    p.add_argument("--opset", type=_opset, default=13, help="ONNX opset, 13..21 (default 13)")
    p.add_argument("--method", choices=("auto", "keras-order", "tf2onnx"), default="auto",
                   help="for --model: 'keras-order' writes float Keras models in TensorFlow's "
                        "summation order (equal to Keras within 1e-6); 'tf2onnx' a pure float32 "
                        "graph (for TensorRT); 'auto' (default) the first where it applies")

    p = sub.add_parser("export-triton", parents=[common],
                       help="write a Triton model repository entry for an ONNX model",
                       description="Writes <repo>/<name>/config.pbtxt and <repo>/<name>/1/model.onnx.")
    p.add_argument("--onnx", required=True, help="ONNX model")
    p.add_argument("--repo", required=True, help="model repository directory")
    p.add_argument("--name", required=True, help="model name in the repository")
    p.add_argument("--max-batch-size", type=_positive_int, default=4096)
    p.add_argument("--max-queue-delay-us", type=_nonneg_int, default=500)
    p.add_argument("--instances", type=_positive_int, default=1, help="instance_group count")
    p.add_argument("--kind", default="gpu", choices=["gpu", "cpu", "python"],
                   help="gpu/cpu: ONNX Runtime backend with that instance kind; python: a "
                        "Python-backend model (model.py running ONNX Runtime) that any "
                        "tritonserver with the Python backend loads")

    p = sub.add_parser("bench", parents=[common],
                       help="throughput and latency of an ONNX model vs batch size (and Keras)",
                       description="ONNX Runtime throughput and latency p50/p90/p99 vs batch "
                                   "size, the dynamic batcher under an offered load, Keras predict "
                                   "of the same model, and a measured roofline.")
    p.add_argument("--onnx", required=True, help="ONNX model")
    p.add_argument("--keras", default=None, help="the same model as .h5, for Keras predict")
    p.add_argument("--firmware", default=None,
                   help="FirmwareSpec directory (model FLOPs for the roofline)")
    p.add_argument("--out", required=True, help="output directory (bench.json, plots)")
    p.add_argument("--device", default="auto", choices=["auto", "tensorrt", "cuda", "cpu"])
    p.add_argument("--threads", type=_positive_int, default=None, help="ONNX Runtime intra-op threads")
    p.add_argument("--batch-sizes", type=_batch_sizes, default=(1, 8, 64, 512, 4096, 32768),
                   help="comma-separated batch sizes (default 1,8,64,512,4096,32768)")
    p.add_argument("--seconds", type=_positive_float, default=0.5, help="minimum time per batch size")
    p.add_argument("--events", type=_positive_int, default=100_000,
                   help="simulated events to draw from")
    p.add_argument("--offered-rate", type=_positive_float, default=5_000.0,
                   help="events/s offered to the dynamic batcher")
    p.add_argument("--load-seconds", type=_positive_float, default=2.0)

    p = sub.add_parser("train", parents=[common],
                       help="train the models a config names; write models, metrics.json, plots",
                       description="Simulate or read the data, train the float, pruned and "
                                   "quantized models and the baselines, and evaluate them.")
    p.add_argument("config", help="YAML config (e.g. configs/muon_pt_dnn.yaml)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--force", action="store_true", help="redo every step")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``triginfer`` command; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbose = getattr(args, "verbose", False)
    args.quiet = getattr(args, "quiet", False)
    verbosity = 1 if args.verbose else (-1 if args.quiet else 0)
    _setup_logging(verbosity)
    handler = _COMMANDS[args.command]
    import signal

    def _terminate(signum, frame):   # SIGTERM unwinds like Ctrl-C: temporary files are removed
        raise _Terminated

    previous = signal.getsignal(signal.SIGTERM)
    if threading_main():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        for attr, kind in _OUTPUTS.get(args.command, ()):
            if getattr(args, attr, None):
                check_output(getattr(args, attr), kind)
        return handler(args)
    except TrigInferError as exc:
        if args.verbose:
            log.exception("error")
        message = " ".join(str(exc).split())
        print(f"triginfer: error: {message}", file=sys.stderr)
        return exc.exit_code
    except (PermissionError, FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
        # an output path that cannot be written: one line, not a traceback
        if args.verbose:
            log.exception("error")
        where = exc.filename or "output path"
        print(f"triginfer: error: {where}: {exc.strerror or exc}; choose a writable path "
              "(a file, not a directory, in a directory you can write)", file=sys.stderr)
        return 2
    except _Terminated:
        print("triginfer: terminated (SIGTERM); partial outputs removed", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("triginfer: interrupted; partial outputs removed", file=sys.stderr)
        return 130
    finally:
        if threading_main():
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
