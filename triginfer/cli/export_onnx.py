"""``triginfer export-onnx``: export a (Q)Keras model, or the bit-exact firmware graph, to ONNX."""

from __future__ import annotations

import argparse

import numpy as np

from triginfer.cli._common import (
    command,
    opset,
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``export-onnx`` subcommand's arguments."""
    p = sub.add_parser("export-onnx", parents=[common],
                       help="export a (Q)Keras model, or the bit-exact firmware graph, to ONNX",
                       description="--model exports a Keras/QKeras .h5 (float Keras models in "
                                   "TensorFlow's summation order, QKeras via tf2onnx; see "
                                   "--method); --firmware builds the bit-exact graph of a "
                                   "FirmwareSpec (equal to the emulator).")
    p.add_argument("--model", default=None, help="Keras/QKeras model (.h5)")
    p.add_argument("--firmware", default=None, help="FirmwareSpec directory (bit-exact graph)")
    p.add_argument("--out", required=True, help="output .onnx")
    p.add_argument("--opset", type=opset, default=13, help="ONNX opset, 13..21 (default 13)")
    p.add_argument("--method", choices=("auto", "keras-order", "tf2onnx"), default="auto",
                   help="for --model: 'keras-order' writes float Keras models in TensorFlow's "
                        "summation order (equal to Keras within 1e-6); 'tf2onnx' a pure float32 "
                        "graph (for TensorRT); 'auto' (default) the first where it applies")


@command("export-onnx")
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
