"""Honesty check: ledgerlight's aging against the source's own report, like with like.

QuickBooks' A/R Aging nets a customer's unapplied payments and credits into the customer's row,
each in the bucket of its own date (a credit has no due date), and ages journal-entry charges and
refunds by their date; ledgerlight lists credits apart. So the comparison takes, in each bucket,
ledgerlight's open items less the customer's credits of that age, and its total less all of the
customer's credit. Customers are compared unrolled: QuickBooks reports each sub-customer's own row.
A source that reports item by item (Xero's Aged Receivables by contact) gives each item's due date
('due:YYYY-MM-DD'), placed here in the due-date bucket ledgerlight's own aging uses.
"""

from __future__ import annotations

import re
from datetime import date

import duckdb
import pandas as pd

import models
from metrics.aging import ZERO, AgingOptions, aging_by_customer, bucket_labels, credit_aging_by_customer

COMPARED = ["ledgerlight", "source", "difference"]


def normalised_bucket(title: str) -> str:
    """QuickBooks' column titles as ledgerlight's bucket names: '1 - 30' -> '1-30', '91 and over' -> '91+'."""
    title = title.strip().lower()
    if title in ("current", "total"):
        return title
    over = re.fullmatch(r"(\d+) and over", title)
    return f"{over.group(1)}+" if over else title.replace(" ", "")


def reconciliation_with_source(
    con: duckdb.DuckDBPyConnection, as_of: date, source: str = "quickbooks", company_id: str | None = None
) -> pd.DataFrame:
    """Per customer and bucket (customer_id '' = all customers): ledgerlight's figure, the
    source's, and the difference, at the date of the latest source report on or before `as_of`
    (column report_date). Empty: no source report to compare with."""
    options = AgingOptions()
    theirs = models.frame(con, "source_aging_report", {"dates": [as_of], "source": source, "company": company_id,
                                                       "period_days": options.period_days, "periods": options.periods})
    if theirs.empty:
        return pd.DataFrame(columns=["company_id", "report_date", "customer_id", "customer", "bucket", *COMPARED])
    itemised = theirs["bucket_index"].notna().any()  # every bucket is the source's, even one it has nothing in
    theirs["bucket"] = [options.labels[int(index)] if pd.notna(index) else normalised_bucket(title)
                        for title, index in zip(theirs["bucket"], theirs.pop("bucket_index"))]
    theirs = theirs.groupby(["company_id", "report_date", "customer_id", "customer", "bucket"], as_index=False)["amount"].agg(
        lambda amounts: sum(amounts, start=ZERO))
    report_date = theirs["report_date"].iloc[0]

    keys = ["source", "company_id", "customer_id"]
    ours = aging_by_customer(con, report_date, roll_up=False)
    ours = ours[(ours["source"] == source) & ours["company_id"].isin(theirs["company_id"].unique())]
    credits = credit_aging_by_customer(con, report_date).set_index(keys)
    labels = bucket_labels()
    ours = ours.set_index(keys)
    for label in labels:
        ours[label] = [amount - credits[label].get(key, ZERO) for key, amount in ours[label].items()]
    ours["total"] = ours["total"] - ours["unapplied_credit"]
    ours = ours.reset_index()
    buckets = [b for b in [*labels, "total"] if b in set(theirs["bucket"]) or itemised]
    per_customer = ours.melt(id_vars=["company_id", "customer_id", "customer"], value_vars=buckets,
                             var_name="bucket", value_name="ledgerlight")
    all_customers = (per_customer.groupby(["company_id", "bucket"], as_index=False)["ledgerlight"]
                     .agg(lambda amounts: sum(amounts, start=ZERO)).assign(customer_id="", customer="All customers"))
    compared = pd.concat([per_customer, all_customers], ignore_index=True).merge(
        theirs.drop(columns="report_date").rename(columns={"amount": "source", "customer": "source_customer"}),
        on=["company_id", "customer_id", "bucket"], how="outer",
    )
    compared["customer"] = compared["customer"].fillna(compared["source_customer"])
    for column in ("ledgerlight", "source"):  # a customer only one side knows has 0.00 on the other
        compared[column] = compared[column].map(lambda amount: ZERO if pd.isna(amount) else amount)
    compared["difference"] = compared["ledgerlight"] - compared["source"]
    compared["report_date"] = report_date
    return compared[["company_id", "report_date", "customer_id", "customer", "bucket", *COMPARED]].sort_values(
        ["company_id", "customer_id", "bucket"], ignore_index=True)
