-- Customer credit at each date: the part of each payment and credit memo dated on or before it
-- that was not applied to an invoice by then (applications that count, on the day they take
-- effect), shown beside the aging and never netted into a bucket. Only credits not used up for
-- good need their uses summed at a date.
WITH uses AS {{ ref('credit_uses') }},
use_totals AS (
    SELECT source, company_id, kind, credit_id, sum(amount) AS used, max(applied_on) AS last_used
    FROM uses
    GROUP BY ALL
),
candidates AS (
    SELECT d.as_of, c.*
    FROM {{ ref('credits') }} c
    LEFT JOIN use_totals t USING (source, company_id, kind, credit_id)
    JOIN {{ ref('as_of_dates') }} d
      ON c.txn_date <= d.as_of
     AND (c.total <> coalesce(t.used, 0) OR t.last_used > d.as_of)
),
used_by_date AS (
    SELECT c.as_of, c.source, c.company_id, c.kind, c.credit_id, sum(u.amount) AS used
    FROM candidates c
    JOIN uses u USING (source, company_id, kind, credit_id)
    WHERE u.applied_on <= c.as_of
    GROUP BY ALL
),
unapplied AS (
    SELECT c.as_of, c.source, c.company_id, c.customer_id, c.kind, c.credit_id, c.txn_date, c.exchange_rate,
           c.total - coalesce(u.used, 0) AS unapplied_amount
    FROM candidates c
    LEFT JOIN used_by_date u USING (as_of, source, company_id, kind, credit_id)
)
SELECT *, {{ home_amount('unapplied_amount', 'exchange_rate') }} AS home_unapplied_amount
FROM unapplied
WHERE unapplied_amount <> 0
