"""The JSON API that ``challenge submit --to`` and ``challenge status --to`` speak: upload, the
caller's submissions with the board, and one report. The instructor's token sees every
submission, with the grader's own error text."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from grader.serve.routes.deps import (
    Caller,
    ServeState,
    serve_state,
    signed_in,
    student_form,
    upload_form,
)
from grader.serve.views import own_deadline

router = APIRouter(prefix="/api")


@router.post("/submissions", status_code=201)
async def submit(caller: Caller = Depends(signed_in), form=Depends(upload_form),
                 state: ServeState = Depends(serve_state)):
    job_id = await run_in_threadpool(state.desk.store, caller.ident, form.get("file"))
    return {"id": job_id, "state": "queued", "student": caller.ident.student}


@router.get("/status")
def status(board: bool = True, caller: Caller = Depends(signed_in),
           state: ServeState = Depends(serve_state)):
    ident, config = caller.ident, state.config
    jobs = state.queue.jobs(None if ident.instructor else ident.student)
    return {"student": ident.student, "role": ident.role,
            "submissions": [j.public() | ({"student": j.student, "detail": j.detail}
                                          if ident.instructor else {}) for j in jobs],
            "used_today": state.queue.used_today(ident.student), "daily_limit": config.daily_limit,
            "deadline": config.deadline.isoformat() if config.deadline else None,
            "your_deadline": own_deadline(config, ident.student, state.queue.extensions()),
            "board": state.board_view(ident) if board else None}


@router.get("/submissions/{job_id}")
def report(job_id: str, caller: Caller = Depends(signed_in),
           state: ServeState = Depends(serve_state)):
    job = state.own_job(caller.ident, job_id)
    return {**job.public(), "report": job.summary}


@router.post("/submissions/{job_id}/final")
def final(job_id: str, on: bool = True, caller: Caller = Depends(signed_in),
          form=Depends(student_form), state: ServeState = Depends(serve_state)):
    """Mark (``on``) or unmark a graded submission as one that counts for the private board."""
    state.mark_final(caller.ident, job_id, on)
    return {"id": int(job_id), "final": on}
