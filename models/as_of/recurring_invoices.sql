-- Every recurring invoice known by the last of $dates: from a schedule (basis 'schedule', its
-- cadence) or recognised (the shortest cadence it recurs at); `stream` identifies the billing it
-- belongs to and `months` how many months one invoice covers.
WITH recognised AS (
    SELECT source, company_id, invoice_id, min(months) AS months FROM {{ ref('recognised_recurring') }} GROUP BY ALL
)
SELECT i.source, i.company_id, i.customer_id, i.invoice_id, i.txn_date, i.home_total,
       'schedule' AS basis, i.recurring_template_id AS stream,
       coalesce(CASE s.interval_unit WHEN 'month' THEN s.interval_count WHEN 'year' THEN 12 * s.interval_count END,
                1) AS months
FROM {{ ref('posted_invoices') }} i
LEFT JOIN recurring_schedules s
  ON s.source = i.source AND s.company_id = i.company_id AND s.schedule_id = i.recurring_template_id
WHERE i.recurring_template_id IS NOT NULL AND i.total > 0
  AND i.txn_date <= (SELECT max(as_of) FROM {{ ref('as_of_dates') }})
UNION ALL
SELECT i.source, i.company_id, i.customer_id, i.invoice_id, i.txn_date, i.home_total,
       'recognised', 'recognised every ' || r.months || ' months', r.months
FROM invoices i
JOIN recognised r USING (source, company_id, invoice_id)
