"""Forecast: expected cash in for 13 weeks, recurring revenue and its forecast, and the backtest."""

import streamlit as st

from metrics import forecast_totals
from ui import charts, shell, tables
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
totals = forecast_totals(forecast)
total, open_part, not_issued = (totals[c] for c in ("expected", "from_open", "from_not_yet_issued"))
tiles = st.columns(3)
tiles[0].metric("Expected cash, 13 weeks", money(total, ctx.home_currency),
                help="Σ expected payments of open invoices and of invoices not yet issued, each dated by its "
                "client's payment habit (autopay clients on the due date).")
tiles[1].metric("From open invoices", money(open_part, ctx.home_currency))
tiles[2].metric("From invoices not yet issued", money(not_issued, ctx.home_currency),
                help="Recurring schedules' next invoices, plus each client's recent run rate of other billing.")
st.plotly_chart(charts.cash_forecast(forecast, ctx.home_currency), width="stretch")
tables.show(forecast, key="forecast_weeks")
tables.downloads(forecast, f"cash-forecast-{ctx.as_of}", key="forecast")

st.subheader("Recurring revenue")
summary = shell.metric("recurring_revenue_summary").iloc[0]
tiles = st.columns(5)
tiles[0].metric("MRR", money(summary["mrr"], ctx.home_currency),
                help="Σ each recurring stream's latest invoice ÷ its months (annual ÷ 12, quarterly ÷ 3).")
tiles[1].metric("ARR", money(summary["arr"], ctx.home_currency), help="12 × MRR.")
tiles[2].metric("NRR, 12 months", percent(summary["nrr_12m"]),
                help="MRR now of the clients billed 12 months ago ÷ their MRR then.")
tiles[3].metric("GRR, 12 months", percent(summary["grr_12m"]),
                help="The same, each client capped at its MRR 12 months ago.")
tiles[4].metric("Delinquent MRR", money(summary["delinquent_mrr"], ctx.home_currency),
                help="MRR of clients with an invoice more than 30 days past due.")
st.caption(f"Autopay-secured MRR: {money(summary['autopay_secured_mrr'], ctx.home_currency)}")
movements = shell.metric("mrr_movements")
mrr_forecast = shell.metric("mrr_forecast")
st.plotly_chart(charts.mrr_trend(movements, mrr_forecast, ctx.home_currency), width="stretch")
st.caption(f"MRR forecast method: **{mrr_forecast['method'].iloc[0]}**, the one with the lowest backtest error on "
           "this book (below): the movement-rate rule is only used where it beats keeping MRR flat.")
tables.show(movements, key="forecast_movements")

st.markdown("**MRR forecast backtest**")
st.caption("The MRR forecast rule replayed at each of the last 12 month-ends whose horizon has passed, from the "
           "invoices known then, against the invoice-based MRR that followed; beside it, MRR kept flat and a "
           "least-squares line through the 6 months before. Mean absolute percentage error, months ahead:")
_, mrr_accuracy = shell.metric("mrr_forecast_backtest")
st.dataframe(
    [{"method": {"rule": "forecast rule", "flat": "flat (MRR unchanged)", "trend": "linear trend"}[method],
      **{f"{row.horizon} mo": percent(row.mape) if row.mape == row.mape else "–" for row in group.itertuples()}}
     for method, group in mrr_accuracy.groupby("method", sort=False)],
    hide_index=True,
)

st.subheader("How accurate is it?")
st.caption("The forecast replayed at each of the last 26 weekly cut-offs from the data known then, against the "
           "cash actually collected (payments applied to invoices).")
weekly, accuracy = shell.metric("backtest")
week = st.slider("Weeks ahead", min_value=1, max_value=13, value=1, key="forecast_backtest_week")
st.plotly_chart(charts.backtest(weekly, week, ctx.home_currency), width="stretch")
st.dataframe(
    [{"method": method, **{key: round(value, 3) for key, value in figures.items()}}
     for method, figures in accuracy.items() if method != "cutoffs"],
    hide_index=True,
)
