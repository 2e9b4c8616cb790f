-- Payments and credit memos of one company ($source, $company_id) whose amount is not their
-- applications plus their unapplied amount, as the source recorded them: the credit column would
-- be wrong, so a load is refused. (A credit memo applied through a Payment counts against the
-- credit memo; a credit whose unapplied part the source does not state is not checked.)
WITH recorded_uses AS (
    SELECT source, company_id, CASE WHEN credit_memo_id IS NULL THEN 'payment' ELSE 'credit_memo' END AS kind,
           coalesce(credit_memo_id, payment_id) AS credit_id, amount
    FROM applications
)
SELECT c.kind, c.credit_id, c.total, coalesce(sum(u.amount), 0) AS applied, c.unapplied_amount
FROM {{ ref('credits') }} c
LEFT JOIN recorded_uses u USING (source, company_id, kind, credit_id)
WHERE c.source = $source AND c.company_id = $company_id AND c.unapplied_amount IS NOT NULL
GROUP BY ALL
HAVING c.total <> coalesce(sum(u.amount), 0) + c.unapplied_amount
ORDER BY ALL
LIMIT 5
