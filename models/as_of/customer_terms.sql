-- Each customer's latest due-date gap (days from invoice date to due date) at each date: the terms
-- a schedule that has not billed yet is expected to follow.
SELECT d.as_of, i.source, i.company_id, i.customer_id,
       arg_max(datediff('day', i.txn_date, i.due_date), i.txn_date) AS terms_days
FROM {{ ref('sales_invoices') }} i
JOIN {{ ref('as_of_dates') }} d ON i.txn_date <= d.as_of
GROUP BY ALL
