"""``challenge submit --to``, ``challenge status --to`` and ``challenge serve`` as people type
them: a server on a loopback port, and one-line errors for what goes wrong."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from support.serve import prepared_class, read_tokens, running_app

from challenge.cli import main
from grader.serve.app import ServeConfig, create_app


@pytest.fixture
def server(tmp_path):
    ready, tokens = prepared_class(tmp_path)
    app = create_app(ready.queue, ready.tokens,
                     ServeConfig(uploads=ready.folder / "uploads", upload_interval_s=0))
    with running_app(app) as url:
        yield {"url": url, "tokens": tokens, "queue": ready.queue}


def test_submit_to_uploads_and_status_shows_it(server, tmp_path, monkeypatch):
    csv = tmp_path / "preds.csv"
    csv.write_text("id,prediction\n")
    run = CliRunner().invoke(main, ["submit", "--to", server["url"], "--token",
                                    server["tokens"]["alice"], "--file", str(csv)])
    assert run.exit_code == 0, run.output
    assert "uploaded" in run.output and "submission #1 of alice (queued)" in run.output
    monkeypatch.setenv("CHALLENGE_TOKEN", server["tokens"]["alice"])   # out of shell history
    shown = CliRunner().invoke(main, ["status", "--to", server["url"]])
    assert shown.exit_code == 0, shown.output
    assert "preds.csv" in shown.output and "queued" in shown.output
    assert "points (public part)" in shown.output          # the one name of that number
    assert "Overall leaderboard - public part, ranked by points:" in shown.output
    data = json.loads(CliRunner().invoke(main, ["status", "--to", server["url"], "--json"]).output)
    assert [s["state"] for s in data["submissions"]] == ["queued"]
    one = CliRunner().invoke(main, ["status", "--to", server["url"], "--id", "1"])
    assert one.exit_code == 0 and "#1 preds.csv: queued" in one.output


def test_the_instructor_reveals_and_regrades_from_the_terminal(server):
    token = server["tokens"]["instructor"]
    run = CliRunner().invoke(main, ["status", "--to", server["url"], "--token", token,
                                    "--reveal", "--regrade-all"])
    assert run.exit_code == 0, run.output
    assert "revealed: True" in run.output and "queued: 0" in run.output
    assert server["queue"].setting("revealed") == "1"
    server["queue"].enqueue("bob", "b.csv", "bob__1.csv", "sha")
    every = CliRunner().invoke(main, ["status", "--to", server["url"], "--token", token])
    assert every.exit_code == 0 and "student" in every.output and "bob" in every.output


def _graded(queue, student: str, sha: str) -> int:
    job_id = queue.enqueue(student, f"{sha}.csv", f"{student}__{sha}.csv", sha)
    assert queue.claim("test", 60).id == job_id
    assert queue.finish(job_id, "test", ok=True, reason="", points=40.0, max_points=100.0,
                        summary="", board_id=None)
    return job_id


def test_the_instructor_regrades_one_student_from_the_terminal(server):
    first, second = _graded(server["queue"], "alice", "a1"), _graded(server["queue"], "alice", "a2")
    _graded(server["queue"], "bob", "b1")
    token = server["tokens"]["instructor"]
    run = CliRunner().invoke(main, ["status", "--to", server["url"], "--token", token,
                                    "--regrade", "alice"])
    assert run.exit_code == 0, run.output
    assert run.output == "alice: 2 submission(s) queued again\n"
    waiting = [j for j in server["queue"].jobs() if j.state == "queued"]
    assert sorted((j.student, j.regrade_of) for j in waiting) == [("alice", first),
                                                                   ("alice", second)]
    both = CliRunner().invoke(main, ["status", "--to", server["url"], "--token", token, "--json",
                                     "--regrade", "alice", "--regrade", "bob"])
    assert json.loads(both.output) == {"regraded": [{"queued": 0, "student": "alice"},
                                                    {"queued": 1, "student": "bob"}]}


@pytest.mark.parametrize("who, student, message", [
    ("instructor", "zed", "--regrade 'zed': the server refused (404): no student 'zed' on this "
                          "server's roster; pass a student id from the roster"),
    ("bob", "alice", "--regrade 'alice': the server refused (403): this needs the instructor's "
                     "token; pass the instructor's token"),
    (None, "alice", "--regrade 'alice': the server refused (401): no valid token"),
])
def test_a_refused_regrade_is_one_line_and_queues_nothing(server, who, student, message):
    _graded(server["queue"], "alice", "a1")
    token = server["tokens"][who] if who else "not-a-token"
    run = CliRunner().invoke(main, ["status", "--to", server["url"], "--token", token,
                                    "--regrade", student])
    assert run.exit_code == 1 and message in run.output, run.output
    assert "Traceback" not in run.output and run.output.count("\n") == 1
    assert not [j for j in server["queue"].jobs() if j.state == "queued"]


def test_the_regrade_warns_before_sending_the_token_over_plain_http(server, monkeypatch):
    """The server here is on loopback: count it as another machine to see the warning."""
    monkeypatch.setattr("challenge.remote.is_local", lambda host: False)
    _graded(server["queue"], "bob", "b1")
    run = CliRunner().invoke(main, ["status", "--to", server["url"], "--token",
                                    server["tokens"]["instructor"], "--regrade", "bob"])
    assert run.exit_code == 0, run.output
    assert f"Warning: {server['url']} is plain http" in run.output
    assert "bob: 1 submission(s) queued again" in run.output


@pytest.mark.parametrize("args, message", [
    (["--token", "wrong"], "the server refused (401): no valid token"),
    (["--to", "http://127.0.0.1:9", "--token", "x"], "cannot reach the challenge server"),
    (["--to", "ftp://x", "--token", "x"], "is not a web address"),
])
def test_status_errors_are_one_line(server, args, message):
    if "--to" not in args:
        args = ["--to", server["url"], *args]
    run = CliRunner().invoke(main, ["status", *args])
    assert run.exit_code == 1 and message in run.output
    assert "Traceback" not in run.output and run.output.count("\n") == 1


def test_submit_refusals_are_one_line(server, tmp_path):
    txt = tmp_path / "notes.txt"
    txt.write_text("x")
    run = CliRunner().invoke(main, ["submit", "--to", server["url"], "--token",
                                    server["tokens"]["bob"], "--file", str(txt)])
    assert run.exit_code == 1 and "(400): 'notes.txt' is neither" in run.output
    run = CliRunner().invoke(main, ["submit", "--file", str(txt)])
    assert run.exit_code == 1 and "pass --to URL too" in run.output
    run = CliRunner().invoke(main, ["submit", "--to", server["url"], "--file", str(txt)],
                             env={"CHALLENGE_TOKEN": ""})
    assert run.exit_code == 1 and "no token" in run.output


def test_serve_refuses_bad_options_in_one_line_before_writing_anything(tmp_path):
    from support.grading import make_hidden_sets, tiny_rubric

    db = tmp_path / "board" / "board.sqlite"
    for args, message in [
        (["--roster", str(tmp_path / "missing.csv")], "does not exist"),
        (["--deadline", "next friday"], "is not an ISO 8601 time"),
        (["--daily-limit", "0"], "--daily-limit must be at least 1"),
        (["--data-dir", str(tmp_path / "nothing")], "no hidden sets under"),
    ]:
        run = CliRunner().invoke(main, ["serve", "--db", str(db), *args])
        assert run.exit_code == 1 and message in run.output, (args, run.output)
        assert not db.parent.exists()
    data = tmp_path / "data"
    make_hidden_sets(data, tiny_rubric())
    run = CliRunner().invoke(main, ["serve", "--db", str(db), "--data-dir", str(data)])
    assert run.exit_code == 1 and "no student has a token yet: pass --roster" in run.output


def test_grade_dask_names_an_unreachable_scheduler(tmp_path, monkeypatch):
    monkeypatch.setattr("grader.engines.cluster.CONNECT_SECONDS", 1.0)
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "alice.csv").write_text("id,prediction\n")
    run = CliRunner().invoke(main, ["grade", "--hidden", str(subs), "--dask", "tcp://127.0.0.1:9",
                                    "--db", str(tmp_path / "b.sqlite")])
    assert run.exit_code == 1 and "cannot reach the Dask scheduler" in run.output


def test_serve_tokens_rotate_gives_a_new_token_and_the_old_one_stops(server, tmp_path):
    db = server["queue"].path
    run = CliRunner().invoke(main, ["serve", "tokens", "--rotate", "bob", "--db", str(db)])
    assert run.exit_code == 0, run.output
    path = run.output.split("new token for bob: ")[1].split(" (")[0]
    new = read_tokens(path)["bob"]
    from support.serve import wait_for

    def refused(token):
        return CliRunner().invoke(main, ["status", "--to", server["url"], "--token", token])
    wait_for(lambda: refused(server["tokens"]["bob"]).exit_code == 1, 10)   # the running server
    assert refused(new).exit_code == 0
    unknown = CliRunner().invoke(main, ["serve", "tokens", "--rotate", "zed", "--db", str(db)])
    assert unknown.exit_code == 1 and "Error: no token for 'zed'" in unknown.output
