-- Records of one company ($source, $company_id) that point at something the books do not hold: an
-- application without its invoice, payment or credit memo; an invoice, payment, credit memo or
-- schedule without its customer; a sub-customer without its parent. A load with any is refused.
WITH mine AS (SELECT $source AS source, $company_id AS company_id),
held AS (
    SELECT source, company_id, 'invoice_id' AS field, invoice_id AS id FROM invoices
    UNION ALL SELECT source, company_id, 'payment_id', payment_id FROM payments
    UNION ALL SELECT source, company_id, 'credit_memo_id', credit_memo_id FROM credit_memos
    UNION ALL SELECT source, company_id, 'customer_id', customer_id FROM customers
    UNION ALL SELECT source, company_id, 'parent_id', customer_id FROM customers
),
pointers AS (
    SELECT source, company_id, 'application' AS what, application_id AS id, 'invoice_id' AS field, invoice_id AS points_at
    FROM applications
    UNION ALL SELECT source, company_id, 'application', application_id, 'payment_id', payment_id FROM applications
    UNION ALL SELECT source, company_id, 'application', application_id, 'credit_memo_id', credit_memo_id FROM applications
    UNION ALL SELECT source, company_id, 'invoice', invoice_id, 'customer_id', customer_id FROM invoices
    UNION ALL SELECT source, company_id, 'payment', payment_id, 'customer_id', customer_id FROM payments
    UNION ALL SELECT source, company_id, 'credit memo', credit_memo_id, 'customer_id', customer_id FROM credit_memos
    UNION ALL SELECT source, company_id, 'recurring schedule', schedule_id, 'customer_id', customer_id FROM recurring_schedules
    UNION ALL SELECT source, company_id, 'customer', customer_id, 'parent_id', parent_id FROM customers
)
SELECT p.what, p.id, p.field, p.points_at
FROM pointers p
SEMI JOIN mine USING (source, company_id)
ANTI JOIN held h ON h.source = p.source AND h.company_id = p.company_id AND h.field = p.field AND h.id = p.points_at
WHERE p.points_at IS NOT NULL
ORDER BY ALL
LIMIT 5
