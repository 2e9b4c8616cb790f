"""Tables for display and download, labelled and formatted in one place (ui/columns.py).

Downloads keep exact decimals; the screen gets numbers it can sort, formatted to the cent, with
labels for headers, dates as dates, no internal ids, the client's name a link to its page, and a
totals line under tables of money."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from etl import exports
from ui import columns
from ui.format import money

CLIENT_PAGE = "client"  # pages/client.py, as a URL path
_CURRENCY_FORMATS = {"USD": "dollar", "EUR": "euro", "JPY": "yen"}  # Streamlit's presets; others: localized


def client_link(customer_id: str, name: str) -> str:
    """The client page's address for one client (bookmarkable); the link column shows the name."""
    return f"{CLIENT_PAGE}?{urlencode({'name': name, 'client': customer_id})}"


def _kind(frame: pd.DataFrame, name: str, money_names: set[str]) -> str:
    kind = columns.column(name).kind
    if name in money_names:
        return columns.MONEY
    if kind == columns.TEXT and frame[name].map(lambda v: isinstance(v, (date, datetime))).any():
        return columns.DATE
    return kind


def _config(name: str, kind: str, currency: str):
    meta = columns.column(name)
    label, help_text = meta.label, meta.help
    if kind == columns.MONEY:
        fmt = _CURRENCY_FORMATS.get(currency)
        return st.column_config.NumberColumn(label if fmt else f"{label} ({currency})", format=fmt or "localized",
                                             help=help_text)
    formats = {columns.FRACTION: "percent", columns.DAYS: "%.1f", columns.COUNT: "%d", columns.RATIO: "%.2f×",
               columns.PERCENT_POINTS: "%.1f %%"}
    if kind in formats:
        return st.column_config.NumberColumn(label, format=formats[kind], help=help_text)
    if kind == columns.DATE:
        return st.column_config.DateColumn(label, format="D MMM YYYY", help=help_text)
    if kind == columns.FLAG:
        return st.column_config.CheckboxColumn(label, help=help_text)
    return st.column_config.TextColumn(label, help=help_text)


def _for_screen(frame: pd.DataFrame, currency: str) -> tuple[pd.DataFrame, dict]:
    money_names = set(exports.money_columns(frame))
    shown, config = pd.DataFrame(index=frame.index), {}
    for name in frame.columns:
        if name in columns.HIDDEN:
            continue
        kind = _kind(frame, name, money_names)
        values = frame[name]
        if kind == columns.MONEY:
            values = values.map(lambda v: None if v is None or pd.isna(v) else float(v))  # display only, ≤ 15 digits
        elif kind == columns.DATE:
            values = pd.to_datetime(values, errors="coerce")  # empty dates show blank, not None
        elif kind in (columns.FRACTION, columns.DAYS, columns.COUNT, columns.RATIO, columns.PERCENT_POINTS):
            values = pd.to_numeric(values, errors="coerce")
        shown[name] = values
        config[name] = _config(name, kind, currency)
    if "customer" in shown and "customer_id" in frame:
        shown["customer"] = [client_link(i, n) for i, n in zip(frame["customer_id"], frame["customer"])]
        config["customer"] = st.column_config.LinkColumn(
            "Client", display_text=r"name=([^&]*)", help="Opens the client's page (in a new tab).")
    return shown, config


def show(frame: pd.DataFrame, key: str, currency: str = "USD", totals: bool = False,
         choose_into: tuple[str, str] | None = None, **column_config) -> None:
    """A labelled, formatted table. `totals`: a line under it with each money column's sum.
    `choose_into` (widget key, column): a click on a row puts its value of `column` into that
    widget (a picker beside the table), so the drill-down it drives has one source of truth."""
    shown, config = _for_screen(frame, currency)
    config.update(column_config)
    chooser = {}
    if choose_into is not None:
        widget, column = choose_into

        def chosen() -> None:
            rows = st.session_state[key].selection.rows
            if rows:
                st.session_state[widget] = frame[column].iloc[rows[0]]
        chooser = {"on_select": chosen, "selection_mode": "single-row"}
    st.dataframe(shown, hide_index=True, column_config=config, key=key, width="stretch", **chooser)
    if totals and not frame.empty:
        sums = [f"{columns.column(c).label} **{money(sum(frame[c].dropna(), Decimal(0)), currency)}**"
                for c in exports.money_columns(frame) if c not in columns.HIDDEN]
        st.caption(f"Total of {len(frame):,} rows · " + " · ".join(sums))


def downloads(frame: pd.DataFrame, stem: str, key: str, heading: tuple[str, ...] = ()) -> None:
    """CSV and Excel buttons side by side: amounts written exactly, cells safe to open in a
    spreadsheet (etl/exports.py). The CSV keeps the metric's column names for machines; the Excel
    file is for people: `heading` lines (what, as of when, which company), labels, a totals row.
    The files are made when a button is pressed, not on every rerun."""
    csv_column, excel_column, _ = st.columns([1, 1, 4])
    csv_column.download_button(
        "Download CSV", lambda: exports.csv_text(frame).encode(), f"{stem}.csv", "text/csv", key=f"{key}-csv"
    )
    labels = {name: columns.column(name).label for name in frame.columns}
    excel_column.download_button(
        "Download Excel", lambda: exports.excel_bytes(frame, stem, heading=heading, labels=labels), f"{stem}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"{key}-xlsx",
    )
