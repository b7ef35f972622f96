"""The one exception type that the error boundary in app.py turns into a clean message.

Exit codes (README.md, "How genai behaves"): 0 success, 1 runtime failure, 2 bad input or usage, 130 interrupted.
"""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class GenaiError(Exception):
    """An error the user can act on: a one-line message, an optional hint, an exit code."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int = EXIT_FAILURE):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


class UsageError(GenaiError):
    """Bad input: a value the user gave is wrong (exit code 2)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message, hint, EXIT_USAGE)


def shorten(value: object, limit: int = 60) -> str:
    """`repr(value)` cut to about `limit` characters, for echoing user input in a message
    (a 100 KB word must not come back whole)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 12]}...{text[-6:]} ({len(str(value))} characters)"
