"""The ``triginfer run`` pipeline: named steps, cached in the run directory.

Each step has a key: a hash of the config sections it reads, the size, mtime and
inode of every input file it reads (a file replaced at the same path changes them),
the code version (triginfer's version and the step's own) and the keys of the steps
whose outputs it reads (``Step.after``) -- not of every step before it, so changing
the metrics thresholds redoes metrics and report but not the firmware.
``<run_dir>/steps.json`` records, per finished step, its key, duration and summary;
a re-run skips a step whose key is unchanged and whose declared outputs (``Step.writes``,
in :class:`~triginfer.layout.RunLayout` terms) all exist (``--force`` redoes all), so a
killed run resumes at the first unfinished step and a deleted output redoes the step that
wrote it and the steps after it. Steps write
their outputs atomically or into a staging directory renamed into place when
complete, so an interrupted step leaves the previous complete result or nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triginfer.atomic import write_text
from triginfer.config import RunConfig
from triginfer.errors import ConfigError, TrigInferError
from triginfer.layout import RunLayout

log = logging.getLogger(__name__)


#: What a step reads or writes: its paths in a run's layout, for the run's config.
Paths = Callable[[RunLayout, RunConfig], tuple[Path, ...]]


def _nothing(layout: RunLayout, cfg: RunConfig) -> tuple[Path, ...]:
    return ()


@dataclass
class Step:
    """One pipeline step: what it reads from the config and from earlier steps (``reads``,
    in :class:`RunLayout` terms), what it writes (``writes``), how it runs."""

    name: str
    run: Callable[[RunContext], dict[str, Any]]
    config_keys: tuple[str, ...]
    writes: Paths = _nothing
    reads: Paths = _nothing
    #: the steps whose outputs this one reads (their keys are part of its key)
    after: tuple[str, ...] = ()
    #: bumped when the step's code changes what it produces, so cached results are redone
    version: int = 1


@dataclass
class RunContext:
    """What a step sees: the config, the run directory, and the summaries of earlier steps."""

    cfg: RunConfig
    run_dir: Path
    quiet: bool = False
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)  # in-memory, for this process only

    @property
    def layout(self) -> RunLayout:
        """The run directory's paths."""
        return RunLayout(self.run_dir)

    def path(self, *parts: str) -> Path:
        """A path inside the run directory (parents created)."""
        p = self.run_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically (temp file, then rename), numpy scalars converted."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _config_part(cfg: RunConfig, key: str) -> Any:
    if key == "seed":
        return cfg.seed
    if key in ("data", "simulation"):
        return cfg.raw.get(key) or {}
    return cfg.sections.get(key)


def input_fingerprints(cfg: RunConfig) -> list[list[Any]]:
    """(path, size, mtime in ns, inode) of every input file the config names: a file
    replaced at the same path changes the key of the steps that read it (and, through the
    chain of keys, of every later step)."""
    out = []
    if cfg.data.source != "files":
        return out
    for path in [*cfg.data.files, *cfg.data.minbias_files]:
        try:
            st = os.stat(path)
            out.append([str(path), st.st_size, st.st_mtime_ns, st.st_ino])
        except OSError:
            out.append([str(path), None, None, None])
    return out


def _step_key(step: Step, cfg: RunConfig, upstream: dict[str, str]) -> str:
    """The step's cache key; ``upstream`` maps the names of earlier steps to their keys."""
    from triginfer._version import __version__

    inputs = input_fingerprints(cfg) if "data" in step.config_keys else []
    payload = json.dumps({"step": step.name, "code": __version__,
                          "after": {name: upstream.get(name) for name in step.after},
                          **({"version": step.version} if step.version != 1 else {}),
                          **({"inputs": inputs} if inputs else {}),
                          "config": {k: _config_part(cfg, k) for k in step.config_keys}},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def step_keys(cfg: RunConfig, steps: list[Step]) -> dict[str, str]:
    """The cache key of every step for ``cfg`` (what decides which steps a re-run redoes)."""
    keys: dict[str, str] = {}
    for step in steps:
        keys[step.name] = _step_key(step, cfg, keys)
    return keys


def run_pipeline(cfg: RunConfig, run_dir: str | os.PathLike, *, force: bool = False,
                 quiet: bool = False, steps: list[Step],
                 preflight: Callable[[RunContext, list[str]], None] | None = None,
                 finish: Callable[[RunContext], Any] | None = None) -> dict[str, Any]:
    """Run (or resume) every step into ``run_dir``; returns the summaries per step.

    ``preflight(ctx, names)``, when given, runs before the first step with the names of the
    steps that will run (not cached): the place to check inputs before any work.
    ``finish(ctx)``, when given, runs after the last step (the run's merged records)."""
    run_dir = Path(run_dir)
    created = run_dir      # the outermost directory this run creates (removed if it made nothing)
    while not created.parent.exists():
        created = created.parent
    created = None if run_dir.exists() else created
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with run_lock(run_dir):
            return _run_steps(cfg, run_dir, force=force, quiet=quiet, steps=steps,
                              preflight=preflight, finish=finish)
    except TrigInferError:
        # A run that made nothing leaves nothing behind; once a step has written its
        # results they stay (a failure never deletes what an earlier step made).
        if created and not _finished_outputs(run_dir, steps, cfg):
            shutil.rmtree(created, ignore_errors=True)
        raise


LOCK_NAME = ".triginfer.lock"


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``<run_dir>/.triginfer.lock`` (an exclusive ``flock``) while a run writes there.

    A second run with the same output directory is refused with one line naming the first
    one's process id, so two runs never mix their outputs. The file is removed on the way
    out (a waiting process re-checks that it locked the file that is still there)."""
    import fcntl

    path = run_dir / LOCK_NAME
    while True:
        fh = open(path, "a+")   # noqa: SIM115 (held for the whole run)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise ConfigError(f"{run_dir}: another triginfer run (process {holder}) is writing "
                              "this run directory; wait for it to finish or choose another "
                              "--out") from None
        try:
            same = os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        fh.close()            # the holder removed the file as we opened it: lock the new one
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fh.close()


def _finished_outputs(run_dir: Path, steps: list[Step], cfg: RunConfig) -> list[Path]:
    """Declared outputs of the steps ``steps.json`` marks finished that exist in ``run_dir``."""
    layout = RunLayout(run_dir)
    if not layout.steps_state.exists():
        return []
    done = json.loads(layout.steps_state.read_text())
    return [p for s in steps if s.name in done for p in s.writes(layout, cfg) if p.exists()]


def _run_steps(cfg: RunConfig, run_dir: Path, *, force: bool, quiet: bool,
               steps: list[Step], preflight=None, finish=None) -> dict[str, Any]:
    layout = RunLayout(run_dir)
    state_path = layout.steps_state
    state = json.loads(state_path.read_text()) if state_path.exists() and not force else {}
    ctx = RunContext(cfg=cfg, run_dir=run_dir, quiet=quiet)
    keys: dict[str, str] = {}
    t_total = time.perf_counter()
    for step in steps:
        keys[step.name] = _step_key(step, cfg, keys)

    redone: set[str] = set()

    def cached(step: Step) -> bool:
        done = state.get(step.name)
        return bool(done and done.get("key") == keys[step.name]
                    and all(p.exists() for p in step.writes(layout, cfg))
                    and not redone.intersection(step.after))

    if preflight is not None:
        preflight(ctx, [step.name for step in steps if not cached(step)])
    for index, step in enumerate(steps, 1):
        key = keys[step.name]
        done = state.get(step.name)
        if cached(step):
            log.info("[%d/%d] %s: cached (%.1f s when run)", index, len(steps), step.name,
                     done.get("seconds", 0.0))
            ctx.summaries[step.name] = done.get("summary", {})
        else:
            log.info("[%d/%d] %s ...", index, len(steps), step.name)
            t0 = time.perf_counter()
            summary = step.run(ctx) or {}
            seconds = time.perf_counter() - t0
            ctx.summaries[step.name] = summary
            redone.add(step.name)
            missing = [layout.rel(p) for p in step.writes(layout, cfg) if not p.exists()]
            if missing:      # a step that does not make what it declares is a bug, not a cache
                raise TrigInferError(f"step {step.name!r} did not write {missing}")
            state[step.name] = {"key": key, "seconds": round(seconds, 3), "summary": summary,
                                "wrote": [layout.rel(p) for p in step.writes(layout, cfg)]}
            write_json(state_path, state)
            log.info("[%d/%d] %s: done in %.1f s", index, len(steps), step.name, seconds)
    if finish is not None:
        finish(ctx)
    log.info("run finished in %.1f s: %s", time.perf_counter() - t_total, run_dir)
    return ctx.summaries
