"""Where many grades run: one engine interface (:mod:`.base`) with two implementations, local
worker processes (:mod:`.local`) and a Dask distributed cluster (:mod:`.cluster`).

Both callers, the folder grade (:func:`grader.batch.grade_many`) and the live server's
dispatcher (:class:`grader.serve.dispatch.Dispatcher`), open theirs with :func:`open_engine`.
"""

from __future__ import annotations

from grader.engines.base import Engine, Work


def open_engine(work: Work, *, workers: int = 2, dask: str | None = None) -> Engine:
    """The Dask engine on the scheduler at ``dask`` when given, else ``workers`` local
    processes; each grades with ``work``."""
    if dask:
        from grader.engines.cluster import (
            DaskEngine,  # distributed is an optional extra
        )
        return DaskEngine(work, dask)
    from grader.engines.local import LocalEngine
    return LocalEngine(work, workers)
