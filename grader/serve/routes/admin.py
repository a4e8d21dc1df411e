"""The instructor's side: the admin page with its two forms (reveal the private board,
re-grade everything) and the same actions as JSON. Every route needs the instructor's token."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse

from grader.serve.routes.deps import (
    Caller,
    ServeState,
    instructor,
    instructor_api,
    instructor_form,
    serve_state,
)

views = APIRouter(prefix="/admin", dependencies=[Depends(instructor)])
api = APIRouter(prefix="/api/admin", dependencies=[Depends(instructor_api)])


@views.get("", response_class=HTMLResponse)
def admin_page(caller: Caller = Depends(instructor), state: ServeState = Depends(serve_state)):
    queue = state.queue
    return state.page("admin.html", ident=caller.ident, jobs=list(reversed(queue.jobs())),
                      counts=queue.counts_by_state(), csrf=state.csrf_for(caller),
                      status=state.status(), revealed=queue.setting("revealed") == "1",
                      students=len(state.tokens.students()))


@views.post("/reveal", dependencies=[Depends(instructor_form)])
def reveal_form(state: ServeState = Depends(serve_state)):
    state.queue.set_setting("revealed", "1")
    return RedirectResponse("/admin", status_code=303)


@views.post("/regrade", dependencies=[Depends(instructor_form)])
def regrade_form(state: ServeState = Depends(serve_state)):
    state.queue.regrade_all()
    return RedirectResponse("/admin", status_code=303)


@api.post("/reveal")
def reveal(state: ServeState = Depends(serve_state)):
    state.queue.set_setting("revealed", "1")
    return {"revealed": True}


@api.post("/regrade")
def regrade(state: ServeState = Depends(serve_state)):
    return {"queued": state.queue.regrade_all()}


@api.get("/board")
def board(part: str = "private", caller: Caller = Depends(instructor),
          state: ServeState = Depends(serve_state)):
    return state.board_view(caller.ident, "private" if part == "private" else "public")
