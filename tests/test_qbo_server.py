"""The QuickBooks Online test server, driven by the real intuitlib and python-quickbooks clients."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.exceptions import AuthClientError
from quickbooks import QuickBooks
from quickbooks.exceptions import (AuthorizationException, QuickbooksException, SevereException,
                                   ValidationException)
from quickbooks.objects.customer import Customer
from quickbooks.objects.invoice import Invoice

from tests.qbo_server import QuickBooksServer

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
        # 100.00 - 40.00 paid by the report date = 60.00 in 31-60; the 20.00 unapplied in Current.
        "Acme": ["-20.00", "", "60.00", "", "", "40.00"],
        "Acme West": ["80.00", "", "", "", "", "80.00"],
        "Total Acme": ["60.00", "0.00", "60.00", "0.00", "0.00", "120.00"],
        "Maple": ["", "", "", "", "150.00", "150.00"],    # 200.00 CAD x 0.75
        "TOTAL": ["60.00", "0.00", "60.00", "0.00", "150.00", "270.00"],
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
