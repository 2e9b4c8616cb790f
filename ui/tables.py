"""Tables for display and download. Downloads keep exact decimals; the screen gets numbers it
can sort, formatted to the cent."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import streamlit as st

from etl import exports


def money_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, Decimal)).any()]


def show(frame: pd.DataFrame, key: str | None = None, **column_config):
    """st.dataframe with money columns as sortable numbers shown to the cent."""
    shown = frame.copy()
    config = {}
    for column in money_columns(frame):
        shown[column] = shown[column].astype(float)  # display only: ≤ 15 digits, shown to 2 places
        config[column] = st.column_config.NumberColumn(column, format="accounting")
    config.update(column_config)
    return st.dataframe(shown, hide_index=True, column_config=config, key=key, width="stretch")


def downloads(frame: pd.DataFrame, stem: str, key: str) -> None:
    """CSV and Excel buttons side by side: amounts written exactly, cells safe to open in a
    spreadsheet (etl/exports.py). The files are made when a button is pressed, not on every rerun."""
    csv_column, excel_column, _ = st.columns([1, 1, 4])
    csv_column.download_button(
        "Download CSV", lambda: exports.csv_text(frame).encode(), f"{stem}.csv", "text/csv", key=f"{key}-csv"
    )
    excel_column.download_button(
        "Download Excel", lambda: exports.excel_bytes(frame, stem), f"{stem}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key=f"{key}-xlsx",
    )
