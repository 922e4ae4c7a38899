"""Emulation over files: chunked reading, features, the emulator, streaming output.

Events are read ``step_size`` at a time (uproot), turned into the features the
firmware's spec names (one of the project's muon feature sets), emulated, and appended to the output
(ROOT tree ``emulation``, Parquet or ``.npy`` structured array) with the event
index, so memory stays bounded by one chunk whatever the file size. With
``workers`` (a local Dask cluster) or ``scheduler`` (an existing one) the
chunks are emulated on Dask workers; results are written in event order and
are identical to the local path.

Any other firmware (a user's model, whose spec records ``features.columns``,
or none) reads its inputs directly: named branches of a ROOT tree (jagged
branches padded with zeros or truncated to the input shape), columns of a
Parquet file, or a ``.npy`` array of the input shape (or a structured array
with the named fields); every output value is written as a column
(``output_<j>``, or ``<output>_<j>`` for several outputs).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triginfer.errors import ConfigError
from triginfer.features import engineered_features, has_track, station_features
from triginfer.firmware.spec import FirmwareSpec
from triginfer.rootio import BranchMap, iterate_sample, open_tree, read_errors
from triginfer.simulation import Sample

log = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".root", ".parquet", ".npy")


#: The project's feature sets: name -> (model kind, input shape).
FEATURE_SETS = {"muon_engineered": ("dnn", (21,)), "muon_stations": ("cnn", (4, 5))}


def load_firmware(spec_dir: str | os.PathLike):
    """The firmware in ``spec_dir``: a network's :class:`FirmwareSpec`, or a
    :class:`~triginfer.firmware.bdt.BdtSpec` when the directory holds BDT firmware."""
    from triginfer.firmware.bdt import BdtSpec, is_bdt_dir

    if is_bdt_dir(spec_dir):
        return BdtSpec.load(spec_dir)
    return FirmwareSpec.load(spec_dir)


def emulator_for(spec, threads: int | None = None):
    """The bit-exact emulator of a network spec or a BDT spec (both ``predict(x)``)."""
    if getattr(spec, "kind", None) == "bdt":
        from triginfer.emulation.bdt import BdtEmulator

        return BdtEmulator(spec, threads=threads)
    from triginfer.emulation.emulator import Emulator

    return Emulator(spec, threads=threads)


def feature_set_of(kind: str) -> str:
    """The feature set a model kind of the project (``dnn``/``cnn``) reads."""
    return {"dnn": "muon_engineered", "cnn": "muon_stations"}[kind]


def spec_feature_set(spec: FirmwareSpec) -> str | None:
    """The project feature set a firmware reads, from its spec (``features.set``).

    Specs written before the spec recorded it (schema 1) say nothing; for those the
    two shapes the project's own models have are taken as the sets they always were.
    """
    named = spec.features.get("set")
    if named:
        if named not in FEATURE_SETS:
            raise ConfigError(f"firmware {spec.name!r}: unknown feature set {named!r} "
                              f"(known: {sorted(FEATURE_SETS)})")
        return named
    if spec.features.get("columns"):
        return None
    if not spec.features and not spec.multi_io:
        for name, (_, shape) in FEATURE_SETS.items():
            if tuple(spec.input_shape) == shape and spec.settings.get("target_scale"):
                return name
    return None


def firmware_inputs(spec: FirmwareSpec, sample: Sample) -> np.ndarray:
    """The network inputs for ``sample`` in the feature set the firmware's spec names."""
    feature_set = spec_feature_set(spec)
    if feature_set == "muon_engineered":
        return engineered_features(sample).scaled()
    if feature_set == "muon_stations":
        return station_features(sample).scaled()
    raise ConfigError(f"firmware {spec.name!r} does not read one of the muon feature sets "
                      f"({sorted(FEATURE_SETS)}); its inputs are "
                      f"{spec.features.get('columns') or 'not recorded'}: emulate its columns "
                      "with `triginfer emulate --firmware DIR --input F.(root|parquet|npy)`")


def emulate_sample(spec: FirmwareSpec, sample: Sample, start: int,
                   threads: int | None = None) -> dict[str, np.ndarray]:
    """Emulate one chunk (on ``threads`` threads, default all cores); returns the output
    columns."""
    values = emulator_for(spec, threads=threads).predict(firmware_inputs(spec, sample))
    columns = {"event": np.arange(start, start + len(sample), dtype=np.int64),
               "has_track": has_track(sample).astype(np.int8)}
    for j in range(values.shape[1]):
        columns[f"output_{j}"] = values[:, j]
    scale = spec.settings.get("target_scale")
    if scale and values.shape[1] == 1:
        q_over_pt = values[:, 0] / float(scale)
        columns["q_over_pt"] = q_over_pt
        columns["pt"] = 1.0 / np.maximum(np.abs(q_over_pt), 1e-4)
    return columns


@dataclass
class _Chunk:
    path: str
    tree: str
    start: int
    stop: int
    offset: int


def _plan_chunks(paths: Sequence[str], tree: str, step_size: int) -> list[_Chunk]:
    chunks, offset = [], 0
    for path in paths:
        n = int(open_tree(path, tree).num_entries)
        for start in range(0, n, step_size):
            chunks.append(_Chunk(str(path), tree, start, min(start + step_size, n),
                                 offset + start))
        offset += n
    return chunks


def _emulate_chunk(spec_dir: str, chunk: _Chunk, layout: str, names: dict[str, str]
                   ) -> dict[str, np.ndarray]:
    """Worker task: read one entry range, emulate it (runs on Dask workers too)."""
    import uproot

    from triginfer.rootio import sample_from_arrays  # the loader's one conversion path

    spec = load_firmware(spec_dir)
    bmap = BranchMap(layout=layout, names=names)
    with read_errors(chunk.path, chunk.tree):
        ttree = uproot.open(chunk.path)[chunk.tree]
        wanted = [bmap.branch(c) for c in bmap.required()]
        arrays = ttree.arrays(wanted, entry_start=chunk.start, entry_stop=chunk.stop,
                              library="ak" if layout == "jagged" else "np")
    sample = sample_from_arrays(Path(chunk.path), chunk.tree, arrays, list(bmap.required()), bmap)
    return emulate_sample(spec, sample, chunk.offset, threads=1)   # one Dask worker, one core


class _Writer:
    """Streams column chunks into a ROOT, Parquet or .npy file (temporary name, then rename)."""

    def __init__(self, path: Path, n_total: int) -> None:
        if path.suffix not in OUTPUT_SUFFIXES:
            raise ConfigError(f"{path}: output must end in one of {OUTPUT_SUFFIXES}")
        self.path = path
        self.tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        self.n_total = n_total
        self.handle = None
        self.tree = None
        self.filled = 0

    def write(self, columns: dict[str, np.ndarray]) -> None:
        suffix = self.path.suffix
        if suffix == ".root":
            import uproot

            if self.handle is None:
                self.handle = uproot.recreate(self.tmp)
                self.tree = self.handle.mktree("emulation", {k: v.dtype for k, v in columns.items()})
            self.tree.extend(columns)
        elif suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table(columns)
            if self.handle is None:
                self.handle = pq.ParquetWriter(self.tmp, table.schema)
            self.handle.write_table(table)
        else:
            if self.handle is None:
                dtype = np.dtype([(k, v.dtype) for k, v in columns.items()])
                self.handle = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=dtype,
                                                        shape=(self.n_total,))
            n = len(columns["event"])
            for k, v in columns.items():
                self.handle[k][self.filled:self.filled + n] = v
        self.filled += len(columns["event"])

    def close(self) -> None:
        if self.path.suffix == ".root" and self.handle is not None or self.path.suffix == ".parquet" and self.handle is not None:
            self.handle.close()
        elif self.handle is not None:
            self.handle.flush()
            del self.handle
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        try:
            if self.handle is not None and self.path.suffix != ".npy":
                self.handle.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def _local_results(spec: FirmwareSpec, paths, tree, bmap, step_size) -> Iterator[dict]:
    offset = 0
    for sample in iterate_sample(paths, tree, bmap, step_size, require_truth=False):
        yield emulate_sample(spec, sample, offset)
        offset += len(sample)


#: Seconds to wait for a Dask scheduler to answer (``emulate --connect-timeout``).
CONNECT_TIMEOUT_S = 10.0


def _connect(distributed, scheduler: str, timeout: float):
    """A client of the scheduler at ``scheduler``; no answer within ``timeout`` is one line."""
    from triginfer.errors import ClusterError

    try:
        return distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterError(
            f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s ({reason}); "
            "start one with `dask scheduler` (and `dask worker ADDRESS`), check the address, or "
            "raise --connect-timeout") from exc


def _result(client, future, scheduler: str, timeout: float) -> dict:
    """``future.result()``, but a scheduler lost for longer than ``timeout`` is a ClusterError
    (the client would otherwise wait for it to come back)."""
    from concurrent.futures import CancelledError

    from distributed import TimeoutError as DaskTimeout

    from triginfer.errors import ClusterError

    lost_since = None
    while True:
        try:
            return future.result(timeout=0.5)
        except (DaskTimeout, TimeoutError):
            pass
        except (OSError, CancelledError) as exc:   # CommClosedError, FutureCancelledError
            raise ClusterError(f"lost the Dask scheduler at {scheduler!r} mid-run ({exc}); "
                               "nothing was written, run again") from exc
        if client.status == "running":
            lost_since = None
            continue
        lost_since = lost_since or time.monotonic()
        if time.monotonic() - lost_since > timeout:
            raise ClusterError(f"lost the Dask scheduler at {scheduler!r} mid-run (no answer "
                               f"for {timeout:g} s); nothing was written, run again")


def _dask_results(spec_dir: Path, chunks: list[_Chunk], bmap: BranchMap, workers: int | None,
                  scheduler: str | None, connect_timeout: float = CONNECT_TIMEOUT_S
                  ) -> Iterator[dict]:
    from triginfer.extras import require

    distributed = require("dask.distributed")
    quiet = logging.getLogger("distributed").level
    if quiet > logging.WARNING:   # the CLI silenced Dask: its child loggers too (their levels
        for name in list(logging.root.manager.loggerDict):   # come from Dask's own config)
            if name.startswith("distributed."):
                logging.getLogger(name).setLevel(quiet)
    if scheduler:
        client = _connect(distributed, scheduler, connect_timeout)
        cluster = None
    else:
        import signal
        import threading

        # Worker processes started while SIGINT is ignored keep ignoring it (Python leaves an
        # inherited SIG_IGN in place): Ctrl-C reaches the whole process group, and only this
        # process should answer it (one line), not every worker with a traceback.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                               processes=True, dashboard_address=None)
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
        client = distributed.Client(cluster)
    try:
        window = max(2 * len(client.scheduler_info()["workers"]), 2)
        # A bounded window of chunks in flight; results are taken back in event order.
        pending = {}
        submitted = 0
        for index in range(len(chunks)):
            while submitted < len(chunks) and submitted - index < window:
                pending[submitted] = client.submit(
                    _emulate_chunk, str(spec_dir), chunks[submitted], bmap.layout,
                    dict(bmap.names), pure=False)
                submitted += 1
            yield _result(client, pending.pop(index), scheduler or "local cluster",
                          connect_timeout)
    finally:
        with contextlib.suppress(Exception):   # a lost scheduler cannot be told goodbye
            client.close(timeout=2)
        if cluster is not None:
            cluster.close()


def emulate_files(spec_dir: str | os.PathLike, inputs: Sequence[str | os.PathLike],
                  out: str | os.PathLike, *, tree: str = "muons",
                  branch_map: BranchMap | None = None, step_size: int = 200_000,
                  workers: int | None = None, scheduler: str | None = None,
                  connect_timeout: float = CONNECT_TIMEOUT_S, progress: bool = True) -> dict:
    """Emulate every event of ``inputs`` and write the predictions to ``out``; returns a summary."""
    from tqdm.auto import tqdm

    spec_dir = Path(spec_dir)
    spec = load_firmware(spec_dir)
    out = Path(out)
    if out.suffix not in OUTPUT_SUFFIXES:
        raise ConfigError(f"{out}: output must end in one of {OUTPUT_SUFFIXES}")
    bmap = branch_map or BranchMap()
    paths = [str(p) for p in inputs]
    from triginfer.rootio import _check_branches

    for path in paths:   # every file's branches checked here, not in a Dask worker
        _check_branches(Path(path), tree, open_tree(path, tree), bmap, False)
    chunks = _plan_chunks(paths, tree, step_size)
    n_total = chunks[-1].offset + chunks[-1].stop - chunks[-1].start if chunks else 0
    if n_total == 0:
        from triginfer.errors import InputFileError

        raise InputFileError(f"{', '.join(paths)}: no events in tree {tree!r}")
    made = _make_parent(out)
    writer = _Writer(out, n_total)
    bar = tqdm(total=n_total, unit="ev", desc="emulating", disable=True if not progress else None)
    try:
        if workers or scheduler:
            results = _dask_results(spec_dir, chunks, bmap, workers, scheduler,
                                    connect_timeout)
        else:
            results = _local_results(spec, paths, tree, bmap, step_size)
        for columns in results:
            writer.write(columns)
            bar.update(len(columns["event"]))
        writer.close()
    except BaseException:
        writer.abort()
        _remove_made(made)
        raise
    finally:
        bar.close()
    return {"events": writer.filled, "output": str(out), "chunks": len(chunks)}


# --- any model: inputs read as named columns ------------------------------------------------
def _column_names(spec: FirmwareSpec) -> list[list[str]] | None:
    """Per input, the column names the spec records (None: not recorded)."""
    columns = spec.features.get("columns")
    if not columns:
        return None
    if isinstance(columns, dict):
        return [list(columns[name]) for name in spec.inputs]
    if len(spec.inputs) != 1:
        raise ConfigError(f"firmware {spec.name!r}: features.columns must map each of the "
                          f"inputs {spec.inputs} to its columns")
    return [list(columns)]


def _to_input(name: str, arrays: list, shape: tuple[int, ...], source: str) -> np.ndarray:
    """Stack per-column arrays (flat, or jagged padded with zeros/truncated) into ``(n, *shape)``.

    ``F`` flat columns feed an input of shape ``(F,)``; ``F`` jagged columns one of shape
    ``(K, F)``; one jagged column one of shape ``(K,)``.
    """
    import awkward as ak

    jagged_depth = shape[0] if (len(shape) >= 2 or (len(arrays) == 1 and shape[0] > 1)) else None
    cols = []
    for col in arrays:
        arr = col if isinstance(col, np.ndarray) else ak.Array(col)
        if arr.ndim == 1:
            values = np.asarray(arr if isinstance(arr, np.ndarray) else ak.to_numpy(arr),
                                dtype=np.float64)
        elif jagged_depth is None:
            raise ConfigError(f"{source}: input {name!r} takes one value per column and event, "
                              "but a column holds lists")
        else:
            padded = ak.fill_none(ak.pad_none(ak.Array(arr), jagged_depth, clip=True), 0.0)
            values = ak.to_numpy(padded).astype(np.float64)
        cols.append(values)
    x = np.stack(cols, axis=-1)
    if x.ndim == 2 and len(arrays) == 1 and len(shape) == 1 and shape[0] > 1:
        x = x[..., 0] if x.shape[-1] == 1 else x
    x = x.reshape(len(x), *shape) if x.size == len(x) * int(np.prod(shape)) else x
    if tuple(x.shape[1:]) != tuple(shape):
        raise ConfigError(f"{source}: the columns of input {name!r} give shape "
                          f"{tuple(x.shape[1:])}, the firmware expects {tuple(shape)}")
    if not np.all(np.isfinite(x)):
        from triginfer.errors import BadValueError

        raise BadValueError(f"{source}: input {name!r} holds NaN/inf values")
    return x


def open_npy(path: str | os.PathLike) -> np.ndarray:
    """A ``.npy`` file of events, memory-mapped: numbers (or a structured array of number
    columns) with at least one event; anything else is an :class:`InputFileError`."""
    from triginfer.errors import InputFileError

    path = Path(path)
    _check_input_path(path)
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputFileError(f"{path}: not a readable .npy array of numbers ({exc})") from exc
    kinds = [data.dtype[n].kind for n in data.dtype.names] if data.dtype.names else [
        data.dtype.kind]
    if any(k not in "biuf" for k in kinds):
        raise InputFileError(f"{path}: holds {data.dtype} values; firmware inputs are numbers")
    if data.ndim == 0 or len(data) == 0:
        raise InputFileError(f"{path}: holds no events")
    return data


def _check_input_path(path: Path) -> None:
    from triginfer.errors import InputFileError

    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    if path.is_dir():
        raise InputFileError(f"{path}: is a directory, not an events file")


def check_event_files(spec: FirmwareSpec | None, paths: Sequence[str | os.PathLike],
                      tree: str | None = None) -> int:
    """Open every events file (before any work): returns the number of events; a missing,
    empty or unreadable file is a one-line error naming it."""
    from triginfer.errors import InputFileError

    total = 0
    for path in map(Path, paths):
        suffix = path.suffix.lower()
        if suffix == ".npy":
            total += len(open_npy(path))
        elif suffix == ".parquet":
            _check_input_path(path)
            import pyarrow.parquet as pq

            try:
                total += pq.ParquetFile(path).metadata.num_rows
            except Exception as exc:  # pyarrow raises ArrowInvalid/OSError on corrupt files
                raise InputFileError(f"{path}: not a readable Parquet file ({exc})") from exc
        elif suffix == ".root":
            total += int(open_tree(str(path), tree or "muons").num_entries)
        else:
            raise InputFileError(f"{path}: unknown events format {path.suffix!r}; give ROOT "
                                 "(.root), Parquet (.parquet) or NumPy (.npy)")
    if total == 0:
        raise InputFileError(f"{', '.join(map(str, paths))}: no events")
    return total


def _make_parent(out: Path) -> list[Path]:
    """Create ``out``'s missing parent directories; returns them (deepest first) so a failed
    run can remove them again."""
    made = []
    parent = out.parent
    while not parent.exists():
        made.append(parent)
        parent = parent.parent
    out.parent.mkdir(parents=True, exist_ok=True)
    return made


def _remove_made(made: list[Path]) -> None:
    for d in made:
        with contextlib.suppress(OSError):
            d.rmdir()


def _column_chunks(spec: FirmwareSpec, path: Path, tree: str | None, step_size: int
                   ) -> Iterator[list[np.ndarray]]:
    """Chunks of firmware inputs (a list, one array per input) read from one file."""
    names = _column_names(spec)
    shapes = spec.input_shapes
    suffix = path.suffix.lower()
    if suffix == ".npy":
        data = open_npy(path)
        for start in range(0, len(data), step_size):
            block = data[start:start + step_size]
            if data.dtype.names:
                if names is None:
                    raise ConfigError(f"{path}: a structured array needs the column names in "
                                      "the spec (export-hls --columns)")
                yield [_to_input(n, [np.asarray(block[c]) for c in cols], shape, str(path))
                       for n, cols, shape in zip(spec.inputs, names, shapes, strict=True)]
            elif len(spec.inputs) == 1:
                block = np.asarray(block, np.float64)
                if tuple(block.shape[1:]) != tuple(shapes[0]):
                    raise ConfigError(f"{path}: array of shape {block.shape}; firmware "
                                      f"{spec.name!r} expects (n, "
                                      f"{', '.join(map(str, shapes[0]))})")
                if not np.all(np.isfinite(block)):
                    from triginfer.errors import BadValueError

                    raise BadValueError(f"{path}: the array holds NaN/inf values")
                yield [block]
            else:
                raise ConfigError(f"{path}: a plain array feeds a one-input firmware; this one "
                                  f"has inputs {spec.inputs}")
        return
    if names is None:
        raise ConfigError(f"{path}: firmware {spec.name!r} records no input columns; re-export "
                          "it with `triginfer export-hls --columns a,b,...` or give a .npy array")
    wanted = sorted({c for cols in names for c in cols})
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            reader = pq.ParquetFile(path)
        except Exception as exc:
            raise ConfigError(f"{path}: not a readable Parquet file ({exc})") from exc
        missing = [c for c in wanted if c not in reader.schema_arrow.names]
        if missing:
            raise ConfigError(f"{path}: columns {missing} not found (has "
                              f"{reader.schema_arrow.names})")
        with read_errors(path):
            for batch in reader.iter_batches(batch_size=step_size, columns=wanted):
                table = {c: batch.column(c).to_numpy(zero_copy_only=False) for c in wanted}
                yield [_to_input(n, [table[c] for c in cols], shape, str(path))
                       for n, cols, shape in zip(spec.inputs, names, shapes, strict=True)]
        return
    ttree = open_tree(str(path), tree or "muons")
    missing = [c for c in wanted if c not in ttree.keys()]
    if missing:
        from triginfer.errors import MissingBranchError

        raise MissingBranchError(f"{path}: branches {missing} not found in tree "
                                 f"{ttree.name!r}")
    with read_errors(path, ttree.name):
        for arrays in ttree.iterate(wanted, step_size=step_size, library="ak"):
            yield [_to_input(n, [arrays[c] for c in cols], shape, str(path))
                   for n, cols, shape in zip(spec.inputs, names, shapes, strict=True)]


def emulate_columns(spec_dir: str | os.PathLike, inputs: Sequence[str | os.PathLike],
                    out: str | os.PathLike, *, tree: str | None = None,
                    step_size: int = 200_000, progress: bool = True) -> dict:
    """Emulate any firmware on inputs read as columns (see the module docstring)."""
    from tqdm.auto import tqdm

    spec = load_firmware(spec_dir)
    emulator = emulator_for(spec)
    out = Path(out)
    if out.suffix not in OUTPUT_SUFFIXES:
        raise ConfigError(f"{out}: output must end in one of {OUTPUT_SUFFIXES}")
    paths = [Path(p) for p in inputs]
    n_total = check_event_files(spec, paths, tree)
    made = _make_parent(out)
    writer = _Writer(out, n_total)
    bar = tqdm(total=n_total, unit="ev", desc="emulating", disable=True if not progress else None)
    offset = 0
    try:
        for path in paths:
            for block in _column_chunks(spec, path, tree, step_size):
                values = emulator.predict(block if len(block) > 1 else block[0])
                values = values if isinstance(values, list) else [values]
                n = len(values[0])
                columns = {"event": np.arange(offset, offset + n, dtype=np.int64)}
                for name, v in zip(spec.outputs, values, strict=True):
                    prefix = "output" if len(values) == 1 else name
                    for j in range(v.shape[1]):
                        columns[f"{prefix}_{j}"] = v[:, j]
                writer.write(columns)
                offset += n
                bar.update(n)
        writer.close()
    except BaseException:
        writer.abort()
        _remove_made(made)
        raise
    finally:
        bar.close()
    return {"events": writer.filled, "output": str(out), "chunks": None}


def inputs_for(spec: FirmwareSpec, path: str | os.PathLike | None, n: int,
               tree: str | None = None, seed: int = 12345) -> list[np.ndarray]:
    """Up to ``n`` events of firmware inputs (a list, one array per input).

    From ``path`` (ROOT with the muon branches for the muon feature sets, else the
    spec's columns from ROOT/Parquet or a ``.npy`` array); without a file, simulated
    muons for the muon feature sets, else values spread over each input type's range
    (a few beyond it, so saturation and wrapping are exercised).
    """
    feature_set = spec_feature_set(spec)
    if path is None:
        if feature_set is not None:
            from triginfer.simulation import simulate_muons

            sample = simulate_muons(int(n * 1.3) + 100, seed=seed)
            return [firmware_inputs(spec, sample.select(has_track(sample)))[:n]]
        rng = np.random.default_rng(seed)
        out = []
        for layer in spec.input_layers:
            t = layer.fixed("result")
            x = rng.uniform(t.min_value, t.max_value, (n, *layer.output_shape))
            x[: n // 20] *= 4.0
            out.append(np.round(x / t.lsb) * t.lsb)
        return out
    path = Path(path)
    check_event_files(spec, [path], tree)
    if feature_set is not None and path.suffix.lower() == ".root":
        from triginfer.rootio import read_sample

        sample = read_sample([path], tree or "muons", BranchMap(), 200_000,
                             require_truth=False, entry_stop=n)
        return [firmware_inputs(spec, sample.select(has_track(sample)))]
    parts: list[list[np.ndarray]] = []
    got = 0
    for block in _column_chunks(spec, path, tree, min(n, 200_000)):
        parts.append(block)
        got += len(block[0])
        if got >= n:
            break
    if not parts:
        raise ConfigError(f"{path}: no events")
    return [np.concatenate([p[k] for p in parts])[:n] for k in range(len(spec.inputs))]
