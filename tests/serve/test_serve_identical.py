"""Byte-identical modules among a live server's uploads: the folder grade's REVIEW evidence,
shown to the instructor on /admin (never on a student's page), and `challenge similarity --db`
over the stored uploads."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from support.serve import read_tokens, write_roster

from challenge.cli import main
from grader.serve.app import ServeConfig, create_app
from grader.serve.server import prepare

ROOT = Path(__file__).resolve().parents[2]
STUB = (ROOT / "challenge" / "lstm_cell.py").read_text()
OWN = STUB + "\n\ndef helper(a, b):\n    total = a * 3 + b\n    return [total, total * total, a - b]\n"
OTHER = STUB + "\n\ndef other(xs):\n    return sorted(x for x in xs if x % 2 == 0)[::-1]\n"


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", '{"student": "alice", "files": {}}')   # lies: not trusted
        zf.writestr("modules/lstm_cell.py", source)
    return buf.getvalue()


@pytest.fixture
def live(tmp_path):
    db = tmp_path / "data" / "board.sqlite"
    ready = prepare(db, write_roster(tmp_path / "roster.csv",
                                     ["alice", "bob", "carol", "erin", "zoe", "mallory"]))
    tokens = read_tokens(ready.tokens_csv)
    tokens["instructor"] = ready.instructor_file.read_text().strip()
    config = ServeConfig(uploads=ready.folder / "uploads", upload_interval_s=0, board_cache_s=0)
    client = TestClient(create_app(ready.queue, ready.tokens, config), base_url="http://127.0.0.1")

    def upload(who: str, source: str, name: str = "submission.zip") -> None:
        r = client.post("/api/submissions", headers={"Authorization": f"Bearer {tokens[who]}"},
                        files={"file": (name, _zip(source))})
        assert r.status_code == 201, r.text

    upload("alice", OWN)
    upload("bob", OWN)                # a byte-identical copy of alice's module
    upload("carol", OTHER)            # her own work
    upload("erin", STUB)              # the untouched stub ...
    upload("zoe", STUB)               # ... twice: identical for everyone, proves nothing
    return {"client": client, "tokens": tokens, "upload": upload, "db": db}


def _get(live, who: str, path: str) -> str:
    return live["client"].get(path, headers={"Authorization": f"Bearer {live['tokens'][who]}"}).text


def test_admin_shows_byte_identical_modules_never_the_stub(live):
    page = _get(live, "instructor", "/admin")
    assert "REVIEW alice, bob: byte-identical modules/lstm_cell.py" in page
    assert "erin" not in page.split('id="identical"')[1].split("</ul>")[0]
    assert "carol" not in page.split('id="identical"')[1].split("</ul>")[0]


def test_no_student_page_shows_the_evidence(live):
    for who in ("alice", "bob"):
        for path in ("/me", "/board", "/api/status"):
            assert "byte-identical" not in _get(live, who, path)


def test_the_uploader_is_named_not_the_file_or_the_manifest(live):
    """The attack: mallory uploads bob's module in a file named alice.zip (with alice in its
    manifest), to put the copy on alice. The evidence names the uploader."""
    live["upload"]("mallory", OWN, name="alice.zip")
    page = _get(live, "instructor", "/admin")
    assert "REVIEW alice, bob, mallory: byte-identical modules/lstm_cell.py" in page


def test_similarity_runs_over_the_servers_stored_uploads(live, tmp_path):
    out = CliRunner().invoke(main, ["similarity", "--db", str(live["db"]),
                                    "--out", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    assert "alice ~ bob" in out.output.splitlines()[2]
    assert (tmp_path / "r" / "similarity.csv").read_text().splitlines()[1].split(",")[1:3] == \
        ["alice", "bob"]


def test_similarity_wants_one_source_and_names_a_missing_store(tmp_path):
    neither = CliRunner().invoke(main, ["similarity"])
    assert neither.exit_code == 1 and neither.output.startswith("Error:") and "--db" in neither.output
    both = CliRunner().invoke(main, ["similarity", str(tmp_path), "--db", str(tmp_path / "x")])
    assert both.exit_code == 1 and "not both" in both.output
    missing = CliRunner().invoke(main, ["similarity", "--db", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 1 and "challenge serve" in missing.output
    assert "Traceback" not in neither.output + both.output + missing.output
