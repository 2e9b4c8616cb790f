-- Per account (top-level parent) with overdue A/R at the date: its oldest invoice's days past
-- due, the due date it has been overdue since, and how many invoices are overdue.
SELECT o.source, o.company_id, r.root_id AS customer_id,
       max(o.days_past_due) AS oldest_days_past_due, min(o.due_date) AS overdue_since,
       count(*) AS overdue_invoices
FROM {{ ref('open_invoices') }} o
JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
WHERE o.days_past_due > 0
GROUP BY ALL
