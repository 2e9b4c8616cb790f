"""How long a sync waits on an accounting system, and what it tries again: one policy for every
source that talks to an API (QuickBooks, Xero), whatever HTTP client its vendor's SDK uses.

Every request sent counts in `attempts` (retries too). A throttled request (HTTP 429) waits for
`Retry-After`, cut to `retry_after_cap`, else `throttle_wait`; server errors (500, 502, 503, 504)
are tried again with doubling backoff (or their Retry-After), up to SERVER_ERROR_TRIES times; a
dropped connection is tried again up to CONNECTION_TRIES times; a request that takes longer than
`timeout` ends the run. All waiting comes out of one `budget` for the run, and each wait is told
to the listener ("…: waiting N s before trying again") so a progress line can say why it stands
still. A source adapts its client's transport to `send` (etl/sources/quickbooks/api.py wraps a
requests.Session, etl/sources/xero/api.py a urllib3 pool).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.errors import SyncError

SERVER_ERROR_TRIES, CONNECTION_TRIES = 5, 3
RETRIED = {429: "{service} is throttling requests", 500: "{service} had an internal error",
           502: "{owner} gateway failed", 503: "{service} is unavailable", 504: "{owner} gateway timed out"}

Response = TypeVar("Response")


def possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def retry_after(headers: Mapping[str, str], cap: float) -> float | None:
    """Retry-After in seconds (the delta form every vendor here sends), cut to `cap`."""
    try:
        return min(float(headers["Retry-After"]), cap)
    except (KeyError, TypeError, ValueError):
        return None


@dataclass
class Patience:
    """How long a run may wait on `service`, and who hears about it. `waited` is the total so far;
    `attempts` counts every request sent, retries included, by endpoint. `refuse(status, headers)`
    may name a throttled answer not worth waiting for (Xero's daily limit): the run then ends with
    that sentence."""

    service: str = "the source"
    backoff: float = 1.0
    throttle_wait: float = 60.0
    retry_after_cap: float = 120.0
    budget: float = 900.0
    timeout: float = 60.0
    tell: Callable[[str], None] = lambda text: None
    refuse: Callable[[int, Mapping[str, str]], str | None] = lambda status, headers: None
    waited: float = 0.0
    attempts: Counter = field(default_factory=Counter)

    @classmethod
    def of(cls, service: str, settings: Any, tell: Callable[[str], None] = lambda text: None, **options) -> "Patience":
        """From a source's settings, which name the knobs `backoff`, `throttle_wait`,
        `retry_after_cap`, `wait_budget` and `timeout`."""
        return cls(service, settings.backoff, settings.throttle_wait, settings.retry_after_cap,
                   settings.wait_budget, settings.timeout, tell, **options)

    def wait(self, seconds: float, why: str) -> bool:
        """Wait `seconds` if the budget allows; False when it does not."""
        if self.waited + seconds > self.budget:
            return False
        shown = f"{seconds:.0f}" if seconds >= 1 else f"{seconds:.1f}"
        self.tell(f"{why}: waiting {shown} s before trying again")
        time.sleep(seconds)
        self.waited += seconds
        return True

    def timed_out(self) -> SyncError:
        return SyncError(f"{self.service} did not answer within {self.timeout:.0f} s (timeout); "
                         "nothing was written, try again later")

    def send(self, endpoint: str, attempt: Callable[[], Response], *, status: Callable[[Response], int],
             headers: Callable[[Response], Mapping[str, str]], failure: Callable[[BaseException], str | None]) -> Response:
        """Send one request through `attempt()` until it is answered with something not worth
        retrying, or the policy gives up: then the last answer is returned (the SDK reports it).
        `failure(exc)` says what an exception of the client means: 'timeout', 'dropped' (tried
        again), or None (raised as it is)."""
        errors = failures = 0
        while True:
            self.attempts[endpoint] += 1
            try:
                response = attempt()
            except Exception as exc:
                kind = failure(exc)
                if kind == "timeout":
                    raise self.timed_out() from None
                if kind != "dropped":
                    raise
                failures += 1
                if failures >= CONNECTION_TRIES or not self.wait(self.backoff * 2 ** failures,
                                                                 f"The connection to {self.service} dropped"):
                    raise
                continue
            code = status(response)
            if code not in RETRIED:
                return response
            errors += 1
            answered = headers(response)
            refused = self.refuse(code, answered)
            if refused:
                raise SyncError(refused)
            asked = retry_after(answered, self.retry_after_cap)
            if code == 429:
                seconds = self.throttle_wait if asked is None else asked
            else:
                seconds = self.backoff * 2 ** (errors - 1) if asked is None else asked
            why = RETRIED[code].format(service=self.service, owner=possessive(self.service))
            if (code != 429 and errors >= SERVER_ERROR_TRIES) or not self.wait(seconds, why):
                return response
