-- The companies the file holds.
SELECT source, company_id, name, home_currency, data_through, snapshot_on FROM companies ORDER BY ALL
