"""The instructor's side: the admin page (every submission, filtered by student and state, a
page at a time, exported as CSV; the live worker count) with its forms (reveal the private
board, hide it again, re-grade everything; each asks for a confirming tick; re-grade one
student's submissions, a button on each row) and the same
actions as JSON. The reveal is refused before the deadline unless forced. Every route needs the
instructor's token."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from grader.serve.routes.deps import (
    Caller,
    ServeState,
    instructor,
    instructor_api,
    instructor_form,
    serve_state,
)
from grader.serve.uploads import HTTPProblem
from grader.serve.views import deadline_view

PAGE = 50
EXPORTED = ("id", "student", "filename", "state", "submitted_at", "finished_at", "points",
            "max_points", "reason", "detail", "regrade_of")

views = APIRouter(prefix="/admin", dependencies=[Depends(instructor)])
api = APIRouter(prefix="/api/admin", dependencies=[Depends(instructor_api)])


@views.get("", response_class=HTMLResponse)
def admin_page(student: str = "", state_is: str = Query("", alias="state"), page: int = 1,
               caller: Caller = Depends(instructor), state: ServeState = Depends(serve_state)):
    queue = state.queue
    page = max(1, min(page, 10**6))
    jobs, total = queue.find(student=student[:100], state=state_is[:20], limit=PAGE,
                             offset=(page - 1) * PAGE)
    return state.page("admin.html", ident=caller.ident, jobs=jobs, total=total, page=page,
                      pages=max(1, -(-total // PAGE)), student=student, state_is=state_is,
                      counts=queue.counts_by_state(), csrf=state.csrf_for(caller),
                      status=state.status(), revealed=queue.setting("revealed") == "1",
                      students=len(state.tokens.students()),
                      deadline=deadline_view(state.config.deadline),
                      identical=state.review.notes())


@views.get("/jobs.csv")
def export(student: str = "", state_is: str = Query("", alias="state"), state: ServeState = Depends(serve_state)):
    """Every matching submission as CSV (cells a spreadsheet would run as a formula are
    quoted: file names and reasons come from students)."""
    jobs, _ = state.queue.find(student=student[:100], state=state_is[:20], limit=10**9)
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(EXPORTED)
    for job in jobs:
        out.writerow([_cell(getattr(job, c)) for c in EXPORTED])
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="submissions.csv"'})


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def reveal_now(state: ServeState, force: bool) -> None:
    """Reveal the private board; before the deadline only when ``force`` (409 otherwise)."""
    deadline = state.config.deadline
    if deadline is not None and datetime.now(timezone.utc) < deadline and not force:
        raise HTTPProblem(409, f"the deadline ({deadline.isoformat()}) has not passed: students "
                               f"are still submitting; reveal with force to do it anyway")
    state.queue.set_setting("revealed", "1")


def _confirmed(form) -> None:
    if str(form.get("confirm", "")) != "yes":
        raise HTTPProblem(400, "tick the box to confirm, then press the button again")


@views.post("/reveal")
def reveal_form(form=Depends(instructor_form), state: ServeState = Depends(serve_state)):
    _confirmed(form)
    reveal_now(state, str(form.get("force", "")) == "yes")
    return RedirectResponse("/admin", status_code=303)


@views.post("/unreveal", dependencies=[Depends(instructor_form)])
def unreveal_form(state: ServeState = Depends(serve_state)):
    state.queue.set_setting("revealed", "0")
    return RedirectResponse("/admin", status_code=303)


@views.post("/regrade")
def regrade_form(form=Depends(instructor_form), state: ServeState = Depends(serve_state)):
    _confirmed(form)
    state.queue.regrade_all()
    return RedirectResponse("/admin", status_code=303)


def regrade_one(state: ServeState, student: str) -> int:
    """Queue ``student``'s stored submissions again under the current rubric (404 for a
    student with no token)."""
    if student not in state.tokens.students():
        raise HTTPProblem(404, f"no student {student[:40]!r} on this server's roster")
    return state.queue.regrade_all(student)


@views.post("/regrade/student")
def regrade_student_form(form=Depends(instructor_form), state: ServeState = Depends(serve_state)):
    student = str(form.get("student", "")) if form is not None else ""
    regrade_one(state, student)
    return RedirectResponse(f"/admin?student={quote(student)}", status_code=303)


@api.post("/reveal")
def reveal(force: bool = False, state: ServeState = Depends(serve_state)):
    reveal_now(state, force)
    return {"revealed": True}


@api.post("/unreveal")
def unreveal(state: ServeState = Depends(serve_state)):
    state.queue.set_setting("revealed", "0")
    return {"revealed": False}


@api.post("/regrade")
def regrade(student: str | None = None, state: ServeState = Depends(serve_state)):
    """Every stored submission again, or ``student``'s alone."""
    if student is not None:
        return {"queued": regrade_one(state, student), "student": student}
    return {"queued": state.queue.regrade_all()}


@api.get("/board")
def board(part: str = "private", caller: Caller = Depends(instructor),
          state: ServeState = Depends(serve_state)):
    """The board on ``part`` of the hidden set: public, private (the default) or whole."""
    return state.board_view(caller.ident, part)
