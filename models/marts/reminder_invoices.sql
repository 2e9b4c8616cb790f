-- What reminders are made of, at the date: every invoice past due and not in dispute of an
-- account that is not parked by an open promise to pay, with the account's name, email and
-- currency, and the books' company name. Oldest debt first within each account.
WITH status AS {{ ref('collection_status') }}
SELECT i.source, i.company_id, i.account_id AS customer_id, a.name AS customer, a.email, a.currency AS account_currency,
       k.name AS company, i.invoice_id, coalesce(i.doc_number, i.invoice_id) AS doc_number, i.txn_date, i.due_date,
       i.currency, i.total, i.open_amount, i.days_past_due
FROM {{ ref('aged_invoices') }} i
JOIN customers a ON a.source = i.source AND a.company_id = i.company_id AND a.customer_id = i.account_id
JOIN companies k ON k.source = i.source AND k.company_id = i.company_id
LEFT JOIN status s ON s.as_of = i.as_of AND s.source = i.source AND s.company_id = i.company_id
                  AND s.customer_id = i.account_id
WHERE i.days_past_due > 0 AND i.open_amount > 0 AND NOT i.is_disputed AND NOT coalesce(s.parked, false)
ORDER BY i.source, i.company_id, i.account_id, i.due_date, doc_number
