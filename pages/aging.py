"""Aging: who owes what, by how late. Trend by month-end, bucket totals, customers, their invoices."""

import streamlit as st

from ui import charts, shell, tables
from ui.format import money

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
st.caption(f"As of **{ctx.as_of:%d %B %Y}** · report-date method · amounts in {ctx.home_currency}")

if not shell.knows(history=False):
    st.stop()
if shell.knows():
    st.plotly_chart(charts.ar_trend(shell.metric("ar_trend", **aging), ctx.home_currency), width="stretch")

buckets = shell.metric("aging_buckets", **aging)
for column, row in zip(st.columns(len(buckets)), buckets.itertuples()):
    column.metric(
        str(row.bucket), money(row.amount, ctx.home_currency),
        help=f"Σ open balances of the {row.invoices} invoices in this bucket "
        + ("(as-of date − due date)." if basis == "due" else "(as-of date − invoice date)."),
    )

customers = shell.metric(
    "aging_by_customer", **aging, roll_up=roll_up, past_due_only=past_due_only, min_amount=int(min_amount)
)
st.subheader(f"Customers ({len(customers)})")
st.caption("Click a column header to sort. Unapplied credit (payments and credit memos not yet "
           "applied) is listed apart, never netted into the buckets.")
listed = customers.drop(columns=["source", "company_id"])
tables.show(listed, key="aging_customers")
tables.downloads(listed, f"aging-{ctx.as_of}", key="aging")

owing = listed[listed["total"] > 0]
if not owing.empty:
    st.subheader("Open invoices")
    chosen = st.selectbox(
        "Customer", owing["customer_id"], key="aging_customer",
        format_func=dict(zip(owing["customer_id"], owing["customer"] + " · " + owing["total"].map(
            lambda amount: money(amount, ctx.home_currency)))).get,
    )
    invoices = shell.metric("open_invoices_as_of", **aging, customer_id=chosen, roll_up=roll_up)
    shown = invoices[["doc_number", "customer", "kind", "txn_date", "due_date", "days_past_due", "bucket",
                      "currency", "open_amount", "home_open_amount"]]
    tables.show(shown, key="aging_invoices")
    tables.downloads(shown, f"open-invoices-{chosen}-{ctx.as_of}", key="aging-invoices")
