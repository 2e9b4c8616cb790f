"""The reminder stages ledgerlight starts with, and the merge fields a template may use.

Pure data, read by the reminders (etl/reminders.py), the demo's generated history and the docs
(docs/collections.md lists the same fields). A template edited in the dashboard or with
`etl.activity.save_template` is stored in `reminder_templates` and replaces the default stage of
the same name; resetting it brings the default back.
"""

from __future__ import annotations

from dataclasses import dataclass

OVERDUE = "overdue"
AUTOPAY_INVITE = "autopay_invite"
KINDS = (OVERDUE, AUTOPAY_INVITE)


@dataclass(frozen=True)
class Template:
    """One stage: an overdue reminder sent once per invoice when it is `days_past_due` or more
    days past due (the highest stage an invoice has reached), or the autopay invitation sent once
    per client on the conversion list."""

    stage: str
    kind: str
    days_past_due: int | None
    subject: str
    body: str
    active: bool = True


# What each merge field holds. Every template is rendered with exactly these; any other name is
# refused, naming it and these.
MERGE_FIELDS = {
    "client": "the client's name, as in the books",
    "customer_id": "the client's id in the books",
    "company": "your company's name (the books' company)",
    "stage": "the stage's name, e.g. 'first'",
    "as_of": "the date the reminder is for (YYYY-MM-DD)",
    "currency": "the currency of the amounts (e.g. USD)",
    "invoices": "the invoices, each with number, date, due_date, days_past_due, total and open_amount",
    "total": "the open amount of those invoices, with the currency symbol",
    "days_past_due": "the most days past due among them",
    "payment_link": "LEDGERLIGHT_PAYMENT_LINK with the client's id filled in ('' when not set)",
    "autopay_link": "LEDGERLIGHT_AUTOPAY_LINK with the client's id filled in ('' when not set)",
}
INVOICE_FIELDS = ("number", "date", "due_date", "days_past_due", "total", "open_amount")

_INVOICE_LINES = """{% for invoice in invoices %}
  {{ invoice.number }}  dated {{ invoice.date }}, due {{ invoice.due_date }}: {{ invoice.open_amount }} open ({{ invoice.days_past_due }} days past due)
{% endfor %}
"""
_CLOSING = """
{% if payment_link %}You can pay online here: {{ payment_link }}
{% endif %}
Your statement is attached. If you have already paid, thank you, and please disregard this message.

Kind regards,
{{ company }}
"""

DEFAULTS = (
    Template(
        "first", OVERDUE, 1,
        "Reminder: {{ invoices | length }} invoice{{ 's' if invoices | length > 1 }} past due ({{ total }})",
        "Hello {{ client }},\n\nThis is a friendly reminder that the following "
        "invoice{{ 's are' if invoices | length > 1 else ' is' }} now past due:\n\n"
        + _INVOICE_LINES + "\nTotal due: {{ total }}\n" + _CLOSING,
    ),
    Template(
        "second", OVERDUE, 15,
        "Second reminder: {{ total }} past due",
        "Hello {{ client }},\n\nWe have not yet received payment for the following "
        "invoice{{ 's' if invoices | length > 1 }}, now {{ days_past_due }} days past due:\n\n"
        + _INVOICE_LINES + "\nTotal due: {{ total }}\n\nPlease let us know when we can expect payment, "
        "or reply if anything is wrong with these invoices.\n" + _CLOSING,
    ),
    Template(
        "final", OVERDUE, 30,
        "Final notice: {{ total }} more than 30 days past due",
        "Hello {{ client }},\n\nDespite our earlier reminders, the following "
        "invoice{{ 's remain' if invoices | length > 1 else ' remains' }} unpaid, "
        "{{ days_past_due }} days past due:\n\n"
        + _INVOICE_LINES + "\nTotal due: {{ total }}\n\nPlease arrange payment within 7 days, or call us "
        "to agree a date. We would rather not pause services.\n" + _CLOSING,
    ),
    Template(
        "autopay_invite", AUTOPAY_INVITE, None,
        "Pay {{ company }} automatically",
        "Hello {{ client }},\n\nMany of our clients now pay their monthly invoices automatically, by card or "
        "bank transfer, on the due date: no checks to write and no reminders from us.\n\n"
        "{% if autopay_link %}You can enroll in a minute here: {{ autopay_link }}\n\n{% endif %}"
        "Reply to this message if you have any questions.\n\nKind regards,\n{{ company }}\n",
    ),
)
