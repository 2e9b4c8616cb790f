-- A/R items that count: posted ones (voided and deleted items count nowhere), with the due-date
-- rule applied: an item without a due date is due on its date. `is_sale`: an invoice or a
-- statement charge, which are credit sales; a journal entry charging a customer or a refund of a
-- customer's credit ages and gets paid like one, but is not a sale.
SELECT * REPLACE (coalesce(due_date, txn_date) AS due_date),
       coalesce(doc_type, 'invoice') IN ('invoice', 'statement_charge') AS is_sale
FROM invoices
WHERE status = 'posted'
