"""The folder grade on a Dask distributed cluster: ``challenge grade --hidden SUBS/ --dask ADDRESS``.

The same plan as :func:`grader.batch.grade_many` (names checked, stored rows skipped, so a
re-run resumes), the same grade function and isolation, but each submission is one Dask task:
its bytes travel to whichever worker is free, and only this process writes the leaderboard.
Every worker needs the kit installed and the hidden sets in its data folder (the same secret
makes the same sets: run ``challenge hidden make`` there with the instructor's secret file).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable

from challenge.progress import bar
from grader import batch
from grader.board.leaderboard import Leaderboard
from grader.serve.engines import connect, grade_bytes_task


def grade_many_dask(paths: str | Path | Iterable[str | Path], *, address: str,
                    db: str | Path | None = None, grade_fn: Callable | None = None,
                    grade_kwargs: dict | None = None, rubric_hash: str | None = None,
                    inflight: int | None = None,
                    roster: dict[str, str] | None = None) -> batch.BatchResult:
    """Grade a folder (or a list) of submissions on the cluster at ``address`` into ``db``.

    At most ``inflight`` submissions travel at once (default: twice the cluster's threads), so a
    large class does not sit in memory. A task Dask gives up on (its workers kept dying) or one
    whose grader raised is a grader error: listed in ``crashed``, nothing stored.
    """
    from distributed import as_completed

    if isinstance(paths, (str, Path)):
        files = (batch.collect_submissions(paths) if Path(paths).is_dir() or not Path(paths).suffix
                 else [Path(paths)])
    else:
        files = [Path(p) for p in paths]
    kwargs = dict(grade_kwargs or {})
    rubric_hash = rubric_hash if rubric_hash is not None else batch._default_rubric_hash(kwargs)
    start = time.perf_counter()
    client = connect(address)
    try:
        with Leaderboard(db) as store:
            if grade_fn is None:
                grade_fn = batch.grade_hidden
                hidden = True
            else:
                hidden = False
            result = batch.BatchResult(store.path)
            todo = batch.plan(files, store.graded_keys(), rubric_hash, result, roster)
            if todo and hidden:
                from grader.hidden import require_hidden_sets
                require_hidden_sets(kwargs.get("data_dir"))
            limit = inflight or 2 * max(1, sum(client.nthreads().values()))
            waiting = list(reversed(todo))
            running: dict = {}

            def send():
                item = waiting.pop()
                future = client.submit(grade_bytes_task, grade_fn, item.path.name,
                                       item.path.read_bytes(), kwargs, pure=False)
                running[future.key] = item
                return future

            first = [send() for _ in range(min(limit, len(waiting)))]
            pool = as_completed(first, loop=client.loop) if first else []
            with bar(total=len(todo), desc="grading on dask", unit="sub") as progress:
                for future in pool:
                    item = running.pop(future.key)
                    try:
                        report = future.result()["report"]
                    except Exception as e:   # KilledWorker, or the grader's own error
                        result.crashed.append((item.path.name, f"{type(e).__name__}: {e}"))
                    else:
                        batch._record(store, report, item, result, rubric_hash)
                    progress.update(1)
                    if waiting:
                        pool.add(send())
    finally:
        client.close()
    result.seconds = time.perf_counter() - start
    return result

