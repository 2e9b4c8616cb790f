-- Cash actually collected per day: payments applied to invoices that day (applications with a
-- payment and no credit memo), in the home currency at the invoice's rate. Credit memos,
-- including QuickBooks credit memos applied through a Payment, and unapplied payments are not
-- cash in.
SELECT applied_on AS day, sum(home_amount) AS collected
FROM {{ ref('home_applications') }}
WHERE payment_id IS NOT NULL AND credit_memo_id IS NULL
GROUP BY ALL
