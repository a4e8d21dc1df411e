"""The live challenge (``challenge serve``): uploads over the web, a queue in the leaderboard's
SQLite file, grading on local worker processes or a Dask cluster, and the live boards.

Rooms: :mod:`.queue` (jobs, leases, tokens, settings in SQLite), :mod:`.tokens` (roster and
tokens), :mod:`.engines` (where a grade runs: local processes or Dask), :mod:`.dispatch` (the
loop that leases jobs, hands them to an engine and records the reports), :mod:`.app` (the web
pages and the JSON API), :mod:`.server` (``serve()``: all of it in one process) and
:mod:`.dask_grade` (the folder grade on Dask).
"""
