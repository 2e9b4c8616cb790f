{% set tolerance = 0.10 %}
{% set slack_days = 5 %}
{% set cadences = [1, 3, 12] %}
-- Invoices no schedule generated that are recognisably recurring, known by the last of $dates:
-- same client, an amount within {{ tolerance }} of a neighbour's, dated one cadence (1, 3 or 12
-- months) apart within {{ slack_days }} days; an invoice is recurring when it belongs to a run of at
-- least three (itself and a neighbour either side, or the end of such a run). One row per
-- (invoice, cadence it recurs at).
WITH candidates AS (
    SELECT source, company_id, customer_id, invoice_id, txn_date, home_total
    FROM {{ ref('sales_invoices') }}
    WHERE recurring_template_id IS NULL AND total > 0
      AND txn_date <= (SELECT max(as_of) FROM {{ ref('as_of_dates') }})
),
links AS (
    SELECT a.source, a.company_id, a.invoice_id AS earlier_id, b.invoice_id AS later_id, c.months
    FROM candidates a
    JOIN candidates b
      ON a.source = b.source AND a.company_id = b.company_id AND a.customer_id = b.customer_id
    CROSS JOIN (SELECT unnest({{ cadences }}) AS months) c
    WHERE abs(datediff('day', CAST(a.txn_date + to_months(c.months) AS DATE), b.txn_date)) <= {{ slack_days }}
      AND abs(b.home_total - a.home_total) <= {{ tolerance }} * a.home_total
),
middles AS (
    SELECT DISTINCT l.source, l.company_id, l.later_id AS invoice_id, l.months
    FROM links l
    JOIN links n ON n.source = l.source AND n.company_id = l.company_id
                AND n.earlier_id = l.later_id AND n.months = l.months
)
SELECT source, company_id, invoice_id, months FROM middles
UNION
SELECT l.source, l.company_id, CASE WHEN l.earlier_id = m.invoice_id THEN l.later_id ELSE l.earlier_id END, l.months
FROM links l
JOIN middles m ON m.source = l.source AND m.company_id = l.company_id AND m.months = l.months
              AND m.invoice_id IN (l.earlier_id, l.later_id)
