"""Forecast: expected cash in for 13 weeks, recurring revenue and its forecast, and the backtest."""

import streamlit as st

from metrics import at_risk_total, forecast_totals
from metrics.forecast import BAND_LEVEL, CALIBRATION_CUTOFFS, CALIBRATION_MIN_ERRORS, backtest_table
from ui import charts, shell, tables, tiles
from ui.format import money, percent

ctx = shell.prepare("Forecast")
st.title("Cash forecast and recurring revenue")
st.caption(f"As of **{ctx.as_of:%d %B %Y}** · amounts in {ctx.home_currency} · invoice-based MRR")

if not shell.knows():
    st.stop()
candidates = shell.metric("autopay_what_if_clients")
names = dict(zip(candidates["customer_id"], candidates["customer"]))
what_if = st.multiselect(
    "What if these clients paid by autopay from today?", list(names), format_func=names.get, key="forecast_what_if",
    default=[customer for customer in shell.remembered_autopay_what_if() if customer in names],
    help="Starts from the clients chosen in the Autopay page's what-if. Their open and future invoices are then "
    "expected on the due date, less this book's observed autopay failure share, which follows after the "
    "observed retry delay.",
)
forecast = shell.metric("cash_forecast", autopay_customer_ids=tuple(what_if))
at_risk = shell.metric("invoices_at_risk", autopay_customer_ids=tuple(what_if))
totals = forecast_totals(forecast)
total, open_part, not_issued = (totals[c] for c in ("expected", "from_open", "from_not_yet_issued"))
tiles.show([
    tiles.Tile("Expected cash, 13 weeks", money(total, ctx.home_currency),
               help="Σ over open invoices and invoices not yet issued of amount × the chance of its being collected "
               "in each week: conditional on its age (days past due), from how invoices still open at that age were "
               "collected in the last 12 months (each invoice counted once), paced by the client's own record. "
               "Autopay clients are charged on the due date, less the observed failure share."),
    tiles.Tile("From open invoices", money(open_part, ctx.home_currency)),
    tiles.Tile("From invoices not yet issued", money(not_issued, ctx.home_currency),
               help="Recurring schedules' next invoices, plus each client's recent run rate of other billing."),
    tiles.Tile("At risk", money(at_risk_total(at_risk), ctx.home_currency),
               help="Past-due money the forecast does not expect within the 13 weeks, kept out of every week: "
               "invoices older than the history shows being collected, and the share of others that invoices at "
               "their age never were (written off, disputed, still open). Bad-debt candidates, listed below."),
])
st.plotly_chart(charts.cash_forecast(forecast, ctx.home_currency), width="stretch")
st.caption(f"The band is the {BAND_LEVEL:.0%} interval of each week's cash, widened by the forecast's own past "
           "errors; the backtest below shows how often the cash fell inside it.",
           help=f"The model's own band is the {BAND_LEVEL:.0%} interval of each week's cash if each invoice is "
           "collected in a week or not. It misses the error of the learnt habits themselves, so it is widened from "
           f"the forecasts made at the {CALIBRATION_CUTOFFS} weekly cut-offs before today: in their weeks that have "
           "ended, how far the cash fell outside their model band, as a share of the expected cash. Each end of the "
           f"band moves out by the {BAND_LEVEL:.0%} quantile of those misses (weeks 1-4 and 5-13 apart; never "
           f"narrowed). With fewer than {CALIBRATION_MIN_ERRORS} past weeks to learn from, the model's band is shown.")
tables.show(forecast, key="forecast_weeks", currency=ctx.home_currency, totals=True)
tables.downloads(forecast, f"cash-forecast-{ctx.as_of}", key="forecast",
                 heading=(f"Cash forecast, 13 weeks from {ctx.as_of:%d %B %Y}", ", ".join(ctx.company_names)))

st.markdown(f"**At risk: {money(at_risk_total(at_risk), ctx.home_currency)} in {len(at_risk):,} past-due invoices**")
if at_risk.empty:
    st.caption("No past-due money is at risk: every overdue invoice is expected within the 13 weeks.")
else:
    tables.show(at_risk, key="forecast_at_risk", currency=ctx.home_currency, totals=True)

st.subheader("Recurring revenue")
summary = shell.metric("recurring_revenue_summary").iloc[0]
tiles.show([
    tiles.Tile("MRR", money(summary["mrr"], ctx.home_currency),
               help="Σ each recurring stream's latest invoice ÷ its months (annual ÷ 12, quarterly ÷ 3)."),
    tiles.Tile("ARR", money(summary["arr"], ctx.home_currency), help="12 × MRR."),
    tiles.Tile("NRR, 12 months", percent(summary["nrr_12m"]),
               help="MRR now of the clients billed 12 months ago ÷ their MRR then."),
    tiles.Tile("GRR, 12 months", percent(summary["grr_12m"]),
               help="The same, each client capped at its MRR 12 months ago."),
    tiles.Tile("Delinquent MRR", money(summary["delinquent_mrr"], ctx.home_currency),
               help="MRR of clients with an invoice more than 30 days past due."),
])
st.caption(f"Autopay-secured MRR: {money(summary['autopay_secured_mrr'], ctx.home_currency)}")
movements = shell.metric("mrr_movements")
mrr_forecast, _, mrr_accuracy = shell.metric("mrr_outlook")  # one backtest for the method and the table
st.plotly_chart(charts.mrr_trend(movements, mrr_forecast, ctx.home_currency), width="stretch")
st.caption(f"MRR forecast method: **{mrr_forecast['method'].iloc[0]}**, the one with the lowest backtest error on "
           "this book (below): the movement-rate rule is only used where it beats keeping MRR flat.")
tables.show(movements, key="forecast_movements", currency=ctx.home_currency)

st.markdown("**MRR forecast backtest**")
st.caption("The MRR forecast rule replayed at each of the last 12 month-ends whose horizon has passed, from the "
           "invoices known then, against the invoice-based MRR that followed; beside it, MRR kept flat and a "
           "least-squares line through the 6 months before. Mean absolute percentage error, months ahead:")
st.dataframe(
    [{"Method": {"rule": "forecast rule", "flat": "flat (MRR unchanged)", "trend": "linear trend"}[method],
      **{f"{row.horizon} mo": percent(row.mape) if row.mape == row.mape else "–" for row in group.itertuples()}}
     for method, group in mrr_accuracy.groupby("method", sort=False)],
    hide_index=True,
)

st.subheader("How accurate is it?")
st.caption("The forecast replayed at each of the last 26 weekly cut-offs from the data known then, against the "
           "cash actually collected (payments applied to invoices): the error per week in money and as a share of "
           f"the week's cash, and the share of weeks whose cash fell inside the {BAND_LEVEL:.0%} band (and inside "
           "the model's own band, before it is widened; each cut-off's band only from what was known then).")
weekly, accuracy = shell.metric("backtest")
week = st.slider("Weeks ahead", min_value=1, max_value=13, value=1, key="forecast_backtest_week")
st.plotly_chart(charts.backtest(weekly, week, ctx.home_currency), width="stretch")
tables.show(backtest_table(accuracy), key="forecast_backtest", currency=ctx.home_currency)
