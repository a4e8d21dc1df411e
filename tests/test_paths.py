"""Atomic writes: all or nothing, and the file modes a plain open()/mkdir() would give."""

from __future__ import annotations

import os
import stat

import pytest

from challenge.paths import atomic_dir, atomic_write


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_atomic_write_replaces_whole_and_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "board.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["board.csv"]   # no temporary left behind
    with atomic_write(target) as f:
        f.write("new")
    assert target.read_text() == "new"


def test_atomic_outputs_get_the_umask_modes_not_0600(tmp_path, umask_022):
    with atomic_write(tmp_path / "leaderboard.html") as f:
        f.write("<table></table>")
    with atomic_dir(tmp_path / "release") as folder:
        (folder / "README.md").write_text("x")
    assert stat.S_IMODE((tmp_path / "leaderboard.html").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "release").stat().st_mode) == 0o755


def test_atomic_dir_leaves_the_old_folder_on_error(tmp_path):
    target = tmp_path / "hidden"
    target.mkdir()
    (target / "test.jsonl").write_text("keep")
    with pytest.raises(ValueError):
        with atomic_dir(target) as folder:
            (folder / "test.jsonl").write_text("partial")
            raise ValueError("bad seed")
    assert (target / "test.jsonl").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hidden"]
