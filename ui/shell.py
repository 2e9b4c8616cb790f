"""What every page shares: the database, the sidebar (menu, as-of date), the demo banner, cached
metrics, and running a source with a progress bar.

Every page script starts with `prepare()`, so a bookmarked page URL renders exactly like one
reached from the menu. Pages call `metric(...)`; they never open the database. Anything a user
can fix (`LedgerlightError`) is shown as a message; `.streamlit/config.toml` keeps any other
error's details (paths, tracebacks) off the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import metrics
from core.db import data_version, read_only
from core.errors import LedgerlightError
from core.settings import settings
from etl import pipeline, sources, tabular
from etl.batch import Source
from etl.sources.demo import DemoSettings

FILE_LIMITS = tabular.LIMITS  # what an upload may hold, for the pages to say
_CONTEXT_KEY = "ledgerlight_context"
_CHOSEN_AS_OF = "ledgerlight_as_of"  # a date the user picked; outlives page switches, unlike widget state
_AS_OF_WIDGET = "as_of"
_AUTOPAY_WHAT_IF = "ledgerlight_autopay_what_if"
PAGES = [
    ("app.py", "Overview", ":material/insights:"),
    ("pages/aging.py", "Aging", ":material/hourglass_bottom:"),
    ("pages/clients.py", "Clients to chase", ":material/call:"),
    ("pages/autopay.py", "Autopay", ":material/autorenew:"),
    ("pages/forecast.py", "Forecast", ":material/trending_up:"),
    ("pages/data_sync.py", "Data & sync", ":material/sync:"),
]


@dataclass(frozen=True)
class Context:
    db: Path
    as_of: date
    today: date
    data_through: date
    company_names: tuple[str, ...]
    home_currency: str
    is_demo: bool
    is_snapshot: bool = False  # some company's books are a snapshot of one date (metrics.snapshot_limit)


def _build_demo_with_progress(db: Path) -> None:
    bar = st.progress(0.0, text="First start: building the demo MSP company…")
    pipeline.run(db, sources.get("demo"), DemoSettings(as_of=settings().today()),
                 lambda fraction, text: bar.progress(fraction, text=text))
    bar.empty()


@st.cache_data(show_spinner=False)
def _held(db: str, version: tuple[int, int]) -> tuple[pd.DataFrame, str]:
    with read_only(db) as con:
        return metrics.companies(con), metrics.home_currency(con)


@st.cache_data(show_spinner="Computing…", max_entries=256)
def _metric(name: str, db: str, version: tuple[int, int], as_of: date, options: tuple) -> Any:
    with read_only(db) as con:
        return getattr(metrics, name)(con, as_of, **dict(options))


def _stop_with(exc: LedgerlightError):
    st.error(str(exc))
    st.stop()


def _remember_as_of() -> None:
    st.session_state[_CHOSEN_AS_OF] = st.session_state[_AS_OF_WIDGET]


def _follow_the_data() -> None:
    st.session_state.pop(_CHOSEN_AS_OF, None)


def _as_of_control(default_as_of: date, db: Path) -> date:
    """The sidebar's as-of date: the date the data runs to (it moves when new data arrives) until
    the user picks one; a picked date stays across pages until they go back to the data's date."""
    chosen = st.session_state.get(_CHOSEN_AS_OF)
    st.session_state[_AS_OF_WIDGET] = chosen or default_as_of
    as_of = st.date_input(
        "As of", key=_AS_OF_WIDGET, on_change=_remember_as_of,
        help="Every figure is computed as the books stood at the end of this day (payments dated later are ignored).",
    )
    st.caption(f"Data through {default_as_of:%d %b %Y} · `{db.name}`")
    if chosen and chosen != default_as_of:
        st.button(f"Back to {default_as_of:%d %b %Y}", key="as_of_follow", on_click=_follow_the_data,
                  help="Follow the date the data runs to again.")
    return as_of


def prepare(page_title: str) -> Context:
    """Set up the page, open (or on first start, build) the database and draw the shared sidebar."""
    st.set_page_config(page_title=f"{page_title} · ledgerlight", page_icon=":material/receipt_long:", layout="wide")
    with st.sidebar:
        st.markdown("### :material/receipt_long: ledgerlight")
        for script, label, icon in PAGES:
            st.page_link(script, label=label, icon=icon)
    db = settings().database_path()
    try:
        if not db.exists():
            _build_demo_with_progress(db)
        held, home_currency = _held(str(db), data_version(db))
    except LedgerlightError as exc:
        _stop_with(exc)
    if held.empty:
        st.warning(f"{db} holds no company yet. Build the demo with `python -m etl demo` (see README).")
        st.stop()

    default_as_of = held["data_through"].max() or settings().today()
    with st.sidebar:
        as_of = _as_of_control(default_as_of, db)
    context = Context(
        db=db,
        as_of=as_of,
        today=settings().today(),
        data_through=default_as_of,
        company_names=tuple(held["name"]),
        home_currency=home_currency,
        is_demo=bool((held["source"] == "demo").any()),
        is_snapshot=bool(held["snapshot_on"].notna().any()),
    )
    if context.is_demo:
        st.info(
            "**Demo data.** You are looking at Northwind Managed IT, a made-up MSP generated by "
            "ledgerlight. To see your own receivables, connect QuickBooks Online on the **Data & sync** "
            "page (the first sync replaces the demo) or as docs/sources/quickbooks.md explains.",
            icon=":material/science:",
        )
    st.session_state[_CONTEXT_KEY] = context
    if context.is_snapshot:
        st.warning(metric("snapshot_limit", history=False) or metric("snapshot_limit"), icon=":material/photo_camera:")
    return context


def knows(history: bool = True) -> bool:
    """Whether the books can support a figure at the as-of date (`history`: one that needs the
    books' history, like a trend, KPIs or a forecast). Pages draw it only then; otherwise this
    says in a line that it is left out (the banner at the top says why)."""
    if metric("snapshot_limit", history=history) is None:
        return True
    st.caption(":material/photo_camera: Left out: the books are a snapshot of one date (see the note at the top).")
    return False


def metric(name: str, **options) -> Any:
    """A metric from `metrics` at the page's as-of date, cached until the database file changes."""
    ctx: Context = st.session_state[_CONTEXT_KEY]
    try:
        return _metric(name, str(ctx.db), data_version(ctx.db), ctx.as_of, tuple(sorted(options.items())))
    except LedgerlightError as exc:
        _stop_with(exc)


def remember_autopay_what_if(customer_ids: list[str]) -> None:
    """The clients chosen in the Autopay page's what-if, so the Forecast page starts from them."""
    st.session_state[_AUTOPAY_WHAT_IF] = list(customer_ids)


def remembered_autopay_what_if() -> list[str]:
    return st.session_state.get(_AUTOPAY_WHAT_IF, [])


def warnings_of(run) -> list[str]:
    """A run's warnings, one sentence each (they are stored as a JSON list)."""
    return json.loads(run.warnings) if isinstance(run.warnings, str) else list(run.warnings or [])


# --- sources -----------------------------------------------------------------------------------


def connectable_sources() -> list[Source]:
    """The sources a user signs in to and syncs from the Data & sync page."""
    return list(sources.connectable().values())


def importer(kind: str) -> Source:
    """The source that reads files of `kind` (e.g. 'autopay' rosters)."""
    return sources.importable()[kind]


def run_source(source: Source, chosen_settings: Any, full: bool = False) -> pipeline.RunResult | None:
    """Run a source into the page's database with a progress bar; on an error say what happened
    (nothing was written) and return None."""
    ctx: Context = st.session_state[_CONTEXT_KEY]
    bar = st.progress(0.0, text="Starting")
    try:
        return pipeline.run(ctx.db, source, chosen_settings, lambda fraction, text: bar.progress(fraction, text=text),
                            full=full)
    except LedgerlightError as exc:
        problems = getattr(exc, "problems", [str(exc)])
        st.error("Nothing was written: " + (problems[0] if len(problems) == 1 else "".join(f"\n- {p}" for p in problems)))
        return None
    finally:
        bar.empty()
