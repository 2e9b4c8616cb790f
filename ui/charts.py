"""Plotly figures. They take metric DataFrames and only draw: hover text shows exact amounts."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ui.format import money

# Green while current, through amber, to red for the oldest debt.
_BUCKET_COLOURS = ["#2e7d32", "#9ccc65", "#fbc02d", "#fb8c00", "#c62828", "#8e0000"]


def _colours(labels: list[str]) -> list[str]:
    return [_BUCKET_COLOURS[min(i, len(_BUCKET_COLOURS) - 1)] for i in range(len(labels))]


def _layout(figure: go.Figure, title: str) -> go.Figure:
    return figure.update_layout(
        title=title, margin=dict(l=10, r=10, t=50, b=10), height=360,
        legend=dict(orientation="h", y=-0.15), yaxis=dict(tickprefix="$", separatethousands=True),
    )


def aging_bars(buckets: pd.DataFrame, currency: str) -> go.Figure:
    labels = buckets["bucket"].astype(str).tolist()
    figure = go.Figure(
        go.Bar(
            x=labels,
            y=[float(amount) for amount in buckets["amount"]],
            marker_color=_colours(labels),
            customdata=[[money(a, currency), n] for a, n in zip(buckets["amount"], buckets["invoices"])],
            hovertemplate="%{x}: %{customdata[0]} in %{customdata[1]} invoices<extra></extra>",
        )
    )
    return _layout(figure, "Open A/R by days past due")


def ar_trend(trend: pd.DataFrame, currency: str) -> go.Figure:
    buckets = [c for c in trend.columns if c not in ("as_of", "total")]
    figure = go.Figure()
    for bucket, colour in zip(buckets, _colours(buckets)):
        figure.add_bar(
            x=trend["as_of"], y=[float(v) for v in trend[bucket]], name=bucket, marker_color=colour,
            customdata=[money(v, currency) for v in trend[bucket]],
            hovertemplate=f"{bucket}: %{{customdata}}<extra></extra>",
        )
    figure.add_scatter(
        x=trend["as_of"], y=[float(v) for v in trend["total"]], name="total", mode="lines+markers",
        line=dict(color="#37474f"), customdata=[money(v, currency) for v in trend["total"]],
        hovertemplate="total %{x|%d %b %Y}: %{customdata}<extra></extra>",
    )
    figure.update_layout(barmode="stack", hovermode="x unified")
    return _layout(figure, "Open A/R at each month-end")


def kpi_trend(series: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    for column, name in [("dso", "DSO"), ("bpdso", "Best possible DSO"), ("add", "Avg days delinquent")]:
        figure.add_scatter(x=series["as_of"], y=series[column], name=name, mode="lines+markers",
                           hovertemplate=f"{name}: %{{y:.1f}} days<extra></extra>")
    figure.add_scatter(x=series["as_of"], y=series["cei"], name="CEI (%)", mode="lines+markers", yaxis="y2",
                       line=dict(dash="dot"), hovertemplate="CEI: %{y:.1f} %<extra></extra>")
    _layout(figure, "Collection KPIs at each month-end")
    return figure.update_layout(
        hovermode="x unified", yaxis=dict(title="days", tickprefix=""),
        yaxis2=dict(title="CEI %", overlaying="y", side="right", showgrid=False),
    )
