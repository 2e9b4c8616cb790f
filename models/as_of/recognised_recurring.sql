{% set tolerance = 0.10 %}
{% set slack_days = 5 %}
{% set cadences = [1, 3, 12] %}
{% set bucket_days = 2 * slack_days + 1 %}
-- Invoices no schedule generated that are recognisably recurring, known by the last of $dates:
-- same client, an amount within {{ tolerance }} of a neighbour's, dated one cadence (1, 3 or 12
-- months) apart within {{ slack_days }} days; an invoice is recurring when it belongs to a run of at
-- least three (itself and a neighbour either side, or the end of such a run). One row per
-- (invoice, cadence it recurs at), with `known_from`: the first date the invoices dated by then
-- make it recognisable (the recognition as of any date d is the rows known from d or earlier).
-- Linear in a client's invoices: a neighbour is only looked for among the invoices dated in the
-- {{ bucket_days }}-day buckets its date can fall in.
WITH candidates AS (
    SELECT source, company_id, customer_id, invoice_id, txn_date, home_total,
           CAST(floor(epoch(txn_date) / 86400 / {{ bucket_days }}) AS BIGINT) AS bucket
    FROM {{ ref('sales_invoices') }}
    WHERE recurring_template_id IS NULL AND total > 0
      AND txn_date <= (SELECT max(as_of) FROM {{ ref('as_of_dates') }})
),
targets AS (
    -- each invoice's neighbour date one cadence later, and the buckets within the slack of it
    SELECT DISTINCT a.*, c.months, t.target, CAST(floor(epoch(t.target + s.offset) / 86400 / {{ bucket_days }}) AS BIGINT) AS target_bucket
    FROM candidates a
    CROSS JOIN (SELECT unnest({{ cadences }}) AS months) c
    CROSS JOIN LATERAL (SELECT CAST(a.txn_date + to_months(c.months) AS DATE) AS target) t
    CROSS JOIN (SELECT unnest([-{{ slack_days }}, {{ slack_days }}]) AS offset) s
),
links AS (
    SELECT a.source, a.company_id, a.invoice_id AS earlier_id, b.invoice_id AS later_id, a.months,
           b.txn_date AS known_from
    FROM targets a
    JOIN candidates b
      ON b.source = a.source AND b.company_id = a.company_id AND b.customer_id = a.customer_id
     AND b.bucket = a.target_bucket
    WHERE abs(datediff('day', a.target, b.txn_date)) <= {{ slack_days }}
      AND abs(b.home_total - a.home_total) <= {{ tolerance }} * a.home_total
),
middles AS (
    -- an invoice with a neighbour either side, known once the later one is dated
    SELECT source, company_id, invoice_id, months, min(known_from) FILTER (WHERE side = 'later') AS known_from
    FROM (
        SELECT source, company_id, later_id AS invoice_id, months, 'earlier' AS side, known_from FROM links
        UNION ALL
        SELECT source, company_id, earlier_id, months, 'later', known_from FROM links
    )
    GROUP BY ALL
    HAVING count(*) FILTER (WHERE side = 'earlier') > 0 AND count(*) FILTER (WHERE side = 'later') > 0
),
members AS (
    SELECT source, company_id, invoice_id, months, known_from FROM middles
    UNION ALL
    SELECT l.source, l.company_id, l.later_id, l.months, greatest(l.known_from, m.known_from)
    FROM links l
    JOIN middles m ON m.source = l.source AND m.company_id = l.company_id AND m.months = l.months
                  AND m.invoice_id = l.earlier_id
    UNION ALL
    SELECT l.source, l.company_id, l.earlier_id, l.months, greatest(l.known_from, m.known_from)
    FROM links l
    JOIN middles m ON m.source = l.source AND m.company_id = l.company_id AND m.months = l.months
                  AND m.invoice_id = l.later_id
)
SELECT source, company_id, invoice_id, months, min(known_from) AS known_from
FROM members
GROUP BY ALL
