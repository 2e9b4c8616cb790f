{% set grace_days = 10 %}
-- Invoice-based MRR per client (top-level parent) at each date: each billing stream's latest
-- invoice by the date, while its period plus {{ grace_days }} days' grace covers the date,
-- normalised to a month (quarterly ÷ 3, annual ÷ 12). Normalising divides, so it is rounded to the
-- cent. Recurring invoices are recognised from those known by the last of $dates.
WITH latest AS (
    SELECT d.as_of, r.source, r.company_id, r.customer_id, r.stream,
           arg_max(r.home_total, r.txn_date) AS home_total, arg_max(r.months, r.txn_date) AS months,
           max(r.txn_date) AS billed_on
    FROM {{ ref('recurring_invoices') }} r
    JOIN {{ ref('as_of_dates') }} d ON r.txn_date <= d.as_of
    GROUP BY ALL
)
SELECT l.as_of, l.source, l.company_id, c.root_id AS customer_id,
       sum(CAST(round(l.home_total / l.months, 2) AS DECIMAL(18,2))) AS mrr
FROM latest l
JOIN {{ ref('customer_roots') }} c USING (source, company_id, customer_id)
WHERE l.as_of < l.billed_on + to_months(l.months) + INTERVAL {{ grace_days }} DAY
GROUP BY ALL
