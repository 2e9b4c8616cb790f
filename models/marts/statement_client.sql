-- The clients statements are for ($customer_ids): name, email and currency, and the books' company
-- that sends them.
SELECT c.source, c.company_id, c.customer_id, c.name, coalesce(c.email, '') AS email, c.currency,
       k.name AS company
FROM customers c
JOIN companies k USING (source, company_id)
WHERE list_contains($customer_ids, c.customer_id)
ORDER BY ALL
