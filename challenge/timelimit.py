"""A time limit for code run in this process (student code in ``challenge check`` and
``challenge submit``; the grader's verify of a reply): SIGALRM interrupts it in the main thread,
and in any other thread (a Dask worker judges in one) a timer raises :class:`TooLong` into that
thread, so an endless loop becomes a message instead of a hang.

The grader does not rely on this for student code: it runs each submission in a child process
it can kill.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys
import threading
import time


class TooLong(BaseException):
    """Raised into student code when its time is up (a BaseException, so that the student's own
    ``except Exception`` cannot swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str = "", notice_after: float = 5.0):
    """Interrupt the code inside after ``seconds`` with :class:`TooLong` (SIGALRM in the main
    thread, a timer in any other); in the main thread, after ``notice_after`` seconds, say on stderr that ``what`` is still
    running. Pure-Python loops stop at once, a long torch call when it returns."""
    if not seconds:
        yield
        return
    if threading.current_thread() is not threading.main_thread() or \
            not hasattr(signal, "setitimer"):
        with _thread_limit(seconds):
            yield
        return
    start = time.monotonic()

    def alarm(signum, frame):
        left = seconds - (time.monotonic() - start)
        if left > 0.01:                                  # the notice: say so, then wait on
            print(f"  {what} still running after {time.monotonic() - start:.0f} s (stopped at "
                  f"{seconds:g} s)...", file=sys.stderr, flush=True)
            signal.setitimer(signal.ITIMER_REAL, left)
            return
        raise TooLong()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, min(notice_after, seconds) if what else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               ctypes.py_object(exc) if exc else None)


@contextlib.contextmanager
def _thread_limit(seconds: float):
    """:func:`time_limit` outside the main thread: a timer raises :class:`TooLong` into this
    thread (at its next bytecode, as a signal handler would) unless the block ended first; one
    that fired as the block ended is cleared, so nothing arrives later."""
    thread_id, lock, state = threading.get_ident(), threading.Lock(), {"inside": True,
                                                                       "fired": False}

    def fire() -> None:
        with lock:
            if state["inside"]:
                state["fired"] = True
                _raise_in(thread_id, TooLong)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            state["inside"] = False
            timer.cancel()
            if state["fired"]:
                _raise_in(thread_id, None)          # not raised yet: never raise it later
