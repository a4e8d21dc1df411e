"""CLI: ``challenge train sorter`` (placeholder: filled in by the sorter issue)."""

SORTER_COMMANDS: list = []
