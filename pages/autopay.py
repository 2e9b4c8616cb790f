"""Autopay: who pays automatically, how much faster their money arrives, whom to convert next
and what converting them would release. Rosters from payment portals are imported here too."""

import streamlit as st

from core.access import ADMIN
from ui import charts, shell, tables
from ui.format import days, money, percent, plain, signed_days

ctx = shell.prepare("Autopay")
st.title("Autopay")
st.caption(f"As of **{ctx.as_of:%d %B %Y}** · an invoice counts as autopay when its client was on autopay on the "
           f"invoice date · amounts in {ctx.home_currency}")


def import_roster() -> None:
    st.markdown(
        "A CSV or Excel export from your payment portal (ConnectBooster's *Autopay Configurations*, a Stripe "
        "customer export, or a plain sheet): a header row, then one row per customer with **customer** (name or "
        "id) and **autopay** (yes/no), optionally **method** (card/ach/other), **enrolled_on** and "
        "**disabled_on**. The roster is the complete list as of today: clients missing from it are recorded "
        "as off autopay from today. Unmatched rows are listed, never guessed. A roster that matches nobody, or "
        "would take more than half of the clients on autopay off it at once, needs the confirmation below. "
        f"Limits: {shell.FILE_LIMITS}."
    )
    upload = st.file_uploader("Roster file", type=["csv", "txt", "xlsx"], key="autopay_roster")
    with st.popover("Column names in your file"):
        st.caption("Only for headers ledgerlight does not recognise; leave the rest empty.")
        mapping = {column: st.text_input(column, key=f"autopay_map_{column}").strip()
                   for column in shell.importer("autopay").importer.columns}
    replace_all = st.checkbox(
        "Yes, take them off autopay", key="autopay_replace_all",
        help="A roster that matches no client, or would take more than half of the clients on autopay off it at "
        "once, is refused unless you confirm here that it is the complete, current roster.")
    if upload is not None and st.button("Import roster", key="autopay_import", type="primary"):
        roster = shell.importer("autopay")
        result = shell.run_source(roster, roster.importer.settings(
            upload.name, content=upload.getvalue(), mapping={k: v for k, v in mapping.items() if v},
            replace_all=replace_all))
        if result is not None:
            st.success(plain(result.describe()))
            if result.summary.unmatched:
                st.warning("These rows matched no customer and were not imported: fix the name or use the customer id.")
                st.dataframe([vars(row) for row in result.summary.unmatched], hide_index=True)


if shell.allowed(ADMIN):
    with st.expander("Import an autopay roster", icon=":material/upload_file:"):
        import_roster()

if not shell.knows():
    st.stop()
adoption = shell.metric("autopay_adoption").iloc[0]
split = shell.metric("autopay_status_split")
speed = split.set_index("autopay_status")
clients, by_clients, secured, by_mrr = st.columns(4)
clients.metric(
    "Clients on autopay", f"{adoption.autopay_clients:,} of {adoption.active_recurring_clients:,}",
    help="Active recurring clients (a recurring invoice in the last 45 days) on autopay at the as-of date.",
)
by_clients.metric("Adoption by clients", percent(adoption.adoption_by_clients),
                  help="Active recurring clients on autopay ÷ active recurring clients.")
secured.metric(
    "Autopay-secured MRR", money(adoption.autopay_secured_mrr, ctx.home_currency),
    help=f"MRR of clients on autopay, out of {money(adoption.total_mrr, ctx.home_currency)} total MRR "
    "(invoice-based: each client's latest recurring invoice per month it covers; quarterly ÷ 3, annual ÷ 12).",
)
by_mrr.metric("Adoption by MRR", percent(adoption.adoption_by_mrr), help="Autopay-secured MRR ÷ total MRR.")

trend_column, speed_column = st.columns(2)
trend_column.plotly_chart(charts.autopay_adoption(shell.metric("autopay_adoption_trend")), width="stretch")
speed_column.plotly_chart(charts.autopay_speed(split), width="stretch")
for column, status in zip(st.columns(2), ["autopay", "manual"]):
    column.metric(
        f"Days to pay · {status}", days(speed.loc[status, "days_to_pay"]),
        help="Mean days from invoice date to the payment that settled it, over invoices settled in the last "
        f"90 days ({speed.loc[status, 'paid_invoices']:,} {status} invoices).",
    )
st.caption("Last 90 days. Avg days delinquent = Σ amount × days late ÷ Σ amount of invoices paid; "
           "DSO = open A/R ÷ credit sales × 90, each over that status's invoices.")
tables.show(split, key="autopay_split", currency=ctx.home_currency)

st.subheader("Whom to convert next")
candidates = shell.metric("autopay_conversion_candidates")
st.caption(
    "Active recurring clients not on autopay, ranked by the cash moving them would release: monthly billing × "
    "(their usual days late − the autopay habit) ÷ 30.4. ✓ = already pays mostly by card or ACH: the easiest ask."
)
listed = candidates[["customer", "email", "mrr", "weighted_days_late_12m", "usual_method", "pays_by_card_or_ach",
                     "cash_released", "customer_id"]]
tables.show(listed, key="autopay_candidates", currency=ctx.home_currency, totals=True)
tables.downloads(listed, f"autopay-candidates-{ctx.as_of}", key="autopay-candidates",
                 heading=(f"Autopay conversion candidates, as of {ctx.as_of:%d %B %Y}", ", ".join(ctx.company_names)))

st.subheader("What if they were on autopay?")
names = dict(zip(candidates["customer_id"], candidates["customer"]))
# Kept across pages (shell.kept): the Forecast page's cash curve starts from the same clients.
chosen_by = st.radio("Move", ["chosen clients", "a share of non-autopay MRR"], horizontal=True,
                     key=shell.kept("autopay_what_if_by", "chosen clients"))
if chosen_by == "chosen clients":
    key = shell.kept("autopay_what_if_clients", list(names)[:10])
    st.session_state[key] = [customer for customer in st.session_state[key] if customer in names]
    chosen = st.multiselect("Clients", list(names), format_func=names.get, key=key)
    what_if = shell.metric("autopay_what_if", customer_ids=tuple(chosen)) if chosen else None
else:
    share = st.slider("Share of non-autopay MRR", 0, 100, step=5, format="%d%%",
                      key=shell.kept("autopay_what_if_share", 25))
    what_if = shell.metric("autopay_what_if", share_of_manual_mrr=share / 100)
if what_if is not None:
    result = what_if.iloc[0]
    dso, overdue, released = st.columns(3)
    dso.metric("DSO", days(result.dso_after), delta=signed_days(result.dso_change),
               delta_color="inverse", help=f"Now {days(result.dso_before)}: open A/R ÷ credit sales of the last 90 days × 90.")
    overdue.metric("Overdue A/R", money(result.overdue_ar_after, ctx.home_currency),
                   delta=money(result.overdue_ar_change, ctx.home_currency), delta_color="inverse",
                   help=f"Now {money(result.overdue_ar_before, ctx.home_currency)}.")
    released.metric("One-time cash released", money(result.cash_released, ctx.home_currency),
                    help="Their open invoices that autopay would already have collected: those at least as far past "
                    f"due as this book's autopay invoices are paid ({result.autopay_days_late:.1f} days late on average).")

st.subheader("Before and after enrolling")
st.caption("Each client on autopay: mean days to pay in the 12 months before enrolling and since. Uplift = before − after.")
tables.show(shell.metric("autopay_uplift"), key="autopay_uplift", currency=ctx.home_currency)

st.subheader("Failed or late autopay charges")
failed = shell.metric("autopay_failed_charges")
st.caption(f"{len(failed):,} autopay invoices due in the last 12 months were collected more than 2 days after "
           "the due date, or not yet.")
tables.show(failed, key="autopay_failed", currency=ctx.home_currency, totals=True)

st.subheader("Enrollment history")
st.caption("Imported rosters win over manual entries, which win over inferences; ✓ marks the period that sets "
           "each client's status today. Inferred: the last 3+ recurring invoices paid by card/ACH within 2 days of due.")
tables.show(shell.metric("autopay_enrollment_history"), key="autopay_history", currency=ctx.home_currency)
