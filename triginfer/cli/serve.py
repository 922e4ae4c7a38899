"""``triginfer serve``: serve a model on a real NVIDIA Triton server (PyTriton)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from triginfer.cli._common import (
    command,
    nonneg_int,
    port,
    positive_int,
    served_model,
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``serve`` subcommand's arguments."""
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
    p.add_argument("--http-port", type=port, default=8000)
    p.add_argument("--grpc-port", type=port, default=8001)
    p.add_argument("--metrics-port", type=port, default=8002)
    p.add_argument("--max-batch-size", type=positive_int, default=4096)
    p.add_argument("--max-queue-delay-us", type=nonneg_int, default=500)
    p.add_argument("--instances", type=positive_int, default=1)
    p.add_argument("--device", default="auto", choices=["auto", "tensorrt", "cuda", "cpu"])


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



@command("serve")
def _cmd_serve(args: argparse.Namespace) -> int:
    from triginfer.gpu_runtime.serving import Server, ServerSettings

    settings = ServerSettings(host=args.host, http_port=args.http_port, grpc_port=args.grpc_port,
                              metrics_port=args.metrics_port,
                              max_batch_size=args.max_batch_size,
                              max_queue_delay_us=args.max_queue_delay_us,
                              instances=args.instances, server_log=args.verbose)
    settings.check()
    model = served_model(args)
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
