"""The one atomic-write helper: a target is replaced whole or not at all."""

from __future__ import annotations

import pytest

from triginfer.atomic import atomic_path, write_text


def test_a_write_replaces_the_target_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_text(target, "old")
    write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out.npz"
    target.write_text("old")
    seen = []

    def interrupted_write() -> None:
        with atomic_path(target) as tmp:
            seen.append(tmp)
            tmp.write_text("half")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted_write()
    assert seen[0].parent == tmp_path
    assert seen[0].suffix == ".npz"                 # tools that pick a format by suffix
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]
