"""``triginfer export-triton``: write a Triton model repository entry for an ONNX model."""

from __future__ import annotations

import argparse

from triginfer.cli._common import (
    command,
    nonneg_int,
    positive_int,
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``export-triton`` subcommand's arguments."""
    p = sub.add_parser("export-triton", parents=[common],
                       help="write a Triton model repository entry for an ONNX model",
                       description="Writes <repo>/<name>/config.pbtxt and <repo>/<name>/1/model.onnx.")
    p.add_argument("--onnx", required=True, help="ONNX model")
    p.add_argument("--repo", required=True, help="model repository directory")
    p.add_argument("--name", required=True, help="model name in the repository")
    p.add_argument("--max-batch-size", type=positive_int, default=4096)
    p.add_argument("--max-queue-delay-us", type=nonneg_int, default=500)
    p.add_argument("--instances", type=positive_int, default=1, help="instance_group count")
    p.add_argument("--kind", default="gpu", choices=["gpu", "cpu", "python"],
                   help="gpu/cpu: ONNX Runtime backend with that instance kind; python: a "
                        "Python-backend model (model.py running ONNX Runtime) that any "
                        "tritonserver with the Python backend loads")


@command("export-triton")
def _cmd_export_triton(args: argparse.Namespace) -> int:
    from triginfer.gpu_runtime import export_triton_repository

    model_dir = export_triton_repository(args.onnx, args.repo, args.name,
                                         max_batch_size=args.max_batch_size,
                                         max_queue_delay_us=args.max_queue_delay_us,
                                         instance_count=args.instances, kind=args.kind)
    print(f"wrote {model_dir}/config.pbtxt and {model_dir}/1/model.onnx")
    return 0
