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

# What a collector ranks by first, so a phone shows it beside the name; how to reach them last.
columns = ["customer", "overdue", "oldest_days_past_due", "91+", "weighted_days_late_12m", "drift", "overdue_since",
           "overdue_invoices", "unapplied_credit", "last_payment_date", "share_on_time_12m", "email", "customer_id"]
listed = worklist[columns]
tables.show(listed, key="worklist", currency=ctx.home_currency, totals=True)
tables.downloads(listed, f"collections-{ctx.as_of}", key="worklist",
                 heading=(f"Clients to chase, as of {ctx.as_of:%d %B %Y}", ", ".join(ctx.company_names)))
