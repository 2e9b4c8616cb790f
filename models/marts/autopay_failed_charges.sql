-- Autopay invoices due in the last $months months up to the date that were not collected on
-- time: settled after the grace days ('late', a failed charge retried) or still unpaid past them
-- ('unpaid'). days_late counts to settlement, or to the date if unpaid.
WITH as_of_dates AS {{ ref('as_of_dates') }},
invoice_status AS {{ ref('invoice_autopay_status') }},
settled AS {{ ref('settled_invoices') }}
SELECT i.source, i.company_id, i.customer_id, c.name AS customer, i.invoice_id, i.doc_number,
       i.due_date, s.settled_on, i.home_total,
       datediff('day', i.due_date, coalesce(s.settled_on, d.as_of)) AS days_late,
       CASE WHEN s.settled_on IS NULL THEN 'unpaid' ELSE 'late' END AS outcome
FROM {{ ref('posted_invoices') }} i
CROSS JOIN as_of_dates d
JOIN invoice_status st USING (source, company_id, invoice_id)
JOIN customers c USING (source, company_id, customer_id)
LEFT JOIN settled s ON s.as_of = d.as_of AND s.source = i.source AND s.company_id = i.company_id
                   AND s.invoice_id = i.invoice_id
WHERE st.autopay_status = 'autopay' AND i.total > 0
  AND i.due_date > d.as_of - to_months($months::INTEGER)
  AND {{ autopay_failed("datediff('day', i.due_date, coalesce(s.settled_on, d.as_of))") }}
  AND NOT coalesce(s.written_off, false)
ORDER BY due_date DESC, c.name
