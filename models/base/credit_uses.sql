-- Each application that counts as a use of a credit: a credit memo applied through a QuickBooks
-- Payment counts against the credit memo, not the payment.
SELECT source, company_id,
       CASE WHEN credit_memo_id IS NULL THEN 'payment' ELSE 'credit_memo' END AS kind,
       coalesce(credit_memo_id, payment_id) AS credit_id, applied_on, amount
FROM {{ ref('live_applications') }}
