-- Everything that can be customer credit: posted payments and credit memos, each with its amount
-- (`total`) and the part the source says is still unapplied.
SELECT source, company_id, customer_id, 'payment' AS kind, payment_id AS credit_id,
       txn_date, amount AS total, unapplied_amount, exchange_rate
FROM {{ ref('posted_payments') }}
UNION ALL
SELECT source, company_id, customer_id, 'credit_memo', credit_memo_id,
       txn_date, total, unapplied_amount, exchange_rate
FROM {{ ref('posted_credit_memos') }}
