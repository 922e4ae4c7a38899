"""ROOT input and output through uproot: writing simulated samples, chunked reading, inspection.

Reading goes through a *branch map* so that a user's own ntuple with other
branch names works: the map sends each canonical name (``phi_st1`` ...
``present_st4``, the truth names ``gen_q_over_pt`` ...) to the branch that holds
it. Two layouts are understood:

* ``flat`` (what ``triginfer simulate`` writes): one branch per station and
  quantity, ``phi_st1 .. phi_st4``, ``theta_st..``, ``bend_st..``, ``present_st..``;
* ``jagged``: per-hit branches (awkward arrays, any number of hits per event)
  ``hit_phi``, ``hit_theta``, ``hit_bend`` and a station-index branch
  ``hit_station`` (1..4); the first hit in each station is used and a station
  without a hit is marked absent.

Every user-caused problem (missing file, not ROOT, truncated, missing tree or
branch, NaN/inf, empty tree) raises a :mod:`triginfer.errors` exception whose
message names the file, tree and branch.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from triginfer.atomic import atomic_path
from triginfer.errors import (
    BadValueError,
    ConfigError,
    InputFileError,
    MissingBranchError,
    TrigInferError,
)
from triginfer.simulation import N_STATIONS, STATION_QUANTITIES, TRUTH_BRANCHES, Sample

log = logging.getLogger(__name__)

FLAT_STATION_BRANCHES = tuple(
    f"{q}_st{i + 1}" for q in STATION_QUANTITIES for i in range(N_STATIONS)
)
JAGGED_BRANCHES = ("hit_phi", "hit_theta", "hit_bend", "hit_station")
WRITE_CHUNK = 500_000


@dataclass
class BranchMap:
    """Where each canonical quantity lives in a ROOT tree.

    Attributes:
        layout: ``"flat"`` (one branch per station) or ``"jagged"`` (per-hit branches).
        names: canonical name -> branch name in the file; names not listed map to themselves.
    """

    layout: str = "flat"
    names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.layout not in ("flat", "jagged"):
            raise ConfigError(
                f"data.layout must be 'flat' or 'jagged', got {self.layout!r}"
            )
        known = set(FLAT_STATION_BRANCHES) | set(JAGGED_BRANCHES) | set(TRUTH_BRANCHES)
        unknown = sorted(set(self.names) - known)
        if unknown:
            raise ConfigError(
                f"data.branch_map has unknown canonical name(s) {unknown}; "
                f"known: {sorted(known)}"
            )

    def branch(self, canonical: str) -> str:
        """The file's branch name for a canonical quantity."""
        return self.names.get(canonical, canonical)

    def required(self) -> tuple[str, ...]:
        """Canonical names the layout needs (truth excluded)."""
        return FLAT_STATION_BRANCHES if self.layout == "flat" else JAGGED_BRANCHES


def write_samples(path: str | os.PathLike, samples: Mapping[str, Sample]) -> Path:
    """Write samples as TTrees (one per key) with flat branches; atomic (temp file, rename).

    Large samples are written in baskets of :data:`WRITE_CHUNK` events so memory
    stays bounded by the sample itself.
    """
    import uproot

    path = Path(path)
    with atomic_path(path) as tmp_name, uproot.recreate(str(tmp_name)) as fout:
        for tree_name, sample in samples.items():
            branches = sample.to_branches()
            types = {name: arr.dtype for name, arr in branches.items()}
            tree = fout.mktree(tree_name, types)
            n = len(sample)
            for start in range(0, max(n, 1), WRITE_CHUNK):
                stop = min(start + WRITE_CHUNK, n)
                tree.extend({k: v[start:stop] for k, v in branches.items()})
    log.info("wrote %s (%s)", path, ", ".join(f"{k}: {len(v)} events" for k, v in samples.items()))
    return path


def _open_root(path: Path):
    """Open a ROOT file, turning every failure into an :class:`InputFileError`."""
    import uproot

    if not path.exists():
        raise InputFileError(f"{path}: file not found; check the path or run `triginfer simulate`")
    if path.is_dir():
        raise InputFileError(f"{path}: is a directory, expected a ROOT file")
    try:
        fin = uproot.open(path)
    except ValueError as exc:
        raise InputFileError(f"{path}: not a ROOT file ({str(exc).splitlines()[0]})") from exc
    except Exception as exc:  # uproot raises many types for corrupt headers
        raise _corrupt(path, exc) from exc
    size = path.stat().st_size
    end = int(getattr(fin.file, "fEND", size))
    if size < end:
        raise InputFileError(
            f"{path}: file is truncated ({size} bytes, the ROOT header says {end}); "
            "re-create or re-copy the file"
        )
    return fin


def _corrupt(path: Path, exc: Exception, tree: str | None = None) -> InputFileError:
    where = f"{path}:{tree}" if tree else str(path)
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return InputFileError(
        f"{where}: reading failed, the file may be truncated or corrupt "
        f"({type(exc).__name__}: {detail}); re-create or re-copy the file"
    )


@contextlib.contextmanager
def read_errors(path: str | os.PathLike, tree: str | None = None) -> Iterator[None]:
    """Whatever uproot, awkward, pyarrow or a decompressor raises while reading the data of
    ``path`` (a corrupt basket or page, a truncated file) becomes one
    :class:`InputFileError` naming the file; triginfer's own errors pass through."""
    try:
        yield
    except TrigInferError:
        raise
    except Exception as exc:  # DeserializationError, zlib.error, ArrowInvalid, OSError...
        raise _corrupt(Path(path), exc, tree) from exc


def open_tree(path: str | os.PathLike, tree: str):
    """Open ``tree`` in the ROOT file at ``path`` with user-facing errors for every failure."""
    path = Path(path)
    fin = _open_root(path)
    try:
        obj = fin[tree]
    except (KeyError, uproot_key_error()) as exc:
        trees = sorted({k.split(";")[0] for k in _safe_keys(fin)})
        raise MissingBranchError(
            f"{path}: no tree {tree!r} (trees in file: {trees}); set data.tree in the config"
        ) from exc
    except Exception as exc:
        raise _corrupt(path, exc, tree) from exc
    if not hasattr(obj, "num_entries"):
        raise MissingBranchError(f"{path}: {tree!r} is a {type(obj).__name__}, not a TTree")
    return obj


def uproot_key_error() -> type[Exception]:
    """uproot's missing-key exception type."""
    import uproot

    return uproot.KeyInFileError


def _safe_keys(fin) -> list[str]:
    try:
        return list(fin.keys())
    except Exception:
        return []


def _check_branches(path: Path, tree_name: str, ttree, branch_map: BranchMap,
                    require_truth: bool) -> list[str]:
    """Check every needed branch exists; return the file branch names to read."""
    wanted = list(branch_map.required())
    keys = set(ttree.keys())
    # the truth the pipeline uses is required (muon samples); the rest is read when present
    required_truth = REQUIRED_TRUTH if require_truth else ()
    wanted += [t for t in TRUTH_BRANCHES
               if t in required_truth or branch_map.branch(t) in keys]
    available = set(ttree.keys())
    for canonical in wanted:
        name = branch_map.branch(canonical)
        if name not in available:
            hint = "" if name == canonical else f" (mapped from {canonical!r})"
            raise MissingBranchError(
                f"{path}:{tree_name}: missing branch {name!r}{hint}; "
                f"map it with data.branch_map.{canonical} in the config "
                f"(branches in tree: {sorted(available)[:12]}{' ...' if len(available) > 12 else ''})"
            )
    return wanted


def _to_numpy(path: Path, tree_name: str, name: str, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise BadValueError(
            f"{path}:{tree_name}: branch {name!r} holds {bad} NaN/inf value(s); "
            "clean or filter the ntuple before running"
        )
    return arr


#: Truth branches a muon sample must have (training targets and metrics); gen_eta/gen_phi
#: are read when present, and minbias samples (like real zero-bias data) need none.
REQUIRED_TRUTH = ("gen_q_over_pt", "gen_pt")

#: The range of each hardware word (simulate's units): phi in 1/60 degree, theta in 7 bits,
#: bend a signed word of at most 16 bits (``simulation.bend_bits``, 5 by default), presence a bit.
WORD_RANGES = {"phi": (0, 21599), "theta": (0, 127), "bend": (-(2**15), 2**15 - 1),
               "present": (0, 1)}


def _check_words(path: Path, tree_name: str, name: str, quantity: str, values) -> np.ndarray:
    """Hardware words must be integers within their declared range: else an error naming the
    branch, the range and the first bad entry (nothing is silently rounded)."""
    arr = _to_numpy(path, tree_name, name, values)
    if arr.dtype.kind == "b":
        if quantity != "present":
            raise BadValueError(f"{path}:{tree_name}: branch {name!r} holds booleans; "
                                f"{quantity} words are integers")
        return arr.astype(np.int32)
    if arr.dtype.kind not in "iuf":
        raise BadValueError(f"{path}:{tree_name}: branch {name!r} has type {arr.dtype}; "
                            f"{quantity} words are integers")
    lo, hi = WORD_RANGES[quantity]
    if arr.dtype.kind == "f":
        frac = np.flatnonzero(arr != np.rint(arr))
        if frac.size:
            raise BadValueError(f"{path}:{tree_name}: branch {name!r} holds fractional "
                                f"{quantity} words (first: entry {frac[0]} = {arr[frac[0]]!r}); "
                                "words are integers in hardware units")
    outside = np.flatnonzero((arr < lo) | (arr > hi))
    if outside.size:
        raise BadValueError(f"{path}:{tree_name}: branch {name!r} holds {outside.size} "
                            f"{quantity} word(s) outside {lo}..{hi} (first: entry {outside[0]} "
                            f"= {arr[outside[0]]!r}); convert to the hardware units")
    return arr


def _jagged_to_stations(path: Path, tree_name: str, arrays, branch_map: BranchMap):
    """First hit per station from per-hit jagged branches -> (phi, theta, bend, present)."""
    import awkward as ak

    station = arrays[branch_map.branch("hit_station")]
    out = {q: np.zeros((len(station), N_STATIONS), dtype=np.int32) for q in STATION_QUANTITIES}
    for canonical in ("hit_phi", "hit_theta", "hit_bend"):
        flat = ak.to_numpy(ak.flatten(arrays[branch_map.branch(canonical)]))
        _check_words(path, tree_name, branch_map.branch(canonical), canonical[4:], flat)
    st_flat = ak.to_numpy(ak.flatten(station))
    if st_flat.size and (st_flat.min() < 1 or st_flat.max() > N_STATIONS):
        raise BadValueError(
            f"{path}:{tree_name}: branch {branch_map.branch('hit_station')!r} holds station "
            f"indices outside 1..{N_STATIONS} (min {st_flat.min()}, max {st_flat.max()})"
        )
    for i in range(N_STATIONS):
        in_station = station == (i + 1)
        hit = ak.firsts(arrays[branch_map.branch("hit_phi")][in_station])
        present = ~ak.to_numpy(ak.is_none(hit))
        out["present"][:, i] = present
        for q in ("phi", "theta", "bend"):
            first = ak.firsts(arrays[branch_map.branch(f"hit_{q}")][in_station])
            out[q][:, i] = np.rint(ak.to_numpy(ak.fill_none(first, 0))).astype(np.int32)
    return out


def iterate_sample(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    tree: str = "muons",
    branch_map: BranchMap | None = None,
    step_size: int = 200_000,
    require_truth: bool = True,
    entry_stop: int | None = None,
) -> Iterator[Sample]:
    """Yield the events of ``tree`` in one or more files as :class:`Sample` chunks.

    Reads at most ``step_size`` events at a time (``uproot.iterate`` semantics per
    file), so memory is bounded whatever the file size. ``entry_stop`` caps the
    number of events read per file. Station words come back as int32 arrays of
    shape ``(n, 4)``; truth arrays as float64 when present.
    """
    branch_map = branch_map or BranchMap()
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    if step_size <= 0:
        raise ConfigError(f"data.step_size must be positive, got {step_size}")
    for raw_path in paths:
        path = Path(raw_path)
        ttree = open_tree(path, tree)
        if ttree.num_entries == 0:
            raise InputFileError(
                f"{path}:{tree}: tree is empty (0 entries); nothing to process"
            )
        canonical = _check_branches(path, tree, ttree, branch_map, require_truth)
        file_names = [branch_map.branch(c) for c in canonical]
        library = "ak" if branch_map.layout == "jagged" else "np"
        with read_errors(path, tree):
            chunks = ttree.iterate(file_names, step_size=step_size, library=library,
                                   entry_stop=entry_stop)
            for arrays in chunks:
                yield sample_from_arrays(path, tree, arrays, canonical, branch_map)


def sample_from_arrays(path: Path, tree: str, arrays, canonical: list[str],
                 branch_map: BranchMap) -> Sample:
    """Build a :class:`Sample` from the branch arrays of one chunk (flat or jagged layout),
    checking NaN/inf; ``canonical`` lists the canonical names that were read."""
    if branch_map.layout == "jagged":
        words = _jagged_to_stations(path, tree, arrays, branch_map)
    else:
        words = {}
        for q in STATION_QUANTITIES:
            cols = []
            for i in range(N_STATIONS):
                name = branch_map.branch(f"{q}_st{i + 1}")
                cols.append(_check_words(path, tree, name, q, arrays[name]))
            words[q] = np.rint(np.stack(cols, axis=1)).astype(np.int32)
        words["present"] = (words["present"] != 0).astype(np.int32)
    truth = {}
    for t in TRUTH_BRANCHES:
        if t in canonical:
            name = branch_map.branch(t)
            values = arrays[name]
            if branch_map.layout == "jagged":
                import awkward as ak

                values = ak.to_numpy(values)
            truth[t] = _to_numpy(path, tree, name, values).astype(np.float64)
    return Sample(phi=words["phi"], theta=words["theta"], bend=words["bend"],
                  present=words["present"], truth=truth)


def read_sample(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    tree: str = "muons",
    branch_map: BranchMap | None = None,
    step_size: int = 200_000,
    require_truth: bool = True,
    entry_stop: int | None = None,
) -> Sample:
    """Read a whole tree (from one or more files) into memory as one :class:`Sample`."""
    chunks = list(iterate_sample(paths, tree, branch_map, step_size, require_truth, entry_stop))
    return Sample.concatenate(chunks)


@dataclass
class TreeSummary:
    """What ``triginfer inspect`` shows for one tree."""

    name: str
    entries: int
    branches: dict[str, str]


def inspect_file(path: str | os.PathLike) -> list[TreeSummary]:
    """List the trees (TTrees and RNTuples) of a ROOT file with entry counts and branch types."""
    path = Path(path)
    fin = _open_root(path)
    out = []
    try:
        for key, cls in fin.classnames().items():
            if cls != "TTree" and not cls.endswith("RNTuple"):
                continue
            ttree = fin[key]
            out.append(TreeSummary(name=key.split(";")[0], entries=int(ttree.num_entries),
                                   branches={b: str(getattr(ttree[b], "typename", "?"))
                                             for b in ttree.keys()}))
    except Exception as exc:
        raise _corrupt(path, exc) from exc
    return out
