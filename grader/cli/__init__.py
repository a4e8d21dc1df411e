"""The instructor's commands, joined to the ``challenge`` command line through the entry-point
group ``challenge.commands`` (see pyproject.toml): they exist where grader/ is installed (the
instructor's kit) and nowhere else (the student bundle has no grader/)."""

from __future__ import annotations

import click


def register(main: click.Group) -> None:
    """Add the instructor's commands to ``main``, and their options to ``grade`` and ``status``."""
    from challenge.cli import extend
    from grader.cli import board, grade, release, serve, term

    for module in (grade, release, board, serve, term):
        for command in module.COMMANDS:
            main.add_command(command)
    main.add_command(extend(main.commands["grade"], grade.instructor_options,
                            grade.instructor_grade, wants=grade.wants_grader))
    main.add_command(extend(main.commands["status"], serve.admin_options,
                            serve.instructor_status))
