"""The leaderboard's room: the store (one SQLite file), ranking with bootstrap ties, exports
(terminal, CSV gradebook, Markdown, an HTML page for a class), and student names. Parent-only:
nothing here is visible to the sandboxed child."""
