"""The CLI starts without torch: `challenge data ...` and `--help` stay quick on a laptop."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_cli_does_not_import_torch_or_sklearn():
    code = ("import sys, challenge.cli; "
            "print(sorted(m for m in ('torch', 'sklearn', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_choices_match_the_tasks():
    from challenge.cli.train_sorter import ARCHS
    from challenge.tasks.sorter import ARCHS as TASK_ARCHS

    assert ARCHS == TASK_ARCHS
    from challenge.cli.train_spam import PRECISIONS
    from challenge.tasks.spam_predict import PRECISIONS as TASK_PRECISIONS
    assert PRECISIONS == TASK_PRECISIONS
    from challenge.cli.train_spam import EMBEDDING_INITS
    from challenge.tasks.spam import EMBEDDING_INITS as TASK_INITS
    assert EMBEDDING_INITS == TASK_INITS
