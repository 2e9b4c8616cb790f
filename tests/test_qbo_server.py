"""The QuickBooks Online test server, driven by the real intuitlib and python-quickbooks clients.

Each shape follows an Intuit document or sample; tests/fixtures/quickbooks/NOTES.md (cited as §n)
quotes them and names their source."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import (AuthorizationException, QuickbooksException, SevereException,
                                   ValidationException)
from quickbooks.objects.company_info import CompanyInfo
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.preferences import Preferences
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tests.qbo_server import ACCOUNTS_RECEIVABLE, CHECKING, CREDIT_CARD, QuickBooksServer

D = Decimal
NOW = datetime(2026, 11, 25, 18, 0, tzinfo=timezone.utc)   # 10:00 in the company's Pacific time
REPORT_DATE = date(2026, 11, 25)


@pytest.fixture(autouse=True)
def insecure_loopback(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def server():
    with QuickBooksServer(now=NOW) as running:
        yield running


def auth_client(server):
    return AuthClient(server.client_id, server.client_secret, server.redirect_uri, environment=server.discovery_url)


def connect(server):
    qb = QuickBooks(auth_client=auth_client(server), refresh_token=server.current_refresh_token,
                    company_id=server.realm_id, minorversion=75, use_decimal=True)
    qb.api_url_v3 = server.api_base
    return qb


def raw(server, method, path, headers=None, **kwargs):
    """A plain requests call to a company endpoint with the current bearer token."""
    headers = {"Authorization": f"Bearer {server.access_token}", "Accept": "application/json", **(headers or {})}
    return requests.request(method, f"{server.api_base}/company/{server.realm_id}/{path}",
                            headers=headers, timeout=5, **kwargs)


def raw_query(server, text):
    return raw(server, "POST", "query", headers={"Content-Type": "application/text"},
               params={"minorversion": 75}, data=text)


def one(qb, entity, record_id):
    (row,) = qb.query(f"SELECT * FROM {entity} WHERE Id = '{record_id}'")["QueryResponse"][entity]
    return row


def link_types(payment):
    return [link["TxnType"] for line in payment["Line"] for link in line["LinkedTxn"]]


# ---- OAuth ------------------------------------------------------------------------------------------

def test_refresh_rotates_and_the_old_token_is_refused(server):
    auth = auth_client(server)
    auth.refresh(refresh_token="rt-0")
    assert (auth.refresh_token, auth.access_token, auth.id_token) == ("rt-1", "at-1", None)
    assert (server.current_refresh_token, server.access_token, server.refreshes) == ("rt-1", "at-1", 1)

    with pytest.raises(AuthClientError) as refused:
        auth.refresh(refresh_token="rt-0")
    assert refused.value.status_code == 400 and b"invalid_grant" in refused.value.content

    auth.refresh()   # the rotated one works, and rotates again
    assert (auth.refresh_token, server.refreshes) == ("rt-2", 2)


def test_token_endpoint_wants_the_client_credentials(server):
    wrong = AuthClient(server.client_id, "not-the-secret", server.redirect_uri, environment=server.discovery_url)
    with pytest.raises(AuthClientError) as refused:
        wrong.refresh(refresh_token="rt-0")
    assert refused.value.status_code == 401 and b"invalid_client" in refused.value.content


def test_authorization_code_grant(server):
    auth = auth_client(server)
    assert auth.token_endpoint == server.base_url + "/oauth2/v1/tokens/bearer"
    with pytest.raises(AuthClientError):
        auth.get_bearer_token("bad-code", realm_id=server.realm_id)
    auth.get_bearer_token("good-code", realm_id=server.realm_id)
    assert auth.refresh_token == server.current_refresh_token == "rt-1"
    assert server.refreshes == 0


def test_quickbooks_refreshes_on_construction_and_uses_the_server(server):
    qb = connect(server)
    assert qb.refresh_token == server.current_refresh_token == "rt-1"
    assert qb.api_url == server.api_base
    assert qb.query("SELECT COUNT(*) FROM Invoice")["QueryResponse"] == {"totalCount": 0}
    assert server.requests == {"discovery": 1, "token": 1, "query": 1}


def test_expired_access_token_until_the_session_gets_the_new_one(server):
    qb = connect(server)
    server.expire_access_token()
    with pytest.raises(AuthorizationException) as refused:
        qb.query("SELECT * FROM Invoice")
    assert refused.value.error_code == 401 and '"fault"' in refused.value.detail

    qb.auth_client.refresh()
    with pytest.raises(AuthorizationException):   # the session still holds the old token
        qb.query("SELECT * FROM Invoice")
    qb.session.token = {"access_token": qb.auth_client.access_token, "token_type": "Bearer"}
    assert qb.query("SELECT * FROM Invoice")["QueryResponse"] == {}


# ---- queries ------------------------------------------------------------------------------------------

def test_paged_query_of_2500_invoices(server):
    customer = server.add_customer("Acme")
    for n in range(2500):
        server.add_invoice(customer, date(2026, 1, 1) + timedelta(days=n % 300), "10.00")
    qb = connect(server)

    pages = [qb.query(f"SELECT * FROM Invoice ORDERBY Id STARTPOSITION {start} MAXRESULTS 1000")["QueryResponse"]
             for start in (1, 1001, 2001, 3001)]
    assert [page.get("maxResults") for page in pages] == [1000, 1000, 500, None]
    assert [page.get("startPosition") for page in pages[:3]] == [1, 1001, 2001]
    assert pages[3] == {}   # an empty page has no entity key
    ids = [row["Id"] for page in pages[:3] for row in page["Invoice"]]
    assert len(set(ids)) == 2500 and ids == sorted(ids, key=int)
    assert pages[0]["Invoice"][0]["TotalAmt"] == D("10.00")

    assert Invoice.count(qb=qb) == 2500
    assert len(Invoice.filter(TxnDate="2026-01-01", max_results=1000, qb=qb)) == 9   # n = 0, 300, ..., 2400
    assert server.requests["query"] == 6


def test_maxresults_over_1000_is_refused(server):
    qb = connect(server)
    with pytest.raises(ValidationException) as refused:
        qb.query("SELECT * FROM Invoice MAXRESULTS 1001")
    assert refused.value.error_code == 4001


def test_default_page_is_100(server):
    customer = server.add_customer("Acme")
    for _ in range(150):
        server.add_invoice(customer, date(2026, 11, 1), "1")
    assert connect(server).query("SELECT * FROM Invoice")["QueryResponse"]["maxResults"] == 100


def test_inactive_customers_are_hidden_unless_asked_for(server):
    server.add_customer("Active Co")
    gone = server.add_customer("Gone Co", active=False)
    qb = connect(server)

    def names(where=""):
        rows = qb.query(f"SELECT * FROM Customer {where}")["QueryResponse"].get("Customer", [])
        return sorted(row["DisplayName"] for row in rows)

    assert names() == ["Active Co"]
    assert names("WHERE Active IN (true, false)") == ["Active Co", "Gone Co"]
    assert names("WHERE Active = false") == ["Gone Co"]
    assert [c.Id for c in Customer.filter(Active=False, qb=qb)] == [gone]


def test_where_operators_and_ordering(server):
    acme = server.add_customer("Acme Corp", email="ap@acme.example")
    server.add_customer("Beta LLC")
    early = server.add_invoice(acme, date(2026, 10, 1), "5.00", doc_number="A-1")
    server.now = NOW + timedelta(hours=2)
    late = server.add_invoice(acme, date(2026, 11, 1), "7.00", doc_number="A-2")
    qb = connect(server)

    def ids(text):
        return [row["Id"] for row in qb.query(text)["QueryResponse"].get("Invoice", [])]

    # 18:30 UTC written with a New York offset: only the later invoice (20:00 UTC) is after it.
    assert ids("SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > '2026-11-25T13:30:00-05:00'") == [late]
    assert ids("SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime <= '2026-11-25T10:00:00-08:00'") == [early]
    assert ids(f"SELECT * FROM Invoice WHERE Id IN ('{early}', '{late}') ORDERBY TxnDate DESC") == [late, early]
    assert ids("SELECT * FROM Invoice WHERE TxnDate >= '2026-10-15' AND TxnDate < '2026-12-01'") == [late]
    assert ids("SELECT * FROM Invoice WHERE DocNumber LIKE '%-1'") == [early]
    assert ids(f"SELECT * FROM Invoice WHERE CustomerRef = '{acme}' ORDERBY DocNumber DESC") == [late, early]
    customers = qb.query("select * from Customer where DisplayName like '%corp%'")["QueryResponse"]["Customer"]
    assert [c["PrimaryEmailAddr"]["Address"] for c in customers] == ["ap@acme.example"]
    via_get = raw(server, "GET", "query", params={"query": f"SELECT * FROM Invoice WHERE Id = '{late}'"})
    assert [row["Id"] for row in via_get.json()["QueryResponse"]["Invoice"]] == [late]


def test_rows_inserted_between_pages(server):
    customer = server.add_customer("Acme")
    for _ in range(3):
        server.add_invoice(customer, date(2026, 11, 1), "1")
    server.insert_between_pages(lambda: server.add_invoice(customer, date(2026, 11, 2), "2"))
    qb = connect(server)
    first = qb.query("SELECT * FROM Invoice STARTPOSITION 1 MAXRESULTS 2")["QueryResponse"]["Invoice"]
    second = qb.query("SELECT * FROM Invoice STARTPOSITION 3 MAXRESULTS 2")["QueryResponse"]["Invoice"]
    assert len(first) == 2 and len(second) == 2   # the row inserted after page one shows up on page two
    assert second[-1]["TotalAmt"] == D("2")


def test_recurring_templates_and_lists(server):
    term = server.add_term("Net 30", 30)
    method = server.add_payment_method("Visa", "CREDIT_CARD")
    customer = server.add_customer("Acme", terms_id=term)
    template = server.add_recurring_invoice_template(customer, "99.00", name="Monthly support",
                                                     start_date=date(2026, 1, 1), next_date=date(2026, 12, 1))
    invoice = server.add_invoice(customer, date(2026, 11, 1), "99.00", recurring_template_id=template)
    server.add_payment(customer, date(2026, 11, 5), "99.00", {invoice: "99.00"}, method_id=method)
    qb = connect(server)

    (wrapped,) = qb.query("SELECT * FROM RecurringTransaction")["QueryResponse"]["RecurringTransaction"]
    info = wrapped["Invoice"]["RecurringInfo"]
    assert (info["Name"], info["RecurType"], info["ScheduleInfo"]["NextDate"]) == \
        ("Monthly support", "Automated", "2026-12-01")
    (row,) = qb.query("SELECT * FROM Invoice")["QueryResponse"]["Invoice"]
    assert row["RecurDataRef"] == {"value": template}
    assert (row["DueDate"], row["SalesTermRef"]) == ("2026-12-01", {"value": term})
    assert qb.query("SELECT * FROM Term")["QueryResponse"]["Term"][0]["DueDays"] == 30
    assert qb.query("SELECT * FROM PaymentMethod")["QueryResponse"]["PaymentMethod"][0]["Type"] == "CREDIT_CARD"
    assert qb.query("SELECT * FROM Payment")["QueryResponse"]["Payment"][0]["PaymentMethodRef"]["value"] == method


def test_wrong_realm_is_403(server):
    qb = connect(server)
    qb.company_id = "123"
    with pytest.raises(ValidationException) as refused:
        qb.query("SELECT * FROM Invoice")
    assert refused.value.error_code == 3100


def test_query_syntax_error_is_a_validation_fault(server):
    with pytest.raises(ValidationException) as refused:
        connect(server).query("SELECT * FROM Invoice WHERE")
    assert refused.value.error_code == 4000


# ---- the ledger -------------------------------------------------------------------------------------------

def test_payments_and_credit_memos_keep_both_sides_consistent(server):
    customer = server.add_customer("Acme")
    invoice = server.add_invoice(customer, date(2026, 11, 1), "100.00")
    payment = server.add_payment(customer, date(2026, 11, 3), "70.00", {invoice: "40.00"})
    memo = server.add_credit_memo(customer, date(2026, 11, 4), "50.00")
    two_lines = server.apply_credit_memo(memo, invoice, "25.00", date(2026, 11, 5))
    one_line = server.apply_credit_memo(memo, invoice, "5.00", date(2026, 11, 6), single_line=True)
    qb = connect(server)

    def one(entity, record_id):
        return qb.query(f"SELECT * FROM {entity} WHERE Id = '{record_id}'")["QueryResponse"][entity][0]

    inv = one("Invoice", invoice)
    assert (inv["TotalAmt"], inv["Balance"], inv["SyncToken"]) == (D("100"), D("30"), "3")
    assert [link["TxnId"] for link in inv["LinkedTxn"]] == [payment, two_lines, one_line]
    assert one("Payment", payment)["UnappliedAmt"] == D("30")
    assert (one("CreditMemo", memo)["RemainingCredit"], one("CreditMemo", memo)["Balance"]) == (D("20"), D("20"))
    split = one("Payment", two_lines)
    assert (split["TotalAmt"], split["UnappliedAmt"]) == (D("0"), D("0"))
    assert [line["LinkedTxn"][0]["TxnType"] for line in split["Line"]] == ["Invoice", "CreditMemo"]
    assert [link["TxnType"] for link in one("Payment", one_line)["Line"][0]["LinkedTxn"]] == ["Invoice", "CreditMemo"]
    assert one("Customer", customer)["Balance"] == D("30") - D("30") - D("20")

    server.delete_payment(payment)
    assert one("Invoice", invoice)["Balance"] == D("70")
    with pytest.raises(ValueError):
        server.add_payment(customer, date(2026, 11, 7), "500", {invoice: "500"})


def test_edits_voids_and_foreign_currency(server):
    customer = server.add_customer("Maple Ltd", currency="CAD")
    invoice = server.add_invoice(customer, date(2026, 11, 1), "200.00", currency="CAD", exchange_rate="0.73")
    server.now = NOW + timedelta(minutes=5)
    server.edit_invoice(invoice, total="300.00", due_date=date(2026, 12, 1), doc_number="M-9")
    qb = connect(server)
    inv = qb.query("SELECT * FROM Invoice")["QueryResponse"]["Invoice"][0]
    assert (inv["TotalAmt"], inv["HomeTotalAmt"], inv["HomeBalance"]) == (D("300"), D("219"), D("219"))
    assert (inv["SyncToken"], inv["DocNumber"], inv["DueDate"]) == ("1", "M-9", "2026-12-01")
    assert inv["MetaData"]["LastUpdatedTime"] == "2026-11-25T10:05:00-08:00"

    server.void_invoice(invoice)
    inv = qb.query("SELECT * FROM Invoice")["QueryResponse"]["Invoice"][0]
    assert (inv["TotalAmt"], inv["Balance"], inv["SyncToken"]) == (D("0"), D("0"), "2")
    assert inv["PrivateNote"].startswith("Voided")


# ---- change data capture ---------------------------------------------------------------------------------

def test_cdc_returns_changes_and_deleted_stubs(server):
    customer = server.add_customer("Acme")
    kept = server.add_invoice(customer, date(2026, 11, 1), "10")
    doomed = server.add_invoice(customer, date(2026, 11, 1), "20")
    since = NOW.isoformat()
    server.now = NOW + timedelta(minutes=1)
    server.edit_invoice(kept, total="11")
    server.delete_invoice(doomed)
    payment = server.add_payment(customer, date(2026, 11, 2), "5")
    qb = connect(server)

    blocks = qb.change_data_capture("Invoice,Payment,Customer", since)["CDCResponse"][0]["QueryResponse"]
    invoices, payments, customers = blocks
    assert [row["Id"] for row in invoices["Invoice"]] == [kept, doomed]
    assert invoices["Invoice"][1] == {"domain": "QBO", "status": "Deleted", "Id": doomed,
                                      "MetaData": {"LastUpdatedTime": "2026-11-25T10:01:00-08:00"}}
    assert [row["Id"] for row in payments["Payment"]] == [payment]
    assert "Customer" not in customers
    assert qb.query(f"SELECT * FROM Invoice WHERE Id = '{doomed}'")["QueryResponse"] == {}


def test_cdc_refuses_more_than_30_days_back(server):
    qb = connect(server)
    with pytest.raises(SevereException) as refused:
        qb.change_data_capture("Invoice", (NOW - timedelta(days=31)).isoformat())
    assert "older than fixed days" in refused.value.detail
    response = raw(server, "GET", "cdc", params={"entities": "Invoice",
                                                 "changedSince": (NOW - timedelta(days=31)).isoformat()})
    assert response.status_code == 400 and response.json()["Fault"]["Error"][0]["code"] == "10000"


# ---- the aging report -------------------------------------------------------------------------------------

def report_rows(report):
    def flatten(rows):
        for row in rows:
            if "ColData" in row:
                yield row["ColData"][0]["value"], [cell["value"] for cell in row["ColData"][1:]]
            if "Rows" in row:
                yield from flatten(row["Rows"]["Row"])
            if "Summary" in row:
                yield row["Summary"]["ColData"][0]["value"], [cell["value"] for cell in row["Summary"]["ColData"][1:]]
    return dict(flatten(report["Rows"]["Row"]))


def test_aged_receivables_worked_by_hand(server):
    acme = server.add_customer("Acme")
    west = server.add_customer("Acme West", parent_id=acme)
    maple = server.add_customer("Maple", currency="CAD")
    late = server.add_invoice(acme, date(2026, 10, 1), "100.00", due_date=date(2026, 10, 15))   # 41 days late
    server.add_payment(acme, date(2026, 11, 20), "60.00", {late: "40.00"})                       # 20.00 unapplied
    server.add_payment(acme, date(2026, 11, 26), "60.00", {late: "60.00"})                       # after report date
    server.add_invoice(west, date(2026, 11, 20), "80.00", due_date=date(2026, 12, 20))           # current
    server.add_invoice(maple, date(2026, 7, 1), "200.00", currency="CAD", exchange_rate="0.75")  # 147 days late
    voided = server.add_invoice(maple, date(2026, 11, 1), "999.00")
    server.void_invoice(voided)
    server.add_invoice(maple, date(2026, 11, 30), "5.00")                                         # after report date
    qb = connect(server)

    report = qb.get_report("AgedReceivables", {"report_date": REPORT_DATE.isoformat()})
    assert [c["ColTitle"] for c in report["Columns"]["Column"]] == \
        ["", "Current", "1 - 30", "31 - 60", "61 - 90", "91 and over", "Total"]
    assert report_rows(report) == {
        # 100.00 - 40.00 paid by the report date = 60.00 in 31-60; the 20.00 unapplied, received
        # 11-20, is 5 days old: 1-30 (a credit is aged from its own date).
        "Acme": ["", "-20.00", "60.00", "", "", "40.00"],
        "Acme West": ["80.00", "", "", "", "", "80.00"],
        "Total Acme": ["80.00", "-20.00", "60.00", "0.00", "0.00", "120.00"],
        "Maple": ["", "", "", "", "150.00", "150.00"],    # 200.00 CAD x 0.75
        "TOTAL": ["80.00", "-20.00", "60.00", "0.00", "150.00", "270.00"],
    }
    assert report["Rows"]["Row"][0]["type"] == "Section"
    assert report["Rows"]["Row"][-1]["group"] == "GrandTotal"
    assert report["Rows"]["Row"][1]["ColData"][0] == {"value": "Maple", "id": maple}

    custom = qb.get_report("AgedReceivables", {"report_date": "2026-11-25", "aging_period": 15, "num_periods": 3})
    assert [c["ColTitle"] for c in custom["Columns"]["Column"]][1:] == \
        ["Current", "1 - 15", "16 - 30", "31 and over", "Total"]


# ---- faults on the wire --------------------------------------------------------------------------------------

def test_scripted_faults_on_the_wire(server):
    qb = connect(server)

    server.fail_next("query", "401")
    response = raw_query(server, "SELECT * FROM Invoice")
    assert response.status_code == 401 and response.json()["fault"]["error"][0]["code"] == "3200"

    server.fail_next("query", "429", retry_after=7)
    response = raw_query(server, "SELECT * FROM Invoice")
    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    assert response.json()["Fault"]["Error"][0]["code"] == "3001"

    server.fail_next("cdc", "429-xml")
    response = raw(server, "GET", "cdc", params={"entities": "Invoice", "changedSince": NOW.isoformat()})
    assert response.status_code == 429 and "Retry-After" not in response.headers
    assert response.text.startswith("<?xml") and 'code="3001"' in response.text

    server.fail_next("report", "503")
    response = raw(server, "GET", "reports/AgedReceivables")
    assert response.status_code == 503 and response.headers["Content-Type"].startswith("text/html")

    server.fail_next("any", "200-fault")
    response = raw_query(server, "SELECT * FROM Invoice")
    assert response.status_code == 200 and response.json()["Fault"]["type"] == "SystemFault"

    server.fail_next("query", "truncated")
    response = raw_query(server, "SELECT * FROM Invoice")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()

    server.fail_next("query", "reset")
    with pytest.raises(requests.exceptions.RequestException):
        raw_query(server, "SELECT * FROM Invoice")

    server.fail_next("query", "stall", seconds=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        qb.session.post(f"{server.api_base}/company/{server.realm_id}/query", data="SELECT * FROM Invoice",
                        headers={"Content-Type": "application/text"}, timeout=0.1)

    server.fail_next("token", "503", times=2)
    for _ in range(2):
        with pytest.raises(AuthClientError):
            qb.auth_client.refresh()
    qb.auth_client.refresh()

    assert server.requests == {"discovery": 1, "token": 4, "query": 6, "cdc": 1, "report": 1}


@pytest.mark.parametrize("fault, error, code", [
    ("401", AuthorizationException, 401),
    ("429", ValidationException, 3001),
    ("429-xml", QuickbooksException, 10000),
    ("503", QuickbooksException, 10000),
    ("200-fault", SevereException, 10000),
    ("truncated", QuickbooksException, 10000),
])
def test_how_python_quickbooks_surfaces_each_fault(server, fault, error, code):
    qb = connect(server)
    server.fail_next("query", fault)
    with pytest.raises(error) as raised:
        qb.query("SELECT * FROM Invoice")
    assert type(raised.value) is error and raised.value.error_code == code
    assert qb.query("SELECT * FROM Invoice")["QueryResponse"] == {}   # one request only


def test_a_reset_is_a_requests_exception_in_python_quickbooks(server):
    qb = connect(server)
    server.fail_next("query", "reset")
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="Connection reset by peer"):
        qb.query("SELECT * FROM Invoice")


def test_fail_next_rejects_unknown_names(server):
    with pytest.raises(ValueError):
        server.fail_next("queries", "401")
    with pytest.raises(ValueError):
        server.fail_next("query", "500")


# ---- every A/R shape of real books (NOTES.md) ------------------------------------------------------------

AR = {"value": ACCOUNTS_RECEIVABLE, "name": "Accounts Receivable (A/R)"}


def test_journal_entry_lines_on_ar_are_charges_and_credits(server):
    """API reference, JournalEntry: an A/R line names its customer in Entity {Type, EntityRef};
    API reference, Payment: a Payment line may link a JournalEntry (§1, §2)."""
    acme = server.add_customer("Acme")
    invoice = server.add_invoice(acme, date(2026, 10, 1), "100.00", due_date=date(2026, 10, 31))
    fee = server.add_journal_charge(acme, date(2026, 11, 1), "25.00", doc_number="JE-1")         # a late fee
    goodwill = server.add_journal_credit(acme, date(2026, 11, 2), "15.00", doc_number="JE-2")
    cheque = server.add_payment(acme, date(2026, 11, 10), "130.00", {invoice: "100.00", ("JournalEntry", fee): "25.00"})
    qb = connect(server)

    journal = one(qb, "JournalEntry", fee)
    assert journal["Line"][0]["JournalEntryLineDetail"] == {
        "PostingType": "Debit", "AccountRef": AR, "Entity": {"Type": "Customer", "EntityRef": {"value": acme, "name": "Acme"}}}
    assert journal["Line"][1]["JournalEntryLineDetail"] == {"PostingType": "Credit",
                                                            "AccountRef": {"value": "79", "name": "Services"}}
    assert (journal["DocNumber"], journal["TotalAmt"], journal["SyncToken"]) == ("JE-1", D("25"), "1")
    assert journal["LinkedTxn"] == [{"TxnId": cheque, "TxnType": "Payment"}]
    payment = one(qb, "Payment", cheque)
    assert link_types(payment) == ["Invoice", "JournalEntry"]
    assert payment["UnappliedAmt"] == D("5")                      # 130.00 - 100.00 - 25.00
    assert one(qb, "Customer", acme)["Balance"] == D("-20")        # 5.00 unapplied + 15.00 credited by JE-2

    later = server.add_invoice(acme, date(2026, 11, 15), "40.00")
    application = server.add_payment(acme, date(2026, 11, 16), "0", {later: "15.00", ("JournalEntry", goodwill): "15.00"})
    assert (one(qb, "Payment", application)["UnappliedAmt"], one(qb, "Invoice", later)["Balance"]) == (D("0"), D("25"))
    assert one(qb, "Customer", acme)["Balance"] == D("20")         # 40.00 - 15.00 applied - 5.00 unapplied
    assert [row["Id"] for row in qb.query("SELECT * FROM JournalEntry")["QueryResponse"]["JournalEntry"]] == [fee, goodwill]


def test_journal_entries_are_refused_as_qbo_refuses_them(server):
    """API reference, JournalEntry business rules: debits equal credits, an A/R line needs a customer."""
    acme, other = server.add_customer("Acme"), server.add_customer("Other")
    with pytest.raises(ValueError, match="must be equal"):
        server.add_journal_entry(date(2026, 11, 1), [("Debit", ACCOUNTS_RECEIVABLE, "10", acme), ("Credit", "79", "9")])
    with pytest.raises(ValueError, match="needs a customer"):
        server.add_journal_entry(date(2026, 11, 1), [("Debit", ACCOUNTS_RECEIVABLE, "10"), ("Credit", "79", "10")])
    fee = server.add_journal_charge(acme, date(2026, 11, 1), "10.00")
    with pytest.raises(ValueError, match="another customer"):
        server.add_payment(other, date(2026, 11, 2), "10.00", {("JournalEntry", fee): "10.00"})
    with pytest.raises(ValueError, match="cannot link"):
        server.add_payment(acme, date(2026, 11, 2), "10.00", {("RefundReceipt", fee): "10.00"})


def test_bad_debt_written_off_by_journal_entry(server):
    """A write-off by journal entry: Credit A/R for the customer, Debit an Expense account of
    AccountSubType BadDebts (Finance.xsd), applied to the invoice by a 0.00 Payment (§2)."""
    dormant = server.add_customer("Dormant Co")
    invoice = server.add_invoice(dormant, date(2026, 5, 2), "80.00", due_date=date(2026, 6, 1))
    bad_debts = server.add_account("Bad debts", "Expense", "BadDebts")
    journal, payment = server.write_off(dormant, date(2026, 11, 20), "80.00", bad_debt_account_id=bad_debts,
                                        invoice_id=invoice)
    qb = connect(server)

    lines = [(line["JournalEntryLineDetail"]["PostingType"], line["JournalEntryLineDetail"]["AccountRef"]["value"],
              line["Amount"]) for line in one(qb, "JournalEntry", journal)["Line"]]
    assert lines == [("Debit", bad_debts, D("80")), ("Credit", ACCOUNTS_RECEIVABLE, D("80"))]
    account = one(qb, "Account", bad_debts)
    assert (account["AccountType"], account["AccountSubType"], account["Classification"]) == ("Expense", "BadDebts", "Expense")
    application = one(qb, "Payment", payment)
    assert (application["TotalAmt"], application["UnappliedAmt"], link_types(application)) == \
        (D("0"), D("0"), ["Invoice", "JournalEntry"])
    assert (one(qb, "Invoice", invoice)["Balance"], one(qb, "Customer", dormant)["Balance"]) == (D("0"), D("0"))
    (receivable,) = qb.query("SELECT * FROM Account WHERE AccountType = 'Accounts Receivable'")["QueryResponse"]["Account"]
    assert (receivable["Id"], receivable["AccountSubType"], receivable["CurrentBalance"]) == (ACCOUNTS_RECEIVABLE, "AccountsReceivable", D("0"))
    # The day before the write-off the 80.00 is 171 days past due (2026-06-01 to 2026-11-19).
    before = qb.get_report("AgedReceivables", {"report_date": "2026-11-19"})
    assert report_rows(before)["Dormant Co"] == ["", "", "", "", "80.00", "80.00"]
    assert qb.get_report("AgedReceivables", {"report_date": "2026-11-25"})["Rows"] == {}


def test_a_deposit_line_on_ar_pays_two_invoices_through_a_zero_payment(server):
    """API reference, Deposit: a DepositLineDetail line with an Entity (the customer); on the A/R
    account it is money received. A 0.00 Payment links it (TxnLineId: "Required for Deposit") and
    the two invoices it pays (§4)."""
    server.credit_aging = "current"  # the deposit apart from the invoices it will pay, in Current
    acme = server.add_customer("Acme")
    first = server.add_invoice(acme, date(2026, 10, 1), "50.00", due_date=date(2026, 10, 31))
    second = server.add_invoice(acme, date(2026, 10, 15), "25.00", due_date=date(2026, 11, 14))
    deposit = server.add_customer_deposit(acme, date(2026, 11, 12), "75.00")
    qb = connect(server)

    body = one(qb, "Deposit", deposit)
    assert (body["TotalAmt"], body["DepositToAccountRef"]["value"]) == (D("75"), CHECKING)
    assert body["Line"] == [{"Id": "1", "LineNum": 1, "Amount": D("75"), "DetailType": "DepositLineDetail",
                             "DepositLineDetail": {"AccountRef": AR,
                                                   "Entity": {"value": acme, "name": "Acme", "type": "CUSTOMER"}}}]
    # Unapplied, QBO shows both invoices open (25 and 11 days late) and the deposit as Acme's credit.
    assert one(qb, "Customer", acme)["Balance"] == D("0")
    assert report_rows(qb.get_report("AgedReceivables", {"report_date": "2026-11-25"}))["Acme"] == \
        ["-75.00", "75.00", "", "", "", "0.00"]

    payment = server.add_payment(acme, date(2026, 11, 12), "0", {first: "50.00", second: "25.00", ("Deposit", deposit): "75.00"})
    body = one(qb, "Payment", payment)
    assert (body["TotalAmt"], body["UnappliedAmt"], link_types(body)) == (D("0"), D("0"), ["Invoice", "Invoice", "Deposit"])
    assert body["Line"][2] == {"Amount": D("75"), "LinkedTxn": [{"TxnId": deposit, "TxnType": "Deposit", "TxnLineId": "1"}]}
    assert [one(qb, "Invoice", i)["Balance"] for i in (first, second)] == [D("0"), D("0")]
    assert qb.get_report("AgedReceivables", {"report_date": "2026-11-25"})["Rows"] == {}


def test_credit_refunded_by_cheque_expense_and_a_credit_card_credit(server):
    """Intuit help, 'Record a refund for an overpayment or credit': an Expense or Cheque to the
    customer on A/R, linked to the credit by Receive payment; API reference, Payment: TxnType Check,
    Expense, CreditCardCredit (§1, §5)."""
    acme = server.add_customer("Acme")
    overpaid = server.add_payment(acme, date(2026, 11, 1), "15.00")       # nothing to pay: 15.00 credit
    cheque, linked = server.refund_credit(acme, date(2026, 11, 3), "15.00", ("Payment", overpaid))
    memo = server.add_credit_memo(acme, date(2026, 11, 4), "20.00")
    expense, application = server.refund_credit(acme, date(2026, 11, 5), "20.00", ("CreditMemo", memo), kind="Expense")
    invoice = server.add_invoice(acme, date(2026, 11, 6), "30.00")
    card_credit = server.add_refund(acme, date(2026, 11, 7), "10.00", kind="CreditCardCredit")
    card_payment = server.add_payment(acme, date(2026, 11, 8), "20.00", {invoice: "30.00", ("CreditCardCredit", card_credit): "10.00"})
    qb = connect(server)

    check = one(qb, "Purchase", cheque)
    assert (check["PaymentType"], "Credit" in check, check["AccountRef"]["value"], check["TotalAmt"]) == ("Check", False, CHECKING, D("15"))
    assert check["EntityRef"] == {"value": acme, "name": "Acme", "type": "Customer"}
    assert check["Line"][0]["AccountBasedExpenseLineDetail"]["AccountRef"] == AR
    assert check["Line"][0]["AccountBasedExpenseLineDetail"]["CustomerRef"] == {"value": acme, "name": "Acme"}
    assert check["LinkedTxn"] == [{"TxnId": overpaid, "TxnType": "Payment"}]
    assert one(qb, "Purchase", expense)["PaymentType"] == "Cash"
    card = one(qb, "Purchase", card_credit)
    assert (card["PaymentType"], card["Credit"], card["AccountRef"]["value"]) == ("CreditCard", True, CREDIT_CARD)

    refunded = one(qb, "Payment", linked)
    assert (linked, refunded["TotalAmt"], refunded["UnappliedAmt"], refunded["SyncToken"]) == (overpaid, D("15"), D("0"), "1")
    assert refunded["Line"] == [{"Amount": D("15"), "LinkedTxn": [{"TxnId": cheque, "TxnType": "Check"}]}]
    assert link_types(one(qb, "Payment", application)) == ["Expense", "CreditMemo"]
    assert one(qb, "CreditMemo", memo)["RemainingCredit"] == D("0")
    assert one(qb, "Payment", card_payment)["UnappliedAmt"] == D("0")      # 20.00 - 30.00 + 10.00
    assert (one(qb, "Invoice", invoice)["Balance"], one(qb, "Customer", acme)["Balance"]) == (D("0"), D("0"))
    with pytest.raises(ValueError, match="linked as Check"):
        server.add_payment(acme, date(2026, 11, 9), "0", {("Expense", cheque): "1.00"})


def test_a_refund_receipt_never_touches_ar(server):
    """API reference, RefundReceipt: a refund of a sale, paid from DepositToAccountRef; it has no A/R
    line and no Payment links it (§6)."""
    acme = server.add_customer("Acme")
    visa = server.add_payment_method("Visa", "CREDIT_CARD")
    server.add_invoice(acme, date(2026, 11, 1), "100.00", due_date=date(2026, 12, 1))
    receipt = server.add_refund_receipt(acme, date(2026, 11, 10), "40.00", method_id=visa)
    qb = connect(server)

    body = one(qb, "RefundReceipt", receipt)
    assert (body["TotalAmt"], body["Balance"], body["DepositToAccountRef"]["value"], body["PaymentMethodRef"]["value"]) == \
        (D("40"), D("0"), CHECKING, visa)
    assert body["CustomerRef"] == {"value": acme, "name": "Acme"}
    assert one(qb, "Customer", acme)["Balance"] == D("100")
    assert report_rows(qb.get_report("AgedReceivables", {"report_date": "2026-11-25"}))["Acme"] == \
        ["100.00", "", "", "", "", "100.00"]


def test_an_invoice_deposit_leaves_only_the_balance_owing(server):
    """API reference, Invoice: Deposit, "the deposit made towards this invoice" (§3)."""
    acme = server.add_customer("Acme")
    invoice = server.add_invoice(acme, date(2026, 11, 1), "52.00", deposit="12.00", due_date=date(2026, 11, 30))
    qb = connect(server)

    body = one(qb, "Invoice", invoice)
    assert (body["TotalAmt"], body["Deposit"], body["Balance"], body["DepositToAccountRef"]["value"]) == \
        (D("52"), D("12"), D("40"), CHECKING)
    assert one(qb, "Customer", acme)["Balance"] == D("40")
    with pytest.raises(ValueError):
        server.add_payment(acme, date(2026, 11, 20), "41.00", {invoice: "41.00"})
    server.add_payment(acme, date(2026, 11, 20), "40.00", {invoice: "40.00"})
    assert (one(qb, "Invoice", invoice)["Balance"], one(qb, "Customer", acme)["Balance"]) == (D("0"), D("0"))
    assert one(qb, "Invoice", server.add_invoice(acme, date(2026, 11, 2), "9.00"))["Deposit"] == D("0")


def test_voids_zero_amounts_unlink_payments_and_prepend_voided(server):
    """API reference, Invoice "Void an invoice" and Payment "Void a payment": amounts zeroed, "Voided"
    prepended to PrivateNote; Intuit's 2016 void sample: lines kept at 0, LinkedTxn []; quickbooks-ruby's
    recorded payment void: TotalAmt 0, no Line (§7). A note alone does not void."""
    acme = server.add_customer("Acme")
    invoice = server.add_invoice(acme, date(2026, 11, 1), "60.00", private_note="Replaced by INV-2", deposit="10.00")
    payment = server.add_payment(acme, date(2026, 11, 5), "30.00", {invoice: "30.00"})
    live = server.add_invoice(acme, date(2026, 11, 2), "500.00", private_note="Voided cheque replaced by ACH")
    server.void_invoice(invoice)
    qb = connect(server)

    voided = one(qb, "Invoice", invoice)
    assert (voided["TotalAmt"], voided["Balance"], voided["Deposit"], voided["LinkedTxn"], voided["SyncToken"]) == \
        (D("0"), D("0"), D("0"), [], "2")
    assert voided["PrivateNote"] == "Voided - Replaced by INV-2"
    assert [line["Amount"] for line in voided["Line"]] == [D("0"), D("0")]
    assert voided["Line"][0]["SalesItemLineDetail"]["Qty"] == 0
    orphan = one(qb, "Payment", payment)
    assert (orphan["Line"], orphan["UnappliedAmt"], orphan["SyncToken"]) == ([], D("30"), "1")
    still_owed = one(qb, "Invoice", live)
    assert (still_owed["TotalAmt"], still_owed["Balance"], still_owed["PrivateNote"][:6]) == (D("500"), D("500"), "Voided")

    server.void_payment(payment)
    gone = one(qb, "Payment", payment)
    assert (gone["TotalAmt"], gone["UnappliedAmt"], gone["Line"], gone["PrivateNote"]) == (D("0"), D("0"), [], "Voided")
    paid = server.add_payment(acme, date(2026, 11, 6), "200.00", {live: "200.00"})
    server.void_payment(paid)
    memo = server.add_credit_memo(acme, date(2026, 11, 7), "20.00")
    applied = server.apply_credit_memo(memo, live, "20.00", date(2026, 11, 7))
    assert one(qb, "Invoice", live)["Balance"] == D("480")
    server.void_credit_memo(memo)
    memo_body = one(qb, "CreditMemo", memo)
    assert (memo_body["TotalAmt"], memo_body["RemainingCredit"], memo_body["PrivateNote"]) == (D("0"), D("0"), "Voided")
    assert one(qb, "Payment", applied)["Line"] == []
    assert (one(qb, "Invoice", live)["Balance"], one(qb, "Customer", acme)["Balance"]) == (D("500"), D("500"))


def test_a_re_applied_payment_moves_its_money_and_touches_both_invoices(server):
    acme = server.add_customer("Acme")
    wrong = server.add_invoice(acme, date(2026, 11, 1), "70.00")
    right = server.add_invoice(acme, date(2026, 11, 2), "70.00")
    payment = server.add_payment(acme, date(2026, 11, 5), "70.00", {wrong: "70.00"})
    server.now = NOW + timedelta(minutes=1)
    server.edit_payment(payment, applied={right: "50.00"})
    qb = connect(server)

    body = one(qb, "Payment", payment)
    assert (body["UnappliedAmt"], body["Line"][0]["LinkedTxn"][0]["TxnId"], body["SyncToken"]) == (D("20"), right, "1")
    assert [(one(qb, "Invoice", i)["Balance"], one(qb, "Invoice", i)["SyncToken"]) for i in (wrong, right)] == \
        [(D("70"), "2"), (D("20"), "1")]
    assert one(qb, "Invoice", wrong)["MetaData"]["LastUpdatedTime"] == "2026-11-25T10:01:00-08:00"


def test_company_info_and_preferences_say_the_home_currency():
    """Finance.xsd CurrencyPrefs {MultiCurrencyEnabled, HomeCurrency}; read through python-quickbooks'
    Preferences.get (GET /preferences) and CompanyInfo.get (GET /companyinfo/{realm}) (§9)."""
    with QuickBooksServer(now=NOW, home_currency="AUD", multicurrency=False, company_name="Harbour MSP",
                          country="AU") as server:
        qb = connect(server)
        preferences = Preferences.get(qb=qb)
        assert (preferences.CurrencyPrefs.HomeCurrency.value, preferences.CurrencyPrefs.MultiCurrencyEnabled) == ("AUD", False)
        company = CompanyInfo.get(server.realm_id, qb=qb)
        assert (company.CompanyName, company.Country) == ("Harbour MSP", "AU")
        body = raw(server, "GET", "preferences", params={"minorversion": 75}).json()["Preferences"]
        assert body["CurrencyPrefs"] == {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "AUD"}}
        assert body["ReportPrefs"]["CalcAgingReportFromTxnDate"] is False

        client = server.add_customer("Quay Dental")
        invoice = one(qb, "Invoice", server.add_invoice(client, date(2026, 11, 1), "100.00"))
        assert invoice["CurrencyRef"] == {"value": "AUD", "name": "Australian Dollar"} and "HomeTotalAmt" not in invoice
        assert one(qb, "Customer", client)["CurrencyRef"]["value"] == "AUD"
        assert qb.get_report("AgedReceivables", {"report_date": "2026-11-25"})["Header"]["Currency"] == "AUD"

        server.set_preferences(multicurrency=True)
        (row,) = qb.query("SELECT * FROM Preferences")["QueryResponse"]["Preferences"]
        assert (row["CurrencyPrefs"]["MultiCurrencyEnabled"], row["SyncToken"]) == (True, "1")


def test_deleted_and_merged_customers_as_cdc_shows_them(server):
    """A deleted customer is an inactive one named "... (deleted)" (quickbooks-ruby's recorded
    deleted_customer.xml; Intuit Java SDK #19); a merge deletes one customer into another (Intuit
    webhooks, qbo.customer.merged.v1 with deletedid) (§8)."""
    keep, duplicate, old = (server.add_customer(name) for name in ("Acme", "ACME Inc", "Old Co"))
    invoice = server.add_invoice(duplicate, date(2026, 11, 1), "70.00")
    payment = server.add_payment(duplicate, date(2026, 11, 2), "20.00", {invoice: "20.00"})
    since = NOW.isoformat()
    server.now = NOW + timedelta(minutes=1)
    server.delete_customer(old)
    server.merge_customers(duplicate, keep)
    qb = connect(server)

    customers, invoices, payments = qb.change_data_capture("Customer,Invoice,Payment", since)["CDCResponse"][0]["QueryResponse"]
    assert [(c["Id"], c.get("status"), c.get("Active"), c.get("DisplayName")) for c in customers["Customer"]] == [
        (keep, None, True, "Acme"), (duplicate, "Deleted", None, None), (old, None, False, "Old Co (deleted)")]
    (moved,) = invoices["Invoice"]
    assert (moved["CustomerRef"], moved["SyncToken"], moved["Balance"]) == ({"value": keep, "name": "Acme"}, "2", D("50"))
    assert payments["Payment"][0]["CustomerRef"]["value"] == keep
    assert one(qb, "Customer", keep)["Balance"] == D("50")
    assert [c["Id"] for c in qb.query("SELECT * FROM Customer")["QueryResponse"]["Customer"]] == [keep]
    assert raw(server, "GET", f"customer/{duplicate}").json()["Fault"]["Error"][0]["code"] == "610"
    assert payment in [row["Id"] for row in qb.query("SELECT * FROM Payment")["QueryResponse"]["Payment"]]


def test_cdc_answers_at_most_1000_objects_across_all_entities(server):
    """Intuit, 'Change data capture operation': "Server responses can handle a maximum of 1,000
    objects"; the cap is the whole answer's, not each entity's. Nothing in the answer says it was
    cut (§10): 600 invoices + 400 payments fill it and the credit memo is left out."""
    acme = server.add_customer("Acme")
    since = NOW.isoformat()
    server.now = NOW + timedelta(minutes=1)
    server.add_invoices(acme, [(date(2026, 11, 1), "10.00")] * 600)
    server.now = NOW + timedelta(minutes=2)
    for _ in range(400):
        server.add_payment(acme, date(2026, 11, 2), "5.00")
    server.now = NOW + timedelta(minutes=3)
    memo = server.add_credit_memo(acme, date(2026, 11, 3), "1.00")
    qb = connect(server)

    blocks = qb.change_data_capture("Invoice,Payment,CreditMemo", since)["CDCResponse"][0]["QueryResponse"]
    assert [block["maxResults"] for block in blocks] == [600, 400, 0]
    assert (len(blocks[0]["Invoice"]), len(blocks[1]["Payment"]), "CreditMemo" in blocks[2]) == (600, 400, False)
    last_seen = blocks[1]["Payment"][-1]["MetaData"]["LastUpdatedTime"]
    assert last_seen == "2026-11-25T10:02:00-08:00"
    rest = qb.change_data_capture("Invoice,Payment,CreditMemo", last_seen)["CDCResponse"][0]["QueryResponse"]
    assert [block["maxResults"] for block in rest] == [0, 0, 1] and rest[2]["CreditMemo"][0]["Id"] == memo


def test_aged_receivables_with_journal_entries_and_credits_aged_by_their_date():
    """Third parties report QBO ages credits by their own date (§11); journal-entry charges age by
    their date; aging_method Current counts every payment received (Intuit community 1614518);
    CalcAgingReportFromTxnDate ages invoices by their date (Finance.xsd ReportPrefs)."""
    with QuickBooksServer(now=NOW, credit_aging="date") as server:
        acme = server.add_customer("Acme")
        invoice = server.add_invoice(acme, date(2026, 9, 1), "300.00", due_date=date(2026, 10, 1))  # 55 days late
        server.add_journal_charge(acme, date(2026, 11, 10), "25.00")      # 15 days old
        server.add_journal_credit(acme, date(2026, 7, 1), "40.00")        # 147 days old
        server.add_payment(acme, date(2026, 11, 25), "60.00")             # today, unapplied
        server.add_credit_memo(acme, date(2026, 8, 20), "30.00")          # 97 days old
        server.add_customer_deposit(acme, date(2026, 10, 20), "10.00")    # 36 days old
        server.add_payment(acme, date(2026, 11, 27), "100.00", {invoice: "100.00"})   # after the report date
        qb = connect(server)

        def acme_row(**params):
            return report_rows(qb.get_report("AgedReceivables", {"report_date": "2026-11-25", **params}))["Acme"]

        # Current -60; 1-30 +25; 31-60 300 - 10 = 290; 91+ -40 - 30 = -70; total 185
        assert acme_row() == ["-60.00", "25.00", "290.00", "", "-70.00", "185.00"]
        # the 11-27 payment of 100.00 counts too: 31-60 190, total 85
        assert acme_row(aging_method="Current") == ["-60.00", "25.00", "190.00", "", "-70.00", "85.00"]
        server.credit_aging = "current"   # every credit under Current: -60 - 40 - 30 - 10
        assert acme_row() == ["-140.00", "25.00", "300.00", "", "", "185.00"]
        server.credit_aging = "date"
        server.set_preferences(aging_from_txn_date=True)   # the invoice is 85 days old
        assert acme_row() == ["-60.00", "25.00", "-10.00", "300.00", "-70.00", "185.00"]


def test_a_50000_invoice_company_reads_page_by_page(server):
    """The server renders each record once per version, so 50,000 invoices page through in seconds
    (bench/bench_qbo_server.py prints the timings; no test reads the clock)."""
    customers = [server.add_customer(f"Client {n:03d}") for n in range(500)]
    for customer in customers:
        invoices = server.add_invoices(customer, [(date(2026, 1, 1) + timedelta(days=3 * k), "10.00") for k in range(100)])
        for invoice in invoices[::10]:
            server.add_payment(customer, date(2026, 11, 1), "10.00", {invoice: "10.00"})
    qb = connect(server)

    count, balance, start = 0, D("0"), 1
    while True:
        page = qb.query(f"SELECT * FROM Invoice ORDERBY Id STARTPOSITION {start} MAXRESULTS 1000")["QueryResponse"]
        rows = page.get("Invoice", [])
        count, balance, start = count + len(rows), balance + sum(row["Balance"] for row in rows), start + 1000
        if len(rows) < 1000:
            break
    assert (count, balance, server.requests["query"]) == (50_000, D("450000"), 51)   # 45,000 unpaid x 10.00
    totals = report_rows(qb.get_report("AgedReceivables", {"report_date": "2026-11-25"}))["TOTAL"]
    assert totals[-1] == "450000.00"


# ---- faults: the token endpoint, throttling storms ------------------------------------------------------

def test_token_endpoint_503_truncated_and_reset(server):
    """A 503 page, a cut-off JSON body and a reset mid-body from the token endpoint (§12). With
    rotated=False the damaged answer changed nothing, so the same refresh token works next time;
    with rotated=True the server rotated first and the client never saw the new token."""
    auth = auth_client(server)
    server.fail_next("token", "503")
    with pytest.raises(AuthClientError) as refused:
        auth.refresh(refresh_token="rt-0")
    assert refused.value.status_code == 503
    server.fail_next("token", "truncated")
    with pytest.raises(ValueError):   # intuitlib parses the cut body: JSONDecodeError
        auth.refresh(refresh_token="rt-0")
    server.fail_next("token", "reset")
    with pytest.raises(requests.exceptions.RequestException):
        auth.refresh(refresh_token="rt-0")
    assert (server.current_refresh_token, server.refreshes) == ("rt-0", 0)
    auth.refresh(refresh_token="rt-0")
    assert auth.refresh_token == server.current_refresh_token == "rt-1"

    server.fail_next("token", "truncated", rotated=True)
    with pytest.raises(ValueError):
        auth.refresh(refresh_token="rt-1")
    assert server.current_refresh_token == "rt-2"
    with pytest.raises(AuthClientError) as stranded:
        auth.refresh(refresh_token="rt-1")
    assert stranded.value.status_code == 400 and b"invalid_grant" in stranded.value.content
    assert server.requests["token"] == 6


def test_a_429_storm_with_and_without_retry_after_counts_every_request(server):
    """HTTP 429 ThrottleExceeded (Intuit, API throttling): with a Retry-After (short or 60 s) or
    without, JSON or XML; every attempt of a retrying client is a request (§12)."""
    connect(server)
    server.fail_next("query", "429", times=3, retry_after=60)
    answers = [raw_query(server, "SELECT * FROM Invoice") for _ in range(4)]
    assert [(a.status_code, a.headers.get("Retry-After")) for a in answers] == [(429, "60")] * 3 + [(200, None)]
    server.fail_next("query", "429", times=2)
    server.fail_next("query", "429-xml")
    answers = [raw_query(server, "SELECT * FROM Invoice") for _ in range(3)]
    assert [(a.status_code, "Retry-After" in a.headers, a.text[:5]) for a in answers] == \
        [(429, False, '{"Fau'), (429, False, '{"Fau'), (429, False, "<?xml")]

    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=Retry(total=5, status_forcelist=[429], allowed_methods=None,
                                                           backoff_factor=0, respect_retry_after_header=True)))
    server.fail_next("query", "429", times=4, retry_after=0)
    answer = session.post(f"{server.api_base}/company/{server.realm_id}/query", data="SELECT * FROM Invoice",
                          headers={"Authorization": f"Bearer {server.access_token}", "Accept": "application/json",
                                   "Content-Type": "application/text"}, timeout=5)
    assert answer.status_code == 200
    assert server.requests["query"] == 4 + 3 + 5
    assert [kind for kind, _, _ in server.request_log].count("query") == 12


def test_every_kind_of_change_shows_in_cdc_with_its_sync_token(server):
    """CDC returns the full payload of every changed object and a Deleted stub for deleted
    transactions (Intuit, 'Change data capture operation'); every edit bumps SyncToken."""
    acme = server.add_customer("Acme")
    invoice = server.add_invoice(acme, date(2026, 11, 1), "90.00")
    memo = server.add_credit_memo(acme, date(2026, 11, 2), "30.00")
    journal = server.add_journal_credit(acme, date(2026, 11, 3), "20.00")
    deposit = server.add_customer_deposit(acme, date(2026, 11, 4), "5.00")
    since = NOW.isoformat()
    server.now = NOW + timedelta(minutes=1)
    server.edit_credit_memo(memo, total="35.00")
    server.edit_journal_entry(journal, amount="25.00")
    server.delete_deposit(deposit)
    server.add_payment(acme, date(2026, 11, 5), "0", {invoice: "25.00", ("JournalEntry", journal): "25.00"})
    with pytest.raises(ValueError):
        server.edit_journal_entry(journal, amount="10.00")
    qb = connect(server)

    entities = "Invoice,CreditMemo,JournalEntry,Deposit,Payment"
    blocks = qb.change_data_capture(entities, since)["CDCResponse"][0]["QueryResponse"]
    changed = {name: [(row["Id"], row.get("SyncToken"), row.get("status")) for row in block[name]]
               for block, name in zip(blocks, entities.split(",")) if name in block}
    assert changed["Invoice"] == [(invoice, "1", None)]
    assert changed["CreditMemo"] == [(memo, "1", None)]
    assert changed["JournalEntry"] == [(journal, "2", None)]
    assert changed["Deposit"] == [(deposit, None, "Deleted")]
    assert len(changed["Payment"]) == 1
    assert (one(qb, "Invoice", invoice)["Balance"], one(qb, "CreditMemo", memo)["RemainingCredit"]) == (D("65"), D("35"))
    assert one(qb, "Customer", acme)["Balance"] == D("30")   # 65.00 owed - 35.00 credit
