-- Payments and credit memos of one company ($source, $company_id) whose amount is not their
-- applications plus their unapplied amount: the credit column would be wrong, so a load is refused.
SELECT c.kind, c.credit_id, c.total, coalesce(sum(u.amount), 0) AS applied, c.unapplied_amount
FROM {{ ref('credits') }} c
LEFT JOIN {{ ref('credit_uses') }} u USING (source, company_id, kind, credit_id)
WHERE c.source = $source AND c.company_id = $company_id
GROUP BY ALL
HAVING c.total <> coalesce(sum(u.amount), 0) + c.unapplied_amount
ORDER BY ALL
LIMIT 5
