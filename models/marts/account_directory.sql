-- Every account (a top-level customer: sub-customers roll up to it) with its name and email, by name.
SELECT c.source, c.company_id, c.customer_id, c.name AS customer, c.email
FROM customers c
JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
WHERE r.root_id = c.customer_id
ORDER BY c.name, c.customer_id
