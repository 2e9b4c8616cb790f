"""A client's statement as of a date, as HTML and as PDF: open invoices (disputed ones marked),
unapplied credit, the aging and the balance, in the client's own currency.

Both are drawn from one view of text (`statement_view`), so they say the same. The PDF is made
with fpdf2 in Helvetica when every character is Latin-1, else in DejaVu Sans (Debian's
fonts-dejavu-core) so any name in Latin, Greek or Cyrillic script prints as written; without that
font, characters outside Latin-1 show as '?'. Its creation date is the statement's date, so the same data always
gives the same bytes.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timezone
from pathlib import Path
from urllib.parse import quote

import duckdb
import jinja2

from core.errors import InputError, SettingsError
from core.money import money
from core.settings import Settings, settings as current_settings
from metrics import statement

TEMPLATES = Path(__file__).resolve().parent / "templates"
FONT_FOLDER = Path("/usr/share/fonts/truetype/dejavu")
LINK_SETTINGS = {"payment_link": "LEDGERLIGHT_PAYMENT_LINK", "autopay_link": "LEDGERLIGHT_AUTOPAY_LINK"}
INVOICE_HEADINGS = ("Invoice", "Date", "Due", "Days past due", "Total", "Open")
CREDIT_HEADINGS = ("Date", "Kind", "Reference", "Unapplied")
_HTML = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                           undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def client_links(customer_id: str, reader: Settings | None = None) -> dict[str, str]:
    """The payment and autopay-enrolment links for a client: the settings with `{customer_id}`
    filled in, '' where a setting is not set."""
    reader = reader or current_settings()
    links = {}
    for field, name in LINK_SETTINGS.items():
        template = reader.get(name)
        if template is None:
            links[field] = ""
            continue
        if not template.startswith(("https://", "http://")):
            raise SettingsError(f"{name} must be a web address starting with https:// (it may hold {{customer_id}})")
        links[field] = template.replace("{customer_id}", quote(customer_id, safe=""))
    return links


def _long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def statement_view(data: dict, payment_link: str = "") -> dict:
    """Everything a statement (metrics.statement) shows, as text."""
    as_of, client = data["as_of"], data["client"]
    invoices = [
        {"number": row["doc_number"] or row["invoice_id"], "date": row["txn_date"].isoformat(),
         "due_date": row["due_date"].isoformat(), "days_past_due": str(max(int(row["days_past_due"]), 0)),
         "total": money(row["total"], row["currency"]), "open_amount": money(row["open_amount"], row["currency"]),
         "disputed": bool(row["is_disputed"])}
        for row in data["invoices"].to_dict("records")
    ]
    credits = [
        {"date": row["txn_date"].isoformat(), "kind": "Payment" if row["kind"] == "payment" else "Credit memo",
         "reference": row["credit_id"], "amount": money(row["unapplied_amount"], row["currency"])}
        for row in data["credits"].to_dict("records")
    ]
    totals = [
        {"currency": currency, "balance": money(figures["balance"], currency), "open": money(figures["open"], currency),
         "credit": money(figures["credit"], currency), "disputed": money(figures["disputed"], currency),
         "has_disputed": figures["disputed"] != 0,
         "aging": [money(figures["aging"][label], currency) for label in data["buckets"]]}
        for currency, figures in data["totals"].items()
    ]
    return {"company": client["company"], "client": client["name"], "email": client["email"],
            "customer_id": client["customer_id"], "as_of": as_of.isoformat(), "as_of_long": _long_date(as_of),
            "buckets": data["buckets"], "totals": totals, "invoices": invoices, "credits": credits,
            "invoice_headings": INVOICE_HEADINGS, "credit_headings": CREDIT_HEADINGS, "payment_link": payment_link}


def statement_html(view: dict) -> str:
    return _HTML.get_template("statement.html").render(view)


def _latin_1(view: dict) -> bool:
    try:
        json.dumps(view, ensure_ascii=False).encode("latin-1")
        return True
    except UnicodeEncodeError:
        return False


def _font(pdf, view: dict) -> tuple[str, bool]:
    """Helvetica (built into every PDF reader: fast, small) when every character is Latin-1; else
    DejaVu Sans when installed (Latin, Greek, Cyrillic), else Helvetica with '?' for the rest."""
    regular, bold = FONT_FOLDER / "DejaVuSans.ttf", FONT_FOLDER / "DejaVuSans-Bold.ttf"
    if not _latin_1(view) and regular.exists() and bold.exists():
        pdf.add_font("DejaVu", "", str(regular))
        pdf.add_font("DejaVu", "B", str(bold))
        return "DejaVu", True
    return "Helvetica", False


def statement_pdf(view: dict) -> bytes:
    from fpdf import FPDF  # only when a PDF is made: fpdf2 takes a while to import
    from fpdf.fonts import FontFace

    pdf = FPDF(format="A4")
    pdf.set_creation_date(datetime.combine(date.fromisoformat(view["as_of"]), time(), tzinfo=timezone.utc))
    pdf.set_title(f"Statement for {view['client']} as of {view['as_of']}")
    pdf.set_author(view["company"])
    family, unicode = _font(pdf, view)

    def text(value: str) -> str:
        return value if unicode else value.encode("latin-1", "replace").decode("latin-1")

    def line(value: str, size: float = 10, style: str = "", height: float = 6) -> None:
        pdf.set_font(family, style, size)
        pdf.multi_cell(0, height, text(value), new_x="LMARGIN", new_y="NEXT")

    def table(headings, rows, right_from: int) -> None:
        pdf.set_font(family, "", 9)
        align = tuple("LEFT" if i < right_from else "RIGHT" for i in range(len(headings)))
        with pdf.table(col_widths=None, text_align=align, headings_style=FontFace(emphasis="BOLD", fill_color=(242, 242, 242)),
                       line_height=5.5, first_row_as_headings=True) as drawn:
            for cells in [headings, *rows]:
                row = drawn.row()
                for cell in cells:
                    row.cell(text(str(cell)))
        pdf.ln(3)

    pdf.add_page()
    line("Statement", size=18, style="B", height=9)
    line(view["company"], size=10)
    pdf.ln(3)
    line(view["client"], size=11, style="B")
    line(" · ".join(part for part in (view["email"], f"client {view['customer_id']}") if part))
    line(f"As of {view['as_of_long']}")
    pdf.ln(3)
    for total in view["totals"]:
        currency = f" in {total['currency']}" if len(view["totals"]) > 1 else ""
        line(f"Balance due{currency}: {total['balance']}", size=13, style="B", height=8)
        disputed = f" · of which disputed {total['disputed']}" if total["has_disputed"] else ""
        line(f"Open invoices {total['open']} · unapplied credit {total['credit']}{disputed}")
        table(view["buckets"], [total["aging"]], right_from=0)
    line("Open invoices", size=12, style="B", height=8)
    if view["invoices"]:
        table(INVOICE_HEADINGS, [
            [invoice["number"] + (" (disputed)" if invoice["disputed"] else ""), invoice["date"], invoice["due_date"],
             invoice["days_past_due"], invoice["total"], invoice["open_amount"]] for invoice in view["invoices"]
        ], right_from=3)
    else:
        line("No open invoices.")
    if view["credits"]:
        line("Unapplied credit", size=12, style="B", height=8)
        table(CREDIT_HEADINGS, [[c["date"], c["kind"], c["reference"], c["amount"]] for c in view["credits"]], right_from=3)
    if view["payment_link"]:
        line(f"Pay online: {view['payment_link']}")
    return bytes(pdf.output())


def statement_file_name(customer_id: str, as_of: date, suffix: str = "pdf") -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in customer_id)
    return f"statement-{safe}-{as_of.isoformat()}.{suffix}"


def render_statement(con: duckdb.DuckDBPyConnection, as_of: date, customer_id: str, kind: str,
                     reader: Settings | None = None) -> bytes:
    """The statement as PDF (`kind` 'pdf') or HTML ('html') bytes."""
    view = statement_view(statement(con, as_of, customer_id), client_links(customer_id, reader)["payment_link"])
    if kind == "pdf":
        return statement_pdf(view)
    if kind == "html":
        return statement_html(view).encode()
    raise InputError(f"a statement is made as pdf or html, not {kind!r}")


def write_statement(con: duckdb.DuckDBPyConnection, as_of: date, customer_id: str, out: str | Path) -> Path:
    """Write the statement to `out`; its suffix (.pdf or .html) says which."""
    target = Path(out)
    kind = target.suffix.lower().lstrip(".")
    if kind not in ("pdf", "html"):
        raise InputError(f"{target}: name the file .pdf or .html to say which statement to make")
    content = render_statement(con, as_of, customer_id, kind)
    try:
        target.write_bytes(content)
    except OSError as exc:
        raise InputError(f"could not write {target}: {exc.strerror or exc}") from None
    return target
