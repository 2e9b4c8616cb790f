"""Aging: who owes what, by how late. Trend by month-end, bucket totals, customers, and a drill
down to the invoices of a bucket or a customer (QuickBooks' A/R Aging Detail)."""

import streamlit as st

from ui import charts, shell, tables, tiles
from ui.format import money, plain

ctx = shell.prepare("Aging")
st.title("Aging")

basis_column, period_column, roll_up_column, past_due_column, minimum_column = st.columns([3, 2, 2, 2, 2])
basis = basis_column.radio(
    "Age by", ["due", "invoice"], horizontal=True, key="aging_basis",
    format_func={"due": "due date", "invoice": "invoice date"}.get,
    help="Due date: Current, then days past due (QuickBooks Online). Invoice date: days since the invoice.",
)
with period_column.popover("Periods"):
    period_days = st.number_input("Days per period", min_value=1, max_value=365, value=30, key="aging_period_days")
    periods = st.number_input("Periods (last open-ended)", min_value=2, max_value=12, value=4, key="aging_periods")
aging = {"basis": basis, "period_days": int(period_days), "periods": int(periods)}
roll_up = roll_up_column.toggle("Roll sub-customers up to parent", value=True, key="aging_roll_up")
past_due_only = past_due_column.toggle("Past due only", value=False, key="aging_past_due")
min_amount = minimum_column.number_input("Minimum total", min_value=0, value=0, step=100, key="aging_min")
st.caption(f"As of **{ctx.as_of:%d %B %Y}** · report-date method · amounts in {ctx.home_currency}"
           + (" · past-due invoices only" if past_due_only else ""))

if not shell.knows(history=False):
    st.stop()
if shell.knows():
    st.plotly_chart(charts.ar_trend(shell.metric("ar_trend", **aging), ctx.home_currency), width="stretch")

buckets = shell.metric("aging_buckets", **aging, past_due_only=past_due_only)
tiles.show([
    tiles.Tile(str(row.bucket), money(row.amount, ctx.home_currency),
               help=f"Σ open balances of the {row.invoices:,} invoices in this bucket "
               + ("(as-of date − due date)." if basis == "due" else "(as-of date − invoice date)."))
    for row in buckets.itertuples()
], per_row=5)

customers = shell.metric(
    "aging_by_customer", **aging, roll_up=roll_up, past_due_only=past_due_only, min_amount=int(min_amount)
)
st.subheader(f"Customers ({len(customers):,})")
st.caption("Click a row to see its invoices below; click a column header to sort; a client's name opens its page. "
           "Unapplied credit (payments and credit memos not yet applied) is listed apart, never netted.")
tables.show(customers, key="aging_customers", currency=ctx.home_currency, totals=True,
            choose_into=("aging_customer", "customer_id"))
heading = (f"A/R aging by customer, as of {ctx.as_of:%d %B %Y}", ", ".join(ctx.company_names))
tables.downloads(customers, f"aging-{ctx.as_of}", key="aging", heading=heading)

st.subheader("Open invoices")
names = dict(zip(customers["customer_id"], customers["customer"]))
customer_column, bucket_column = st.columns([2, 3])
if st.session_state.get("aging_customer") not in names:
    st.session_state["aging_customer"] = None  # a customer no longer listed (filters changed)
customer = customer_column.selectbox("Customer", [None, *names], key="aging_customer",
                                     format_func=lambda key: "Every customer" if key is None else names[key])
bucket = bucket_column.segmented_control("Bucket", [str(label) for label in buckets["bucket"]], key="aging_bucket",
                                         help="Show the invoices of one bucket.")
who = "every customer" if customer is None else names[customer]
invoices = shell.metric("open_invoices_as_of", **aging, customer_id=customer, roll_up=roll_up, bucket=bucket,
                        past_due_only=past_due_only)
st.caption(f"{len(invoices):,} invoices of {plain(who)}" + (f" in {bucket}" if bucket else ""))
shown = invoices[["doc_number", "customer", "customer_id", "kind", "txn_date", "due_date", "days_past_due", "bucket",
                  "currency", "open_amount", "home_open_amount"]]
tables.show(shown, key="aging_invoices", currency=ctx.home_currency, totals=True)
tables.downloads(shown, f"open-invoices-{ctx.as_of}", key="aging-invoices",
                 heading=(f"Open invoices of {who}" + (f" in {bucket}" if bucket else ""), *heading[1:],
                          f"As of {ctx.as_of:%d %B %Y}"))
