"""Who may do what: the three roles, the actor every write records, and the one check every
write calls (`require`). No Streamlit here: the dashboard's shell (ui/shell.py) asks these
questions for each page, the pipeline and (issue 15) the collections writes call `require`.

The roles, each allowing all that the one before it allows:
- viewer: every page and every download;
- collector: also works the overdue list (notes, promises to pay, reminders);
- admin: also connects sources, syncs, imports files and changes settings.

Who has which role is a setting (LEDGERLIGHT_ROLES, LEDGERLIGHT_DEFAULT_ROLE: docs/configuration.md).
People sign in with an OpenID Connect provider (Streamlit's st.login) or, where there is none, with
a local account whose password is stored as an Argon2 hash (argon2-cffi; `python -m etl
hash-password` makes one).
The command line and cron act as the machine's own user, as an admin: whoever can run them can
write the database file anyway.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cache
from typing import Mapping, MutableMapping

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import AccessError, InputError, SettingsError

VIEWER, COLLECTOR, ADMIN = "viewer", "collector", "admin"
ROLES = (VIEWER, COLLECTOR, ADMIN)
NO_ROLE = "none"  # signed in, but let in nowhere
LOCAL_PREFIX = "os:"  # the actor of the command line and of a local single-user dashboard

# Headers a reverse proxy adds: a request that carries one came from beyond this machine.
PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded", "x-real-ip")
# A sign-in whose clock runs up to this far ahead of ours is still taken as issued now.
CLOCK_SKEW_SECONDS = 300
# Password sign-in: after this many wrong passwords for one account within the window, the
# account waits out the rest of the window.
PASSWORD_ATTEMPTS = 5
PASSWORD_WINDOW_SECONDS = 15 * 60
_HASHER = PasswordHasher()


@cache
def _unknown_account() -> str:
    """A hash to check an unknown account's password against: the same work, and time, as a real
    one. Made on first use (about half a second), not by every command that imports this module."""
    return _HASHER.hash("an account that does not exist")


@dataclass(frozen=True)
class Actor:
    """Who is acting, as a run records it (`id`: an e-mail address, or os:<user> for the
    machine's own user), and their role."""

    id: str
    role: str

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def __str__(self) -> str:
        return f"{self.id} ({self.role})"


def local_user(os_user: str) -> Actor:
    """The machine's own user: the command line, cron, and a dashboard only this machine can reach."""
    return Actor(f"{LOCAL_PREFIX}{os_user}", ADMIN)


def require(actor: Actor, role: str, doing: str) -> None:
    """Refuse (AccessError) unless `actor` holds `role` or a higher one. `doing` says what was
    asked, e.g. "syncing QuickBooks Online"."""
    if role not in ROLES:
        raise ValueError(f"not a role: {role!r}")
    if not actor.may(role):
        raise AccessError(f"{actor.id} is a {actor.role}: {doing} needs the {role} role. An admin can "
                          "give it in LEDGERLIGHT_ROLES (docs/configuration.md); nothing was changed.")


def role_of(identity: str, roles: Mapping[str, str], default: str) -> str | None:
    """The role of a signed-in identity: its own entry in `roles`, else its domain's ("@msp.example"),
    else `default`. None: no access ("none")."""
    _check_roles(roles, default)
    identity = identity.strip().lower()
    domain = "@" + identity.rpartition("@")[2] if "@" in identity else None
    role = roles.get(identity) or (roles.get(domain) if domain else None) or default
    return None if role == NO_ROLE else role


def _check_roles(roles: Mapping[str, str], default: str) -> None:
    allowed = (*ROLES, NO_ROLE)
    wrong = [f"{who} = {role!r}" for who, role in roles.items() if role not in allowed]
    if wrong:
        raise SettingsError(f"LEDGERLIGHT_ROLES gives an unknown role ({'; '.join(wrong)}): use one of {', '.join(allowed)}")
    if default not in allowed:
        raise SettingsError(f"LEDGERLIGHT_DEFAULT_ROLE is {default!r}: use one of {', '.join(allowed)}")


def identity_of(user: Mapping) -> str | None:
    """The identity a sign-in vouches for: its e-mail address (Microsoft Entra ID sends the
    sign-in name, preferred_username, when the account has no mail), lower-cased. None when the
    provider sent neither, or says the address is not verified."""
    if user.get("email_verified") is False:
        return None
    for claim in ("email", "preferred_username"):
        value = user.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    return None


def session_expired(issued_at, now: float, max_hours: float) -> bool:
    """Whether a sign-in issued at `issued_at` (seconds since the epoch, the OpenID `iat` claim) is
    too old at `now`, or has no usable time, or is dated in the future. `max_hours` 0: no limit
    of ours (Streamlit's own 30-day cookie still ends it)."""
    if not max_hours:
        return False
    if isinstance(issued_at, bool) or not isinstance(issued_at, (int, float)):
        return True
    return issued_at > now + CLOCK_SKEW_SECONDS or now - issued_at > max_hours * 3600


def exposure(address: str | None, headers: Mapping[str, str]) -> str | None:
    """Why the dashboard can be reached from beyond this machine, or None when only this machine
    can reach it: the address it is bound to (an empty one means every interface), or a request
    that came through a proxy or under another host name."""
    if not _is_loopback(address):
        return "it listens on every network interface" if not address or _is_unspecified(address) \
            else f"it listens on {address}"
    lowered = {str(name).lower(): value for name, value in headers.items()}
    forwarded = [name for name in PROXY_HEADERS if lowered.get(name)]
    if forwarded:
        return f"this request came through a proxy ({forwarded[0]})"
    host = lowered.get("host")
    if host and not _is_loopback(_host_name(host)):
        return f"this request asked for host {host}"
    return None


def _host_name(host: str) -> str:
    if host.startswith("["):  # [::1]:8501
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _is_unspecified(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def _is_loopback(address: str | None) -> bool:
    if not address:
        return False
    if address.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def hash_password(password: str) -> str:
    """The Argon2id hash to store for a local account (LEDGERLIGHT_ACCOUNTS)."""
    if len(password) < 12:
        raise InputError("a password needs at least 12 characters; nothing was made")
    return _HASHER.hash(password)


def password_sign_in(accounts: Mapping[str, str], name: str, password: str, now: float,
                     failures: MutableMapping[str, list[float]]) -> str:
    """The account `name` signs in with `password` against its stored hash; returns the account
    (lower-cased) or raises AccessError. `failures` (account → times of wrong passwords, kept by
    the caller across attempts) holds an account back after PASSWORD_ATTEMPTS wrong ones."""
    account = name.strip().lower()
    if len(failures) > 1000:  # forget accounts whose wrong passwords are all past the window
        for stale in [who for who, times in failures.items() if now - max(times) >= PASSWORD_WINDOW_SECONDS]:
            del failures[stale]
    recent = [at for at in failures.get(account, []) if now - at < PASSWORD_WINDOW_SECONDS]
    if len(recent) >= PASSWORD_ATTEMPTS:
        wait = int(PASSWORD_WINDOW_SECONDS - (now - recent[0])) // 60 + 1
        raise AccessError(f"too many wrong passwords for {account}: try again in {wait} minutes")
    stored = accounts.get(account)
    try:
        _HASHER.verify(stored or _unknown_account(), password)
        if stored is None:
            raise VerificationError
    except (VerificationError, InvalidHashError):
        failures[account] = [*recent, now]
        raise AccessError("wrong account or password") from None
    failures.pop(account, None)
    return account
