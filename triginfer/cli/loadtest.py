"""``triginfer loadtest``: load-test a Triton server with tritonclient, checking every answer."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from triginfer.cli._common import (
    command,
    positive_float,
    positive_int,
    served_model,
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``loadtest`` subcommand's arguments."""
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
    p.add_argument("--clients", type=positive_int, default=8)
    p.add_argument("--requests", type=positive_int, default=500, help="requests per client")
    p.add_argument("--batch", type=positive_int, default=1, help="events per request")
    p.add_argument("--rate", type=positive_float, default=None,
                   help="offered requests/s over all clients (open loop; default closed loop)")
    p.add_argument("--events", type=positive_int, default=20_000, help="distinct input events")
    p.add_argument("--input", default=None, help="events file for --firmware (ROOT/Parquet/npy)")
    p.add_argument("--device", default="cpu", choices=["auto", "tensorrt", "cuda", "cpu"],
                   help="device of the in-process reference session")
    p.add_argument("--wait", type=positive_float, default=60.0, help="seconds to wait for the server")
    p.add_argument("--timeout", type=positive_float, default=10.0,
                   help="seconds a request may take before it counts as lost")
    p.add_argument("--out", default=None, help="write the result as JSON")


@command("loadtest")
def _cmd_loadtest(args: argparse.Namespace) -> int:
    from triginfer.emulation.files import inputs_for
    from triginfer.gpu_runtime.serving import loadtest, wait_ready
    from triginfer.pipeline import write_json

    model = served_model(args)
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
