"""A time limit for student code run in this process (``challenge check``, ``challenge
submit``): SIGALRM interrupts it, so an endless loop becomes a message instead of a hang.

The grader does not rely on this: it runs each submission in a child process it can kill.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time


class TooLong(BaseException):
    """Raised into student code when its time is up (a BaseException, so that the student's own
    ``except Exception`` cannot swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str = "", notice_after: float = 5.0):
    """Interrupt the code inside after ``seconds`` with :class:`TooLong` (POSIX, main thread;
    elsewhere no limit); after ``notice_after`` seconds, say on stderr that ``what`` is still
    running. Pure-Python loops stop at once, a long torch call when it returns."""
    usable = (seconds and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
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
