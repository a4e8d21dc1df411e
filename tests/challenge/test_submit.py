"""``challenge submit``: the zip layout of docs/interfaces.md, the manifest, and every refusal."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile

import pytest
import torch
from click.testing import CliRunner

from challenge import submit as submit_lib
from challenge.checkpoint import save_checkpoint
from challenge.cli import main
from challenge.errors import ChallengeError
from challenge.impl import STUDENT_MODULES


class NotPlainData:
    """An object a weights_only load refuses."""


@pytest.fixture
def impl_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CHALLENGE_RUNS_DIR", str(tmp_path / "runs"))
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in STUDENT_MODULES:
        (folder / f"{name}.py").write_text(f'"""{name}"""\nimport math\nimport torch\n\n'
                                           f'VALUE = {len(name)}\n')
    return folder


def _ckpt(path, task, size=4):
    save_checkpoint(path, state_dict={"w": torch.zeros(size)}, config={"task": task})
    return path


def _submit(args):
    return CliRunner().invoke(main, ["submit", *args])


def test_packs_modules_checkpoints_and_manifest(impl_dir, tmp_path):
    spam, sorter = _ckpt(tmp_path / "s.pt", "spam"), _ckpt(tmp_path / "o.pt", "sorter")
    out = tmp_path / "alice.zip"
    result = _submit(["--student", "alice", "--out", str(out), "--impl", str(impl_dir),
                      "--spam-checkpoint", str(spam), "--sorter-checkpoint", str(sorter)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        expected = {f"modules/{m}.py" for m in STUDENT_MODULES}
        expected |= {"checkpoints/spam.pt", "checkpoints/sorter.pt", "manifest.json"}
        assert names == expected
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["student"] == "alice"
        assert manifest["torch_version"] == torch.__version__
        assert manifest["kit_version"] and manifest["grader_version"] and manifest["created"]
        assert set(manifest["files"]) == expected - {"manifest.json"}
        for name, digest in manifest["files"].items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest
        assert zf.read("modules/bptt.py") == (impl_dir / "bptt.py").read_bytes()
        assert zf.read("checkpoints/spam.pt") == spam.read_bytes()
    for name in expected:
        assert name in result.output          # it prints what it packed
    assert "warning" not in result.output


def test_default_checkpoints_are_where_training_saves_them(impl_dir, tmp_path):
    spam = _ckpt(submit_lib.default_checkpoint("spam", str(impl_dir)), "spam")
    assert spam.is_relative_to(tmp_path / "runs")
    out = tmp_path / "sub.zip"
    result = _submit(["--student", "bob", "--out", str(out), "--impl", str(impl_dir)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        assert "checkpoints/spam.pt" in zf.namelist()
        assert "checkpoints/sorter.pt" not in zf.namelist()
    assert "warning: no sorter checkpoint" in result.output
    assert "sorter quality part will score zero" in result.output
    assert "no spam checkpoint" not in result.output


def test_missing_checkpoints_are_a_warning_not_an_error(impl_dir, tmp_path):
    out = tmp_path / "sub.zip"
    result = _submit(["--student", "bob", "--out", str(out), "--impl", str(impl_dir)])
    assert result.exit_code == 0, result.output
    assert result.output.count("quality part will score zero") == 2
    with zipfile.ZipFile(out) as zf:
        assert not [n for n in zf.namelist() if n.startswith("checkpoints/")]


@pytest.mark.parametrize("name", ["a b", "../evil", "", ".hidden", "x" * 65, "naïve", "a/b",
                                  "alice__2", "-rf"])
def test_unsafe_student_names_are_refused(impl_dir, tmp_path, name, monkeypatch):
    monkeypatch.setenv("CHALLENGE_STUDENT", name)   # "" falls through to the login name
    if not name:
        monkeypatch.setattr(submit_lib.getpass, "getuser", lambda: "bad name")
    out = tmp_path / "sub.zip"
    result = _submit(["--out", str(out), "--impl", str(impl_dir)])
    assert result.exit_code == 1
    assert "student name" in result.output and "--student" in result.output
    assert not out.exists()


def test_student_name_from_the_environment(impl_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CHALLENGE_STUDENT", "carol.d-2_x")
    result = submit_lib.submit(out=tmp_path / "s.zip", impl=str(impl_dir))
    assert result.student == "carol.d-2_x"


def test_oversized_checkpoint_is_refused_and_nothing_is_written(impl_dir, tmp_path):
    out = tmp_path / "sub.zip"
    out.write_bytes(b"previous submission")
    spam = _ckpt(tmp_path / "big.pt", "spam", size=10_000)
    with pytest.raises(ChallengeError, match=r"big\.pt is .* MB, over the .* MB limit"):
        submit_lib.submit(student="dan", out=out, impl=str(impl_dir), spam_checkpoint=spam,
                       max_checkpoint_bytes=20_000)
    assert out.read_bytes() == b"previous submission"
    assert list(tmp_path.glob(".sub.zip*")) == []    # no temporary file left behind


def test_checkpoint_that_needs_unpickling_is_refused(impl_dir, tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"state_dict": {}, "config": {"task": "spam"}, "x": NotPlainData()}, bad)
    result = _submit(["--student", "eve", "--out", str(tmp_path / "s.zip"),
                      "--impl", str(impl_dir), "--spam-checkpoint", str(bad)])
    assert result.exit_code == 1
    assert "cannot be loaded safely" in result.output and "NotPlainData" in result.output
    assert not (tmp_path / "s.zip").exists()


@pytest.mark.parametrize("content", ["empty", "cut", "text", "text_like_a_pickle"])
def test_a_checkpoint_file_that_is_not_one_is_one_line(impl_dir, tmp_path, content):
    good = _ckpt(tmp_path / "good.pt", "spam").read_bytes()
    bad = tmp_path / "bad.pt"
    # "loss ..." starts with a byte torch's safe unpickler reads as an opcode and refuses
    bad.write_bytes({"empty": b"", "cut": good[:len(good) // 2],
                     "text": b"epoch 3: loss 0.12\n",
                     "text_like_a_pickle": b"loss 0.1\n"}[content])
    result = _submit(["--student", "eve", "--out", str(tmp_path / "s.zip"),
                      "--impl", str(impl_dir), "--spam-checkpoint", str(bad)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is not a readable torch checkpoint" in lines[0]
    assert "not pickled objects" not in lines[0] and not (tmp_path / "s.zip").exists()


def test_checkpoint_of_the_other_task_is_refused(impl_dir, tmp_path):
    sorter = _ckpt(tmp_path / "o.pt", "sorter")
    result = _submit(["--student", "eve", "--out", str(tmp_path / "s.zip"),
                      "--impl", str(impl_dir), "--spam-checkpoint", str(sorter)])
    assert result.exit_code == 1
    assert "is a 'sorter' checkpoint, not 'spam'" in result.output


def test_given_checkpoint_that_does_not_exist_is_an_error(impl_dir, tmp_path):
    result = _submit(["--student", "eve", "--out", str(tmp_path / "s.zip"),
                      "--impl", str(impl_dir), "--sorter-checkpoint", str(tmp_path / "no.pt")])
    assert result.exit_code == 1
    assert "--sorter-checkpoint" in result.output and "no.pt" in result.output


@pytest.mark.parametrize("line, bad", [("import helpers", "'helpers'"),
                                       ("from challenge.paths import data_dir", "'challenge.paths'"),
                                       ("from . import tokenizer", "'.'"),
                                       ("import pandas as pd", "'pandas'")])
def test_imports_beyond_torch_numpy_stdlib_are_refused(impl_dir, tmp_path, line, bad):
    (impl_dir / "batching.py").write_text(f"import numpy as np\n{line}\n")
    result = _submit(["--student", "eve", "--out", str(tmp_path / "s.zip"),
                      "--impl", str(impl_dir)])
    assert result.exit_code == 1
    assert f"batching.py line 2 imports {bad}" in result.output
    assert not (tmp_path / "s.zip").exists()


def test_syntax_error_is_refused_with_its_line(impl_dir, tmp_path):
    (impl_dir / "bptt.py").write_text("x = 1\ndef f(:\n")
    result = _submit(["--student", "eve", "--out", str(tmp_path / "s.zip"),
                      "--impl", str(impl_dir)])
    assert result.exit_code == 1
    assert "bptt.py has a syntax error at line 2" in result.output


def test_a_module_that_raises_at_import_is_packed_with_a_warning_naming_the_error(impl_dir, tmp_path):
    (impl_dir / "batching.py").write_text("import torch\n\nPAD = {}['pad']\n")
    out = tmp_path / "s.zip"
    result = _submit(["--student", "gil", "--out", str(out), "--impl", str(impl_dir)])
    assert result.exit_code == 0, result.output
    assert ("warning: batching.py failed to import: KeyError: 'pad' at batching.py:3; packed as "
            "it is, but the grader will score every batching check zero") in result.output
    assert result.output.count("failed to import") == 1   # the other modules import fine
    with zipfile.ZipFile(out) as zf:
        assert zf.read("modules/batching.py") == (impl_dir / "batching.py").read_bytes()


def test_an_endless_loop_at_import_is_stopped_and_named(impl_dir, tmp_path):
    (impl_dir / "bptt.py").write_text("while True:\n    pass\n")
    assert "took longer than 0.5 s to import" in submit_lib.import_problem(str(impl_dir), "bptt",
                                                                           seconds=0.5)
    assert submit_lib.import_problem(str(impl_dir), "tokenizer", seconds=0.5) == ""


def test_missing_student_module_is_an_error(impl_dir, tmp_path):
    (impl_dir / "lstm_cell.py").unlink()
    with pytest.raises(ChallengeError, match=r"lstm_cell\.py is missing"):
        submit_lib.submit(student="eve", out=tmp_path / "s.zip", impl=str(impl_dir))


def test_newest_of_several_sorter_checkpoints_is_packed_with_a_warning(impl_dir, tmp_path):
    candidates = submit_lib.checkpoint_candidates("sorter", str(impl_dir))
    assert len(candidates) >= 2 and all(p.is_relative_to(tmp_path / "runs") for p in candidates)
    older, newer = _ckpt(candidates[0], "sorter", size=3), _ckpt(candidates[1], "sorter", size=5)
    os.utime(older, (1_000_000, 1_000_000))
    out = tmp_path / "s.zip"
    result = submit_lib.submit(student="fay", out=out, impl=str(impl_dir))
    with zipfile.ZipFile(out) as zf:
        assert zf.read("checkpoints/sorter.pt") == newer.read_bytes()
    [warning] = [w for w in result.warnings if w.startswith("several")]

    assert str(newer) in warning and str(older) in warning and "--sorter-checkpoint" in warning


def test_a_missing_checkpoint_names_its_file_and_the_command_that_writes_it(impl_dir, tmp_path):
    from challenge.tasks.sorter import default_path

    out = tmp_path / "sub.zip"
    result = _submit(["--student", "bob", "--out", str(out), "--impl", str(impl_dir)])
    assert result.exit_code == 0, result.output
    expected = default_path(str(impl_dir), "pointer")
    assert expected == tmp_path / "runs" / "sorter" / "mine-pointer.pt"
    line = next(ln for ln in result.output.splitlines() if "no sorter checkpoint" in ln)
    assert line == (f"warning: no sorter checkpoint at {expected}: the sorter quality part will "
                    f"score zero; `challenge train sorter --impl {impl_dir}` saves one there")
    assert "--impl challenge" not in result.output


def test_the_command_a_warning_gives_saves_where_submit_then_finds_it(impl_dir, tmp_path):
    """The named command's path is the one submit packs: `challenge train` names its checkpoint
    after the folder, and submit looks there."""
    from challenge.tasks.spam import default_path as spam_path

    warning = submit_lib.missing_checkpoint("sorter", str(impl_dir),
                                            submit_lib.default_checkpoint("sorter", str(impl_dir)))
    assert f"`challenge train sorter --impl {impl_dir}`" in warning
    _ckpt(submit_lib.default_checkpoint("sorter", str(impl_dir)), "sorter")
    _ckpt(spam_path(str(impl_dir), "random"), "spam")
    out = tmp_path / "sub.zip"
    result = _submit(["--student", "bob", "--out", str(out), "--impl", str(impl_dir)])
    assert result.exit_code == 0 and "no sorter checkpoint" not in result.output, result.output
    with zipfile.ZipFile(out) as zf:
        assert {"checkpoints/sorter.pt", "checkpoints/spam.pt"} <= set(zf.namelist())


def test_checkpoints_trained_for_another_impl_are_pointed_at_not_packed(impl_dir, tmp_path):
    from challenge.tasks.sorter import default_path

    other = _ckpt(default_path("challenge", "pointer"), "sorter")
    out = tmp_path / "sub.zip"
    result = _submit(["--student", "bob", "--out", str(out), "--impl", str(impl_dir)])
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if "no sorter checkpoint" in ln)
    assert line.endswith(f"; {other.parent} holds {other}, trained for another --impl: pass "
                         f"--sorter-checkpoint PATH to pack one of those")
    with zipfile.ZipFile(out) as zf:
        assert "checkpoints/sorter.pt" not in zf.namelist()
    packed = _submit(["--student", "bob", "--out", str(out), "--impl", str(impl_dir),
                      "--sorter-checkpoint", str(other)])
    assert packed.exit_code == 0 and "no sorter checkpoint" not in packed.output


def test_a_folder_with_a_space_gets_a_command_that_runs(tmp_path):
    warning = submit_lib.missing_checkpoint("spam", str(tmp_path / "my work"), tmp_path / "x.pt")
    assert f"`challenge train spam --impl '{tmp_path / 'my work'}'`" in warning
