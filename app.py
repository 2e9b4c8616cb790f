"""ledgerlight dashboard: `streamlit run app.py`. This script is the Overview page; the others
live in pages/. Each page starts with shell.prepare(), so a bookmarked page URL shows the same
sidebar (menu, as-of date) and demo banner as one reached from the menu.

Overview: is cash healthy? Headline A/R figures, aging, the 12-month trend and collection KPIs.
"""

import streamlit as st

from ui import charts, shell, tiles
from ui.format import days, measure, measure_change, money, percent, plain, ratio, signed_money, signed_points

ctx = shell.prepare("Overview")
st.title("Overview")
st.caption(f"As of **{ctx.as_of:%d %B %Y}** · {plain(', '.join(ctx.company_names))} · amounts in {ctx.home_currency}")

if not shell.knows(history=False):
    st.stop()
change = shell.metric("ar_change").iloc[0]
since = f"since {change.previous_as_of:%d %b}"


def moved(text: str) -> str | None:
    """A tile's change since the last month-end; none for a snapshot, which knows one date only."""
    return None if ctx.is_snapshot else f"{text} {since}"


tiles.show([
    tiles.Tile("Total A/R", money(change.total_ar, ctx.home_currency),
               delta=moved(signed_money(change.total_ar_change, ctx.home_currency)),
               delta_color="off",
               help="Σ open invoice balances at the as-of date: invoice total − payments and credits applied on or "
               "before that date (report-date method). Voided invoices and unapplied credits excluded."),
    tiles.Tile("Overdue A/R", money(change.overdue_ar, ctx.home_currency),
               delta=moved(signed_money(change.overdue_ar_change, ctx.home_currency)),
               delta_color="inverse",
               help="Σ open balances of invoices whose due date is before the as-of date (days past due ≥ 1)."),
    tiles.Tile("% current", percent(change.pct_current),
               delta=moved(signed_points(change.pct_current_change)),
               help="Current A/R ÷ total A/R, where current means not yet past due (days past due ≤ 0)."),
    tiles.Tile("Open invoices", f"{change.open_invoices:,}",
               delta=moved(f"{change.open_invoices_change:+,}"), delta_color="off",
               help="Invoices with a balance at the as-of date, whatever their due date."),
])

aging, trend = st.columns(2)
aging.plotly_chart(charts.aging_bars(shell.metric("aging_buckets"), ctx.home_currency), width="stretch")
with trend:
    if shell.knows():
        st.plotly_chart(charts.ar_trend(shell.metric("ar_trend"), ctx.home_currency), width="stretch")

st.subheader("How well you collect")
if not shell.knows():
    st.stop()
window = st.segmented_control(
    "Window", [30, 90, 365], default=90, key="kpi_window",
    format_func=lambda days: {30: "1 month", 90: "3 months", 365: "12 months"}[days],
    help="KPIs use the credit sales (invoices dated) and collections in the last 1, 3 or 12 whole months up to the "
    "as-of date, so a client billed on a fixed day of the month is always in the window once a month.",
) or 90
review = shell.metric("kpi_review", window_days=window)
_VERDICTS = {"better": ":green[better than]", "typical": ":blue[within]", "worse": ":orange[worse than]"}
for column, row in zip(st.columns(len(review)), review.itertuples()):
    column.metric(row.label, measure(row.value, row.unit),
                  delta=None if row.change is None else f"{measure_change(row.change, row.unit)} {since}",
                  delta_color="inverse" if row.lower_is_better else "normal", help=row.meaning)
    if row.verdict:
        column.caption(f"{_VERDICTS[row.verdict]} the typical "
                       f"{measure(row.median_low, row.unit)}–{measure(row.median_high, row.unit)} (CRF median)")

series = shell.metric("kpi_series", window_days=window)
kpi = series.iloc[-1]  # the as-of date's
span = (f"the last {kpi.window_months} month{'s' if kpi.window_months > 1 else ''}, {kpi.window_start:%d %b %Y} to "
        f"{kpi.as_of:%d %b %Y} ({kpi.days_in_window} days)")
for note in kpi.notes:
    st.warning(note, icon=":material/info:")
with st.expander("Every KPI, with its formula"):
    tiles.show([
        tiles.Tile(label, value, help=formula) for label, value, formula in [
            ("DSO", days(kpi.dso), f"A/R ÷ credit sales in {span} × {kpi.days_in_window}."),
            ("DSO (countback)", days(kpi.dso_countback),
             "Walk back month by month from the as-of date, subtracting each month's sales from A/R and adding "
             "its days; "
             "the month that sales outrun adds remaining ÷ its sales × its days."),
            ("Best possible DSO", days(kpi.bpdso),
             f"Current (not yet due) A/R ÷ credit sales in {span} × {kpi.days_in_window}."),
            ("Avg days delinquent (CRF)", days(kpi.add_crf), "ADD = DSO − best possible DSO."),
            ("Avg days delinquent (invoices)", days(kpi.add_invoice),
             f"Σ amount × max(0, paid date − due date) ÷ Σ amount, over invoices paid off in {span}."),
            ("CEI", percent(None if kpi.cei is None else kpi.cei / 100),
             "Collection effectiveness (CRF): (A/R begin + sales ÷ N − A/R end) ÷ (A/R begin + sales ÷ N − current "
             f"A/R end) × 100, N = {kpi.window_months} month{'s' if kpi.window_months > 1 else ''}, over {span}; "
             f"begin = A/R on {kpi.window_start:%d %b %Y} before any of it."),
            ("% 91+ days", percent(kpi.pct_91_plus), "A/R more than 90 days past due ÷ total A/R."),
            ("A/R turnover", ratio(kpi.ar_turnover), f"Credit sales ÷ ((A/R begin + A/R end) ÷ 2), over {span}."),
            ("Bad-debt ratio", percent(kpi.bad_debt_ratio),
             f"A/R written off (bad-debt credit memos) ÷ credit sales, over {span}."),
            ("Credit sales", money(kpi.credit_sales, ctx.home_currency), f"Σ invoices dated in {span}."),
        ]
    ])
    st.caption("Countback DSO can be lower than best possible DSO: countback measures A/R against the latest "
               "months' sales one month at a time, so a month of heavy billing (an MSP billing on the 1st) "
               "covers more of the A/R than the window's average day of sales does.")
st.plotly_chart(charts.kpi_trend(series), width="stretch")
st.caption("The trend shows the same KPIs at each month-end, each for the same number of whole months up to it.")

st.subheader("Monthly review pack")
months = shell.pack_months()
month = st.selectbox("Month", list(months), format_func=months.get, key="pack_month",
                     help="Every figure as of the month's last day (today, for the month under way), each beside the "
                     "month before's, with these charts: the document `python -m etl pack` writes.")
if month:
    pdf, html = st.columns(2)
    pdf.download_button("Download the pack (PDF)", data=lambda: shell.review_pack(month, "pdf"), on_click="ignore",
                        file_name=f"review-pack-{month}.pdf", mime="application/pdf", icon=":material/picture_as_pdf:",
                        key="pack_pdf")
    html.download_button("Download the pack (HTML)", data=lambda: shell.review_pack(month, "html"), on_click="ignore",
                         file_name=f"review-pack-{month}.html", mime="text/html", icon=":material/download:",
                         key="pack_html")
