-- One account's unapplied credit at the date ($customer_id, with its sub-customers): each payment
-- or credit memo not wholly applied, in its own currency and the home currency.
SELECT k.source, k.company_id, k.customer_id, k.kind, k.credit_id,
       k.txn_date, coalesce(p.currency, m.currency) AS currency,
       k.unapplied_amount, k.home_unapplied_amount
FROM {{ ref('customer_credits') }} k
JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
LEFT JOIN payments p ON k.kind = 'payment' AND p.source = k.source AND p.company_id = k.company_id AND p.payment_id = k.credit_id
LEFT JOIN credit_memos m ON k.kind = 'credit_memo' AND m.source = k.source AND m.company_id = k.company_id
                        AND m.credit_memo_id = k.credit_id
WHERE r.root_id = $customer_id
ORDER BY k.txn_date, k.credit_id
