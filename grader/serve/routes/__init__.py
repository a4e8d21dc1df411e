"""The live challenge's routers, one per audience, composed by :func:`grader.serve.app.create_app`:
:mod:`.session` (log in and out), :mod:`.student_pages`, :mod:`.student_api` (``challenge
submit --to``, ``challenge status --to``) and :mod:`.admin` (the instructor's views and API).
Who may call what, and the CSRF and Origin checks, are dependencies in :mod:`.deps`.
"""
