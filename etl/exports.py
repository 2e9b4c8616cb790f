"""Files a person opens in a spreadsheet: CSV and Excel, safe to open.

A client name such as `=HYPERLINK("http://…")` or `@SUM(…)` comes from the books, and a
spreadsheet would run it as a formula. In CSV, as OWASP recommends (CSV Injection), a text cell
that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading `'`, so
it reads as text. In Excel files every text cell is typed as text, which Excel never runs, so the
name reads as it is. Numbers are numbers: -4.51 stays a negative amount.
"""

from __future__ import annotations

import io
from decimal import Decimal

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell a spreadsheet would run as a formula made inert."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(_safe_cell)
    safe.columns = [_safe_cell(str(column)) for column in safe.columns]
    return safe


def csv_text(frame: pd.DataFrame) -> str:
    """CSV with exact amounts (Decimal as written) and inert text cells."""
    return spreadsheet_safe(frame).to_csv(index=False)


def excel_bytes(frame: pd.DataFrame, sheet: str) -> bytes:
    """An .xlsx workbook of one sheet: amounts as numbers to the cent, every text cell typed as
    text (so `=…` is shown, never run), characters Excel cannot hold replaced by �."""
    from openpyxl import Workbook  # only when someone downloads: openpyxl takes a while to import
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = Workbook()
    page = book.active
    page.title = sheet[:31]
    def held(value):
        if isinstance(value, str):
            return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        return None if _missing(value) else value

    page.append([held(str(column)) for column in frame.columns])
    for row in frame.itertuples(index=False):
        page.append([held(value) for value in row])
    for cells in page.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # openpyxl would otherwise store '=…' as a formula
            elif isinstance(cell.value, Decimal):
                cell.number_format = "#,##0.00"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
