"""``triginfer bench``: throughput and latency of an ONNX model vs batch size (and Keras)."""

from __future__ import annotations

import argparse
from pathlib import Path

from triginfer.cli._common import (
    batch_sizes,
    command,
    positive_float,
    positive_int,
)
from triginfer.config import RuntimeConfig


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``bench`` subcommand's arguments."""
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
    p.add_argument("--device", default=RuntimeConfig.device, choices=["auto", "tensorrt", "cuda", "cpu"])
    p.add_argument("--threads", type=positive_int, default=None, help="ONNX Runtime intra-op threads")
    p.add_argument("--batch-sizes", type=batch_sizes, default=RuntimeConfig.batch_sizes,
                   help="comma-separated batch sizes (default 1,8,64,512,4096,32768)")
    p.add_argument("--seconds", type=positive_float, default=RuntimeConfig.seconds,
                   help="minimum time per batch size (default %(default)s)")
    p.add_argument("--events", type=positive_int, default=100_000,
                   help="simulated events to draw from")
    p.add_argument("--offered-rate", type=positive_float, default=RuntimeConfig.offered_rate,
                   help="events/s offered to the dynamic batcher")
    p.add_argument("--load-seconds", type=positive_float, default=RuntimeConfig.load_seconds)


@command("bench")
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
