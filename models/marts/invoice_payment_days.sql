-- Every invoice paid in full by the date: settled_on, days_to_pay, days_late, amount.
SELECT p.source, p.company_id, p.account_id, p.customer_id, c.name AS customer, p.invoice_id,
       p.doc_number, p.kind, p.txn_date, p.due_date, p.settled_on, p.home_total,
       p.days_to_pay, p.days_late
FROM {{ ref('paid_invoices') }} p
JOIN customers c USING (source, company_id, customer_id)
ORDER BY p.settled_on, p.invoice_id
