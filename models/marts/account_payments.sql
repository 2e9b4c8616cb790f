-- One account's payments (with its sub-customers') dated by the date, newest first: amount in the
-- home currency, how it was paid, and what of it was still unapplied at the date.
WITH account AS (
    SELECT source, company_id, customer_id FROM {{ ref('customer_roots') }} WHERE root_id = $customer_id
),
unapplied AS (
    SELECT source, company_id, credit_id AS payment_id, home_unapplied_amount
    FROM {{ ref('customer_credits') }}
    WHERE kind = 'payment'
)
SELECT p.source, p.company_id, p.customer_id, c.name AS customer, p.payment_id, p.txn_date AS payment_date,
       {{ home_amount('p.amount', 'p.exchange_rate') }} AS amount, p.method,
       coalesce(u.home_unapplied_amount, 0)::DECIMAL(18,2) AS unapplied
FROM {{ ref('posted_payments') }} p
JOIN account USING (source, company_id, customer_id)
JOIN customers c USING (source, company_id, customer_id)
LEFT JOIN unapplied u USING (source, company_id, payment_id)
WHERE p.txn_date <= $dates[1]
ORDER BY p.txn_date DESC, p.payment_id
