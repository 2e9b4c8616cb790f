-- Invoices paid in full by each date (write-offs are bad debt, not payments), of one kind
-- ($invoice_kind: 'all', 'recurring' or 'one-off'), with the account they are reported under.
SELECT s.*, r.root_id AS account_id
FROM {{ ref('settled_invoices') }} s
JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
WHERE NOT s.written_off AND {{ invoice_kind_filter('s.kind') }}
