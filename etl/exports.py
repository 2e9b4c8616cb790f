"""Files a person opens in a spreadsheet: CSV and Excel, safe to open.

A client name such as `=HYPERLINK("http://…")` or `@SUM(…)` comes from the books, and a
spreadsheet would run it as a formula. In CSV, as OWASP recommends (CSV Injection), a text cell
that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading `'`, so
it reads as text. In Excel files every text cell is typed as text, which Excel never runs, so the
name reads as it is. Numbers are numbers: -4.51 stays a negative amount.
"""

from __future__ import annotations

import io
from datetime import date, datetime
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


def money_columns(frame: pd.DataFrame) -> list[str]:
    """The columns holding amounts: those with Decimal values (money stays Decimal until shown)."""
    return [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, Decimal)).any()]


def csv_text(frame: pd.DataFrame) -> str:
    """CSV with exact amounts (Decimal as written) and inert text cells."""
    return spreadsheet_safe(frame).to_csv(index=False)


def excel_bytes(frame: pd.DataFrame, sheet: str, heading: tuple[str, ...] = (),
                labels: dict[str, str] | None = None) -> bytes:
    """An .xlsx workbook of one sheet: `heading` lines first (what, as of when, which company),
    then the table under `labels` (default: the column names), amounts as numbers to the cent
    with a totals row of their exact sums, dates as dates; every text cell typed as text (so `=…`
    is shown, never run), characters Excel cannot hold replaced by �."""
    from openpyxl import Workbook  # only when someone downloads: openpyxl takes a while to import
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    book = Workbook()
    page = book.active
    page.title = sheet[:31]

    def held(value):
        if isinstance(value, str):
            return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        return None if _missing(value) else value

    for line in heading:
        page.append([held(line)])
    if heading:
        page.append([])
    page.append([held(str((labels or {}).get(column, column))) for column in frame.columns])
    header_row = page.max_row
    for row in frame.itertuples(index=False):
        page.append([held(value) for value in row])
    sums = {c: sum((v for v in frame[c] if isinstance(v, Decimal)), Decimal(0)) for c in money_columns(frame)}
    if sums and len(frame):
        named = next((c for c in frame.columns if c not in sums), None)  # where the word "Total" goes
        page.append(["Total" if c == named else sums.get(c) for c in frame.columns])
        for cell in page[page.max_row]:
            cell.font = Font(bold=True)
    for cell in page[header_row]:
        cell.font = Font(bold=True)
    page.freeze_panes = page.cell(row=header_row + 1, column=1)
    for cells in page.iter_rows(min_row=header_row):
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # openpyxl would otherwise store '=…' as a formula
            elif isinstance(cell.value, Decimal):
                cell.number_format = "#,##0.00"
            elif isinstance(cell.value, (date, datetime)):
                cell.number_format = "yyyy-mm-dd"
    for cells in page.iter_rows(max_row=header_row - 1) if heading else ():
        for cell in cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
