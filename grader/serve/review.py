"""Evidence for the instructor's page: students whose stored uploads hold a byte-identical
module (the folder grade's REVIEW lines, :func:`grader.similarity.identical_notes`). Each
stored file is read once (its name is unique and it never changes); the student is the
uploader, never a name inside the zip or the file's own name. Shown on /admin only: it is
evidence for a person to judge, never a grade, and never on a page a student can reach."""

from __future__ import annotations

import threading
from pathlib import Path

from grader.serve.queue import JobQueue
from grader.similarity import identical_notes, module_digests


class IdenticalReview:
    """The byte-identical modules among the uploads of ``queue`` kept in ``uploads``."""

    def __init__(self, queue: JobQueue, uploads: Path):
        self.queue, self.uploads = queue, Path(uploads)
        self._digests: dict[str, dict[str, str]] = {}   # stored name -> module digests
        self._lock = threading.Lock()

    def notes(self) -> list[str]:
        """One line per shared module: the students and the module's path."""
        found = []
        for job in self.queue.jobs():
            if job.regrade_of is not None or not job.stored.lower().endswith(".zip"):
                continue   # a regrade shares its upload's file; a CSV holds no code
            found.append((job.student, self._of(job.stored)))
        return identical_notes(found)

    def _of(self, stored: str) -> dict[str, str]:
        with self._lock:
            if stored not in self._digests:
                path = self.uploads / stored
                self._digests[stored] = module_digests(path) if path.is_file() else {}
            return self._digests[stored]
