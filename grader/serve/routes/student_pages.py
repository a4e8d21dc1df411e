"""The student's browser pages: their submissions with an upload box (while the challenge is
open), where each waiting one stands, each report, their rank, and the board. Every page is a
Jinja2 template with autoescaping, so what students wrote is text; pages run no script, so
times and estimates are computed here and the page refreshes itself while one is pending."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from grader.serve.routes.deps import (
    Caller,
    ServeState,
    serve_state,
    signed_in,
    student_form,
    upload_form,
)
from grader.serve.views import own_deadline, progress, web_board

router = APIRouter()


@router.get("/me", response_class=HTMLResponse)
def me(caller: Caller = Depends(signed_in), state: ServeState = Depends(serve_state)):
    ident = caller.ident
    if ident.instructor:
        return RedirectResponse("/admin", status_code=303)
    jobs = list(reversed(state.queue.jobs(ident.student)))
    return state.page("student.html", ident=ident, jobs=jobs, csrf=state.csrf_for(caller),
                      pending=any(j.state in ("queued", "running") for j in jobs),
                      progress=progress(state.queue, jobs, state.config.workers),
                      deadline=own_deadline(state.config, ident.student, state.queue.extensions()),
                      board=web_board(state.board_view(ident), ident.student),
                      used=state.queue.used_today(ident.student), config=state.config)


@router.post("/me/upload")
async def upload(caller: Caller = Depends(signed_in), form=Depends(upload_form),
                 state: ServeState = Depends(serve_state)):
    # hashing, fsync and the queue's transaction off the event loop: other uploads go on
    await run_in_threadpool(state.desk.store, caller.ident, form.get("file"))
    return RedirectResponse("/me", status_code=303)


@router.get("/me/submissions/{job_id}", response_class=HTMLResponse)
def report_page(job_id: str, caller: Caller = Depends(signed_in),
                state: ServeState = Depends(serve_state)):
    job = state.own_job(caller.ident, job_id)
    return state.page("report.html", job=job, ident=caller.ident, csrf=state.csrf_for(caller),
                      progress=progress(state.queue, [job], state.config.workers))


@router.post("/me/submissions/{job_id}/final")
def final_form(job_id: str, caller: Caller = Depends(signed_in), form=Depends(student_form),
               state: ServeState = Depends(serve_state)):
    on = form is None or str(form.get("on", "yes")) == "yes"
    state.mark_final(caller.ident, job_id, on)
    return RedirectResponse("/me", status_code=303)


@router.get("/board", response_class=HTMLResponse)
def board_page(part: str | None = None, caller: Caller = Depends(signed_in),
               state: ServeState = Depends(serve_state)):
    board = web_board(state.board_view(caller.ident, part), caller.ident.student)
    return state.page("board.html", board=board, ident=caller.ident, csrf=state.csrf_for(caller))
