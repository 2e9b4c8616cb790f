"""Clients: the weekly collections worklist. Overdue clients, most money and oldest debt first."""

import streamlit as st

from ui import shell, tables
from ui.format import money

ctx = shell.prepare("Clients to chase")
st.title("Clients to chase")
st.caption(f"As of **{ctx.as_of:%d %B %Y}** · overdue = open invoices past their due date · amounts in {ctx.home_currency}")

if not shell.knows(history=False):
    st.stop()
worklist = shell.metric("collections_worklist")
count, overdue, drifting = st.columns(3)
count.metric("Clients overdue", f"{len(worklist):,}", help="Clients (sub-customers rolled up) with any invoice past its due date.")
overdue.metric(
    "Overdue A/R", money(shell.metric("ar_summary").iloc[0].overdue_ar, ctx.home_currency),
    help="Σ open balances of invoices whose due date is before the as-of date.",
)
drifting.metric(
    "Paying later than usual", f"{int(worklist['drift'].sum()):,}",
    help="Drift: each of the client's 3 latest invoices is more than 10 days later than the client's "
    "12-month median days late (an unpaid one counts its days past due so far).",
)

columns = ["customer", "email", "overdue", "oldest_days_past_due", "overdue_since", "overdue_invoices", "91+",
           "unapplied_credit", "last_payment_date", "weighted_days_late_12m", "share_on_time_12m", "drift", "customer_id"]
listed = worklist[columns]
tables.show(
    listed,
    key="worklist",
    oldest_days_past_due=st.column_config.NumberColumn("oldest (days past due)"),
    weighted_days_late_12m=st.column_config.NumberColumn(
        "usually pays (days late, 12 mo.)", format="%.1f",
        help="Amount-weighted days late of invoices paid in the last 12 months: Σ amount × days late ÷ Σ amount.",
    ),
    share_on_time_12m=st.column_config.NumberColumn("on time (12 mo.)", format="percent"),
    drift=st.column_config.CheckboxColumn("⚠ drifting"),
)
tables.downloads(listed, f"collections-{ctx.as_of}", key="worklist")
