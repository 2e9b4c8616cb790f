-- Active recurring clients at each date (spec "Autopay"): a recurring invoice dated in the
-- {{ active_recurring_days }} days up to the date.
SELECT DISTINCT d.as_of, i.source, i.company_id, i.customer_id
FROM {{ ref('posted_invoices') }} i
JOIN {{ ref('as_of_dates') }} d
  ON i.txn_date <= d.as_of AND i.txn_date > d.as_of - {{ active_recurring_days }}
WHERE i.kind = 'recurring'
