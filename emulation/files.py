"""Emulation over ROOT files: chunked reading, features, the emulator, streaming output.

Events are read ``step_size`` at a time (uproot), turned into the features the
firmware expects (from its input shape), emulated, and appended to the output
(ROOT tree ``emulation``, Parquet or ``.npy`` structured array) with the event
index, so memory stays bounded by one chunk whatever the file size. With
``workers`` (a local Dask cluster) or ``scheduler`` (an existing one) the
chunks are emulated on Dask workers; results are written in event order and
are identical to the local path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triginfer.errors import ConfigError
from triginfer.features import engineered_features, has_track, station_features
from triginfer.hls_export.spec import FirmwareSpec
from triginfer.rootio import BranchMap, iterate_sample, open_tree
from triginfer.simulation import Sample

log = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".root", ".parquet", ".npy")


def firmware_inputs(spec: FirmwareSpec, sample: Sample) -> np.ndarray:
    """The network inputs for ``sample`` in the representation the firmware's input shape needs."""
    shape = spec.input_shape
    if shape == (21,):
        return engineered_features(sample).scaled()
    if shape == (4, 5):
        return station_features(sample).scaled()
    raise ConfigError(f"firmware {spec.name!r} has input shape {shape}; emulation over ROOT "
                      "files knows the engineered (21,) and station (4, 5) representations")


def emulate_sample(spec: FirmwareSpec, sample: Sample, start: int) -> dict[str, np.ndarray]:
    """Emulate one chunk; returns the output columns."""
    from triginfer.emulation.emulator import Emulator

    values = Emulator(spec).predict(firmware_inputs(spec, sample))
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

    spec = FirmwareSpec.load(spec_dir)
    bmap = BranchMap(layout=layout, names=names)
    ttree = uproot.open(chunk.path)[chunk.tree]
    wanted = [bmap.branch(c) for c in bmap.required()]
    arrays = ttree.arrays(wanted, entry_start=chunk.start, entry_stop=chunk.stop,
                          library="ak" if layout == "jagged" else "np")
    sample = sample_from_arrays(Path(chunk.path), chunk.tree, arrays, list(bmap.required()), bmap)
    return emulate_sample(spec, sample, chunk.offset)


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


def _dask_results(spec_dir: Path, chunks: list[_Chunk], bmap: BranchMap, workers: int | None,
                  scheduler: str | None) -> Iterator[dict]:
    from triginfer.extras import require

    distributed = require("dask.distributed")
    if scheduler:
        client = distributed.Client(scheduler)
        cluster = None
    else:
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
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
            yield pending.pop(index).result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def emulate_files(spec_dir: str | os.PathLike, inputs: Sequence[str | os.PathLike],
                  out: str | os.PathLike, *, tree: str = "muons",
                  branch_map: BranchMap | None = None, step_size: int = 200_000,
                  workers: int | None = None, scheduler: str | None = None,
                  progress: bool = True) -> dict:
    """Emulate every event of ``inputs`` and write the predictions to ``out``; returns a summary."""
    from tqdm.auto import tqdm

    spec_dir = Path(spec_dir)
    spec = FirmwareSpec.load(spec_dir)
    out = Path(out)
    if out.suffix not in OUTPUT_SUFFIXES:
        raise ConfigError(f"{out}: output must end in one of {OUTPUT_SUFFIXES}")
    bmap = branch_map or BranchMap()
    paths = [str(p) for p in inputs]
    chunks = _plan_chunks(paths, tree, step_size)
    n_total = chunks[-1].offset + chunks[-1].stop - chunks[-1].start if chunks else 0
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = _Writer(out, n_total)
    bar = tqdm(total=n_total, unit="ev", desc="emulating", disable=True if not progress else None)
    try:
        if workers or scheduler:
            results = _dask_results(spec_dir, chunks, bmap, workers, scheduler)
        else:
            results = _local_results(spec, paths, tree, bmap, step_size)
        for columns in results:
            writer.write(columns)
            bar.update(len(columns["event"]))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
    return {"events": writer.filled, "output": str(out), "chunks": len(chunks)}
