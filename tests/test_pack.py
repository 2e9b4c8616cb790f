"""The monthly review pack: `python -m etl pack` on the demo, read back as a person reads it
(pdftotext, pdftoppm, a real browser), its sentences checked on the hand-made sample book, and
bad input refused with exit code 2 and nothing written. `--email` through a real SMTP server on
127.0.0.1 (aiosmtpd, tests/smtp_server.py): what arrives, what is recorded, and each refusal.

The demo's pack is made once for the module, as PDF (and emailed) and as HTML by two runs of the
command, on a copy of the demo (the send is recorded in it)."""

from __future__ import annotations

import getpass
import html
import re
import shutil
import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from PIL import Image

import metrics
from core.access import VIEWER, Actor
from core.db import read_only
from core.errors import AccessError, SendError
from core.money import money
from core.settings import Settings
from core.units import days, percent
from etl import pack
from etl.cli import main
from tests import browser as real_browser
from tests.books import write_sample_book
from tests.conftest import DEMO_AS_OF
from tests.smtp_server import PASSWORD, SENDER, USER, running

# Plain SMTP with AUTH is what the loopback tests speak; aiosmtpd warns about it, rightly elsewhere.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
MONTH, AS_OF, BEFORE = "2026-10", date(2026, 10, 31), date(2026, 9, 30)
TO = "owner@northwind.example, Finance@NORTHWIND.example"
RECIPIENTS = ["owner@northwind.example", "Finance@northwind.example"]  # as email_validator writes them
TITLES = ["Monthly review · October 2026", "Receivables and aging", "Collection KPIs", "Top overdue clients", "Autopay",
          "Recurring revenue", "Cash forecast, 13 weeks", "How last month's forecast did"]


def pdf_text(path: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return subprocess.run(["pdftotext", "-layout", *pages, str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture(scope="module")
def runs(demo_db, tmp_path_factory):
    """The PDF written and emailed by one run, the HTML written by another."""
    real_browser.skip_without_chromium()
    if not shutil.which("pdftotext"):
        pytest.skip("poppler-utils is not installed (apt-get install poppler-utils)")
    folder, copy = tmp_path_factory.mktemp("pack"), tmp_path_factory.mktemp("pack-db") / "demo.duckdb"
    shutil.copy(demo_db, copy)
    with running() as server, pytest.MonkeyPatch.context() as patch:
        for name, value in server.settings().items():
            patch.setenv(name, value)
        assert main(["pack", "--db", str(copy), "--month", MONTH, "--out", str(folder / "pack.pdf"), "--email", TO]) == 0
    assert main(["pack", "--db", str(copy), "--month", MONTH, "--out", str(folder / "pack.html")]) == 0
    return SimpleNamespace(folder=folder, db=copy, received=server.received)


@pytest.fixture(scope="module")
def made(runs):
    return runs.folder


@pytest.fixture(scope="module")
def expected(demo_db):
    with read_only(demo_db) as con:
        return {
            "now": metrics.ar_summary(con, AS_OF).iloc[0], "before": metrics.ar_summary(con, BEFORE).iloc[0],
            "kpis": metrics.kpis(con, AS_OF, 90).iloc[0], "adoption": metrics.autopay_adoption(con, AS_OF).iloc[0],
            "mrr": metrics.recurring_revenue_summary(con, AS_OF).iloc[0],
            "forecast": metrics.forecast_totals(metrics.cash_forecast(con, AS_OF)),
            "at_risk": metrics.at_risk_total(metrics.invoices_at_risk(con, AS_OF)),
            "worklist": metrics.collections_worklist(con, AS_OF),
        }


def overdue_sentence(expected) -> str:
    """The cover's second sentence, from the metrics."""
    now, before = expected["now"], expected["before"]
    top = expected["worklist"].head(3)
    share = float(sum(top["overdue"], start=Decimal("0.00")) / now.overdue_ar)
    moved = "fell" if now.overdue_ar < before.overdue_ar else "rose"
    change = percent(abs(float((now.overdue_ar - before.overdue_ar) / before.overdue_ar)))
    return (f"Overdue A/R {moved} {change} to {money(now.overdue_ar)}; three clients hold {percent(share)} of it: "
            f"{top['customer'].iloc[0]}, {top['customer'].iloc[1]} and {top['customer'].iloc[2]}.")


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
    assert "At risk" in text and money(expected["at_risk"]) in text  # the forecast's at-risk money, apart
    assert overdue_sentence(expected) in " ".join(text.split())


def overdue_rows(page_html: str) -> list[list[str]]:
    """The cells of the HTML pack's top-overdue table, as text."""
    section = re.search(r'<section id="overdue">(.*?)</section>', page_html, re.S)[1]
    return [[html.unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", section, re.S) if "<td" in row]


def test_the_top_overdue_clients_carry_their_latest_note_or_promise(made, expected, demo_db):
    """Each client's newest note, call, email or promise in its own collections history (the
    metric, one client at a time); the demo's generated history has all four, and reminders."""
    rows = overdue_rows((made / "pack.html").read_text())
    top = expected["worklist"].head(pack.TOP_OVERDUE_CLIENTS)
    assert [row[0] for row in rows] == top["customer"].tolist()
    kinds = set()
    with read_only(demo_db) as con:
        for row, customer_id in zip(rows, top["customer_id"]):
            history = metrics.collection_timeline(con, AS_OF, customer_id)
            said = history[history["kind"].isin(["note", "call", "email", "promise"])]
            if said.empty:
                assert row[-1] == "–"
                continue
            latest = said.iloc[0]
            kinds.add(latest["kind"])
            status = "" if pd.isna(latest["status"]) else f" ({latest['status']})"
            assert row[-1].startswith(f"{latest['happened_on']} · {latest['kind']}{status}: "), row[-1]
            assert " ".join(latest["text"].split())[:60] in row[-1]
            assert history.iloc[0]["happened_on"] >= latest["happened_on"]
    assert {"call", "note", "promise"} <= kinds  # not only reminders: what people wrote
    assert any(row[-1] == "–" for row in rows)  # and a client nobody has written about yet


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


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The hand-made sample book and its pack's figures for March 2026 (no Chromium needed)."""
    db = write_sample_book(tmp_path_factory.mktemp("sample") / "sample.duckdb")
    with read_only(db) as con:
        data = pack.pack_data(con, pack.pack_month(con, "2026-03", date(2026, 4, 15)))
    return SimpleNamespace(db=db, data=data, view=pack.pack_view(data, "Hand-made MSP", date(2026, 4, 15)))


def test_sentences_on_the_sample_book_as_worked_out_by_hand(sample):
    """At 2026-03-31 (tests/books.py): open I1 600.00 current, I2 200.00, I3 120.50, I6 486.67
    (CAD 666.67 at 0.73), I8 80.00 (Dune, a sub-customer of Acme) -> A/R 1,487.17, overdue 887.17.
    At 2026-02-28: I2 250.00, I3 120.50, I8 80.00 overdue; I4 300.00 and I6 730.00 not yet due ->
    A/R 1,480.50, overdue 450.50. So A/R rose 0.45 %, overdue rose 96.9 %, and Cedar 486.67, Acme
    280.00 (with Dune) and Birch 120.50 hold all of it."""
    sentences = pack.headline_sentences(sample.data)
    assert sentences[:2] == [
        "Total A/R rose 0.5% to $1,487.17, 40.3% of it current.",
        "Overdue A/R rose 96.9% to $887.17; three clients hold 100.0% of it: Cedar CPA, Acme Dental and Birch Legal.",
    ]
    overdue = next(page for page in sample.view["pages"] if page["id"] == "overdue")
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


# --- by email -----------------------------------------------------------------------------------


def test_the_pack_is_emailed_with_its_sentences_and_the_pdf_attached_and_recorded(runs, expected):
    [received] = runs.received
    message = received.message
    assert received.mail_from == SENDER and received.rcpt_tos == RECIPIENTS
    assert message["To"] == ", ".join(RECIPIENTS)
    assert message["Subject"] == "Northwind Managed IT (demo) · monthly review · October 2026"
    body = message.get_body(("plain",)).get_content()
    said = [line.removeprefix("- ") for line in body.splitlines() if line.startswith("- ")]
    cover = " ".join(pdf_text(runs.folder / "pack.pdf", 1).split())
    assert len(said) >= 6 and all(sentence in cover for sentence in said)  # the cover's sentences, each
    assert overdue_sentence(expected) in said
    [attachment] = list(message.iter_attachments())
    assert (attachment.get_filename(), attachment.get_content_type()) == ("review-2026-10.pdf", "application/pdf")
    content = attachment.get_content()
    assert content.startswith(b"%PDF") and content == (runs.folder / "pack.pdf").read_bytes()  # printed once
    (runs.folder.parent / "attached.pdf").write_bytes(content)
    assert money(expected["now"].overdue_ar) in pdf_text(runs.folder.parent / "attached.pdf")
    with read_only(runs.db) as con:
        [logged] = metrics.pack_deliveries(con).to_dict("records")
    assert {key: logged[key] for key in ("month", "as_of", "company", "status", "via", "subject", "attachment", "author")} == {
        "month": date(2026, 10, 1), "as_of": AS_OF, "company": "Northwind Managed IT (demo)", "status": "sent",
        "via": "smtp", "subject": message["Subject"], "attachment": "review-2026-10.pdf", "author": f"os:{getpass.getuser()}"}
    assert list(logged["recipients"]) == RECIPIENTS and logged["message_id"] == message["Message-ID"].strip()
    assert isinstance(logged["sent_at"], datetime)


def logged(db) -> int:
    with read_only(db) as con:
        return len(metrics.pack_deliveries(con))


def use(monkeypatch, settings: dict) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("to, setting, says", [
    ("owner at northwind", {}, "--email 'owner at northwind' is not an email address"),
    (" , ", {}, "--email names no address"),
    (TO, {"LEDGERLIGHT_SMTP_FROM": "billing at northwind"}, "LEDGERLIGHT_SMTP_FROM 'billing at northwind' is not an email address"),
    (TO, {"LEDGERLIGHT_SMTP_HOST": ""}, "email is not configured: set LEDGERLIGHT_SMTP_HOST"),
])
def test_a_bad_address_or_setting_is_refused_before_any_work(capsys, monkeypatch, runs, tmp_path, to, setting, says):
    with running() as server:
        use(monkeypatch, server.settings() | setting)
        if setting.get("LEDGERLIGHT_SMTP_HOST") == "":
            monkeypatch.delenv("LEDGERLIGHT_SMTP_HOST")
        assert says in refused(capsys, tmp_path, "--db", str(runs.db), "--month", MONTH, "--out", str(tmp_path / "p.pdf"),
                               "--email", to)
        assert server.received == []
    assert logged(runs.db) == 1  # the module's own send, nothing more


def test_an_unreachable_server_or_a_refused_login_is_refused_before_any_work(capsys, monkeypatch, runs, tmp_path):
    with running() as server:
        stopped = server.settings()
    use(monkeypatch, stopped)  # the server has stopped: nothing listens on its port
    err = refused(capsys, tmp_path, "--db", str(runs.db), "--month", MONTH, "--out", str(tmp_path / "p.pdf"), "--email", TO)
    assert f"nothing answers on 127.0.0.1:{stopped['LEDGERLIGHT_SMTP_PORT']} (connection refused)" in err
    with running() as server:
        use(monkeypatch, server.settings(LEDGERLIGHT_SMTP_PASSWORD="wrong-" + PASSWORD))
        err = refused(capsys, tmp_path, "--db", str(runs.db), "--month", MONTH, "--email", TO)
        assert server.received == []
    assert f"refused the login of '{USER}' (535" in err and "nothing was sent" in err and PASSWORD not in err
    assert logged(runs.db) == 1


def test_sending_needs_the_collector_role(sample):
    viewer = Actor("vic@northwind.example", VIEWER)
    with pytest.raises(AccessError, match="email the review pack needs the collector role"):
        pack.check_email(viewer, TO)
    with pytest.raises(AccessError, match="email the review pack needs the collector role"):
        pack.email_pack(sample.db, viewer, pack.Pack(sample.view, "", {}), RECIPIENTS, b"%PDF-1.4")
    assert logged(sample.db) == 0


def test_a_refused_or_broken_send_is_not_recorded_as_sent(sample, monkeypatch):
    """The hand-made book's pack (a stand-in PDF: no Chromium needed) through a server that
    refuses mail without a login, then one whose connection breaks while it holds the message."""
    collector, built = Actor("cara@northwind.example", "collector"), pack.Pack(sample.view, "", {})
    with running() as server:
        use(monkeypatch, server.settings(login=False))
        with pytest.raises(SendError, match=r"refused the message \(530 .*\); the pack was not sent"):
            pack.email_pack(sample.db, collector, built, RECIPIENTS, b"%PDF-1.4")
    assert logged(sample.db) == 0
    with running() as server:
        server.recorder.before_answer = lambda count, smtp: smtp.transport.close()
        use(monkeypatch, server.settings())
        with pytest.raises(SendError, match="the pack may have gone, so it stays recorded as 'sending'"):
            pack.email_pack(sample.db, collector, built, RECIPIENTS, b"%PDF-1.4")
    with read_only(sample.db) as con:
        assert metrics.pack_deliveries(con)[["status", "subject", "author"]].values.tolist() == [
            ["sending", "Hand-made MSP · monthly review · March 2026", "cara@northwind.example"]]
