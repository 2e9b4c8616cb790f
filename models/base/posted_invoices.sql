-- Invoices that count: posted ones (voided and deleted invoices count nowhere), with the due-date
-- rule applied: an invoice without a due date is due on its invoice date.
SELECT * REPLACE (coalesce(due_date, txn_date) AS due_date)
FROM invoices
WHERE status = 'posted'
