"""What every page shares: who may see it, the database, the sidebar (menu, as-of date), the demo
banner, cached metrics, and running a source with a progress bar.

Every page script starts with `prepare()`, so a bookmarked page URL renders exactly like one
reached from the menu, and passes the same door: with sign-in set up ([auth] or
LEDGERLIGHT_ACCOUNTS in the secrets file) only a signed-in user with a role gets further; without it, only a dashboard no other
machine can reach (core/access.py `exposure`) opens, as the machine's own user with the admin
role, and one bound beyond loopback shows a refusal naming the fix and nothing else. Pages
call `metric(...)`; they never open the database. Anything a user can fix (`LedgerlightError`)
is shown as a message; `.streamlit/config.toml` keeps any other error's details (paths,
tracebacks) off the page.
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
from core import access
from core.access import ADMIN, Actor
from core.db import data_version, read_only
from core.errors import AccessError, LedgerlightError
from core.settings import settings
from etl import pack as monthly_pack
from etl import pipeline, sources, tabular
from etl.batch import Source
from etl.sources.demo import DemoSettings
from ui import warmup
from ui.format import plain

FILE_LIMITS = tabular.LIMITS  # what an upload may hold, for the pages to say
_CONTEXT_KEY = "ledgerlight_context"
_CHOSEN_AS_OF = "ledgerlight_as_of"  # a date the user picked; outlives page switches, unlike widget state
_AS_OF_WIDGET = "as_of"
_CHOSEN_COMPANY = "ledgerlight_company"  # (source, company_id) picked in the sidebar; None: all companies
_ALL_COMPANIES = "All companies"
_FOUND_CLIENT = "ledgerlight_found_client"
CLIENT_PAGE = "pages/client.py"
_ACCOUNT_KEY = "ledgerlight_account"  # (account, signed in at) of a password sign-in: this browser session only
_PASSWORD_FAILURES: dict[str, list[float]] = {}  # wrong passwords per account, across this server's sessions
PAGES = [
    ("app.py", "Overview", ":material/insights:"),
    ("pages/aging.py", "Aging", ":material/hourglass_bottom:"),
    ("pages/clients.py", "Clients to chase", ":material/call:"),
    ("pages/autopay.py", "Autopay", ":material/autorenew:"),
    ("pages/forecast.py", "Forecast", ":material/trending_up:"),
    ("pages/client.py", "Client", ":material/person:"),
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
    actor: Actor
    is_snapshot: bool = False  # some company's books are a snapshot of one date (metrics.snapshot_limit)
    company: tuple[str, str] | None = None  # (source, company_id) chosen in the sidebar; None: every company


def _build_demo_with_progress(db: Path, actor: Actor) -> None:
    if not actor.may(ADMIN):
        st.info("ledgerlight holds no data yet. An admin's first visit builds the demo company "
                "(or run `python -m etl demo`).")
        st.stop()
    bar = st.progress(0.0, text="First start: building the demo MSP company…")
    pipeline.run(db, sources.get("demo"), DemoSettings(as_of=settings().today()),
                 lambda fraction, text: bar.progress(fraction, text=text), actor=actor)
    bar.empty()


@st.cache_data(show_spinner=False)
def _held(db: str, version: tuple[int, int]) -> pd.DataFrame:
    with read_only(db) as con:
        return metrics.companies(con)


@st.cache_data(show_spinner="Computing…", max_entries=256)
def _metric(name: str, db: str, version: tuple[int, int], as_of: date, options: tuple,
            company: tuple[str, str] | None = None) -> Any:
    with read_only(db, company=company) as con:
        return getattr(metrics, name)(con, as_of, **dict(options))


def _stop_with(exc: LedgerlightError):
    st.error(plain(exc))
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
    st.caption(f"Data through {default_as_of:%d %b %Y} · {plain(db.name)}")
    if chosen and chosen != default_as_of:
        st.button(f"Back to {default_as_of:%d %b %Y}", key="as_of_follow", on_click=_follow_the_data,
                  help="Follow the date the data runs to again.")
    return as_of


def _company_control(held: pd.DataFrame) -> tuple[str, str] | None:
    """The sidebar's company: one of the file's companies, or all of them when they share one home
    currency (totals across currencies would mix them). Remembered across pages."""
    keys = [(row.source, row.company_id) for row in held.itertuples()]
    if len(keys) == 1:
        return None
    names = {key: f"{row.name} ({row.source})" for key, row in zip(keys, held.itertuples())}
    one_currency = held["home_currency"].nunique() == 1
    options = ([_ALL_COMPANIES] if one_currency else []) + keys
    chosen = st.session_state.get(_CHOSEN_COMPANY, _ALL_COMPANIES if one_currency else keys[0])
    if chosen not in options:
        chosen = options[0]
    picked = st.selectbox("Company", options, index=options.index(chosen), key="company_widget",
                          format_func=lambda key: names.get(key, key))
    st.session_state[_CHOSEN_COMPANY] = picked
    if not one_currency:
        st.caption("These companies keep their books in " + ", ".join(sorted(held["home_currency"].unique()))
                   + ": each is shown on its own, since totals across them would mix currencies.")
    return None if picked == _ALL_COMPANIES else picked


def _open_found_client() -> None:
    st.session_state[_FOUND_CLIENT] = st.session_state.pop("client_search")


def _client_search() -> None:
    """Find a client by name from any page: choosing one opens its page."""
    directory = metric("client_directory")
    names = dict(zip(directory["customer_id"], directory["customer"]))
    st.selectbox("Find a client", list(names), index=None, format_func=names.get, key="client_search",
                 placeholder="Type a client's name", on_change=_open_found_client)
    found = st.session_state.pop(_FOUND_CLIENT, None)
    if found is not None:
        st.switch_page(CLIENT_PAGE, query_params={"client": found})


# --- the door ----------------------------------------------------------------------------------


def _refusal(title: str, text: str, sign_out: str | None = None):
    """A page that says why it shows nothing, and stops: nothing else of the app is drawn.
    `sign_out`: the label of a button that signs out (to sign in as someone else, or again)."""
    st.title(title)
    st.error(plain(text), icon=":material/lock:")
    if sign_out:
        _sign_out_button(sign_out, key="refusal_sign_out")
    st.stop()


def _sign_out_button(label: str = "Sign out", key: str = "sign_out") -> None:
    if st.button(label, key=key):
        if st.session_state.pop(_ACCOUNT_KEY, None):
            st.rerun()
        st.logout()


def _password_form(accounts: dict[str, str]) -> None:
    with st.form("password_sign_in"):
        name = st.text_input("Account")
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in with a password"):
            try:
                identity = access.password_sign_in(accounts, name, password, settings().wall_clock(), _PASSWORD_FAILURES)
            except AccessError as exc:
                st.error(plain(exc))
            else:
                st.session_state[_ACCOUNT_KEY] = (identity, settings().wall_clock())
                st.rerun()


def _sign_in_page(providers: list[str | None], accounts: dict[str, str]) -> None:
    st.title(":material/receipt_long: ledgerlight")
    st.markdown("Sign in to see the receivables dashboard." if not providers else
                "Sign in with your work account to see the receivables dashboard.")
    for provider in providers:
        label = "Sign in" if provider is None else f"Sign in with {provider.replace('_', ' ').title()}"
        if st.button(label, type="primary", key=f"sign_in_{provider or 'default'}", icon=":material/login:"):
            st.login(provider)
    if accounts:
        _password_form(accounts)
    st.stop()


def _signed_in_actor(providers: list[str | None], accounts: dict[str, str]) -> Actor:
    """The signed-in user, by an identity provider (st.user, from Streamlit's signed cookie) or by
    a password (this browser session only); else the sign-in page."""
    current = settings()
    user = st.user.to_dict()
    if user.get("is_logged_in"):
        identity, issued_at = access.identity_of(user), user.get("iat")
    elif st.session_state.get(_ACCOUNT_KEY):
        identity, issued_at = st.session_state[_ACCOUNT_KEY]
    else:
        _sign_in_page(providers, accounts)
    if access.session_expired(issued_at, current.wall_clock(), current.session_hours()):
        _refusal("Your sign-in has expired", f"Sign-ins last {current.session_hours():g} hours "
                 "(LEDGERLIGHT_SESSION_HOURS). Sign in again.", sign_out="Sign in again")
    if identity is None:
        _refusal("No access", "Your sign-in carries no verified e-mail address, so ledgerlight cannot tell who you "
                 "are. Ask your administrator to include the email claim (docs/deployment.md).", sign_out="Sign out")
    role = access.role_of(identity, current.roles(), current.default_role())
    if role is None:
        _refusal("No access", f"You are signed in as {identity}, but ledgerlight gives you no role. Ask an admin to "
                 "add you to LEDGERLIGHT_ROLES (docs/configuration.md).", sign_out="Sign out")
    return Actor(identity, role)


def _actor() -> Actor:
    """Who is using this page, or a page that says why not (and nothing else)."""
    try:
        providers, accounts = settings().sign_in_providers(), settings().local_accounts()
        if providers or accounts:
            return _signed_in_actor(providers, accounts)
        reason = access.exposure(st.get_option("server.address"), dict(st.context.headers or {}))
        if reason:
            _refusal(
                "ledgerlight will not serve this without sign-in",
                f"This dashboard can be reached from other machines ({reason}), and no sign-in is set up, so "
                "anyone who can reach it could read your receivables and run syncs. Either serve it on this "
                "machine only (server.address = \"127.0.0.1\", the default in .streamlit/config.toml), or set "
                "up sign-in: an [auth] section (or LEDGERLIGHT_ACCOUNTS) in .streamlit/secrets.toml and "
                "LEDGERLIGHT_ROLES (docs/deployment.md).",
            )
        return access.local_user(settings().os_user())
    except LedgerlightError as exc:
        _stop_with(exc)


def _who(actor: Actor) -> None:
    if actor.id.startswith(access.LOCAL_PREFIX):
        st.caption(f"{plain(actor.id)} · {actor.role} · only this machine can reach this dashboard")
    else:
        st.caption(f"Signed in as **{plain(actor.id)}** · {actor.role}")
        _sign_out_button()


def prepare(page_title: str) -> Context:
    """Set up the page, let in only who may see it, open (or on first start, build) the database
    and draw the shared sidebar."""
    # An emoji favicon is drawn in the browser; a :material: one would be fetched from Google.
    st.set_page_config(page_title=f"{page_title} · ledgerlight", page_icon="🧾", layout="wide")
    actor = _actor()
    with st.sidebar:
        st.markdown("### :material/receipt_long: ledgerlight")
        for script, label, icon in PAGES:
            st.page_link(script, label=label, icon=icon)
    db = settings().database_path()
    try:
        if not db.exists():
            _build_demo_with_progress(db, actor)
        held = _held(str(db), data_version(db))
    except LedgerlightError as exc:
        _stop_with(exc)
    if held.empty:
        st.warning(f"{plain(db)} holds no company yet. Build the demo with `python -m etl demo` (see README).")
        st.stop()

    with st.sidebar:
        company = _company_control(held)
        shown = held if company is None else held[(held["source"] == company[0]) & (held["company_id"] == company[1])]
        through = shown["data_through"].dropna()
        default_as_of = through.max() if not through.empty else settings().today()
        as_of = _as_of_control(default_as_of, db)
        _who(actor)
    context = Context(
        db=db,
        as_of=as_of,
        today=settings().today(),
        data_through=default_as_of,
        company_names=tuple(shown["name"]),
        home_currency=shown["home_currency"].iloc[0],
        is_demo=bool((shown["source"] == "demo").any()),
        actor=actor,
        is_snapshot=bool(shown["snapshot_on"].notna().any()),
        company=company,
    )
    if context.is_demo:
        st.info(
            "**Demo data.** You are looking at Northwind Managed IT, a made-up MSP generated by "
            "ledgerlight. To see your own receivables, connect QuickBooks Online on the **Data & sync** "
            "page (the first sync replaces the demo) or as docs/sources/quickbooks.md explains.",
            icon=":material/science:",
        )
    st.session_state[_CONTEXT_KEY] = context
    with st.sidebar:
        _client_search()
    if context.is_snapshot:
        st.warning(metric("snapshot_limit", history=False) or metric("snapshot_limit"), icon=":material/photo_camera:")
    if as_of == default_as_of:
        _warm_up(context)
    return context


def _warm_up(ctx: Context) -> None:
    """The slowest pages' figures for this date, computed in the background (ui/warmup.py)."""
    try:
        if not settings().warm_up():
            return
        db, version = str(ctx.db), data_version(ctx.db)
    except LedgerlightError as exc:
        _stop_with(exc)
    warmup.start((db, version, ctx.as_of, ctx.company),
                 lambda name, options: _metric(name, db, version, ctx.as_of, options, ctx.company),
                 lambda: data_version(db) == version)


def allowed(role: str) -> bool:
    """Whether the page's user holds `role` (or a higher one): for what a page offers. The writes
    check again themselves (run_source, connect)."""
    ctx: Context = st.session_state[_CONTEXT_KEY]
    return ctx.actor.may(role)


def role_needed(role: str, doing: str) -> None:
    """Say, in place of a control the user may not use, who may."""
    ctx: Context = st.session_state[_CONTEXT_KEY]
    st.caption(f":material/lock: {doing} needs the {role} role; you are a {ctx.actor.role}.")


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
        return _metric(name, str(ctx.db), data_version(ctx.db), ctx.as_of, tuple(sorted(options.items())), ctx.company)
    except LedgerlightError as exc:
        _stop_with(exc)


def client_rows(name: str, customer_id: str, column: str = "customer_id", **options) -> pd.DataFrame:
    """One account's rows of a book-wide metric (computed and cached once for every client), so
    the client page shows exactly what the other pages show."""
    frame = metric(name, **options)
    return frame[frame[column] == customer_id].reset_index(drop=True)


def kept(key: str, default: Any) -> str:
    """`key` for a widget whose value outlives its page (a what-if): Streamlit forgets a widget's
    value once its page is left, so the value is kept apart for this browser session and given back
    to the widget when the page is drawn again. Use as `st.radio(..., key=shell.kept(key, default))`."""
    store = f"ledgerlight_kept_{key}"
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(store, default)
    st.session_state[store] = st.session_state[key]
    return key


def remembered(key: str, default: Any) -> Any:
    """The last value of a `kept` widget, from any page."""
    return st.session_state.get(f"ledgerlight_kept_{key}", default)


@st.cache_data(show_spinner=False)
def _pack_months(db: str, version: tuple[int, int], up_to: date, company: tuple[str, str] | None) -> list[str]:
    with read_only(db, company=company) as con:
        return monthly_pack.available_months(con, up_to)


@st.cache_data(show_spinner=False, max_entries=8)
def _review_pack(db: str, version: tuple[int, int], month: str, today: date, kind: str,
                 company: tuple[str, str] | None, company_name: str) -> bytes:
    with read_only(db, company=company) as con:
        built = monthly_pack.build_pack(con, month, company_name)
    return built.pdf() if kind == "pdf" else built.html.encode("utf-8")


def pack_months() -> dict[str, str]:
    """The months a review pack can be made for, to the as-of date's, newest first: YYYY-MM → 'October 2026'."""
    ctx: Context = st.session_state[_CONTEXT_KEY]
    months = _pack_months(str(ctx.db), data_version(ctx.db), min(ctx.as_of, ctx.today), ctx.company)
    return {month: f"{date.fromisoformat(month + '-01'):%B %Y}" for month in months}


def review_pack(month: str, kind: str) -> bytes:
    """The monthly review pack (etl/pack.py) for `month` as 'pdf' or 'html' bytes: the same
    document `python -m etl pack` writes."""
    ctx: Context = st.session_state[_CONTEXT_KEY]
    return _review_pack(str(ctx.db), data_version(ctx.db), month, ctx.today, kind, ctx.company,
                        ", ".join(ctx.company_names))


def remembered_autopay_what_if() -> list[str]:
    """The clients of the Autopay page's what-if, for the Forecast page: those chosen, or the best
    candidates covering the share of non-autopay MRR chosen."""
    if remembered("autopay_what_if_by", "chosen clients") == "chosen clients":
        return remembered("autopay_what_if_clients", [])
    return metric("autopay_share_clients", share_of_manual_mrr=remembered("autopay_what_if_share", 25) / 100)


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


def connect(source: Source, chosen_settings: Any, redirect_url: str) -> str:
    """Finish signing in to a source (it stores a refresh token): admins only. Returns the company id."""
    ctx: Context = st.session_state[_CONTEXT_KEY]
    access.require(ctx.actor, ADMIN, f"connecting {source.label}")
    return source.connector.connect(chosen_settings, redirect_url)


def run_source(source: Source, chosen_settings: Any, full: bool = False) -> pipeline.RunResult | None:
    """Run a source into the page's database as the page's user, with a progress bar; on an error
    (a role that may not write, among others) say what happened (nothing was written) and return None."""
    ctx: Context = st.session_state[_CONTEXT_KEY]
    bar = st.progress(0.0, text="Starting")
    try:
        return pipeline.run(ctx.db, source, chosen_settings, lambda fraction, text: bar.progress(fraction, text=text),
                            full=full, actor=ctx.actor)
    except LedgerlightError as exc:
        problems = getattr(exc, "problems", [str(exc)])
        listed = plain(problems[0]) if len(problems) == 1 else "".join(f"\n- {plain(p)}" for p in problems)
        st.error("Nothing was written: " + listed)
        return None
    finally:
        bar.empty()
