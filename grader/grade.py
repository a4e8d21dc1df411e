"""Grading: one submission (or an implementation) -> one :class:`GradeReport`.

Three modes:
- ``impl``: a student's own modules (``challenge grade``) or the reference (``--impl solutions``)
  with their checkpoints under runs/ (the reference trains its own, cached, when missing), on the
  public dev sets, or on the hidden ones with ``hidden=True``;
- ``code``: a submission zip, graded on the hidden sets (or the dev sets, for a student trying
  their zip). Its layout (``challenge submit`` writes it; :mod:`challenge.submission` checks it)::

      manifest.json          {"student", "created", "kit_version", "grader_version",
                              "torch_version", "files": {"<path>": "<sha256>", ...}}
      modules/<name>.py      the student's modules (challenge.impl.STUDENT_MODULES)
      checkpoints/spam.pt    optional; checkpoints/sorter.pt optional

- ``predictions``: a CSV ``id,prediction`` for the published unlabelled spam test file.
Student code always runs in the sandbox (:mod:`grader.sandbox`); the labels never leave this
process. A submission that cannot be graded at all is a report with ``status: failed``.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Callable, NamedTuple

import torch

from challenge.checks import all_checks, outputs
from challenge.checks.base import CheckResult
from challenge.device import resolve_device
from challenge.errors import ChallengeError
from challenge.grading import student_checkpoints
from challenge.impl import STUDENT_MODULES
from challenge.report import GradeReport, QualityResult, TaskResult
from challenge.rubric import Rubric, TaskRubric, load_rubric
from challenge.submission import (
    BadSubmission,
    open_submission,
    sha256_file,
    student_from_name,
)
from challenge.submit import modules_dir
from challenge.text import one_line
from grader import bands, evidence, judging, quality, scan
from grader import hidden as hidden_sets
from grader.predictions import PredictionsError, read_predictions
from grader.prepare import prepare_reference
from grader.reference import ReferenceTraining, reference_checkpoints
from grader.sandbox import (
    KIT_ROOT,
    SandboxUnavailable,
    Unit,
    UnitResult,
    isolation_problem,
    run_units,
    scratch_parent,
)
from grader.version import grader_version


def grade(impl: str | None = None, submission: str | os.PathLike | None = None,
          hidden: bool = False, rubric: str | os.PathLike | Rubric | None = None,
          data_dir: str | os.PathLike | None = None, *, train: bool = True, prepare: bool = True,
          device: str | None = "auto", isolate: bool | None = None) -> GradeReport:
    """Grade ``submission`` (a .zip or .csv) or else implementation ``impl`` (default: the
    student's own, "challenge"); see the module docstring for the modes. For the reference,
    ``prepare`` first checks every prerequisite and fetches the corpus and makes the default
    split where missing (:mod:`grader.prepare`), and ``device`` is where a missing reference
    checkpoint trains; the grade itself runs on the CPU, in the sandbox.

    ``isolate``: True requires the sandbox (:class:`~grader.sandbox.SandboxUnavailable` where it
    cannot run), False runs student code as a plain process (``--unsafe``), None (the default)
    requires it for the hidden sets and otherwise uses it where it can, saying when it could
    not. A failure of the grader itself raises :class:`~grader.sandbox.GraderError`."""
    why = isolation_problem()
    if isolate is None:
        isolate = True if hidden else not why
    if isolate and why:      # before any set-up or training
        raise SandboxUnavailable(f"cannot isolate student code: {why}")
    rub = rubric if isinstance(rubric, Rubric) else load_rubric(rubric, data_dir=data_dir)
    if submission is None:
        impl = impl or "challenge"
        modules_dir(impl)   # an unknown name or a missing folder: one error, before any grading
        if impl == "solutions" and train:
            resolve_device(device)   # an unavailable device: one line, before any set-up
        if impl == "solutions" and prepare:
            prepare_reference(rub, data_dir=data_dir, hidden=hidden)
        checkpoints = (reference_checkpoints(rub, data_dir=data_dir, train=train,
                                             config=ReferenceTraining(device=device or "auto"))
                       if impl == "solutions" else student_checkpoints(impl))
        return _grade_code(rub, impl=impl, checkpoints=checkpoints, hidden=hidden,
                           data_dir=data_dir, mode="impl", student=impl, isolate=isolate)
    path = Path(submission)
    if not path.is_file():
        raise ChallengeError(f"submission {path} does not exist; pass a .zip made by "
                             f"`challenge submit` or a predictions .csv")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        if not hidden:
            raise ChallengeError(f"{path} is a predictions file for the hidden test set; grade it "
                                 f"with --hidden")
        return grade_predictions(path, rub, data_dir)
    if suffix != ".zip":
        raise ChallengeError(f"submission {path} is neither a .zip (code) nor a .csv (predictions)")
    work = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-submission-", dir=scratch_parent()))
    try:
        try:
            sub = open_submission(path, work / "files", max_files=rub.submission.max_files,
                                  max_bytes=int(rub.submission.max_unzipped_mb * (1 << 20)))
        except BadSubmission as e:
            return _failed(rub, path, student_from_name(path), "code", str(e), hidden)
        return _grade_code(rub, impl=str(sub.modules), checkpoints=sub.checkpoints,
                           hidden=hidden, data_dir=data_dir, mode="code", student=sub.student,
                           submission=path, isolate=isolate)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _base(rub: Rubric, path: Path | None, student: str, mode: str, hidden: bool) -> dict:
    return {"student": student, "submission": path.name if path else "",
            "sha256": sha256_file(path) if path else "", "mode": mode,
            "rubric_hash": rub.hash, "grader_version": grader_version(),
            "torch_version": torch.__version__, "sets": "hidden" if hidden else "dev"}


def _failed(rub: Rubric, path: Path, student: str, mode: str, reason: str,
            hidden: bool) -> GradeReport:
    tasks = {t.name: TaskResult(t.name, 0.0, t.max_points,
                                quality=quality.failed(t, "failed", reason) if t.quality else None)
             for t in rub.tasks}
    if mode == "predictions":
        tasks = {"spam": tasks["spam"]} if "spam" in tasks else {}
        for t in tasks.values():
            t.max_points = t.quality.max_points if t.quality else 0.0
    return GradeReport(**_base(rub, path, student, mode, hidden), status="failed", reason=reason,
                       points=0.0, max_points=sum(t.max_points for t in tasks.values()), tasks=tasks)


def grade_predictions(path: Path, rub: Rubric, data_dir=None) -> GradeReport:
    """Predictions mode: the spam task's quality only, on the hidden test set."""
    task = rub.task("spam")
    if task is None or task.quality is None:
        raise ChallengeError(f"the rubric ({rub.source}) has no spam quality band to grade "
                             f"predictions with; add [tasks.spam.quality]")
    task, notes = bands.effective_task(task, rub, hidden=True, data_dir=data_dir)
    data = hidden_sets.hidden_spam(data_dir)
    student = student_from_name(path)
    try:
        probs = read_predictions(path, data.ids,
                                 max_bytes=int(rub.submission.max_predictions_mb * (1 << 20)))
    except PredictionsError as e:
        return _failed(rub, path, student, "predictions", str(e), True)
    result, examples = quality.spam_quality(task, data, probs, 0.5)
    result.notes += notes
    spam = TaskResult("spam", result.points, task.quality.points, quality=result, examples=examples)
    return GradeReport(**_base(rub, path, student, "predictions", True), status="ok", reason="",
                       points=spam.points, max_points=spam.max_points, tasks={"spam": spam})


def _sets(rub: Rubric, hidden: bool, data_dir) -> dict:
    """The spam and sorter sets to measure on, or the reason each is unavailable."""
    sets: dict = {}
    for name, make in (("spam", lambda: hidden_sets.hidden_spam(data_dir) if hidden
                        else hidden_sets.dev_spam(rub, data_dir)),
                       ("sorter", lambda: hidden_sets.hidden_sorter(data_dir, rub) if hidden
                        else hidden_sets.dev_sorter(rub))):
        try:
            sets[name] = make()
        except ChallengeError as e:
            sets[name] = str(e)
    return sets


def _quality_unit(task: TaskRubric, data, checkpoint: Path | None, files: dict, seed: int,
                  probe_dir: Path) -> tuple[Unit | QualityResult, object]:
    """The unit that measures ``task``'s model, and what the grader needs to judge it (for the
    sorter, the plan of real and probe jobs); or a failed result."""
    if isinstance(data, str):
        return quality.failed(task, "error", f"no set to measure on: {data}"), None
    if checkpoint is None:
        return quality.failed(task, "missing", f"no {task.name} checkpoint; train one with "
                                               f"`challenge train {task.name}`"), None
    if task.name == "spam":
        try:
            quality.load_measured(checkpoint, "spam")
        except quality.Malformed as e:
            return quality.failed(task, "malformed", str(e)), None
        files["spam.pt"] = checkpoint
        messages = [{"id": i, "subject": m.subject, "body": m.body, "headers": m.headers}
                    for i, m in zip(data.ids, data.messages)]
        return Unit("quality:spam", "spam", {"checkpoint": "spam.pt", "messages": messages}), None
    rng = random.Random(seed)
    real, probe = (f"{rng.getrandbits(64):016x}.pt" for _ in range(2))
    try:
        quality.randomised_checkpoint(checkpoint, probe_dir / probe, rng.getrandbits(32))
    except quality.Malformed as e:
        return quality.failed(task, "malformed", str(e)), None
    files[real], files[probe] = checkpoint, probe_dir / probe
    plan = quality.sorter_plan(data, real, probe, rng.getrandbits(32))
    moved = f"{rng.getrandbits(64):016x}.pt"       # the same model, weights moved a little
    if not evidence.moved_checkpoint(checkpoint, probe_dir / moved, rng.getrandbits(32)):
        return Unit("quality:sorter", "sorter", {"jobs": plan.jobs,
                                                 "caps": quality.decode_caps(data)}), plan
    files[moved] = probe_dir / moved
    how = evidence.with_moved_job(plan, moved, data.inputs, rng.getrandbits(32))
    return Unit("quality:sorter", "sorter", {"jobs": how.jobs,
                                             "caps": quality.decode_caps(data)}), how


def _grade_code(rub: Rubric, *, impl: str, checkpoints: dict[str, Path], hidden: bool, data_dir,
                mode: str, student: str, submission: Path | None = None,
                isolate: bool = True) -> GradeReport:
    sets = _sets(rub, hidden, data_dir)
    seed = hidden_sets.checks_seed(data_dir) if hidden else 0
    units: list[Unit] = []
    plan: dict[str, tuple] = {}
    files: dict[str, Path] = {}
    notes: dict[str, list[str]] = {}
    arrival = judging.ArrivalJudge({}, rub.limits.judge_seconds)   # verdicts as replies arrive
    probe_dir = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-probe-", dir=scratch_parent()))
    try:
        for task in rub.tasks:
            task, notes[task.name] = bands.effective_task(task, rub, hidden=hidden,
                                                          data_dir=data_dir)
            checks = all_checks(task.parts) if task.parts else []
            inputs = [check.make_inputs(seed) for check in checks]
            arrival.checks.update((f"check:{c.key}", (c, d)) for c, d in zip(checks, inputs))
            units += [Unit(f"check:{c.key}", "check", {"check": c.key, "data": c.payload(d)},
                           c.part, _reply_bytes(c, d, rub.limits), c.expected(d).describe())
                      for c, d in zip(checks, inputs)]
            q, how = None, None
            if task.quality is not None:
                q, how = _quality_unit(task, sets.get(task.name), checkpoints.get(task.name),
                                       files, _probe_seed(seed, submission, task.name), probe_dir)
                if isinstance(q, Unit):
                    units.append(q)
                    arrival.tasks[q.key] = (lambda unit, t=task, d=sets[task.name], h=how:
                                            _quality(t, d, unit, h))
            plan[task.name] = (task, checks, inputs, q, how)
        run = run_units(units, impl=impl, files=files, limits=rub.limits, isolate=isolate,
                        on_reply=arrival)
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)
    by_key = {r.key: r for r in run.results}
    sources, refusals = _read_sources(impl)
    tasks = {}
    for name, (task, checks, inputs, q, how) in plan.items():
        results = _check_results(task, checks, inputs, by_key, sources, refusals, arrival)
        result, examples = (arrival.task(q.key, lambda unit: _quality(task, sets[name], unit, how),
                                         by_key[q.key]) if isinstance(q, Unit) else (q, None))
        refused = [refusals[part] for part in task.parts if part in refusals]
        if refused and result is not None:       # a refused module is zero for its part
            result, examples = quality.failed(task, "refused", refused[0]), None
        if name == "sorter" and result is not None and "sorter_model" in sources:
            calls = scan.sorting_calls(sources["sorter_model"])
            if calls:
                result.review.append("generate (or a function it calls) sorts: "
                                     + "; ".join(calls[:5]))
        if result is not None:
            corpus = bands.checkpoint_note(checkpoints.get(name), rub.hidden.spam_corpus,
                                           data_dir) if name == "spam" else ""
            result.notes += notes[name] + ([corpus] if corpus else [])
        earned = sum(c.points for c, ok in zip(checks, results) if ok.passed)
        check_points = task.checks * earned / (sum(c.points for c in checks) or 1.0)
        points = round(check_points + (result.points if result else 0.0), 6)
        tasks[name] = TaskResult(name, points, task.max_points, results, result, examples)
    total = round(sum(t.points for t in tasks.values()), 6)
    secret = hidden_sets.secret_file(data_dir) if hidden else None
    isolation = dict(run.isolation)
    report = GradeReport(**_base(rub, submission, student, mode, hidden), status="ok", reason="",
                         points=total, max_points=rub.max_points, tasks=tasks,
                         isolation=_with_secret(isolation, hidden, secret),
                         log=one_line(run.log, rub.limits.max_log_chars) if run.log else "")
    return report


def _reply_bytes(check, data, limits) -> int:
    """The most one check's reply may take: its declared output's bound and room for the
    message, within the limits' max_output_mb."""
    return min(limits.max_output_mb << 20, outputs.max_bytes(check.expected(data)) + (1 << 20))


def _probe_seed(seed: int, submission: Path | None, task: str) -> int:
    """The probe's names, weights and order: from the checks' seed (secret on the hidden sets)
    and the submission's content, so a grade is reproducible and a student cannot predict it."""
    digest = hashlib.sha256(f"{seed}:{task}:".encode()
                            + (sha256_file(submission).encode() if submission else b""))
    return int.from_bytes(digest.digest()[:8], "big")


def _read_sources(impl: str) -> tuple[dict[str, str], dict[str, str]]:
    """The student modules' source text, read here, where none of it ran, exactly as Python
    reads it; and the modules refused, with why (:func:`grader.scan.read_modules`)."""
    folder = Path(impl) if impl not in ("solutions", "challenge") else KIT_ROOT / impl
    return scan.read_modules(folder, STUDENT_MODULES)


def _check_results(task: TaskRubric, checks, inputs, by_key: dict, sources: dict[str, str],
                   refusals: dict[str, str], arrival: judging.ArrivalJudge) -> list[CheckResult]:
    weight = sum(c.points for c in checks) or 1.0
    broken = {part: rule.scan(sources[part]) for part, rule in SOURCE_RULES.items()
              if part in sources and any(c.part == part for c in checks)}
    out = []
    for check, data in zip(checks, inputs):
        unit = by_key[f"check:{check.key}"]
        verdict = arrival.verdict(check, data, unit)
        rule = SOURCE_RULES.get(check.part)
        if check.part in refusals:
            verdict.passed, verdict.status, verdict.message = False, "failed", refusals[check.part]
        elif broken.get(check.part) and check.name in rule.checks:
            verdict.passed, verdict.status = False, "failed"
            verdict.message = (f"your {check.part}.py uses {rule.what} or code the grader cannot "
                               f"read ({'; '.join(broken[check.part][:3])}); this part asks for "
                               f"{rule.asks}")
        verdict.message = one_line(verdict.message, 600)
        scale = task.checks * check.points / weight
        verdict.max_points = round(scale, 6)
        verdict.points = round(scale, 6) if verdict.passed else 0.0
        if unit.status == "timeout":
            verdict.status = "timeout"
        out.append(verdict)
    return out


#: The lstm_cell checks that forbid torch's own recurrent kernels (every one but "parameters").
KERNEL_RULE_CHECKS = ("forward_matches_torch", "default_state_and_unbatched",
                      "gradients_match_torch", "unrolled_matches_torch_lstm", "from_scratch")
#: The bptt checks that forbid autograd: every one that a gradient decides.
AUTOGRAD_RULE_CHECKS = ("gradient_dV", "gradient_dc", "gradient_dW", "gradient_dU", "gradient_db",
                        "training_reduces_loss")


class SourceRule(NamedTuple):
    """A part's from-scratch rule: the checks it decides, the scan of the part's source that
    finds what breaks it, what that is, and what the part asks for instead."""

    checks: tuple[str, ...]
    scan: Callable[[str], list[str]]
    what: str
    asks: str


SOURCE_RULES = {
    "lstm_cell": SourceRule(KERNEL_RULE_CHECKS, scan.recurrent_kernels,
                            "torch's recurrent kernels",
                            "the gate equations written out with matrix products, "
                            "torch.sigmoid and torch.tanh"),
    "bptt": SourceRule(AUTOGRAD_RULE_CHECKS, scan.autograd_calls,
                       "autograd (or torch's recurrent kernels)",
                       "the gradients written out, step by step backwards through time, with "
                       "NumPy"),
}


def _quality(task: TaskRubric, data, unit: UnitResult, how) -> tuple[QualityResult, dict | None]:
    if unit.status != "ok":
        return quality.failed(task, unit.status, unit.reason), None
    reply = unit.reply
    if reply["status"] != "ok":
        return quality.failed(task, reply["status"], reply["message"]), None
    try:
        if task.name == "spam":
            scores, threshold = quality.spam_scores(reply["output"], len(data.ids))
            return quality.spam_quality(task, data, scores, threshold)
        output, moved = evidence.split(reply["output"], how)
        plan = how.plan if isinstance(how, evidence.Perturbed) else how
        rows, random_rows, review = quality.sorter_outputs(output, data, plan)
        result, examples = quality.sorter_quality(task, data, rows, random_rows, plan.probe_set)
        result.review.extend(review + evidence.review(data, rows, how, moved)
                             + evidence.forward_review(data, rows, output, plan))
        return result, examples
    except quality.Malformed as e:
        return quality.failed(task, e.status, one_line(str(e), 600)), None


def _with_secret(isolation: dict, hidden: bool, secret: Path | None) -> dict:
    """The sandbox's walls, plus whether the secret behind the hidden sets was hidden too."""
    if not hidden:
        return dict(isolation)
    return {**isolation, "secret": "hidden" if secret is not None else
            "not recorded (hidden sets made by an older `challenge hidden make`)"}
