"""``triginfer export-hls``: convert a Keras/QKeras model into an hls4ml HLS project."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from triginfer.cli._common import (
    command,
    features_arg,
    log,
    part,
    positive_float,
    positive_int,
)
from triginfer.config import DEFAULT_PART, FirmwareConfig
from triginfer.features import TARGET_SCALE


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``export-hls`` subcommand's arguments."""
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
    p.add_argument("--backend", default=FirmwareConfig.backend, choices=["Vitis", "Vivado"],
                   help="hls4ml backend (default Vitis)")
    p.add_argument("--io-type", default=FirmwareConfig.io_type, choices=["io_parallel", "io_stream"])
    p.add_argument("--strategy", default=FirmwareConfig.strategy, choices=["Latency", "Resource"])
    p.add_argument("--reuse-factor", type=positive_int, default=FirmwareConfig.reuse_factor)
    p.add_argument("--part", type=part, default=DEFAULT_PART,
                   help="FPGA part (default VU13P)")
    p.add_argument("--clock-ns", type=positive_float, default=FirmwareConfig.clock_period_ns,
                   help="clock period in ns (default %(default)s)")
    p.add_argument("--target-scale", type=positive_float, default=TARGET_SCALE,
                   help="the model regresses q/pT times this (default 8, as triginfer train)")
    p.add_argument("--compile", action="store_true",
                   help="build the C simulation (g++) and report its agreement with Keras "
                        "(exact count, max difference) and the emulator's with it")
    p.add_argument("--check-events", type=positive_int, default=20_000,
                   help="events for the --compile self-check (simulated muons for the muon "
                        "feature sets, else random values over the input type's range)")
    p.add_argument("--synth", action="store_true",
                   help="run Vitis/Vivado HLS synthesis if on PATH and write report.json")
    p.add_argument("--testbench", type=positive_int, default=0, metavar="N",
                   help="write hls4ml's tb_data with N events whose expected outputs are the "
                        "bit-exact emulator's (the C testbench then prints at full precision)")
    p.add_argument("--input", default=None,
                   help="events for --testbench: ROOT/Parquet/.npy (default: simulated muons "
                        "for the muon feature sets, else values over the input type's range)")


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
    features = features_arg(args, None)
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
                                     features=features_arg(args, None)))
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
    features = features_arg(args, None)
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



@command("export-hls")
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
    features = features_arg(args, model)
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
