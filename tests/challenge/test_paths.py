"""Atomic writes: all or nothing; private files unless a caller asks for more."""

from __future__ import annotations

import stat

import pytest

from challenge.paths import atomic_dir, atomic_write


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


def test_atomic_write_is_private_unless_asked(tmp_path):
    """Hidden sets go through atomic_write: private by default; exports ask for 0644."""
    with atomic_write(tmp_path / "hidden.json") as f:
        f.write("{}")
    with atomic_write(tmp_path / "leaderboard.html", permissions=0o644) as f:
        f.write("<table></table>")
    assert stat.S_IMODE((tmp_path / "hidden.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "leaderboard.html").stat().st_mode) == 0o644


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
