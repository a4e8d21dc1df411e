"""The one exception the library raises for user errors; the CLI turns it into a one-line message."""


class ChallengeError(Exception):
    """A user-facing error: the message names the bad input and the fix.

    The CLI prints ``Error: <message>`` and exits non-zero, without a traceback.
    """
