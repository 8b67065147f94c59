"""The one error type a user sees: a one-line message, exit status 2, no traceback."""


class BugcasesError(Exception):
    """Something the user asked for cannot be done; the message says what and how to fix it."""

    exit_status = 2
