-- Per account (top-level parent) and calendar month (one per date in $dates: each month-end, the
-- last the as-of date): what it was billed in the month up to that date, and its invoice-based
-- MRR at that date.
WITH months AS (
    SELECT as_of, date_trunc('month', as_of)::DATE AS month_start FROM {{ ref('as_of_dates') }}
),
billed AS (
    SELECT m.as_of, i.source, i.company_id, r.root_id AS customer_id, sum(i.home_total) AS billed
    FROM months m
    JOIN {{ ref('sales_invoices') }} i ON i.txn_date BETWEEN m.month_start AND m.as_of
    JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
    GROUP BY ALL
),
mrr AS (SELECT as_of, source, company_id, customer_id, mrr FROM {{ ref('invoice_mrr') }}),
accounts AS (
    SELECT as_of, source, company_id, customer_id FROM billed
    UNION SELECT as_of, source, company_id, customer_id FROM mrr
)
SELECT a.source, a.company_id, a.customer_id, m.month_start, a.as_of AS month_end,
       coalesce(b.billed, 0)::DECIMAL(18,2) AS billed, coalesce(r.mrr, 0)::DECIMAL(18,2) AS mrr
FROM accounts a
JOIN months m USING (as_of)
LEFT JOIN billed b USING (as_of, source, company_id, customer_id)
LEFT JOIN mrr r USING (as_of, source, company_id, customer_id)
