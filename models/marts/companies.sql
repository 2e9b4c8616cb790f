-- The companies the file holds.
SELECT source, company_id, name, home_currency, data_through FROM companies ORDER BY ALL
