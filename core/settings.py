"""The one place ledgerlight reads its settings: environment variables first, then
`.streamlit/secrets.toml` (git-ignored; or the files STREAMLIT_SECRETS_FILES names, which Streamlit
reads too), and the clock.

Time is an input: `LEDGERLIGHT_TODAY` (YYYY-MM-DD) sets the date the whole product takes as
today (the demo's last day, a sync's report date, the default as-of date, CDC's 30-day window,
a roster's date); without it the system date counts. Secrets are read here and handed to the
code that needs them; this module never prints or logs a value.
"""

from __future__ import annotations

import getpass
import os
import time
import tomllib
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Mapping

from core.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"
DEFAULT_DB_PATH = PROJECT_ROOT / "data" / "ledgerlight.duckdb"
DEFAULT_TOKEN_DIR = PROJECT_ROOT / "data" / "tokens"
STREAMLIT_SECRETS = object()  # the secrets files Streamlit reads (see Settings.secrets_files)
# What Streamlit's st.login needs in [auth], and in each provider's section.
SIGN_IN_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
DEFAULT_SESSION_HOURS = 12.0
DEFAULT_CHROMIUM = Path("/usr/bin/chromium")  # Debian's


class Settings:
    """Settings as they stand now. Built fresh where needed, so a changed environment counts."""

    def __init__(self, environ: Mapping[str, str] | None = None, secrets_file: Path | None = STREAMLIT_SECRETS):
        self._environ = os.environ if environ is None else environ
        self._secrets_file = secrets_file

    def secrets_files(self) -> list[Path]:
        """Where secrets are read, later files winning: STREAMLIT_SECRETS_FILES (Streamlit's own
        setting, space-separated, so st.login's [auth] and ledgerlight's settings come from the
        same files), else .streamlit/secrets.toml."""
        if self._secrets_file is not STREAMLIT_SECRETS:
            return [self._secrets_file] if self._secrets_file else []
        listed = (self._environ.get("STREAMLIT_SECRETS_FILES") or "").split()
        return [Path(name).expanduser() for name in listed] or [SECRETS_FILE]

    def _secrets(self) -> dict:
        merged: dict = {}
        for path in self.secrets_files():
            if not path.exists():
                continue
            try:
                merged.update(tomllib.loads(path.read_text()))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise SettingsError(f"{path} is not valid TOML ({exc}); fix or remove it") from None
        return merged

    def get(self, name: str) -> str | None:
        """A setting's value, stripped, or None when it is not set (or blank)."""
        value = self._environ.get(name) or self._secrets().get(name)
        if isinstance(value, dict):
            raise SettingsError(f"{name} in the secrets file is a table; it takes one value")
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

    def chromium(self) -> Path:
        """The Chrome or Chromium the monthly review pack draws its charts and prints its PDF with:
        LEDGERLIGHT_CHROMIUM, else BROWSER_PATH (Kaleido's own setting), else Debian's /usr/bin/chromium."""
        return Path(self.get("LEDGERLIGHT_CHROMIUM") or self.get("BROWSER_PATH") or DEFAULT_CHROMIUM).expanduser()

    def token_folder(self) -> Path:
        return Path(self.get("LEDGERLIGHT_TOKENS") or DEFAULT_TOKEN_DIR).expanduser()

    # --- who may use the dashboard (core/access.py applies these) --------------------------------

    def sign_in_providers(self) -> list[str | None]:
        """The OpenID Connect providers st.login can use, from the [auth] section of the secrets
        file: None for one configured in [auth] itself, else each [auth.<name>] section's name.
        Empty when there is no [auth] section: no sign-in. An incomplete section is an error
        naming the keys it lacks (never their values)."""
        auth = self._secrets().get("auth")
        if auth is None:
            return []
        if not isinstance(auth, dict):
            raise SettingsError("auth in the secrets file must be a [auth] section (docs/deployment.md)")
        named = {name: section for name, section in auth.items()
                 if isinstance(section, dict) and any(key in section for key in PROVIDER_KEYS)}
        providers: dict[str | None, dict] = {**({None: auth} if "client_id" in auth else {}), **named}
        missing = [f"[auth] {key}" for key in SIGN_IN_KEYS if not str(auth.get(key) or "").strip()]
        if not providers:
            missing.append("a provider ([auth] client_id, client_secret, server_metadata_url)")
        for name, section in providers.items():
            heading = "[auth]" if name is None else f"[auth.{name}]"
            missing += [f"{heading} {key}" for key in PROVIDER_KEYS if not str(section.get(key) or "").strip()]
        if missing:
            raise SettingsError(f"sign-in is set up in part: the secrets file lacks {', '.join(missing)} "
                                "(docs/deployment.md)")
        return list(providers)

    def local_accounts(self) -> dict[str, str]:
        """LEDGERLIGHT_ACCOUNTS: accounts that sign in with a password, where there is no identity
        provider: a table in the secrets file only, account name (lower-cased) → its Argon2 hash
        (`python -m etl hash-password` makes one; a password itself is never stored)."""
        table = self._secrets().get("LEDGERLIGHT_ACCOUNTS", {})
        if not isinstance(table, dict):
            raise SettingsError("LEDGERLIGHT_ACCOUNTS in the secrets file must be a table: "
                                '[LEDGERLIGHT_ACCOUNTS] then lines like "jane" = "$argon2id$..."')
        wrong = [str(name) for name, value in table.items() if not str(value).startswith("$argon2")]
        if wrong:
            raise SettingsError(f"LEDGERLIGHT_ACCOUNTS: the password of {', '.join(wrong)} is not an Argon2 hash; "
                                "make one with `python -m etl hash-password`")
        return {str(name).strip().lower(): str(value) for name, value in table.items()}

    def roles(self) -> dict[str, str]:
        """LEDGERLIGHT_ROLES: e-mail address (or "@domain") → role, keys lower-cased. A table in the
        secrets file, or in the environment `owner@msp.example=admin, @msp.example=viewer`."""
        text = self._environ.get("LEDGERLIGHT_ROLES")
        if text and text.strip():
            pairs = [item.partition("=") for item in text.split(",") if item.strip()]
            wrong = [who for who, equals, role in pairs if not equals or not who.strip() or not role.strip()]
            if wrong:
                raise SettingsError(f"LEDGERLIGHT_ROLES: {wrong[0].strip()!r} is not EMAIL=ROLE; "
                                    "separate entries with commas")
            table = {who: role for who, _, role in pairs}
        else:
            table = self._secrets().get("LEDGERLIGHT_ROLES", {})
            if not isinstance(table, dict):
                raise SettingsError("LEDGERLIGHT_ROLES in the secrets file must be a table: "
                                    '[LEDGERLIGHT_ROLES] then lines like "owner@msp.example" = "admin"')
        return {str(who).strip().lower(): str(role).strip().lower() for who, role in table.items()}

    def default_role(self) -> str:
        """LEDGERLIGHT_DEFAULT_ROLE: the role of a signed-in user LEDGERLIGHT_ROLES does not name
        (default "none": refused)."""
        return (self.get("LEDGERLIGHT_DEFAULT_ROLE") or "none").lower()

    def session_hours(self) -> float:
        """LEDGERLIGHT_SESSION_HOURS: how long a sign-in lasts (default 12; 0: until Streamlit's own
        30-day cookie ends)."""
        text = self.get("LEDGERLIGHT_SESSION_HOURS")
        if text is None:
            return DEFAULT_SESSION_HOURS
        try:
            hours = float(text)
        except ValueError:
            hours = -1.0
        if not hours >= 0:
            raise SettingsError(f"LEDGERLIGHT_SESSION_HOURS={text!r} is not a number of hours: use e.g. 12, or 0")
        return hours

    def warm_up(self) -> bool:
        """LEDGERLIGHT_WARM_UP: whether the dashboard computes its slowest figures in the background
        once a page is drawn (default on; "off" for tests that count what a page computes)."""
        text = (self.get("LEDGERLIGHT_WARM_UP") or "on").lower()
        if text not in ("on", "off"):
            raise SettingsError(f"LEDGERLIGHT_WARM_UP={text!r} is neither on nor off")
        return text == "on"

    def os_user(self) -> str:
        """The machine's user running ledgerlight: the actor of the command line and cron."""
        for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # getpass.getuser()'s order
            if self._environ.get(name):
                return self._environ[name]
        return getpass.getuser()

    def wall_clock(self) -> float:
        """Seconds since the epoch by this machine's clock, for what is checked against another
        machine's clock (the age of a sign-in); never a business date (those follow today())."""
        return time.time()

    def __repr__(self) -> str:  # never show values
        return "Settings()"


def settings() -> Settings:
    return Settings()


def today() -> date:
    """The product's today (see the module docstring)."""
    return settings().today()
