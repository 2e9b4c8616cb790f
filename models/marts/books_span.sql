-- The first posted invoice's date and the date the books run to (the latest company's data_through).
SELECT (SELECT min(txn_date) FROM {{ ref('posted_invoices') }}) AS first_invoice,
       (SELECT max(data_through) FROM companies) AS data_through
