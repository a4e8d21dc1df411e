"""Text from submissions made safe to print on an instructor's terminal."""

from __future__ import annotations

import re

# Control characters (escape sequences, carriage returns, backspaces) and the invisible Unicode
# ones that reorder or hide text: check messages carry the student's exception text, and on a
# terminal these could clear the screen or print a fake score line.
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069"
                     "\ufeff]")


def printable(text: str) -> str:
    """``text`` with every control or invisible formatting character written as an escape
    (``\\x1b``, ``\\u202e``); newlines and tabs stay."""
    return _HIDDEN.sub(lambda m: ascii(m.group())[1:-1], text)


def one_line(text: str, limit: int = 600) -> str:
    """``text`` from a submission as one printable line of at most ``limit`` characters: line
    breaks become " / " (a message with a newline could print a fake ``100 / 100`` line of its
    own under the real table), control characters become escapes."""
    flat = " / ".join(part.strip() for part in re.split(r"[\r\n\u2028\u2029\x85]+", text)
                      if part.strip())
    flat = printable(flat)
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."
