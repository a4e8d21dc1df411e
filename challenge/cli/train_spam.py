"""CLI: ``challenge train spam`` and ``challenge baseline`` (placeholder: filled in by the spam issue)."""

SPAM_COMMANDS: list = []
BASELINE_COMMANDS: list = []
