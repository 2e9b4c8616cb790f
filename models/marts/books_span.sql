-- The first posted transaction's date (an invoice, or a payment or credit memo made before any
-- invoice: a prepayment), and the date the books run to (the latest company's data_through).
SELECT (SELECT min(txn_date) FROM (
            SELECT txn_date FROM {{ ref('posted_invoices') }}
            UNION ALL SELECT txn_date FROM {{ ref('credits') }})) AS first_transaction,
       (SELECT max(data_through) FROM companies) AS data_through
