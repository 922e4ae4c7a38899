"""Atomic file writes: the one helper every writer uses (a base module, like ``errors``: it
imports nothing of triginfer's, so the IR may use it).

:func:`atomic_path` gives a temporary name beside the target (same directory, hidden, fixed,
with the target's suffix so tools that choose a format by suffix still do); when the block ends without
an error it is renamed onto the target in one step, so a reader never sees a half-written
file, and on any error (Ctrl-C and SIGTERM included) it is removed and the target is left as
it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write ``path``'s content to (see the module docstring); parent
    directories are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a fixed name: a write killed with SIGKILL (no clean-up possible) leaves one temporary
    # that the next write of the same file replaces, never a growing pile of them
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
