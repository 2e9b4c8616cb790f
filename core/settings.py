"""The one place ledgerlight reads its settings: environment variables first, then
`.streamlit/secrets.toml` (git-ignored), and the clock.

Time is an input: `LEDGERLIGHT_TODAY` (YYYY-MM-DD) sets the date the whole product takes as
today (the demo's last day, a sync's report date, the default as-of date, CDC's 30-day window,
a roster's date); without it the system date counts. Secrets are read here and handed to the
code that needs them; this module never prints or logs a value.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Mapping

from core.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"
DEFAULT_DB_PATH = PROJECT_ROOT / "data" / "ledgerlight.duckdb"
DEFAULT_TOKEN_DIR = PROJECT_ROOT / "data" / "tokens"


class Settings:
    """Settings as they stand now. Built fresh where needed, so a changed environment counts."""

    def __init__(self, environ: Mapping[str, str] | None = None, secrets_file: Path | None = SECRETS_FILE):
        self._environ = os.environ if environ is None else environ
        self._secrets_file = secrets_file

    def _secrets(self) -> dict:
        path = self._secrets_file
        if not path or not path.exists():
            return {}
        try:
            return tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path} is not valid TOML ({exc}); fix or remove it") from None

    def get(self, name: str) -> str | None:
        """A setting's value, stripped, or None when it is not set (or blank)."""
        value = self._environ.get(name) or self._secrets().get(name)
        text = str(value).strip() if value is not None else ""
        return text or None

    def present(self, names) -> dict[str, bool]:
        """Which of `names` are set: for showing a configuration without its values."""
        secrets = self._secrets()
        return {name: bool(str(self._environ.get(name) or secrets.get(name) or "").strip()) for name in names}

    def today(self) -> date:
        text = self.get("LEDGERLIGHT_TODAY")
        if text is None:
            return date.today()
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise SettingsError(f"LEDGERLIGHT_TODAY={text!r} is not a date: use YYYY-MM-DD, or unset it") from None

    def now(self) -> datetime:
        """Now in UTC (naive): today's date from `today()` with the wall clock's time of day, so
        run records stay in order while the date follows LEDGERLIGHT_TODAY."""
        wall = datetime.now(timezone.utc).replace(tzinfo=None)
        if self.get("LEDGERLIGHT_TODAY") is None:
            return wall
        return datetime.combine(self.today(), wall.time())

    def database_path(self, explicit: str | os.PathLike | None = None) -> Path:
        """The file to use: an explicit path, else LEDGERLIGHT_DB, else data/ledgerlight.duckdb."""
        return Path(explicit or self.get("LEDGERLIGHT_DB") or DEFAULT_DB_PATH).expanduser()

    def lock_wait(self, default: float) -> float:
        """Seconds to wait for another process to let go of the database (LEDGERLIGHT_LOCK_WAIT),
        else `default` (a reader waits 10 s, a run's write 60 s, a run for another run 120 s)."""
        text = self.get("LEDGERLIGHT_LOCK_WAIT")
        if text is None:
            return default
        try:
            seconds = float(text)
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= 3600:
            raise SettingsError(f"LEDGERLIGHT_LOCK_WAIT={text!r} is not a number of seconds from 0 to 3600")
        return seconds

    def token_folder(self) -> Path:
        return Path(self.get("LEDGERLIGHT_TOKENS") or DEFAULT_TOKEN_DIR).expanduser()

    def __repr__(self) -> str:  # never show values
        return "Settings()"


def settings() -> Settings:
    return Settings()


def today() -> date:
    """The product's today (see the module docstring)."""
    return settings().today()
