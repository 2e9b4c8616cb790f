"""Client: one account on one page (bookmarkable: /client?client=<id>): what it owes and since
when, how it pays, autopay, MRR, and its invoice and payment history."""

import streamlit as st

from ui import charts, shell, tables
from ui.format import days, money, percent, plain

ctx = shell.prepare("Client")
directory = shell.metric("client_directory")
names = dict(zip(directory["customer_id"], directory["customer"]))
if not names:
    st.title("Client")
    st.info("These books hold no clients yet.")
    st.stop()
asked = st.query_params.get("client")
chosen = st.selectbox("Client", list(names), index=list(names).index(asked) if asked in names else 0,
                      format_func=names.get, key="client_page_client")
st.query_params["client"] = chosen  # the address names the client: bookmark it, share it

summary = shell.metric("client_summary", customer_id=chosen).iloc[0]
st.title(summary.customer)
contact = f" · {plain(summary.email)}" if summary.email else ""
st.caption(f"As of **{ctx.as_of:%d %B %Y}**{contact} · sub-customers included · amounts in {ctx.home_currency}")
if not shell.knows(history=False):
    st.stop()

owed, overdue, credit, autopay = st.columns(4)
owed.metric("Owes", money(summary.total_ar, ctx.home_currency),
            help=f"Σ open balances of its {summary.open_invoices:,} open invoices at the as-of date.")
overdue.metric("Overdue", money(summary.overdue_ar, ctx.home_currency),
               help="Σ open balances of its invoices past their due date"
               + (f"; the oldest is {summary.oldest_days_past_due:,} days past due." if summary.oldest_days_past_due
                  and summary.oldest_days_past_due > 0 else "."))
credit.metric("Unapplied credit", money(summary.unapplied_credit, ctx.home_currency),
              help="Payments and credit memos not yet applied to an invoice: listed apart, never netted.")
autopay.metric("Autopay", f"on · {summary.autopay_method}" if summary.on_autopay else "off",
               help="Whether the client is on autopay at the as-of date (Autopay page: how this is known).")

if shell.knows():
    late, on_time, last_paid, mrr = st.columns(4)
    late.metric("Usually pays", days(summary.weighted_days_late_12m) + (" late" if summary.weighted_days_late_12m
                                                                         is not None else ""),
                help="Amount-weighted days late of the invoices paid in the last 12 months "
                f"({summary.paid_invoices_12m:,}): Σ amount × days late ÷ Σ amount; negative is early.")
    on_time.metric("Paid on time", percent(summary.share_on_time_12m),
                   help="Share of the invoices paid in the last 12 months that were paid by their due date.")
    last_paid.metric("Last payment", "–" if summary.last_payment_date is None
                     else f"{summary.last_payment_date:%d %b %Y}")
    mrr.metric("MRR", money(summary.mrr, ctx.home_currency),
               help="Invoice-based MRR: each recurring stream's latest invoice ÷ the months it covers.")
    st.plotly_chart(charts.client_months(shell.metric("client_months", customer_id=chosen), ctx.home_currency),
                    width="stretch")

st.subheader("Open invoices")
open_invoices = shell.metric("open_invoices_as_of", customer_id=chosen)
tables.show(open_invoices[["doc_number", "customer", "txn_date", "due_date", "days_past_due", "bucket",
                           "home_open_amount"]], key="client_open", currency=ctx.home_currency, totals=True)
tables.downloads(open_invoices, f"open-invoices-{chosen}-{ctx.as_of}", key="client-open",
                 heading=(f"Open invoices of {summary.customer}", f"As of {ctx.as_of:%d %B %Y}"))

if shell.knows():
    paid_column, payments_column = st.columns(2)
    with paid_column:
        st.subheader("Invoices paid")
        paid = shell.metric("client_invoices_paid", customer_id=chosen)
        tables.show(paid[["doc_number", "txn_date", "due_date", "settled_on", "home_total", "days_to_pay",
                          "days_late"]], key="client_paid", currency=ctx.home_currency)
    with payments_column:
        st.subheader("Payments")
        payments = shell.metric("client_payments", customer_id=chosen)
        tables.show(payments[["payment_date", "amount", "method", "unapplied"]], key="client_payments",
                    currency=ctx.home_currency)
    st.subheader("Autopay history")
    tables.show(shell.metric("client_autopay_history", customer_id=chosen), key="client_autopay",
                currency=ctx.home_currency)
