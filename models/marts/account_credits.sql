-- Unapplied credit at the date of one account ($customer_id, with its sub-customers) or of all
-- ($customer_id NULL): each payment or credit memo not wholly applied, in its own currency and the
-- home currency, under the account (`account_id`) it belongs to.
SELECT k.source, k.company_id, r.root_id AS account_id, k.customer_id, k.kind, k.credit_id,
       k.txn_date, coalesce(p.currency, m.currency) AS currency,
       k.unapplied_amount, k.home_unapplied_amount
FROM {{ ref('customer_credits') }} k
JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
LEFT JOIN payments p ON k.kind = 'payment' AND p.source = k.source AND p.company_id = k.company_id AND p.payment_id = k.credit_id
LEFT JOIN credit_memos m ON k.kind = 'credit_memo' AND m.source = k.source AND m.company_id = k.company_id
                        AND m.credit_memo_id = k.credit_id
WHERE $customer_id IS NULL OR r.root_id = $customer_id
ORDER BY k.txn_date, k.credit_id
