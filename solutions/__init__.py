"""Reference implementations of the student modules (never shipped to students)."""
