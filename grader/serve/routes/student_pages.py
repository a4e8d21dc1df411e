"""The student's browser pages: their submissions with an upload box, each report, and the
board. Every page is a Jinja2 template with autoescaping, so what students wrote is text."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from grader.serve.routes.deps import (
    Caller,
    ServeState,
    serve_state,
    signed_in,
    upload_form,
)

router = APIRouter()


@router.get("/me", response_class=HTMLResponse)
def me(caller: Caller = Depends(signed_in), state: ServeState = Depends(serve_state)):
    ident = caller.ident
    if ident.instructor:
        return RedirectResponse("/admin", status_code=303)
    jobs = state.queue.jobs(ident.student)
    return state.page("student.html", ident=ident, jobs=list(reversed(jobs)),
                      csrf=state.csrf_for(caller),
                      pending=any(j.state in ("queued", "running") for j in jobs),
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
    return state.page("report.html", job=state.own_job(caller.ident, job_id), ident=caller.ident,
                      csrf=state.csrf_for(caller))


@router.get("/board", response_class=HTMLResponse)
def board_page(part: str | None = None, caller: Caller = Depends(signed_in),
               state: ServeState = Depends(serve_state)):
    return state.page("board.html", board=state.board_view(caller.ident, part), ident=caller.ident,
                      csrf=state.csrf_for(caller))
