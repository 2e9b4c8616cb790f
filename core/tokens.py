"""Refresh tokens on disk: one 0600 file per connection, replaced atomically.

QuickBooks rotates the refresh token on every refresh and soon stops accepting the old one, so
the new token must be on disk before it is used: a crash between a refresh and the save would
strand the connection. A write goes to a temporary file in the same folder, is flushed to disk,
then renamed over the old file, so a reader sees the old token or the new one, never half.
Tokens never enter logs or messages: `TokenStore` has no repr of its contents.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from core.settings import settings


class TokenStore:
    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder else settings().token_folder()

    def _path(self, source: str, company_id: str) -> Path:
        return self.folder / f"{source}-{company_id}.json"

    def get(self, source: str, company_id: str) -> str | None:
        path = self._path(source, company_id)
        if not path.exists():
            return None
        return json.loads(path.read_text())["refresh_token"]

    def put(self, source: str, company_id: str, refresh_token: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        record = {"refresh_token": refresh_token, "saved_at": settings().now().isoformat()}
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".token-", suffix=".tmp")
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "w") as file:
                json.dump(record, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self._path(source, company_id))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def __repr__(self) -> str:
        return f"TokenStore({str(self.folder)!r})"
