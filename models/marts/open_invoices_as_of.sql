-- Every invoice open at the date with its customer, open amount, days past due and bucket,
-- optionally one account ($customer_id, with its sub-customers when $roll_up), one bucket
-- ($bucket_index), or only those past due ($past_due_only).
SELECT i.source, i.company_id, i.account_id, i.customer_id, c.name AS customer,
       i.invoice_id, i.doc_number, i.kind, i.txn_date, i.due_date, i.currency,
       i.total, i.open_amount, i.home_open_amount, i.days_past_due, i.bucket_index
FROM {{ ref('aged_invoices') }} i
JOIN customers c USING (source, company_id, customer_id)
WHERE ($customer_id IS NULL OR i.account_id = $customer_id)
  AND ($bucket_index IS NULL OR i.bucket_index = $bucket_index)
  AND (NOT $past_due_only OR i.days_past_due > 0)
ORDER BY c.name, i.due_date, i.doc_number
