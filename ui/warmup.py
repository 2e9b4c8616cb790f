"""The dashboard's slowest figures, computed in the background before anyone asks for them.

On a large book the Forecast page's backtests, a client's page (book-wide figures, cached once for
every client), Autopay, Clients to chase and Aging take seconds to compute the first time. Once a
page has been drawn for the date the data runs to, a thread computes them through the same cache
the pages read, one at a time and only while no page is running, so the reader's own clicks go
first; a page that asks for a figure being warmed waits for it instead of computing it twice
(Streamlit's cache computes a value once). New data (a sync) changes the cache key: the warm-up of
the old data stops, and the next page drawn warms again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import streamlit as st

from metrics.autopay import WHAT_IF_CANDIDATES

# What the pages ask for before the reader changes anything, with the options they pass then (a
# metric's cache key is its name and options), slowest page first. The what-if the Autopay page
# starts from depends on the data (what_if_figures); a client's own notes are left to its page.
_AGING_DEFAULTS = (("basis", "due"), ("period_days", 30), ("periods", 4))
WARMED: tuple[tuple[str, tuple], ...] = (
    # pages/forecast.py
    ("autopay_what_if_clients", ()),
    ("cash_forecast", (("autopay_customer_ids", ()),)),
    ("invoices_at_risk", (("autopay_customer_ids", ()),)),
    ("recurring_revenue_summary", ()),
    ("mrr_movements", ()),
    ("mrr_outlook", ()),
    ("backtest", ()),
    # pages/client.py
    ("client_directory", ()),
    ("account_summary", ()),
    ("account_months", ()),
    ("open_invoices_as_of", ()),
    ("invoice_payment_days", ()),
    ("account_payments", ()),
    ("autopay_enrollment_history", ()),
    ("collection_status", ()),
    # pages/autopay.py
    ("autopay_adoption", ()),
    ("autopay_status_split", ()),
    ("autopay_adoption_trend", ()),
    ("autopay_conversion_candidates", ()),
    ("autopay_uplift", ()),
    ("autopay_failed_charges", ()),
    # pages/clients.py
    ("ar_summary", ()),
    ("collections_worklist", (("action_due_by", None), ("include_parked", False), ("owner", None))),
    ("worklist_owners", ()),
    # pages/aging.py, and its "Past due only" switched on (a control change)
    ("ar_trend", _AGING_DEFAULTS),
    *[figure for past_due_only in (False, True) for figure in (
        ("aging_buckets", tuple(sorted((*_AGING_DEFAULTS, ("past_due_only", past_due_only))))),
        ("aging_by_customer", tuple(sorted((*_AGING_DEFAULTS, ("min_amount", 0), ("past_due_only", past_due_only),
                                            ("roll_up", True))))),
        ("open_invoices_as_of", tuple(sorted((*_AGING_DEFAULTS, ("bucket", None), ("customer_id", None),
                                              ("past_due_only", past_due_only), ("roll_up", True))))),
    )],
)
_POLL_SECONDS = 0.2  # how often a waiting warm-up looks again (a sleep: timed waits break under faketime)
_THREAD_NAME = "ledgerlight-warm-up"
_log = logging.getLogger(__name__)


class _NoSessionIsExpected(logging.Filter):
    """Streamlit warns of each cache read outside a page's session; the warm-up has none on purpose
    (one would let a page's rerun stop it halfway)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return threading.current_thread().name != _THREAD_NAME


logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_NoSessionIsExpected())

Compute = Callable[[str, tuple], object]


def pages_running() -> bool:
    """Whether a page script is running in this server (Streamlit runs each in a thread so named)."""
    return any(thread.name.startswith("ScriptRunner.scriptThread") for thread in threading.enumerate())


def _always() -> bool:
    return True


def warm(compute: Compute, figures: Iterable[tuple[str, tuple]] = WARMED,
         busy: Callable[[], bool] = pages_running, current: Callable[[], bool] = _always) -> list[str]:
    """`compute(name, options)` for each figure in turn, each once no page is running, while the
    data is `current`; the names computed. A figure that fails is skipped: its page shows the error
    when it asks."""
    done = []
    for name, options in figures:
        while busy():
            time.sleep(_POLL_SECONDS)
        if not current():
            break
        try:
            compute(name, options)
        except Exception as exc:  # noqa: BLE001 - the page reports it, in plain words, when it asks
            _log.info("warm-up skipped %s: %s", name, type(exc).__name__)
            continue
        done.append(name)
    return done


def what_if_figures(compute: Compute) -> list[tuple[str, tuple]]:
    """The Autopay page's what-if as it first shows (its best WHAT_IF_CANDIDATES candidates), and the
    Forecast page's cash curve with it, which is what the Forecast page draws once Autopay has been
    seen (its what-if starts from the Autopay page's, among the clients it offers)."""
    candidates = list(compute("autopay_conversion_candidates", ())["customer_id"])[:WHAT_IF_CANDIDATES]
    offered = set(compute("autopay_what_if_clients", ())["customer_id"])
    carried = (("autopay_customer_ids", tuple(c for c in candidates if c in offered)),)
    return [("autopay_what_if", (("customer_ids", tuple(candidates)),)),
            ("cash_forecast", carried), ("invoices_at_risk", carried)] if candidates else []


def warm_all(compute: Compute, busy: Callable[[], bool] = pages_running,
             current: Callable[[], bool] = _always) -> list[str]:
    """WARMED, then the what-if figures they lead to."""
    done = warm(compute, WARMED, busy, current)
    try:
        then = what_if_figures(compute) if current() else []
    except Exception as exc:  # noqa: BLE001 - as in warm()
        _log.info("warm-up skipped the what-if: %s", type(exc).__name__)
        return done
    return done + warm(compute, then, busy, current)


def start(key: tuple, compute: Compute, current: Callable[[], bool]) -> None:
    """Warm the figures once per `key` (database, its version, date, company), in the background,
    while `current()` says the data is still that version."""
    _started(key, compute, current)


@st.cache_resource(show_spinner=False, max_entries=4)
def _started(key: tuple, _compute: Compute, _current: Callable[[], bool]) -> threading.Thread:  # key only
    thread = threading.Thread(target=warm_all, args=(_compute, pages_running, _current), name=_THREAD_NAME,
                              daemon=True)
    thread.start()
    return thread
