"""Bit-exact numpy emulator of a FirmwareSpec: the firmware's integer arithmetic, vectorised.

The emulator walks the spec's graph in topological order, keeping a name ->
tensor map, and runs each layer through its kind in the layer-kind registry
(:mod:`triginfer.firmware.kinds`), which holds what the hls4ml template of
that kind computes. Every tensor is held as mantissas of its fixed-point type
(:class:`~triginfer.quantization.fixed.FixedType`, the project's one
fixed-point implementation): integer-valued float64 when each kind's bound
proves every value stays below 2**51 (exact, and fast in numpy and BLAS),
int64 otherwise. A layer's value is converted to its result type (its
rounding, then its overflow) after the kind computes it.

Inputs and outputs: a model with one input takes an array ``(n, *input_shape)``;
one with several takes a list (in ``spec.inputs`` order) or a dict by input
name. Each output is ``(n, n_values)``; a model with one output returns one
array, one with several a list in ``spec.outputs`` order (a dict when the
inputs were given as a dict).

With ``monitor=True`` the emulator also counts, per layer and stage, the values
that fell outside the type's range (and were saturated or wrapped) and the
minimum and maximum reached, against the representable range.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass, field

import numpy as np

from triginfer.emulation import engine
from triginfer.errors import BadValueError, ShapeError, UnsupportedModelError
from triginfer.firmware import kinds
from triginfer.firmware.kinds.base import (
    FLOAT64_LIMIT,
    INT64_LIMIT,
    EmuTensor,
    max_abs,
    narrowest_holding,
)
from triginfer.firmware.spec import FirmwareSpec, SpecLayer, layer_guard
from triginfer.quantization.fixed import FixedType

log = logging.getLogger(__name__)
_ENGINE_LOCK = threading.Lock()


@dataclass
class OverflowStat:
    """Overflow count and range seen for one tensor of one layer."""

    layer: str
    stage: str
    type: str
    mode: str
    count: int = 0
    total: int = 0
    min_seen: float = float("inf")
    max_seen: float = float("-inf")
    min_allowed: float = 0.0
    max_allowed: float = 0.0

    def update(self, pre_overflow: np.ndarray, ftype: FixedType) -> None:
        """Fold in mantissas before the overflow step (already rounded to ``ftype``)."""
        if pre_overflow.size == 0:
            return
        self.count += int(np.count_nonzero(ftype.overflows(pre_overflow)))
        self.total += int(pre_overflow.size)
        self.min_seen = min(self.min_seen, float(ftype.to_float(pre_overflow.min())))
        self.max_seen = max(self.max_seen, float(ftype.to_float(pre_overflow.max())))

    @property
    def fraction(self) -> float:
        """Fraction of values that overflowed."""
        return self.count / self.total if self.total else 0.0


@dataclass
class OverflowReport:
    """Per-layer overflow statistics of an emulation run."""

    stats: list[OverflowStat] = field(default_factory=list)

    def table(self) -> str:
        """A fixed-width text table for the terminal."""
        head = (f"{'layer':<16s} {'stage':<7s} {'type':<26s} {'mode':<8s} {'overflows':>10s} "
                f"{'fraction':>9s} {'min seen':>11s} {'max seen':>11s} {'range':>23s}")
        lines = [head, "-" * len(head)]
        for s in self.stats:
            lines.append(
                f"{s.layer:<16s} {s.stage:<7s} {s.type:<26s} {s.mode:<8s} {s.count:>10d} "
                f"{s.fraction:>9.2e} {s.min_seen:>11.4g} {s.max_seen:>11.4g} "
                f"[{s.min_allowed:.4g}, {s.max_allowed:.4g}]")
        return "\n".join(lines)

    def as_dict(self) -> list[dict]:
        """JSON-friendly list."""
        return [s.__dict__.copy() for s in self.stats]


#: a block that takes less than this on one thread is not worth a thread pool
MIN_THREADED_BLOCK_S = 0.003
#: the generated engine is compiled (once per emulator, cached on disk by the spec's hash) on
#: the first call with at least this many events; smaller calls take the numpy path
ENGINE_MIN_EVENTS = 20000


class _Run:
    """What the kinds see while one block of events runs: the number domain and the monitor."""

    def __init__(self, float_mode: bool, stats: dict | None, compiled: bool = True) -> None:
        self.float_mode = float_mode
        self.stats = stats
        self.monitoring = stats is not None
        self.compiled = compiled

    def _stat(self, layer: SpecLayer, stage: str, ftype: FixedType) -> OverflowStat:
        key = (layer.name, stage)
        if key not in self.stats:
            self.stats[key] = OverflowStat(layer.name, stage, str(ftype), ftype.overflow,
                                           min_allowed=ftype.min_value,
                                           max_allowed=ftype.max_value)
        return self.stats[key]

    def overflow(self, layer: SpecLayer, stage: str, ftype: FixedType, m: np.ndarray
                 ) -> np.ndarray:
        """Apply ``ftype``'s overflow mode to rounded mantissas (monitored)."""
        if self.stats is not None:
            self._stat(layer, stage, ftype).update(m, ftype)
        return ftype.apply_overflow(m)

    def convert(self, layer: SpecLayer, stage: str, ftype: FixedType, m: np.ndarray,
                frac: int, owned: bool = False) -> np.ndarray:
        """Mantissas with ``frac`` fractional bits converted to ``ftype`` (monitored); with
        ``owned`` a float64 ``m`` may be overwritten."""
        if self.stats is None and self.float_mode and self.compiled:
            fast = engine.requantize(m, frac, ftype, inplace=owned)
            if fast is not None:
                return fast
        rounded = ftype.round_only(m, frac, inplace=owned and m.dtype.kind == "f")
        if self.stats is not None:
            self._stat(layer, stage, ftype).update(rounded, ftype)
        return ftype.apply_overflow(rounded, inplace=rounded is not m)


class Emulator:
    """Bit-exact emulation of a :class:`FirmwareSpec` (see the module docstring)."""

    def __init__(self, spec: FirmwareSpec, chunk_size: int = 4096,
                 threads: int | None = None, compiled: bool = True,
                 engine_min_events: int | None = None) -> None:
        self.spec = spec
        #: the generated C engine (:mod:`triginfer.emulation.compiled`) for calls of at least
        #: ``engine_min_events`` events, and the compiled one-pass conversions
        #: (:mod:`triginfer.emulation.engine`) in the numpy path; ``False`` keeps the numpy
        #: reference path throughout
        self.compiled = bool(compiled)
        env_min = os.environ.get("TRIGINFER_ENGINE_MIN_EVENTS")
        self.engine_min_events = int(engine_min_events if engine_min_events is not None
                                     else env_min if env_min else ENGINE_MIN_EVENTS)
        self._engine = None
        self._engine_tried = False
        #: why the generated engine is not used ("" when it is, None before it was tried)
        self.engine_reason: str | None = None
        #: events per block: each block runs through the whole graph while its tensors are
        #: still in cache; blocks run on ``threads`` threads (numpy and BLAS release the GIL)
        self.chunk_size = int(chunk_size)
        self.threads = int(threads) if threads else (os.cpu_count() or 1)
        registry = kinds.registry()
        for layer in spec.layers:
            if layer.kind not in registry:
                raise UnsupportedModelError(
                    f"firmware {spec.name!r}: layer {layer.name!r} of kind {layer.kind!r} is not "
                    f"supported by the emulator (supported: {', '.join(kinds.supported('emulator'))})")
        try:
            spec.check_graph()
        except ValueError as exc:
            raise UnsupportedModelError(f"firmware {spec.name!r}: {exc}") from exc
        self._types: dict[str, FixedType] = {}
        self._in_types: dict[str, list[FixedType]] = {}
        self._plans: dict[str, dict] = {}
        bounds: dict[str, float] = {}
        widest: dict[str, int] = {}
        for layer in spec.layers:
            with layer_guard(spec.name, layer, "emulator"):
                self._prepare_layer(layer, registry[layer.kind], bounds, widest)
        worst = max(bounds, key=bounds.get)
        wide = max(widest, key=widest.get)
        if widest[wide] > 62:
            raise UnsupportedModelError(
                f"firmware {spec.name!r}: layer {wide!r} uses a {widest[wide]}-bit type the "
                "emulator cannot narrow to 62 bits; set a narrower precision for it in the "
                "hls4ml configuration")
        if bounds[worst] >= INT64_LIMIT:
            raise UnsupportedModelError(
                f"firmware {spec.name!r}: layer {worst!r} can reach values of 2**"
                f"{np.log2(bounds[worst]):.0f} LSBs, beyond the emulator's 62-bit integer path; "
                "bound its precision in the hls4ml configuration (narrower accum/result types)")
        #: Every value provably below 2**51 in magnitude: integer-valued float64 is exact.
        self.float_mode = max(widest.values()) <= 50 and bounds[worst] < FLOAT64_LIMIT
        #: The widest type the emulator holds (after narrowing wide results).
        self.max_width = max(widest.values())
        self.bounds = bounds

    def _prepare_layer(self, layer, kind, bounds: dict, widest: dict) -> None:
        """A layer's plan, the type its result is held in, and its value bound."""
        in_types = [self._types[name] for name in layer.inputs]
        self._in_types[layer.name] = in_types
        plan = kind.prepare(layer, in_types)
        self._plans[layer.name] = plan
        declared = layer.fixed("result")
        result = declared if layer.kind == "input" else self._held_type(
            layer, kind, plan, in_types, declared)
        bounds[layer.name] = (max_abs(result) if layer.kind == "input"
                              else float(kind.bound(layer, plan, in_types)))
        bounds[layer.name] = max(bounds[layer.name], max_abs(result))
        widest[layer.name] = max([result.width] + [layer.fixed(t).width for t in layer.types
                                                  if t != "result"])
        self._types[layer.name] = result

    @staticmethod
    def _held_type(layer, kind, plan, in_types, declared: FixedType) -> FixedType:
        """The type the emulator holds a layer's result in: the declared one, or, when that is
        wider than 50 bits and the kind proves its values fit with fewer fractional bits, the
        narrowest equivalent type (the conversion to the declared type is then exact)."""
        if declared.width <= 50:
            return declared
        known = kind.value_range(layer, plan, in_types)
        if known is None:
            return declared
        lo, hi, frac = known
        if frac > declared.frac or lo < declared.min_value or hi > declared.max_value:
            return declared
        return narrowest_holding(lo, hi, frac, declared) or declared

    def result_type(self, name: str) -> FixedType:
        """The type the emulator holds layer ``name``'s result in (see :meth:`_held_type`)."""
        return self._types[name]

    @property
    def output_types(self) -> list[FixedType]:
        """The types of the output mantissas :meth:`predict_mantissa` returns."""
        return [self._types[name] for name in self.spec.outputs]

    # --- inputs and outputs ------------------------------------------------------------------
    def _inputs(self, x) -> tuple[list[np.ndarray], bool]:
        """The inputs as a list in spec order, checked; and whether they came as a dict."""
        spec = self.spec
        as_dict = isinstance(x, dict)
        if as_dict:
            missing = [name for name in spec.inputs if name not in x]
            if missing:
                raise ShapeError(f"firmware {spec.name!r}: inputs {missing} missing (expects "
                                 f"{spec.inputs})")
            arrays = [np.asarray(x[name]) for name in spec.inputs]
        elif isinstance(x, list | tuple):
            if len(x) != len(spec.inputs):
                raise ShapeError(f"firmware {spec.name!r} takes {len(spec.inputs)} inputs "
                                 f"({spec.inputs}), got {len(x)}")
            arrays = [np.asarray(a) for a in x]
        else:
            if len(spec.inputs) != 1:
                raise ShapeError(f"firmware {spec.name!r} takes {len(spec.inputs)} inputs "
                                 f"({spec.inputs}); pass a list or a dict of arrays")
            arrays = [np.asarray(x)]
        n = None
        for name, a, shape in zip(spec.inputs, arrays, spec.input_shapes, strict=True):
            if a.ndim < 1 or tuple(a.shape[1:]) != tuple(shape):
                raise ShapeError(f"firmware {spec.name!r} expects input shape (n, "
                                 f"{', '.join(map(str, shape))}) for input {name!r}, got {a.shape}")
            if a.dtype.kind not in "fiub":
                raise ShapeError(f"firmware {spec.name!r}: input {name!r} has dtype {a.dtype}; "
                                 "give numbers")
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                raise BadValueError(f"firmware {spec.name!r}: input {name!r} holds NaN/inf values")
            if n is not None and len(a) != n:
                raise ShapeError(f"firmware {spec.name!r}: inputs have different event counts "
                                 f"({n} and {len(a)})")
            n = len(a)
        return arrays, as_dict

    def _outputs(self, outs: list[np.ndarray], as_dict: bool):
        if len(outs) == 1:
            return outs[0]
        if as_dict:
            return dict(zip(self.spec.outputs, outs, strict=True))
        return outs

    # --- public API --------------------------------------------------------------------------
    def predict_mantissa(self, x, monitor: bool = False):
        """Output mantissas (int64, ``(n_events, n_values)`` per output) in the output types.

        With ``monitor`` returns ``(mantissas, OverflowReport)``.
        """
        arrays, as_dict = self._inputs(x)
        n = len(arrays[0])
        if not monitor and n and n >= self.engine_min_events:
            model = self.generated_engine()
            if model is not None:
                return self._outputs(model.run(arrays, self.threads), as_dict)
        stats: dict[tuple[str, str], OverflowStat] | None = {} if monitor else None
        outs = [np.empty((n, size), dtype=np.int64) for size in self.spec.output_sizes]

        def one(start: int) -> None:
            block = [a[start:start + self.chunk_size] for a in arrays]
            for out, value in zip(outs, self._run(block, stats), strict=True):
                out[start:start + len(block[0])] = value

        starts = list(range(0, n, self.chunk_size))
        if monitor or self.threads == 1 or len(starts) < 3:
            for start in starts:
                one(start)
        else:
            # Threads pay off only when a block is real work (small layers contend for the
            # GIL): the first block, timed, decides.
            import time
            from concurrent.futures import ThreadPoolExecutor

            t0 = time.perf_counter()
            one(starts[0])
            if time.perf_counter() - t0 < MIN_THREADED_BLOCK_S:
                for start in starts[1:]:
                    one(start)
            else:
                with _single_threaded_blas(), ThreadPoolExecutor(self.threads) as pool:
                    list(pool.map(one, starts[1:]))
        result = self._outputs(outs, as_dict)
        if monitor:
            return result, OverflowReport(stats=list(stats.values()))
        return result

    def generated_engine(self):
        """The spec's generated C engine (:class:`~triginfer.emulation.compiled.CompiledModel`),
        built on first use; None (the reason in :attr:`engine_reason`, logged once) when it
        cannot be, or when the emulator was made with ``compiled=False``."""
        if not self._engine_tried:
            with _ENGINE_LOCK:
                if not self._engine_tried:
                    if not self.compiled:
                        model, why = None, "compiled=False"
                    else:
                        from triginfer.emulation import compiled as generated

                        model, why = generated.build(self.spec, self)
                        if model is None:
                            log.info("firmware %r: generated engine not used (%s); emulating "
                                     "with numpy", self.spec.name, why)
                    self._engine, self.engine_reason = model, why
                    self._engine_tried = True
        return self._engine

    def predict(self, x, monitor: bool = False):
        """Output values (float64, ``(n_events, n_values)`` per output); with ``monitor`` also
        the report."""
        result = self.predict_mantissa(x, monitor)
        mantissa, report = result if monitor else (result, None)
        types = self.output_types
        if isinstance(mantissa, dict):
            values = {k: t.to_float(v) for (k, v), t in zip(mantissa.items(), types, strict=True)}
        elif isinstance(mantissa, list):
            values = [t.to_float(v) for v, t in zip(mantissa, types, strict=True)]
        else:
            values = types[0].to_float(mantissa)
        return (values, report) if monitor else values

    def run_layer(self, name: str, mantissas: list[np.ndarray]) -> np.ndarray:
        """One layer alone: its result mantissas (int64, ``(n, *output_shape)``) for input
        mantissas ``(n, *shape)`` in the types the emulator holds its inputs in.

        The RTL flow builds lookup tables and index maps with it (the emulator's own
        arithmetic, so a table is right by construction)."""
        layer = self.spec.layer(name)
        kind = kinds.registry()[layer.kind]
        run = _Run(self.float_mode, None, self.compiled)
        xs = []
        for src, m in zip(layer.inputs, mantissas, strict=True):
            m = np.asarray(m, dtype=np.float64 if self.float_mode else np.int64)
            xs.append(EmuTensor(m, self._types[src].frac))
        value = kind.emulate(layer, self._plans[name], xs, run)
        m = value.m
        if kind.converts_result:
            m = run.convert(layer, "result", self._types[name], value.m, value.frac)
        return np.asarray(m).astype(np.int64)

    def plan(self, name: str) -> dict:
        """What the layer's kind prepared for layer ``name`` (weights, windows, bounds...)."""
        return self._plans[name]

    def input_mantissas(self, x) -> list[np.ndarray]:
        """The inputs converted to the input types (int64 mantissas, one array per input)."""
        arrays, _ = self._inputs(x)
        out = []
        for name, a in zip(self.spec.inputs, arrays, strict=True):
            t = self._types[name]
            out.append(t.apply_overflow(t.round_float(a)).astype(np.int64))
        return out

    # --- internals ---------------------------------------------------------------------------
    def _run(self, block: list[np.ndarray], stats) -> list[np.ndarray]:
        run = _Run(self.float_mode, stats, self.compiled)
        registry = kinds.registry()
        tensors: dict[str, EmuTensor] = {}
        inputs = dict(zip(self.spec.inputs, block, strict=True))
        for layer in self.spec.layers:
            with layer_guard(self.spec.name, layer, "emulator"):
                result = self._types[layer.name]
                if layer.kind == "input":
                    rounded = result.round_float(inputs[layer.name])
                    if stats is not None:
                        run._stat(layer, "result", result).update(rounded, result)
                    m = result.apply_overflow(rounded)
                    if self.float_mode:  # in range now: exact as float64
                        m = m.astype(np.float64)
                    tensors[layer.name] = EmuTensor(m, result.frac)
                    continue
                kind = registry[layer.kind]
                xs = [tensors[name] for name in layer.inputs]
                value = kind.emulate(layer, self._plans[layer.name], xs, run)
                if kind.converts_result:
                    # a fresh array (not a view of an input) may be rounded in place
                    owned = not any(np.may_share_memory(value.m, x.m) for x in xs)
                    m = run.convert(layer, "result", result, value.m, value.frac, owned=owned)
                else:
                    m = value.m
                tensors[layer.name] = EmuTensor(m, result.frac)
        n = len(block[0])
        return [tensors[name].m.reshape(n, -1).astype(np.int64) for name in self.spec.outputs]


_BLAS_CONTROLLER: list = []


@contextlib.contextmanager
def _single_threaded_blas():
    """BLAS on one thread while the emulator runs blocks on several (no oversubscription).
    The controller (which scans the loaded libraries, milliseconds) is made once."""
    if not _BLAS_CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROLLER.append(ThreadpoolController())
        except ImportError:   # without threadpoolctl BLAS keeps its own threads
            _BLAS_CONTROLLER.append(None)
    controller = _BLAS_CONTROLLER[0]
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield
