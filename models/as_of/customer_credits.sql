-- Customer credit at each date: the part of each payment and credit memo dated on or before it
-- that was not applied to an invoice by then, shown beside the aging and never netted into a
-- bucket. Only credits unapplied now, or used after the date, can be unapplied at it: the
-- pipeline checks that each one's amount = its applications + unapplied_amount.
WITH uses AS {{ ref('credit_uses') }},
as_of_dates AS {{ ref('as_of_dates') }},
used_later AS (
    SELECT DISTINCT source, company_id, kind, credit_id FROM uses
    WHERE applied_on > (SELECT min(as_of) FROM as_of_dates)
),
candidates AS (
    SELECT d.as_of, c.*
    FROM {{ ref('credits') }} c
    JOIN as_of_dates d ON c.txn_date <= d.as_of
    WHERE c.unapplied_amount <> 0
       OR (c.source, c.company_id, c.kind, c.credit_id) IN (SELECT * FROM used_later)
),
used_by_date AS (
    SELECT c.as_of, c.source, c.company_id, c.kind, c.credit_id, sum(u.amount) AS used
    FROM candidates c
    JOIN uses u USING (source, company_id, kind, credit_id)
    WHERE u.applied_on <= c.as_of
    GROUP BY ALL
),
unapplied AS (
    SELECT c.as_of, c.source, c.company_id, c.customer_id, c.kind, c.credit_id, c.exchange_rate,
           c.total - coalesce(u.used, 0) AS unapplied_amount
    FROM candidates c
    LEFT JOIN used_by_date u USING (as_of, source, company_id, kind, credit_id)
)
SELECT *, {{ home_amount('unapplied_amount', 'exchange_rate') }} AS home_unapplied_amount
FROM unapplied
WHERE unapplied_amount <> 0
