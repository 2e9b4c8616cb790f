-- Disputes opened by the date, of one account ($customer_id, with its sub-customers) or of all
-- ($customer_id NULL), with the disputed invoice's open amount at the date and whether the dispute
-- is still open then. Newest first.
WITH open_amounts AS (
    SELECT as_of, source, company_id, invoice_id, home_open_amount FROM {{ ref('open_invoices') }}
)
SELECT d.as_of, x.source, x.company_id, r.root_id AS account_id, x.customer_id, x.dispute_id, x.invoice_id,
       coalesce(i.doc_number, x.invoice_id) AS invoice, x.reason, x.opened_on, x.resolved_on, x.resolution,
       x.author, x.resolved_by, x.origin,
       (x.resolved_on IS NULL OR x.resolved_on > d.as_of) AS is_open,
       coalesce(o.home_open_amount, 0)::DECIMAL(18,2) AS open_amount
FROM disputes x
JOIN {{ ref('as_of_dates') }} d ON x.opened_on <= d.as_of
JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
LEFT JOIN invoices i USING (source, company_id, invoice_id)
LEFT JOIN open_amounts o ON o.as_of = d.as_of AND o.source = x.source AND o.company_id = x.company_id
                        AND o.invoice_id = x.invoice_id
WHERE $customer_id IS NULL OR r.root_id = $customer_id
ORDER BY x.opened_on DESC, x.dispute_id
