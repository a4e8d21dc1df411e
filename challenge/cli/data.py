"""CLI commands (placeholder: filled in by its issue)."""

COMMANDS: list = []
