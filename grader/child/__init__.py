"""The child's room: every line of the grader that runs beside student code, and nothing else.

The sandbox (:mod:`grader.sandbox`) shows the child exactly this folder of the grader (with the
public checks' run steps in ``challenge/checks/`` and the kit's runtime modules), read-only. Nothing
here decides a grade: the child calls the student's functions on inputs the grader chose and
sends back plain data (:mod:`grader.child.wire`) that the grader validates and judges itself.
Review it as attack surface.
"""
