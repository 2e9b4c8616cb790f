-- How many invoices each account (top-level parent) has open at the date.
SELECT o.source, o.company_id, r.root_id AS customer_id, count(*) AS open_invoices
FROM {{ ref('open_invoices') }} o
JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
GROUP BY ALL
