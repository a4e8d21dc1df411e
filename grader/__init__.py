"""Instructor side: checks, metrics and rubric, hidden sets, the isolated runner, the leaderboard."""
