-- Records of one company ($source, $company_id) that point at something the books do not hold:
-- an application without its invoice, payment or credit memo, an invoice, payment, credit memo
-- or schedule without its customer, a sub-customer without its parent. What and field name the
-- record; a load with any of them is refused.
WITH mine AS (SELECT $source AS source, $company_id AS company_id),
broken AS (
    SELECT 'application' AS what, a.application_id AS id, 'invoice_id' AS field, a.invoice_id AS points_at
    FROM applications a SEMI JOIN mine USING (source, company_id)
    WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.source = a.source AND i.company_id = a.company_id
                                                 AND i.invoice_id = a.invoice_id)
    UNION ALL
    SELECT 'application', a.application_id, 'payment_id', a.payment_id
    FROM applications a SEMI JOIN mine USING (source, company_id)
    WHERE a.payment_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.source = a.source AND p.company_id = a.company_id
                                                 AND p.payment_id = a.payment_id)
    UNION ALL
    SELECT 'application', a.application_id, 'credit_memo_id', a.credit_memo_id
    FROM applications a SEMI JOIN mine USING (source, company_id)
    WHERE a.credit_memo_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM credit_memos m WHERE m.source = a.source AND m.company_id = a.company_id
                                                     AND m.credit_memo_id = a.credit_memo_id)
    UNION ALL
    SELECT r.what, r.id, r.field, r.points_at
    FROM (
        SELECT 'invoice' AS what, invoice_id AS id, 'customer_id' AS field, customer_id AS points_at,
               source, company_id FROM invoices
        UNION ALL SELECT 'payment', payment_id, 'customer_id', customer_id, source, company_id FROM payments
        UNION ALL SELECT 'credit memo', credit_memo_id, 'customer_id', customer_id, source, company_id FROM credit_memos
        UNION ALL SELECT 'recurring schedule', schedule_id, 'customer_id', customer_id, source, company_id
                  FROM recurring_schedules
        UNION ALL SELECT 'customer', customer_id, 'parent_id', parent_id, source, company_id
                  FROM customers WHERE parent_id IS NOT NULL
    ) r SEMI JOIN mine USING (source, company_id)
    WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.source = r.source AND c.company_id = r.company_id
                                                  AND c.customer_id = r.points_at)
)
SELECT what, id, field, points_at FROM broken ORDER BY ALL LIMIT 5
