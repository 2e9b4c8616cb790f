"""The dashboard's slowest figures, computed in the background before anyone asks for them.

On a large book the Forecast page's backtests and a client's page (book-wide figures, cached once
for every client) take seconds to compute the first time. Once a page has been drawn for the
date the data runs to, a thread computes them through the same cache the pages read, one at a
time and only while no page is running, so the reader's own clicks go first; a page that asks for
a figure being warmed waits for it instead of computing it twice (Streamlit's cache computes a
value once). New data (a sync) changes the cache key, and the next page drawn warms again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import streamlit as st

# What pages/forecast.py, then pages/client.py, ask for before the reader changes anything, with
# the options they pass then (a metric's cache key is its name and options).
WARMED: tuple[tuple[str, tuple], ...] = (
    ("autopay_what_if_clients", ()),
    ("cash_forecast", (("autopay_customer_ids", ()),)),
    ("invoices_at_risk", (("autopay_customer_ids", ()),)),
    ("recurring_revenue_summary", ()),
    ("mrr_movements", ()),
    ("mrr_outlook", ()),
    ("backtest", ()),
    ("client_directory", ()),
    ("account_summary", ()),
    ("account_months", ()),
    ("open_invoices_as_of", ()),
    ("invoice_payment_days", ()),
    ("account_payments", ()),
    ("autopay_enrollment_history", ()),
    ("collection_status", ()),
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


def warm(compute: Compute, figures: Iterable[tuple[str, tuple]] = WARMED,
         busy: Callable[[], bool] = pages_running) -> list[str]:
    """`compute(name, options)` for each figure in turn, each once no page is running; the names
    computed. A figure that fails is skipped: its page shows the error when it asks."""
    done = []
    for name, options in figures:
        while busy():
            time.sleep(_POLL_SECONDS)
        try:
            compute(name, options)
        except Exception as exc:  # noqa: BLE001 - the page reports it, in plain words, when it asks
            _log.info("warm-up skipped %s: %s", name, type(exc).__name__)
            continue
        done.append(name)
    return done


def start(key: tuple, compute: Compute) -> None:
    """Warm the figures once per `key` (database, its version, date, company), in the background."""
    _started(key, compute)


@st.cache_resource(show_spinner=False, max_entries=4)
def _started(key: tuple, _compute: Compute) -> threading.Thread:  # _compute: not part of the key
    thread = threading.Thread(target=warm, args=(_compute,), name=_THREAD_NAME, daemon=True)
    thread.start()
    return thread
