"""Refresh tokens on disk: one 0600 file per connected company, in a 0700 folder, replaced atomically.

Sources such as QuickBooks rotate the refresh token on every refresh and soon stop accepting the
old one, so the new token must be on disk before it is used: a write goes to a temporary file in
the same folder, is flushed to disk, then renamed over the old file, so a reader sees the old
record or the new one, never half. Each record keeps the token it replaced (`previous`): if the new one is refused (a crash lost the
one the source rotated to after it), the old one is tried once. Tokens
never enter logs or messages: nothing here has a repr of its contents.

A sign-in in progress is kept too (`pending`): the OAuth `state` a sign-in link carried, so the
redirect that comes back can be checked against it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from filelock import FileLock, Timeout

from core.errors import SettingsError, SyncError
from core.settings import settings


@dataclass(frozen=True)
class Connection:
    """What the token file says about one connected company (never the tokens themselves)."""

    source: str
    company_id: str
    saved_at: datetime | None
    expires_at: datetime | None  # when the refresh token lapses if it is not used before then

    def days_left(self, today) -> int | None:
        return None if self.expires_at is None else (self.expires_at.date() - today).days

    def describe(self, today) -> str:
        saved = f"saved {self.saved_at:%d %b %Y}" if self.saved_at else "saved"
        left = self.days_left(today)
        if left is None:
            return f"The refresh token was {saved}."
        if left < 0:
            return f"The refresh token was {saved} and lapsed on {self.expires_at:%d %b %Y}: reconnect."
        return (f"The refresh token was {saved}; unless a sync uses it, it lapses on {self.expires_at:%d %b %Y} "
                f"({left} days from now).")


class TokenStore:
    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder else settings().token_folder()

    def _path(self, source: str, company_id: str) -> Path:
        return self.folder / f"{source}-{company_id}.json"

    def _read(self, path: Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None

    def _write(self, path: Path, record: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".token-", suffix=".tmp")
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "w") as file:
                json.dump(record, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, source: str, company_id: str) -> str | None:
        record = self._read(self._path(source, company_id))
        return record["refresh_token"] if record else None

    def previous(self, source: str, company_id: str) -> str | None:
        """The token the current one replaced."""
        record = self._read(self._path(source, company_id))
        return record.get("previous") if record else None

    def put(self, source: str, company_id: str, refresh_token: str, lasts_seconds: int | None = None) -> None:
        """Save a refresh token (valid `lasts_seconds` more if the source says), keeping the one it replaces."""
        path = self._path(source, company_id)
        old = self._read(path) or {}
        now = settings().now()
        keep = old.get("previous") if old.get("refresh_token") == refresh_token else old.get("refresh_token")
        record = {"refresh_token": refresh_token, "previous": keep, "saved_at": now.isoformat(),
                  "expires_at": (now + timedelta(seconds=lasts_seconds)).isoformat() if lasts_seconds else None}
        self._write(path, record)

    def connections(self, source: str | None = None) -> list[Connection]:
        """Every connected company, oldest file name first."""
        found = []
        for path in sorted(self.folder.glob("*.json")) if self.folder.exists() else []:
            name, _, company_id = path.stem.partition("-")
            record = self._read(path)
            if record is None or "refresh_token" not in record or (source and name != source):
                continue
            found.append(Connection(name, company_id, _moment(record.get("saved_at")), _moment(record.get("expires_at"))))
        return found

    @contextmanager
    def locked(self, source: str, company_id: str, tell: Callable[[str], None] = lambda text: None) -> Iterator[None]:
        """Hold the company's token for a refresh: two processes refreshing at once would both
        spend the same token, and the source refuses the second. Read the token inside. `tell`
        hears when this has to wait."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = FileLock(self.folder / f".{source}-{company_id}.lock")
        wait = settings().lock_wait(120.0)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            tell(f"Waiting for another run to finish refreshing the {source} token of company {company_id}")
            try:
                lock.acquire(timeout=wait)
            except Timeout:
                raise SyncError(f"another process has been refreshing the {source} token of company {company_id} "
                                f"for more than {wait:.0f} s; nothing was written: try again when it has finished") from None
        try:
            yield
        finally:
            lock.release()

    def only_connection(self, source: str, what: str, setting: str) -> str | None:
        """The one company of `source` connected so far (None for none); several must be chosen
        by `setting` (`what` names them in the message, e.g. 'QuickBooks companies')."""
        connected = [c.company_id for c in self.connections(source)]
        if len(connected) > 1:
            raise SettingsError(f"{what} {', '.join(connected)} are connected: choose one with {setting}")
        return connected[0] if connected else None

    def begin_sign_in(self, source: str, state: str) -> None:
        self._write(self.folder / f".{source}-sign-in.json", {"state": state, "started_at": settings().now().isoformat()})

    def sign_in_state(self, source: str) -> str | None:
        record = self._read(self.folder / f".{source}-sign-in.json")
        return record.get("state") if record else None

    def end_sign_in(self, source: str) -> None:
        (self.folder / f".{source}-sign-in.json").unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"TokenStore({str(self.folder)!r})"


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
