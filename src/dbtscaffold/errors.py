"""The one exception type meant for users."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix: printed as one line, exit code 1, no traceback."""

    def __init__(self, message: str, hint: str | None = None, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def line(self) -> str:
        """The single line shown to the user: what is wrong, then what to do."""
        text = " ".join(self.message.split("\n"))
        if self.hint:
            text = f"{text} {self.hint}"
        return text
