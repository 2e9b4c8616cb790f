-- One account's months (each of $dates is a month-end, the last the as-of date): what it was
-- billed and paid in the month, its invoice-based MRR at the month's end, and how it paid the
-- invoices settled in the month (mean days to pay, share paid by the due date).
WITH account AS (
    SELECT source, company_id, customer_id FROM {{ ref('customer_roots') }} WHERE root_id = $customer_id
),
months AS (
    SELECT as_of AS month_end, lag(as_of) OVER (ORDER BY as_of) AS previous_end FROM {{ ref('as_of_dates') }}
),
billed AS (
    SELECT m.month_end, sum(i.home_total) AS billed
    FROM months m
    JOIN {{ ref('sales_invoices') }} i ON i.txn_date <= m.month_end AND i.txn_date > coalesce(m.previous_end, DATE '0001-01-01')
    JOIN account a USING (source, company_id, customer_id)
    WHERE m.previous_end IS NOT NULL
    GROUP BY ALL
),
paid AS (
    SELECT m.month_end, count(*) AS invoices_paid, avg(s.days_to_pay) AS days_to_pay,
           avg(CASE WHEN s.days_late <= 0 THEN 1 ELSE 0 END) AS on_time_share
    FROM months m
    JOIN {{ ref('settled_invoices') }} s ON s.settled_on <= m.month_end AND s.settled_on > m.previous_end
    JOIN account a USING (source, company_id, customer_id)
    WHERE NOT s.written_off AND s.as_of = (SELECT max(as_of) FROM {{ ref('as_of_dates') }})
    GROUP BY ALL
),
mrr AS (
    SELECT as_of AS month_end, sum(mrr) AS mrr FROM {{ ref('invoice_mrr') }} WHERE customer_id = $customer_id GROUP BY ALL
)
SELECT m.month_end, coalesce(b.billed, 0)::DECIMAL(18,2) AS billed, coalesce(r.mrr, 0)::DECIMAL(18,2) AS mrr,
       coalesce(p.invoices_paid, 0) AS invoices_paid, p.days_to_pay, p.on_time_share
FROM months m
LEFT JOIN billed b USING (month_end)
LEFT JOIN paid p USING (month_end)
LEFT JOIN mrr r USING (month_end)
WHERE m.previous_end IS NOT NULL
ORDER BY m.month_end
