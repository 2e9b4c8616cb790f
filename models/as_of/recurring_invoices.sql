-- Every recurring invoice known by the last of $dates: from a schedule (basis 'schedule', its
-- cadence) or recognised (the shortest cadence it recurs at); `stream` identifies the billing it
-- belongs to and `months` how many months one invoice covers.
WITH recognised AS (
    SELECT source, company_id, invoice_id, min(months) AS months FROM {{ ref('recognised_recurring') }} GROUP BY ALL
)
SELECT source, company_id, customer_id, invoice_id, txn_date, home_total, 'schedule' AS basis, stream, months
FROM {{ ref('scheduled_invoices') }}
WHERE txn_date <= (SELECT max(as_of) FROM {{ ref('as_of_dates') }})
UNION ALL
SELECT i.source, i.company_id, i.customer_id, i.invoice_id, i.txn_date, i.home_total,
       'recognised', 'recognised every ' || r.months || ' months', r.months
FROM invoices i
JOIN recognised r USING (source, company_id, invoice_id)
