"""CLI: the student's ``challenge check`` and ``challenge submit``."""

from __future__ import annotations

import json

import click


@click.command()
@click.argument("part", required=False)
@click.option("--impl", default="challenge", show_default=True,
              help="Whose modules to check: 'challenge' (yours), 'solutions' (the reference, "
                   "instructors only) or a folder of modules.")
@click.option("--seed", default=0, show_default=True, help="Seed of the checks' random inputs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--verbose", "-v", is_flag=True,
              help="List the passed checks too, and under each failed check a Python snippet "
                   "that runs it again on your module.")
@click.option("--device", default="cpu", show_default=True,
              help="auto|cpu|cuda|mps: where the checks of the model parts (spam_model, "
                   "sorter_model, lstm_cell) run; the same checks and tolerances as on the CPU.")
def check(part: str | None, impl: str, seed: int, as_json: bool, verbose: bool,
          device: str) -> None:
    """Run the public checks of PART (default: every part) on your modules.

    Prints, per part, the checks passed, the points and the message of each failed check
    (a stub not written yet says "not implemented yet: <hint>"). The exit code is 0 whenever
    the checks ran, even if some failed: failing checks are feedback, not a crash. It is
    non-zero only for a usage error such as an unknown PART.
    """
    from challenge import (
        student as student_lib,  # imports torch: only when this command runs
    )

    report = student_lib.check(part, impl=impl, seed=seed, verbose=verbose, device=device)
    click.echo(json.dumps(report.to_dict()) if as_json else report.summary())


@click.command()
@click.option("--student", default=None,
              help="Your name as the course knows it (letters, digits, - _ .); default: "
                   "$CHALLENGE_STUDENT, else your login name.")
@click.option("--out", default="submission.zip", show_default=True, type=click.Path(),
              help="Where to write the submission zip (replaced atomically).")
@click.option("--spam-checkpoint", default=None, type=click.Path(),
              help="Your spam checkpoint; default: where `challenge train spam --impl IMPL` "
                   "saves it (IMPL as given to --impl). Missing: the spam quality part scores "
                   "zero.")
@click.option("--sorter-checkpoint", default=None, type=click.Path(),
              help="Your sorter checkpoint; default: where `challenge train sorter --impl "
                   "IMPL` saves it (IMPL as given to --impl). Missing: the sorter quality part "
                   "scores zero.")
@click.option("--impl", default="challenge", show_default=True,
              help="Whose modules to pack: 'challenge' (yours) or a folder of modules.")
@click.option("--to", "url", default=None,
              help="Also upload it to the challenge server at this address (live challenge).")
@click.option("--token", default=None, help="With --to: your token (default: $CHALLENGE_TOKEN).")
@click.option("--file", "upload_file", default=None, type=click.Path(dir_okay=False),
              help="With --to: upload this file (e.g. your predictions .csv) instead of packing.")
def submit(student: str | None, out: str, spam_checkpoint: str | None,
           sorter_checkpoint: str | None, impl: str, url: str | None, token: str | None,
           upload_file: str | None) -> None:
    """Pack your modules, your checkpoints and a manifest into a submission zip (and with
    --to, upload it; `challenge status --to` then shows how it went)."""
    from challenge import submit as submit_lib
    from challenge.errors import ChallengeError

    if upload_file and not url:
        raise ChallengeError("--file uploads a file to a challenge server: pass --to URL too")
    if not upload_file:
        result = submit_lib.submit(student=student, out=out, spam_checkpoint=spam_checkpoint,
                                    sorter_checkpoint=sorter_checkpoint, impl=impl)
        click.echo(result.summary())
    if url:
        from challenge import remote

        sent = remote.upload(url, token, upload_file or out)
        click.echo(f"uploaded {upload_file or out} as submission #{sent['id']} of "
                   f"{sent['student']} ({sent['state']}); see it with: challenge status --to {url}")


COMMANDS: list = [check, submit]
