-- The client a statement is for ($customer_id): its name, email and currency, and the books'
-- company that sends it.
SELECT c.source, c.company_id, c.customer_id, c.name, coalesce(c.email, '') AS email, c.currency,
       k.name AS company
FROM customers c
JOIN companies k USING (source, company_id)
WHERE c.customer_id = $customer_id
ORDER BY ALL
