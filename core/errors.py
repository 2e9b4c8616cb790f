"""One error family for everything a user can fix. Every entry point (the CLI, each page) catches
`LedgerlightError` and shows its message, which names what went wrong and the fix; anything else
is a bug, reported without a traceback."""

from __future__ import annotations


class LedgerlightError(Exception):
    """A problem the user can fix; the message says what and how."""


class DatabaseError(LedgerlightError):
    """A database file that cannot be used as it is; the message names the file and the fix."""


class SettingsError(LedgerlightError):
    """A missing or wrong setting; the message names it (never its value)."""


class SyncError(LedgerlightError):
    """A source that could not be read to the end; nothing was written. `kind` is the run it
    was ('full', 'incremental', ...) and `requests` what it had asked of the source, for the log."""

    def __init__(self, message: str, kind: str | None = None, requests: dict[str, int] | None = None):
        super().__init__(message)
        self.kind = kind
        self.requests = dict(requests or {})


class BooksError(LedgerlightError):
    """Books that cannot be loaded as they are: the record, the field and the fix are named."""


class InputError(LedgerlightError):
    """A request or a file that cannot be used as given. `problems` lists every problem found
    (for a file: the file, the row as a spreadsheet numbers it, the column and the fix); the
    message is the first of them."""

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        extra = len(self.problems) - 1
        more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra else ""
        super().__init__(self.problems[0] + more)


class AccessError(LedgerlightError):
    """Something the acting user's role does not allow; the message names the user, what they
    asked, the role it needs and where roles are given. Nothing was changed."""
