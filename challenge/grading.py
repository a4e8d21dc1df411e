"""The student's own grade (``challenge grade``): the public checks and the trained models'
quality on the public dev sets, weighted by the course's rubric, in one report.

It runs the student's code in this process, on the student's machine: it is their own code. The
instructor's grader (grader/, not in the student bundle) grades the same way on the hidden sets,
with every submission isolated in a sandbox.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

from challenge.checks import all_checks, run_local
from challenge.checks.base import CheckResult
from challenge.errors import ChallengeError
from challenge.report import GradeReport, QualityResult, TaskResult
from challenge.rubric import Rubric, TaskRubric, load_rubric
from challenge.scoring import (
    SorterSet,
    SpamSet,
    bootstrap_sd,
    dev_sorter,
    dev_spam,
    failed,
    sorter_metrics,
    spam_quality,
)
from challenge.submission import (
    BadSubmission,
    open_submission,
    sha256_file,
    student_from_name,
)
from challenge.submit import default_checkpoint, modules_dir
from challenge.version import checks_version

#: What a student's own grade says about isolation: none, and why that is fine.
LOCAL = {"sandbox": "none", "filesystem": "your own code, run in this process on your machine"}
SORT_BATCH = 256
SORTER_NOISE = {"exact_match": "n", "exact_match_long": "n_long"}   # metric -> its set size


def student_checkpoints(impl: str) -> dict[str, Path]:
    """The checkpoints ``challenge submit`` would pack for ``impl``, where they exist."""
    found = {}
    for task in ("spam", "sorter"):
        path = Path(default_checkpoint(task, impl))
        if path.is_file():
            found[task] = path
    return found


def grade_local(impl: str | None = None, submission: str | os.PathLike | None = None,
                rubric: str | os.PathLike | Rubric | None = None,
                data_dir: str | os.PathLike | None = None) -> GradeReport:
    """Grade the student's modules ``impl`` (default: "challenge") with their checkpoints, or a
    submission zip made by ``challenge submit``, on the public dev sets."""
    rub = rubric if isinstance(rubric, Rubric) else load_rubric(rubric, data_dir=data_dir)
    if submission is None:
        impl = impl or "challenge"
        modules_dir(impl)      # an unknown name or a missing folder: one error, before grading
        return _grade(rub, impl, student_checkpoints(impl), data_dir, student=impl)
    path = Path(submission)
    if not path.is_file() or path.suffix.lower() != ".zip":
        raise ChallengeError(f"submission {path} is not a .zip file; make one with "
                             f"`challenge submit` (a predictions .csv is graded by the "
                             f"instructor on the hidden set)")
    work = Path(tempfile.mkdtemp(prefix="challenge-submission-"))
    try:
        try:
            sub = open_submission(path, work / "files", max_files=rub.submission.max_files,
                                  max_bytes=int(rub.submission.max_unzipped_mb * (1 << 20)))
        except BadSubmission as e:
            return _failed(rub, path, str(e))
        return _grade(rub, str(sub.modules), sub.checkpoints, data_dir, student=sub.student,
                      submission=path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _header(rub: Rubric, student: str, submission: Path | None) -> dict:
    return {"student": student, "submission": submission.name if submission else "",
            "sha256": sha256_file(submission) if submission else "",
            "mode": "code" if submission else "impl", "rubric_hash": rub.hash,
            "grader_version": checks_version(), "torch_version": torch.__version__,
            "sets": "dev", "isolation": dict(LOCAL)}


def _failed(rub: Rubric, path: Path, reason: str) -> GradeReport:
    tasks = {t.name: TaskResult(t.name, 0.0, t.max_points,
                                quality=failed(t, "failed", reason) if t.quality else None)
             for t in rub.tasks}
    return GradeReport(**_header(rub, student_from_name(path), path), status="failed",
                       reason=reason, points=0.0, max_points=rub.max_points, tasks=tasks)


def _grade(rub: Rubric, impl: str, checkpoints: dict[str, Path], data_dir, *, student: str,
           submission: Path | None = None) -> GradeReport:
    tasks = {}
    for task in rub.tasks:
        checks = _checks(task, impl)
        quality = None
        if task.quality is not None:
            quality = _quality(task, rub, impl, checkpoints.get(task.name), data_dir)
        points = round(sum(c.points for c in checks) + (quality.points if quality else 0.0), 6)
        tasks[task.name] = TaskResult(task.name, points, task.max_points, checks, quality)
    total = round(sum(t.points for t in tasks.values()), 6)
    return GradeReport(**_header(rub, student, submission), status="ok", reason="",
                       points=total, max_points=rub.max_points, tasks=tasks)


def _checks(task: TaskRubric, impl: str) -> list[CheckResult]:
    """The task's checks run here, each scaled to its share of the task's check points."""
    if not task.parts:
        return []
    results = run_local(impl, list(task.parts))
    weight = sum(c.points for c in all_checks(task.parts)) or 1.0
    for r, check in zip(results, all_checks(task.parts)):
        scale = task.checks * check.points / weight
        r.max_points = round(scale, 6)
        r.points = round(scale, 6) if r.passed else 0.0
    return results


def _quality(task: TaskRubric, rub: Rubric, impl: str, checkpoint: Path | None,
             data_dir) -> QualityResult:
    if checkpoint is None:
        return failed(task, "missing", f"no {task.name} checkpoint; train one with "
                                       f"`challenge train {task.name}`")
    try:
        data = dev_spam(rub, data_dir) if task.name == "spam" else dev_sorter(rub)
    except ChallengeError as e:
        return failed(task, "error", f"no set to measure on: {e}")
    try:
        if task.name == "spam":
            return _band_lines(_spam(task, data, checkpoint, impl), task, rub)
        return _band_lines(_sorter(task, data, checkpoint, impl), task, rub)
    except NotImplementedError as e:
        return failed(task, "not_implemented", f"not implemented yet: {e or 'see the docstring'}")
    except ChallengeError as e:
        return failed(task, "error", str(e))
    except Exception as e:     # the student's own code: report it, never crash the grade
        return failed(task, "error", f"{type(e).__name__}: {e}")


def _band_lines(result: QualityResult, task: TaskRubric, rub: Rubric) -> QualityResult:
    """Say on each quality line where its band holds: the hidden set's band where the course
    file carries it (a fixed band for the course corpus, as `challenge release` ships it)."""
    for c, band in zip(result.components, (b for b in (task.quality, task.bonus) if b)):
        c["on_hidden"] = band.fixed and (task.name != "spam"
                                         or band.corpus in ("", rub.hidden.spam_corpus))
        if c.get("noise") is None and c.get("value") is not None and c["metric"] in SORTER_NOISE:
            n = result.metrics.get(SORTER_NOISE[c["metric"]]) or 0
            p = float(c["value"])
            c["noise"] = round((p * (1 - p) / n) ** 0.5, 6) if n else None   # binomial sd
    return result


def _spam(task: TaskRubric, data: SpamSet, checkpoint: Path, impl: str) -> QualityResult:
    from challenge.tasks.spam_predict import predict_messages

    scores, threshold = predict_messages(checkpoint, data.messages, impl=impl)
    scores = scores.double().tolist()
    result = spam_quality(task, data, scores, float(threshold))[0]
    for c in result.components:      # the dev set's own noise, to read the points against
        c["noise"] = bootstrap_sd(data.labels, scores, float(threshold), c["metric"], seed=0)
    return result


def _sorter(task: TaskRubric, data: SorterSet, checkpoint: Path, impl: str) -> QualityResult:
    """The sorter decoded as the grader does: generate's default cap (the contract) for the
    in-range measure; only the longer sequences get ``max_len`` = the longest of them."""
    from challenge.data.sequences import PAD_ID, encode_values
    from challenge.tasks.sorter import load_sorter

    model = load_sorter(checkpoint, impl=impl)[0]
    long_cap = max((len(v) for v, long in zip(data.inputs, data.long) if long), default=0)
    rows: list[list[int] | None] = [None] * len(data.inputs)
    with torch.no_grad():
        for long in (False, True):
            index = [i for i, flag in enumerate(data.long) if flag == long]
            for start in range(0, len(index), SORT_BATCH):
                chunk = index[start:start + SORT_BATCH]
                lengths = torch.tensor([len(data.inputs[i]) for i in chunk], dtype=torch.long)
                src = torch.full((len(chunk), int(lengths.max())), PAD_ID, dtype=torch.long)
                for row, i in enumerate(chunk):
                    src[row, :len(data.inputs[i])] = torch.tensor(encode_values(data.inputs[i]),
                                                                  dtype=torch.long)
                cap = {"max_len": long_cap} if long else {}
                for i, ids in zip(chunk, model.generate(src, lengths, **cap).long().tolist()):
                    rows[i] = ids
    result = sorter_metrics(task, data, rows)[0]
    result.notes.append("in-range sequences decoded as the contract says, with generate's "
                        "default cap (each row's own length)" + (
                            f"; longer sequences (the length-generalisation measure) with "
                            f"max_len={long_cap}, so the model must stop itself"
                            if long_cap else ""))
    return result
