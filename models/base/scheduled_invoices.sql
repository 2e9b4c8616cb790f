-- The invoices a recurring schedule made (positive totals): `stream` is the schedule, `months`
-- how many months one invoice covers (the schedule's interval; 1 when it is not known).
SELECT i.source, i.company_id, i.customer_id, i.invoice_id, i.txn_date, i.home_total,
       i.recurring_template_id AS stream,
       coalesce(CASE s.interval_unit WHEN 'month' THEN s.interval_count WHEN 'year' THEN 12 * s.interval_count END,
                1) AS months
FROM {{ ref('posted_invoices') }} i
LEFT JOIN recurring_schedules s
  ON s.source = i.source AND s.company_id = i.company_id AND s.schedule_id = i.recurring_template_id
WHERE i.recurring_template_id IS NOT NULL AND i.total > 0
