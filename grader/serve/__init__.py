"""The live challenge (``challenge serve``): uploads over the web, a queue in the leaderboard's
SQLite file, grading on local worker processes or a Dask cluster, and the live boards.

Rooms: :mod:`.queue` (jobs, leases, tokens, settings in SQLite), :mod:`.tokens` (roster and
tokens), :mod:`.dispatch` (the loop that leases jobs, hands them to a grading engine of
:mod:`grader.engines` and records the reports), :mod:`.app` (composes the routers of
:mod:`.routes`: the web pages and the JSON API) and :mod:`.server` (``serve()``: all of it in
one process).
"""
