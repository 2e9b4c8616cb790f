-- The applications that count, each on the day it takes effect: an application between documents
-- that all count (the invoice, and the payment or credit memo it comes from, are posted), dated
-- the latest of its own date and its documents' dates. A payment dated before the invoice it pays
-- is customer credit until the invoice exists; an application to a voided or deleted invoice, or
-- from a voided payment or credit memo, counts nowhere, so its money is the customer's credit again.
SELECT a.* REPLACE (greatest(a.applied_on, i.txn_date, coalesce(p.txn_date, a.applied_on),
                             coalesce(m.txn_date, a.applied_on)) AS applied_on),
       i.exchange_rate AS invoice_rate
FROM applications a
JOIN {{ ref('posted_invoices') }} i USING (source, company_id, invoice_id)
LEFT JOIN payments p USING (source, company_id, payment_id)
LEFT JOIN credit_memos m USING (source, company_id, credit_memo_id)
WHERE (a.payment_id IS NULL OR p.status = 'posted')
  AND (a.credit_memo_id IS NULL OR m.status = 'posted')
