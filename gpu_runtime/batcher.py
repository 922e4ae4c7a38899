"""A dynamic batcher with Triton's semantics, for many producer threads feeding one session.

``submit()`` takes a single event or a small batch and returns a
:class:`concurrent.futures.Future` with that request's outputs. A worker
thread forms a batch as soon as ``max_batch_size`` events are queued, or when
the oldest queued request has waited ``max_queue_delay_us`` (Triton's
``dynamic_batching``), runs it, and splits the results back. The queue is
bounded (``max_queue`` events): ``submit`` blocks while it is full
(backpressure) and raises :class:`QueueFullError` after its timeout.
``close()`` completes (or, with ``cancel=True``, fails) every pending
request: none is lost or answered twice. Per-request latency and batch sizes
are recorded.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field

import numpy as np

from triginfer.errors import BadValueError, ShapeError, TrigInferError


class QueueFullError(TrigInferError):
    """The batcher's queue stayed full for the whole submit timeout."""


class BatcherClosedError(TrigInferError):
    """``submit`` was called after ``close``."""


@dataclass
class _Request:
    x: np.ndarray
    future: Future
    submitted: float
    single: bool


@dataclass
class BatcherStats:
    """What the batcher recorded: batch sizes and per-request latencies (seconds)."""

    batch_sizes: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Median/mean batch size and latency percentiles (microseconds)."""
        if not self.batch_sizes:
            return {"batches": 0}
        lat = np.asarray(self.latencies) * 1e6
        return {"batches": len(self.batch_sizes), "requests": len(self.latencies),
                "median_batch": float(np.median(self.batch_sizes)),
                "mean_batch": float(np.mean(self.batch_sizes)),
                "latency_p50_us": float(np.percentile(lat, 50)),
                "latency_p90_us": float(np.percentile(lat, 90)),
                "latency_p99_us": float(np.percentile(lat, 99))}


class DynamicBatcher:
    """See the module docstring. ``session`` is a :class:`Session` or any ``run(x)`` callable."""

    def __init__(self, session, max_batch_size: int = 256, max_queue_delay_us: float = 500.0,
                 max_queue: int = 65_536) -> None:
        if max_batch_size < 1 or max_queue < max_batch_size:
            raise ValueError("need max_batch_size >= 1 and max_queue >= max_batch_size")
        self._run: Callable[[np.ndarray], np.ndarray] = getattr(session, "run", session)
        self.input_shape = tuple(getattr(session, "input_shape", ()))
        self.max_batch_size = int(max_batch_size)
        self.delay = float(max_queue_delay_us) * 1e-6
        self.max_queue = int(max_queue)
        self.stats = BatcherStats()
        self._queue: collections.deque[_Request] = collections.deque()
        self._queued_events = 0
        self._cond = threading.Condition()
        self._closed = False
        self._cancel = False
        self._worker = threading.Thread(target=self._loop, name="triginfer-batcher", daemon=True)
        self._worker.start()

    def submit(self, x: np.ndarray, timeout: float | None = None) -> Future:
        """Queue one event (shape = input shape) or a batch; returns a Future of its outputs.

        A single event's future gives ``(n_outputs,)``, a batch's ``(n, n_outputs)``.
        """
        x = np.asarray(x)
        single = bool(self.input_shape) and tuple(x.shape) == self.input_shape
        if single:
            x = x[None]
        elif self.input_shape and tuple(x.shape[1:]) != self.input_shape:
            raise ShapeError(f"request shape {x.shape} matches neither an event "
                             f"{self.input_shape} nor a batch of them")
        if x.dtype.kind not in "biuf":
            raise ShapeError(f"request of dtype {x.dtype}: give numbers")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise BadValueError("request holds NaN/inf values; it is refused alone (the batch "
                                "it would have joined runs without it)")
        request = _Request(x, Future(), time.perf_counter(), single)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._closed and self._queued_events + len(x) > self.max_queue:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise QueueFullError(f"batcher queue full ({self.max_queue} events) for "
                                         f"{timeout} s")
                self._cond.wait(remaining)
            if self._closed:
                raise BatcherClosedError("submit() after close()")
            self._queue.append(request)
            self._queued_events += len(x)
            self._cond.notify_all()
        return request.future

    def _take_batch(self) -> list[_Request] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            if self._cancel:
                batch = list(self._queue)
                self._queue.clear()
                self._queued_events = 0
                self._cond.notify_all()
                for r in batch:
                    r.future.set_exception(CancelledError("batcher closed with cancel=True"))
                return []
            deadline = self._queue[0].submitted + self.delay
            while (self._queued_events < self.max_batch_size and not self._closed
                   and time.perf_counter() < deadline):
                self._cond.wait(max(deadline - time.perf_counter(), 0.0))
            batch, size = [], 0
            while self._queue and (not batch or size + len(self._queue[0].x) <= self.max_batch_size):
                request = self._queue.popleft()
                batch.append(request)
                size += len(request.x)
            self._queued_events -= size
            self._cond.notify_all()
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            if not batch:
                continue
            try:
                x = np.concatenate([r.x for r in batch]) if len(batch) > 1 else batch[0].x
                out = np.asarray(self._run(x)).reshape(len(x), -1)
            except Exception as exc:
                if len(batch) == 1:
                    batch[0].future.set_exception(exc)
                    continue
                # one bad request must not fail the others: run each alone, so only the
                # request that fails by itself learns why
                for r in batch:
                    self._answer([r], None)
                continue
            self._answer(batch, out)

    def _answer(self, batch: list[_Request], out: np.ndarray | None) -> None:
        """Set every request's result from ``out`` (the batch's outputs; None: run it now)."""
        if out is None:
            try:
                out = np.asarray(self._run(batch[0].x)).reshape(len(batch[0].x), -1)
            except Exception as exc:
                batch[0].future.set_exception(exc)
                return
        now = time.perf_counter()
        start = 0
        for r in batch:
            part = out[start:start + len(r.x)]
            start += len(r.x)
            r.future.set_result(part[0] if r.single else part)
            self.stats.latencies.append(now - r.submitted)
        self.stats.batch_sizes.append(start)

    def close(self, cancel: bool = False, timeout: float | None = None) -> None:
        """Stop accepting requests; finish (or with ``cancel`` fail) every pending one."""
        with self._cond:
            self._closed = True
            self._cancel = cancel
            self._cond.notify_all()
        self._worker.join(timeout)

    def __enter__(self) -> DynamicBatcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
