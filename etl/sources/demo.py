"""The demo company: a mid-sized MSP's receivables, generated deterministically.

The dashboard's demo has to tell a true story, so the book is simulated from clients with habits
(agreement size, terms, how and when they pay, when they enrolled in autopay) rather than drawn as
independent random rows. Everything comes from one `random.Random(seed)`: the same seed, as-of
date and size always give identical books.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import product
from math import log

import pandas as pd

from etl.batch import BOOK_ENTITIES, Batch, Company, Entity, Progress, Source, SourceState

DEMO_COMPANY_ID = "demo-msp"
DEMO_COMPANY_NAME = "Northwind Managed IT (demo)"

# A failed autopay charge is retried, so every invoice an autopay client receives while enrolled
# is settled between its due date and this many days later.
AUTOPAY_RETRY_DAYS = 7
AUTOPAY_FAILURE_RATE = 0.03
# Share of clients on autopay at the start of the period and by the as-of date.
AUTOPAY_SHARE_AT_START = 0.10
AUTOPAY_SHARE_AT_END = 0.50
# Collection policy: a problem account's invoice this far past due is written off.
WRITE_OFF_AFTER_DAYS = 180
CAD_RATE_AT_START = Decimal("0.7300")

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
NOON = time(12)

_NEW_CLIENT_SHARE = 0.35
_CHURN_SHARE = 0.18
_MIN_TENURE_MONTHS = 6
_PROBLEM_SHARE = 0.04
_SUB_CUSTOMERS = 2
_HABIT_WEIGHTS = {"prompt": 0.52, "late": 0.24, "erratic": 0.24}
# Small-business clients who are not on autopay still mostly pay by check.
_METHOD_WEIGHTS = {"check": 0.45, "ach": 0.33, "card": 0.18, "cash": 0.04}
_SEAT_PRICES = (95, 110, 125, 140, 165)
_BASE_FEES = (0, 150, 250, 500)
_SEAT_CHANGE_PROBABILITY = 0.05
_PROJECT_PROBABILITY = 0.025
_HARDWARE_PROBABILITY = 0.06
_HARDWARE_UNIT_PRICES = (89.99, 249.00, 649.00, 1149.00, 1899.00, 3499.00)
_SALES_TAX = Decimal("1.0725")
_SERVICE_CREDIT_PROBABILITY = 0.012
_PARTIAL_PROBABILITY = 0.04
# Chance that a client holds an invoice and pays it with the next one, by habit.
_BATCH_PROBABILITY = {"prompt": 0.05, "late": 0.25, "erratic": 0.20}
_MAX_INVOICES_PER_PAYMENT = 3
# Overpayments are applied to the next invoice eventually; only recent ones are still unapplied.
_OVERPAYMENT_PROBABILITY = 0.05
_OVERPAYMENT_RECENT_DAYS = 90
_PROBLEM_NEVER_PAID = 0.4
_AUTOPAY_DROP_PROBABILITY = 0.03

_PLACES = (
    "Harbor", "Summit", "Cedar Ridge", "Lakeside", "Riverbend", "Pinecrest", "Granite", "Bayview",
    "Oakmont", "Meridian", "Redwood", "Northgate", "Westfield", "Brookside", "Silver Creek",
    "Highland", "Maple Grove", "Fairview", "Stonebridge", "Clearwater", "Eastwood", "Willow Creek",
    "Ironwood", "Crescent", "Bluewater", "Foxhill", "Sunrise", "Evergreen", "Hillcrest", "Parkside",
    "Kingsley", "Ashford", "Beacon", "Cornerstone", "Coastal", "Heritage", "Liberty", "Prairie",
    "Sterling", "Keystone", "Lighthouse", "Mountain View", "Orchard", "Pacific", "Quarry",
    "Rockport", "Sandstone", "Tidewater", "Union Square", "Valley", "Windham", "Yorktown", "Alder",
    "Birchwood", "Canyon", "Driftwood", "Elmhurst", "Fieldstone", "Glenwood", "Hawthorne",
    "Juniper", "Laurel", "Millbrook", "Northshore", "Old Town", "Pioneer", "Ridgeline", "Seaside",
    "Timberline", "Westbrook",
)
_TRADES = (
    "Dental Group", "Family Dentistry", "Law Group", "Legal LLP", "CPA Partners", "Accounting",
    "Tax & Advisory", "Family Medicine", "Pediatrics", "Physical Therapy", "Veterinary Clinic",
    "Animal Hospital", "Orthodontics", "Eye Care", "Insurance Agency", "Realty",
    "Property Management", "Title & Escrow", "Mortgage", "Credit Union", "Wealth Advisors",
    "Architects", "Engineering", "Construction", "Builders", "Roofing", "Plumbing & Heating",
    "Electric", "Logistics", "Freight", "Manufacturing", "Machine Works", "Tool & Die", "Plastics",
    "Foods", "Brewing Co.", "Winery", "Hotel", "Auto Group", "Marine", "Community Church",
    "Academy", "Montessori School", "Community Foundation", "Senior Living", "Home Health",
    "Staffing", "Marketing", "Printing", "Landscaping",
)
_MAILBOXES = ("ap", "accounts", "billing", "office", "finance")
_BRANCHES = ("Eastside Office", "Downtown Office", "North Campus", "Westside Office")


@dataclass
class _Calendar:
    as_of: date
    month_starts: tuple[date, ...]
    cad_rates: tuple[Decimal, ...]

    @property
    def months(self) -> int:
        return len(self.month_starts)

    def rate(self, currency: str, day: date) -> Decimal:
        if currency == "USD":
            return Decimal(1)
        first = self.month_starts[0]
        return self.cad_rates[(day.year - first.year) * 12 + day.month - first.month]


@dataclass
class _Enrollment:
    valid_from: date
    valid_to: date | None
    method: str

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass
class _Client:
    number: int
    name: str
    email: str
    terms_days: int
    habit: str
    method: str
    seats: int
    seat_price: int
    base_fee: int
    first_month: int
    last_month: int
    churned: bool
    agreement_start: date
    currency: str = "USD"
    interval_months: int = 1
    billing_phase: int = 0
    parent_id: str | None = None
    trouble_from: date | None = None
    autopay: _Enrollment | None = None
    fees: dict[int, Decimal] = field(default_factory=dict)

    @property
    def customer_id(self) -> str:
        return f"C{self.number + 1001}"

    @property
    def schedule_id(self) -> str:
        return f"S{self.number + 1001}"

    @property
    def terms(self) -> str:
        return f"Net {self.terms_days}"

    @property
    def opening_fee(self) -> int:
        return self.base_fee + self.seats * self.seat_price


@dataclass
class _Invoice:
    client: _Client
    txn_date: date
    kind: str
    total: Decimal
    status: str = "posted"
    invoice_id: str = ""
    doc_number: str = ""
    applications: list[_Application] = field(default_factory=list)

    @property
    def due_date(self) -> date:
        return self.txn_date + timedelta(days=self.client.terms_days)


@dataclass
class _Payment:
    client: _Client
    txn_date: date
    method: str
    unapplied: Decimal
    applications: list[_Application] = field(default_factory=list)
    payment_id: str = ""

    @property
    def amount(self) -> Decimal:
        return sum((a.amount for a in self.applications), self.unapplied)


@dataclass
class _CreditMemo:
    client: _Client
    txn_date: date
    unapplied: Decimal
    is_write_off: bool
    applications: list[_Application] = field(default_factory=list)
    credit_memo_id: str = ""

    @property
    def total(self) -> Decimal:
        return sum((a.amount for a in self.applications), self.unapplied)


@dataclass
class _Application:
    invoice: _Invoice
    amount: Decimal
    applied_on: date
    payment: _Payment | None = None
    credit_memo: _CreditMemo | None = None


@dataclass
class _Book:
    """Payments and credits as they happen; nothing dated after the as-of date is recorded."""

    as_of: date
    payments: list[_Payment] = field(default_factory=list)
    credit_memos: list[_CreditMemo] = field(default_factory=list)

    def pay(self, client: _Client, on: date, lines: list[tuple[_Invoice, Decimal]], method: str,
            unapplied: Decimal = ZERO) -> None:
        if on > self.as_of:
            return
        payment = _Payment(client, on, method, unapplied)
        for invoice, amount in lines:
            _apply(_Application(invoice, amount, on, payment=payment))
        self.payments.append(payment)

    def credit(self, invoice: _Invoice, on: date, amount: Decimal, unapplied: Decimal,
               is_write_off: bool) -> bool:
        if on > self.as_of:
            return False
        memo = _CreditMemo(invoice.client, on, unapplied, is_write_off)
        _apply(_Application(invoice, amount, on, credit_memo=memo))
        self.credit_memos.append(memo)
        return True


def _apply(application: _Application) -> None:
    application.invoice.applications.append(application)
    (application.payment or application.credit_memo).applications.append(application)


@dataclass(frozen=True)
class DemoSettings:
    """What the demo is built from: the same values always give identical books."""

    as_of: date
    seed: int = 7
    clients: int = 120
    months: int = 36


def demo_company(as_of: date) -> Company:
    return Company(source="demo", company_id=DEMO_COMPANY_ID, name=DEMO_COMPANY_NAME,
                   home_currency="USD", data_through=as_of)


def build_demo_books(
    as_of: date, seed: int = 7, clients: int = 120, months: int = 36
) -> tuple[Company, dict[str, pd.DataFrame]]:
    """The demo company and its books, one DataFrame per table in `core.schema.BOOK_TABLES`."""
    rng = random.Random(seed)
    calendar = _make_calendar(rng, as_of, months)
    roster = _make_clients(rng, calendar, clients)
    invoices_by_client = {client.customer_id: _client_invoices(rng, calendar, client) for client in roster}
    invoices = sorted(
        (invoice for own in invoices_by_client.values() for invoice in own),
        key=lambda invoice: (invoice.txn_date, invoice.client.customer_id),
    )
    _add_voided_duplicate(rng, invoices)
    _number_invoices(invoices)
    book = _Book(as_of)
    for client in roster:
        _settle_client(rng, book, client, invoices_by_client[client.customer_id])
    return demo_company(as_of), _frames(calendar, roster, invoices_by_client, invoices, book)


def fetch(settings: DemoSettings, state: SourceState, progress: Progress) -> Batch:
    progress(0.0, "Simulating the demo MSP's clients and payments")
    company, books = build_demo_books(settings.as_of, settings.seed, settings.clients, settings.months)
    progress(0.5, "Writing the demo company to DuckDB")
    return Batch(company, kind="demo", complete=True, rows=books)


SOURCE = Source(
    name="demo",
    label="demo company",
    # The demo stands in for a portal roster too: its autopay periods are its own rows.
    entities=(*BOOK_ENTITIES, Entity("autopay_enrollments", ("customer_id", "valid_from"), owned=(("origin", "demo"),))),
    company=lambda settings, companies: demo_company(settings.as_of),
    fetch=fetch,
)


# --- calendar -----------------------------------------------------------------------------------


def _add_months(first_of_month: date, count: int) -> date:
    years, month = divmod(first_of_month.month - 1 + count, 12)
    return date(first_of_month.year + years, month + 1, 1)


def _business_day(day: date) -> date:
    """Checks and transfers land on weekdays."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _money(value: Decimal | float | int) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _fraction(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(rng.uniform(low, high))


def _make_calendar(rng: random.Random, as_of: date, months: int) -> _Calendar:
    last_start = as_of.replace(day=1)
    month_starts = tuple(_add_months(last_start, offset) for offset in range(1 - months, 1))
    rates, rate = [], CAD_RATE_AT_START
    for _ in month_starts:
        rates.append(rate)
        drifted = rate + _fraction(rng, -0.006, 0.006)
        rate = min(max(drifted, Decimal("0.70")), Decimal("0.76")).quantize(Decimal("0.0001"))
    return _Calendar(as_of, month_starts, tuple(rates))


# --- clients ------------------------------------------------------------------------------------


def _make_clients(rng: random.Random, calendar: _Calendar, count: int) -> list[_Client]:
    names = _company_names(rng, count)
    roster = [_new_client(rng, calendar, number, name) for number, name in enumerate(names)]
    _assign_roles(rng, calendar, roster)
    for client, adoption_draw in zip(roster, _stratified_draws(rng, len(roster))):
        client.fees = _fee_history(rng, client)
        client.autopay = _autopay_enrollment(rng, calendar, client, adoption_draw)
    return roster


def _stratified_draws(rng: random.Random, count: int) -> list[float]:
    """Uniform draws, one per equal slice of [0, 1): shares come out as intended even for few clients."""
    draws = [(slot + rng.random()) / count for slot in range(count)]
    rng.shuffle(draws)
    return draws


def _company_names(rng: random.Random, count: int) -> list[str]:
    bases = [f"{place} {trade}" for place, trade in product(_PLACES, _TRADES)]
    rng.shuffle(bases)
    return [
        bases[number % len(bases)] + (f" {number // len(bases) + 1}" if number >= len(bases) else "")
        for number in range(count)
    ]


def _email(rng: random.Random, name: str, top_level: str = "com") -> str:
    return f"{rng.choice(_MAILBOXES)}@{re.sub(r'[^a-z0-9]', '', name.lower())}.{top_level}"


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _new_client(rng: random.Random, calendar: _Calendar, number: int, name: str) -> _Client:
    months = calendar.months
    is_new = months > 1 and rng.random() < _NEW_CLIENT_SHARE
    first = rng.randint(1, months - 1) if is_new else 0
    churned = rng.random() < _CHURN_SHARE and first + _MIN_TENURE_MONTHS <= months - 2
    last = rng.randint(first + _MIN_TENURE_MONTHS, months - 2) if churned else months - 1
    # Clients already on the books at the start signed up to seven years earlier.
    start = calendar.month_starts[first] if is_new else _add_months(calendar.month_starts[0], -rng.randint(1, 84))
    return _Client(
        number=number,
        name=name,
        email=_email(rng, name),
        terms_days=30 if rng.random() < 0.7 else 15,
        habit=_weighted(rng, _HABIT_WEIGHTS),
        method=_weighted(rng, _METHOD_WEIGHTS),
        seats=min(400, max(2, round(rng.lognormvariate(log(12), 1.1)))),
        seat_price=rng.choice(_SEAT_PRICES),
        base_fee=rng.choice(_BASE_FEES),
        first_month=first,
        last_month=last,
        churned=churned,
        agreement_start=start,
    )


def _take(pool: list[_Client], count: int) -> list[_Client]:
    return [pool.pop() for _ in range(min(count, len(pool)))]


def _keep_whole_period(client: _Client, calendar: _Calendar) -> None:
    if client.first_month > 0:
        client.agreement_start = calendar.month_starts[0]
    client.first_month, client.last_month, client.churned = 0, calendar.months - 1, False


def _assign_roles(rng: random.Random, calendar: _Calendar, roster: list[_Client]) -> None:
    """The accounts every demo needs: problem payers, a CAD client, non-monthly billing, branches."""
    pool = roster[:]
    rng.shuffle(pool)
    for client in _take(pool, max(1, round(len(roster) * _PROBLEM_SHARE))):
        _keep_whole_period(client, calendar)
        client.habit = "late"
        trouble_month = min(max(rng.randint(calendar.months - 14, calendar.months - 8), 0), calendar.months - 1)
        client.trouble_from = calendar.month_starts[trouble_month]
    for client in _take(pool, 1):
        client.currency = "CAD"
        client.email = _email(rng, client.name, "ca")
    for client, interval in zip(_take(pool, 2), (3, 12)):
        # Non-monthly agreements renew on their own cycle, so they are kept for the whole period.
        _keep_whole_period(client, calendar)
        client.interval_months = interval
        client.billing_phase = rng.randrange(min(interval, calendar.months))
    branches = _take(pool, _SUB_CUSTOMERS)
    parent = max((client for client in pool if not client.churned), key=lambda c: c.opening_fee, default=None)
    if parent is None:
        return
    for branch, client in zip(_BRANCHES, branches):
        client.parent_id = parent.customer_id
        client.name = f"{parent.name} – {branch}"
        client.email = _email(rng, parent.name).replace("@", f".{branch.split()[0].lower()}@")


def _fee_history(rng: random.Random, client: _Client) -> dict[int, Decimal]:
    """Monthly fee per month index: seats are added and removed as the client grows or shrinks."""
    seats, fees = client.seats, {}
    for month in range(client.first_month, client.last_month + 1):
        if month > client.first_month and rng.random() < _SEAT_CHANGE_PROBABILITY:
            if rng.random() < 0.65:
                seats = max(seats + 1, round(seats * rng.uniform(1.05, 1.35)))
            else:
                seats = max(2, min(seats - 1, round(seats * rng.uniform(0.70, 0.95))))
        fees[month] = _money(client.base_fee + seats * client.seat_price)
    return fees


def _autopay_enrollment(
    rng: random.Random, calendar: _Calendar, client: _Client, draw: float
) -> _Enrollment | None:
    """Adoption follows 10% + 40% x², x the elapsed share of the period: slow first, then faster."""
    if client.trouble_from is not None or draw >= AUTOPAY_SHARE_AT_END:
        return None
    window_start, as_of = calendar.month_starts[0], calendar.as_of
    if draw < AUTOPAY_SHARE_AT_START:
        enrolled = window_start - timedelta(days=rng.randint(30, 720))
    else:
        elapsed = ((draw - AUTOPAY_SHARE_AT_START) / (AUTOPAY_SHARE_AT_END - AUTOPAY_SHARE_AT_START)) ** 0.5
        enrolled = window_start + timedelta(days=round(elapsed * (as_of - window_start).days))
    enrolled = max(enrolled, client.agreement_start)
    if client.churned and enrolled > calendar.month_starts[client.last_month]:
        return None
    method = "ach" if rng.random() < 0.55 else "card"
    dropped = None
    enrolled_days = (as_of - enrolled).days
    # A few clients leave autopay again (an expired card, a new bookkeeper who prefers checks).
    if enrolled_days > 180 and rng.random() < _AUTOPAY_DROP_PROBABILITY:
        dropped = enrolled + timedelta(days=rng.randint(90, enrolled_days - 30))
    return _Enrollment(enrolled, dropped, method)


# --- invoices -----------------------------------------------------------------------------------


def _client_invoices(rng: random.Random, calendar: _Calendar, client: _Client) -> list[_Invoice]:
    invoices = []
    for month in range(client.first_month, client.last_month + 1):
        month_start, fee = calendar.month_starts[month], client.fees[month]
        if (month - client.first_month - client.billing_phase) % client.interval_months == 0:
            invoices.append(_Invoice(client, month_start, "recurring", fee * client.interval_months))
        onboarding = client.first_month > 0 and month == client.first_month
        if onboarding or rng.random() < _PROJECT_PROBABILITY:
            invoices.append(_Invoice(client, _day_in_month(rng, month_start), "project", _project_price(rng, fee)))
        if rng.random() < _HARDWARE_PROBABILITY:
            invoices.append(_Invoice(client, _day_in_month(rng, month_start), "hardware", _hardware_price(rng, client)))
    return sorted(
        (invoice for invoice in invoices if invoice.txn_date <= calendar.as_of),
        key=lambda invoice: invoice.txn_date,
    )


def _day_in_month(rng: random.Random, month_start: date) -> date:
    return month_start.replace(day=rng.randint(2, 28))


def _project_price(rng: random.Random, monthly_fee: Decimal) -> Decimal:
    """Migrations and refreshes are quoted as fixed fees in round fifties."""
    quoted = float(monthly_fee) * rng.uniform(1.0, 4.0) + rng.uniform(1500, 6000)
    return _money(round(quoted / 50) * 50)


def _hardware_price(rng: random.Random, client: _Client) -> Decimal:
    units = rng.randint(1, 1 + client.seats // 10)
    return _money(units * Decimal(str(rng.choice(_HARDWARE_UNIT_PRICES))) * _SALES_TAX)


def _add_voided_duplicate(rng: random.Random, invoices: list[_Invoice]) -> None:
    """A recurring run posted twice and the copy voided: the one voided invoice in the book."""
    candidates = [
        position
        for position, invoice in enumerate(invoices)
        if invoice.kind == "recurring" and invoice.client.currency == "USD" and invoice.client.autopay is None
    ]
    if not candidates:
        return
    position = rng.choice(candidates)
    original = invoices[position]
    invoices.insert(position + 1, _Invoice(original.client, original.txn_date, "recurring", ZERO, status="voided"))


def _number_invoices(invoices: list[_Invoice]) -> None:
    for number, invoice in enumerate(invoices):
        invoice.invoice_id = f"I{100001 + number}"
        invoice.doc_number = f"INV-{10001 + number}"


# --- payments and credits -----------------------------------------------------------------------


def _settle_client(rng: random.Random, book: _Book, client: _Client, invoices: list[_Invoice]) -> None:
    held: list[tuple[_Invoice, Decimal, date]] = []  # invoices the client will pay with a later one
    disputed = False
    for invoice in invoices:
        if client.autopay is not None and client.autopay.covers(invoice.txn_date):
            _charge_autopay(rng, book, invoice)
        elif client.trouble_from is not None and invoice.txn_date >= client.trouble_from:
            # The account's trouble starts with a dispute over an invoice that is never paid.
            _settle_problem_invoice(rng, book, invoice, never_paid=not disputed)
            disputed = True
        else:
            _settle_ordinary_invoice(rng, book, invoice, held)
    _pay_held(rng, book, client, held)


def _charge_autopay(rng: random.Random, book: _Book, invoice: _Invoice) -> None:
    charged = invoice.due_date
    if rng.random() < AUTOPAY_FAILURE_RATE:
        charged += timedelta(days=rng.randint(3, AUTOPAY_RETRY_DAYS))
    book.pay(invoice.client, charged, [(invoice, invoice.total)], invoice.client.autopay.method)


def _settle_problem_invoice(rng: random.Random, book: _Book, invoice: _Invoice, never_paid: bool) -> None:
    if never_paid or rng.random() < _PROBLEM_NEVER_PAID:
        eligible = invoice.due_date + timedelta(days=WRITE_OFF_AFTER_DAYS)
        if eligible <= book.as_of:
            written_off = min(book.as_of, eligible + timedelta(days=rng.randint(0, 30)))
            book.credit(invoice, written_off, invoice.total, ZERO, is_write_off=True)
        return
    paid = _business_day(invoice.due_date + timedelta(days=rng.randint(90, 150)))
    book.pay(invoice.client, paid, [(invoice, invoice.total)], _habitual_method(rng, invoice.client))


def _settle_ordinary_invoice(
    rng: random.Random, book: _Book, invoice: _Invoice, held: list[tuple[_Invoice, Decimal, date]]
) -> None:
    client = invoice.client
    owed = invoice.total - _service_credit(rng, book, invoice)
    planned = _planned_payment_date(rng, invoice)
    if rng.random() < _PARTIAL_PROBABILITY:
        first = _money(owed * _fraction(rng, 0.3, 0.7))
        book.pay(client, planned, [(invoice, first)], _habitual_method(rng, client))
        rest_paid = _business_day(planned + timedelta(days=rng.randint(14, 45)))
        book.pay(client, rest_paid, [(invoice, owed - first)], _habitual_method(rng, client))
        return
    held.append((invoice, owed, planned))
    if len(held) == _MAX_INVOICES_PER_PAYMENT or rng.random() >= _BATCH_PROBABILITY[client.habit]:
        _pay_held(rng, book, client, held)


def _service_credit(rng: random.Random, book: _Book, invoice: _Invoice) -> Decimal:
    """An SLA or goodwill credit against the invoice; returns the amount applied to it."""
    if rng.random() >= _SERVICE_CREDIT_PROBABILITY:
        return ZERO
    applied = _money(invoice.total * _fraction(rng, 0.1, 0.5))
    left_for_later = _money(rng.uniform(25, 250)) if rng.random() < 0.2 else ZERO
    issued = invoice.txn_date + timedelta(days=rng.randint(1, 10))
    return applied if book.credit(invoice, issued, applied, left_for_later, is_write_off=False) else ZERO


def _planned_payment_date(rng: random.Random, invoice: _Invoice) -> date:
    habit = invoice.client.habit
    if habit == "prompt":
        days_late = round(rng.gauss(-1, 3))
    elif habit == "late":
        days_late = rng.randint(15, 45)
    else:
        days_late = round(rng.triangular(-10, 80, 5))
    return _business_day(max(invoice.txn_date, invoice.due_date + timedelta(days=days_late)))


def _pay_held(
    rng: random.Random, book: _Book, client: _Client, held: list[tuple[_Invoice, Decimal, date]]
) -> None:
    if not held:
        return
    paid = max(planned for _, _, planned in held)
    lines = [(invoice, owed) for invoice, owed, _ in held]
    held.clear()
    overpaid = 0 <= (book.as_of - paid).days <= _OVERPAYMENT_RECENT_DAYS and rng.random() < _OVERPAYMENT_PROBABILITY
    unapplied = _money(sum(owed for _, owed in lines) * _fraction(rng, 0.1, 0.6)) if overpaid else ZERO
    book.pay(client, paid, lines, _habitual_method(rng, client), unapplied)


def _habitual_method(rng: random.Random, client: _Client) -> str:
    return client.method if rng.random() < 0.85 else _weighted(rng, _METHOD_WEIGHTS)


# --- tables -------------------------------------------------------------------------------------


def _stamp(day: date) -> datetime:
    return datetime.combine(day, NOON)


def _frames(
    calendar: _Calendar,
    roster: list[_Client],
    invoices_by_client: dict[str, list[_Invoice]],
    invoices: list[_Invoice],
    book: _Book,
) -> dict[str, pd.DataFrame]:
    payments = sorted(book.payments, key=lambda payment: payment.txn_date)
    for number, payment in enumerate(payments):
        payment.payment_id = f"P{100001 + number}"
    credit_memos = sorted(book.credit_memos, key=lambda memo: memo.txn_date)
    for number, memo in enumerate(credit_memos):
        memo.credit_memo_id = f"CM{10001 + number}"
    applications = sorted(
        (application for invoice in invoices for application in invoice.applications),
        key=lambda application: application.applied_on,
    )
    rows = {
        "customers": [_customer_row(client) for client in roster],
        "invoices": [_invoice_row(calendar, invoice) for invoice in invoices],
        "payments": [_payment_row(calendar, payment) for payment in payments],
        "credit_memos": [_credit_memo_row(calendar, memo) for memo in credit_memos],
        "applications": [_application_row(number, application) for number, application in enumerate(applications)],
        "recurring_schedules": [_schedule_row(client, invoices_by_client[client.customer_id]) for client in roster],
        "autopay_enrollments": [_enrollment_row(calendar, client) for client in roster if client.autopay is not None],
    }
    return {table: pd.DataFrame(table_rows) for table, table_rows in rows.items()}



def _customer_row(client: _Client) -> dict:
    return {
        "customer_id": client.customer_id,
        "name": client.name,
        "parent_id": client.parent_id,
        "terms": client.terms,
        "email": client.email,
        "currency": client.currency,
        "active": not client.churned,
        "updated_at": _stamp(client.agreement_start),
    }


def _invoice_row(calendar: _Calendar, invoice: _Invoice) -> dict:
    client = invoice.client
    rate = calendar.rate(client.currency, invoice.txn_date)
    last_touched = max([invoice.txn_date] + [application.applied_on for application in invoice.applications])
    return {
        "invoice_id": invoice.invoice_id,
        "doc_number": invoice.doc_number,
        "customer_id": client.customer_id,
        "txn_date": invoice.txn_date,
        "due_date": invoice.due_date,
        "terms": client.terms,
        "total": invoice.total,
        "currency": client.currency,
        "exchange_rate": rate,
        "home_total": _money(invoice.total * rate),
        "status": invoice.status,
        "recurring_template_id": client.schedule_id if invoice.kind == "recurring" else None,
        "updated_at": _stamp(last_touched),
        "kind": invoice.kind,
        "doc_type": "invoice",
    }


def _payment_row(calendar: _Calendar, payment: _Payment) -> dict:
    currency = payment.client.currency
    return {
        "payment_id": payment.payment_id,
        "customer_id": payment.client.customer_id,
        "txn_date": payment.txn_date,
        "amount": payment.amount,
        "unapplied_amount": payment.unapplied,
        "method": payment.method,
        "currency": currency,
        "exchange_rate": calendar.rate(currency, payment.txn_date),
        "status": "posted",
        "updated_at": _stamp(payment.txn_date),
        "doc_type": "payment",
    }


def _credit_memo_row(calendar: _Calendar, memo: _CreditMemo) -> dict:
    currency = memo.client.currency
    return {
        "credit_memo_id": memo.credit_memo_id,
        "customer_id": memo.client.customer_id,
        "txn_date": memo.txn_date,
        "total": memo.total,
        "unapplied_amount": memo.unapplied,
        "currency": currency,
        "exchange_rate": calendar.rate(currency, memo.txn_date),
        "status": "posted",
        "updated_at": _stamp(memo.txn_date),
        "is_write_off": memo.is_write_off,
        "doc_type": "credit_memo",
    }


def _application_row(number: int, application: _Application) -> dict:
    return {
        "application_id": f"A{1000001 + number}",
        "invoice_id": application.invoice.invoice_id,
        "payment_id": application.payment.payment_id if application.payment else None,
        "credit_memo_id": application.credit_memo.credit_memo_id if application.credit_memo else None,
        "applied_on": application.applied_on,
        "amount": application.amount,
    }


def _schedule_row(client: _Client, invoices: list[_Invoice]) -> dict:
    last_billed = max(invoice.txn_date for invoice in invoices if invoice.kind == "recurring")
    label = {1: "monthly", 3: "quarterly", 12: "annual"}[client.interval_months]
    return {
        "schedule_id": client.schedule_id,
        "customer_id": client.customer_id,
        "name": f"{client.name} – managed IT ({label})",
        "amount": client.fees[client.last_month] * client.interval_months,
        "currency": client.currency,
        "interval_unit": "year" if client.interval_months == 12 else "month",
        "interval_count": 1 if client.interval_months == 12 else client.interval_months,
        "start_date": client.agreement_start,
        "end_date": last_billed if client.churned else None,
        "next_date": None if client.churned else _add_months(last_billed, client.interval_months),
        "active": not client.churned,
        "updated_at": _stamp(last_billed),
    }


def _enrollment_row(calendar: _Calendar, client: _Client) -> dict:
    return {
        "customer_id": client.customer_id,
        "provenance": "imported",
        "valid_from": client.autopay.valid_from,
        "valid_to": client.autopay.valid_to,
        "status": "enabled",
        "method": client.autopay.method,
        "recorded_at": _stamp(calendar.as_of),
    }
