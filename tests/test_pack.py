"""The monthly review pack: `python -m etl pack` on the demo, read back as a person reads it
(pdftotext, pdftoppm, a real browser), its sentences checked on the hand-made sample book, and
bad input refused with exit code 2 and nothing written.

The demo's pack is made once for the module, as PDF and as HTML by two runs of the command."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

import metrics
from core.db import read_only
from core.money import money
from core.settings import Settings
from core.units import days, percent
from etl import pack
from etl.cli import main
from tests import browser as real_browser
from tests.books import write_sample_book
from tests.conftest import DEMO_AS_OF

MONTH, AS_OF, BEFORE = "2026-10", date(2026, 10, 31), date(2026, 9, 30)
TITLES = ["Monthly review · October 2026", "Receivables and aging", "Collection KPIs", "Top overdue clients", "Autopay",
          "Recurring revenue", "Cash forecast, 13 weeks", "How last month's forecast did"]


def pdf_text(path: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", "-layout", *pages, str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(scope="module")
def made(demo_db, tmp_path_factory):
    real_browser.skip_without_chromium()
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils is not installed (apt-get install poppler-utils)")
    folder = tmp_path_factory.mktemp("pack")
    for suffix in ("pdf", "html"):
        assert main(["pack", "--db", str(demo_db), "--month", MONTH, "--out", str(folder / f"pack.{suffix}")]) == 0
    return folder


@pytest.fixture(scope="module")
def expected(demo_db):
    with read_only(demo_db) as con:
        return {
            "now": metrics.ar_summary(con, AS_OF).iloc[0], "before": metrics.ar_summary(con, BEFORE).iloc[0],
            "kpis": metrics.kpis(con, AS_OF, 90).iloc[0], "adoption": metrics.autopay_adoption(con, AS_OF).iloc[0],
            "mrr": metrics.recurring_revenue_summary(con, AS_OF).iloc[0],
            "forecast": metrics.forecast_totals(metrics.cash_forecast(con, AS_OF)),
            "worklist": metrics.collections_worklist(con, AS_OF),
        }


def test_every_headline_figure_is_the_metric_for_the_month(made, expected):
    text = pdf_text(made / "pack.pdf")
    now, before, kpi, adoption = expected["now"], expected["before"], expected["kpis"], expected["adoption"]
    for figure in (money(now.total_ar), money(now.overdue_ar), percent(now.pct_current), days(kpi.dso),
                   f"{adoption.autopay_clients} of {adoption.active_recurring_clients}", percent(adoption.adoption_by_mrr),
                   money(expected["mrr"]["mrr"]), money(expected["forecast"]["expected"])):
        assert figure in text, figure
    # each beside its change since the end of September
    assert f"{money(now.total_ar - before.total_ar)} ({percent(float((now.total_ar - before.total_ar) / before.total_ar))})" in text
    assert "38–42 days" in text  # the DSO's CRF median beside it
    top = expected["worklist"].head(3)
    share = float(sum(top["overdue"], start=Decimal("0.00")) / now.overdue_ar)
    moved = "fell" if now.overdue_ar < before.overdue_ar else "rose"
    change = percent(abs(float((now.overdue_ar - before.overdue_ar) / before.overdue_ar)))
    sentence = (f"Overdue A/R {moved} {change} to {money(now.overdue_ar)}; three clients hold {percent(share)} of it: "
                f"{top['customer'].iloc[0]}, {top['customer'].iloc[1]} and {top['customer'].iloc[2]}.")
    assert sentence in " ".join(text.split())


def test_one_page_per_topic_after_a_cover_and_none_blank(made, tmp_path):
    for page, title in enumerate(TITLES, start=1):
        assert title in pdf_text(made / "pack.pdf", page), title
    assert "Generated on 25 November 2026" in pdf_text(made / "pack.pdf", 1)  # the product clock's today
    subprocess.run(["pdftoppm", "-r", "20", "-png", str(made / "pack.pdf"), str(tmp_path / "page")], check=True)
    pictures = sorted(tmp_path.glob("page-*.png"))
    assert len(pictures) == len(TITLES)
    for picture in pictures:
        grey = Image.open(picture).convert("L")
        inked = sum(grey.histogram()[:200]) / (grey.width * grey.height)
        assert inked > 0.01, picture.name  # more than the footer: text, tables or charts


def test_the_same_document_both_ways_and_the_same_bytes_each_time(made):
    """The PDF is the HTML printed: printing the HTML of the second run gives the first run's bytes."""
    chromium = Settings().chromium()
    assert pack.pack_pdf((made / "pack.html").read_text(), chromium, DEMO_AS_OF) == (made / "pack.pdf").read_bytes()


def test_the_html_pack_opens_in_a_browser_without_console_errors(made, browser):
    page = browser.new_page()
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: problems.append(request.url) if not request.url.startswith(("file:", "data:")) else None)
    page.goto((made / "pack.html").as_uri())
    charts = page.locator("img.chart")
    assert charts.count() == 6
    assert all(charts.nth(i).evaluate("image => image.complete && image.naturalWidth > 0") for i in range(charts.count()))
    assert page.locator("section").count() == len(TITLES)
    assert problems == []  # nor does it fetch anything: it works without a network
    page.close()


def test_sentences_on_the_sample_book_as_worked_out_by_hand(tmp_path):
    """At 2026-03-31 (tests/books.py): open I1 600.00 current, I2 200.00, I3 120.50, I6 486.67
    (CAD 666.67 at 0.73), I8 80.00 (Dune, a sub-customer of Acme) -> A/R 1,487.17, overdue 887.17.
    At 2026-02-28: I2 250.00, I3 120.50, I8 80.00 overdue; I4 300.00 and I6 730.00 not yet due ->
    A/R 1,480.50, overdue 450.50. So A/R rose 0.45 %, overdue rose 96.9 %, and Cedar 486.67, Acme
    280.00 (with Dune) and Birch 120.50 hold all of it."""
    db = write_sample_book(tmp_path / "sample.duckdb")
    with read_only(db) as con:
        data = pack.pack_data(con, pack.pack_month(con, "2026-03", date(2026, 4, 15)))
    sentences = pack.headline_sentences(data)
    assert sentences[:2] == [
        "Total A/R rose 0.5% to $1,487.17, 40.3% of it current.",
        "Overdue A/R rose 96.9% to $887.17; three clients hold 100.0% of it: Cedar CPA, Acme Dental and Birch Legal.",
    ]
    overdue = next(page for page in pack.pack_view(data, "Hand-made MSP", date(2026, 4, 15))["pages"] if page["id"] == "overdue")
    assert [row[:3] for row in overdue["tables"][0]["rows"]] == [
        ["Cedar CPA", "$486.67", "54.9%"], ["Acme Dental", "$280.00", "31.6%"], ["Birch Legal", "$120.50", "13.6%"]]


def refused(capsys, folder: Path, *args: str) -> str:
    folder.mkdir(exist_ok=True)
    code = main(["pack", *args])
    assert code == 2
    assert list(folder.iterdir()) == []  # nothing written, not even a part
    return capsys.readouterr().err


@pytest.mark.parametrize("month, says", [
    ("2022-01", "the books hold no data for January 2022: they run from 2023-12-01 to 2026-11-25"),
    ("2026-12", "December 2026 has not begun: today is 2026-11-25"),
    ("2026-13", "'2026-13' is not a month: use YYYY-MM"),
])
def test_a_month_without_data_or_in_the_future_is_refused(capsys, demo_db, tmp_path, month, says):
    assert says in refused(capsys, tmp_path, "--db", str(demo_db), "--month", month, "--out", str(tmp_path / "p.pdf"))


def test_an_unwritable_output_path_is_refused_before_any_work(capsys, demo_db, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    err = refused(capsys, tmp_path / "empty", "--db", str(demo_db), "--month", MONTH, "--out", str(a_file / "p.pdf"))
    assert "is a file, not a folder" in err
    a_file.unlink()
    assert "may not write in /proc" in refused(capsys, tmp_path / "empty", "--db", str(demo_db), "--month", MONTH,
                                              "--out", "/proc/review.pdf")
    assert "name a .pdf or .html file" in refused(capsys, tmp_path / "empty", "--db", str(demo_db), "--month", MONTH,
                                                 "--out", str(tmp_path / "empty" / "p.docx"))
