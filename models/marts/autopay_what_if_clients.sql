-- Clients the cash forecast could move to autopay at the date: not on autopay then, with an open
-- invoice or a recurring schedule.
WITH billed AS (
    SELECT source, company_id, customer_id FROM {{ ref('open_invoices') }}
    UNION
    SELECT source, company_id, customer_id FROM {{ ref('known_schedules') }}
),
customer_days AS (
    SELECT source, company_id, customer_id, (SELECT max(as_of) FROM {{ ref('as_of_dates') }}) AS day FROM billed
)
SELECT a.customer_id, c.name AS customer
FROM {{ ref('autopay_on_days') }} a
JOIN customers c USING (source, company_id, customer_id)
WHERE NOT a.on_autopay
ORDER BY c.name
