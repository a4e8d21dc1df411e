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
    from challenge.cli.trace import DEVICES
    from challenge.device import DEVICES as TORCH_DEVICES
    assert DEVICES == TORCH_DEVICES
    from challenge.cli.train_spam import STUDENT_MINUTES
    from challenge.tasks.spam import STUDENT_MINUTES as TASK_MINUTES
    assert STUDENT_MINUTES == TASK_MINUTES
    from challenge.cli.train_spam import EMBEDDING_INITS
    from challenge.tasks.spam import EMBEDDING_INITS as TASK_INITS
    assert EMBEDDING_INITS == TASK_INITS


DATA_COMMANDS = r"""
import sys
from pathlib import Path
from click.testing import CliRunner
from challenge.cli import main
data = Path(sys.argv[1])
tsv = data.parent / "mine.tsv"
tsv.write_text("".join(f"{'spam' if i % 3 == 0 else 'ham'}\tmessage number {i} words\n"
                       for i in range(60)))
for args in (["--help"], ["data", "--help"],
             ["data", "import", "mine", str(tsv), "--format", "tsv"],
             ["data", "stats", "mine", "--json"],
             ["data", "split", "mine", "--seed", "0"],
             ["data", "fetch", "spam", "--from", str(data / "nowhere")]):
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data)] if args[0] == "data"
                                and args[-1] != "--help" else args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result)
print(sorted(m for m in ("torch", "sklearn", "pandas") if m in sys.modules))
"""


def test_the_data_commands_run_without_importing_torch(tmp_path):
    """import, stats, split and a failing fetch, each run through the CLI in one process."""
    out = subprocess.run([sys.executable, "-c", DATA_COMMANDS, str(tmp_path / "data")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "data" / "splits" / "mine" / "split.json").is_file()
