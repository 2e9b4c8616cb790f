-- The applications that count, each also in the home currency at the invoice's rate.
SELECT *, {{ home_amount('amount', 'invoice_rate') }} AS home_amount
FROM {{ ref('live_applications') }}
