"""The one exception the library raises for user errors; the CLI turns it into a one-line message."""


class ChallengeError(Exception):
    """A user-facing error: the message names the bad input and the fix.

    The CLI prints ``Error: <message>`` and exits non-zero, without a traceback.
    """


class StudentCodeError(ChallengeError):
    """The student's own code raised while the kit ran it (a shape error in ``forward``, say).

    The message is a few lines: the error, the student's file and line first, the shapes of the
    tensors there. ``original`` keeps the exception with its full traceback for ``--traceback``.
    """

    def __init__(self, message: str, original: BaseException):
        super().__init__(message)
        self.original = original
