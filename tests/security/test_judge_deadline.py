"""A submission's deadline is the submission's, and its messages are its own (issue #30, items 4
and 9): a crash just before the wall clock runs out leaves the rest as timeouts, not a grader
error; a module that crashes at import shows its own output; a reply broken by the submission's
own patch of the process says so."""

from __future__ import annotations

import time

from support.grading import reference_modules

from challenge.checks import all_checks
from challenge.rubric import Limits
from grader.sandbox import Unit, run_units


def _units(*parts: str) -> list[Unit]:
    return [Unit(f"check:{c.key}", "check", {"check": c.key, "data": c.make_inputs(0)}, c.part)
            for c in all_checks(list(parts))]


def _folder(tmp_path, part: str, attack: str):
    modules = reference_modules()
    for name, src in modules.items():
        (tmp_path / f"{name}.py").write_text(src + ("\n" + attack if name == part else ""))
    return str(tmp_path)


def test_a_crash_just_before_the_deadline_leaves_timeouts_not_a_grader_error(tmp_path):
    wall = 8.0
    end = time.time() + wall        # the parent's deadline, as near as the child can know it
    attack = (f"import os, time\ntime.sleep(max(0.0, {end!r} - time.time() - 0.3))\n"
              f"os.abort()\n")
    units = _units("lstm_cell", "bptt")
    run = run_units(units, impl=_folder(tmp_path, "lstm_cell", attack),
                    limits=Limits(wall_seconds=wall, check_seconds=60), isolate=False)
    by_part = {u.part: r for u, r in zip(units, run.results)}
    assert by_part["lstm_cell"].status == "crashed"
    rest = [r for u, r in zip(units, run.results) if u.part == "bptt"]
    assert rest and all(r.status == "timeout" for r in rest)
    assert all("time limit (8 s) ran out" in r.reason for r in rest), rest[0].reason


def test_a_crash_at_import_shows_that_modules_own_output(tmp_path):
    attack = "import os, sys\nprint('bptt says goodbye', flush=True)\nos.abort()\n"
    folder = _folder(tmp_path, "bptt", attack)
    (tmp_path / "lstm_cell.py").write_text(reference_modules()["lstm_cell"]
                                           + "\nprint('lstm_cell was here', flush=True)\n")
    units = _units("lstm_cell", "bptt")
    run = run_units(units, impl=folder, limits=Limits(wall_seconds=120, check_seconds=60),
                    isolate=False)
    crashed = [r for u, r in zip(units, run.results) if u.part == "bptt"]
    assert all(r.status == "crashed" for r in crashed)
    assert "bptt says goodbye" in crashed[0].reason, crashed[0].reason


def test_a_second_crash_does_not_show_the_first_childs_last_line(tmp_path):
    attack = "import os\nos.abort()\n"
    folder = _folder(tmp_path, "bptt", attack)
    (tmp_path / "lstm_cell.py").write_text(
        reference_modules()["lstm_cell"]
        + "\nimport os\nprint('lstm_cell last words', flush=True)\nos.abort()\n")
    units = _units("lstm_cell", "bptt")
    run = run_units(units, impl=folder, limits=Limits(wall_seconds=120, check_seconds=60),
                    isolate=False)
    bptt = [r for u, r in zip(units, run.results) if u.part == "bptt"]
    assert bptt[0].status == "crashed" and "lstm_cell last words" not in bptt[0].reason
    assert "(no output)" in bptt[0].reason


def test_a_submission_that_patches_json_is_told_its_code_changed_the_process(tmp_path):
    attack = "import json\njson.dumps = lambda *a, **k: '[[['\n"
    units = _units("bptt")[:2]
    run = run_units(units, impl=_folder(tmp_path, "bptt", attack),
                    limits=Limits(wall_seconds=120, check_seconds=60), isolate=False)
    assert all(r.status == "malformed" for r in run.results)
    assert all("the submission's own code changed the process" in r.reason
               for r in run.results), run.results[0].reason
