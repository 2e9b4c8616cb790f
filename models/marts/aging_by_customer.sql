-- One row per account at the date: open A/R per bucket (a column per label), total (the buckets'
-- sum) and unapplied_credit beside them, never netted. $past_due_only counts only invoices past
-- their due date; $min_amount (0: everyone) keeps accounts whose total is at least that much. An
-- account whose items net to a negative total (over-applied, or a negative invoice) is listed.
{% set account = "CASE WHEN $roll_up THEN r.root_id ELSE k.customer_id END" %}
WITH open_by_account AS (
    SELECT source, company_id, account_id,
           {{ bucket_sums(labels) }}
           sum(home_open_amount)::DECIMAL(18,2) AS total
    FROM {{ ref('aged_invoices') }}
    WHERE NOT $past_due_only OR days_past_due > 0
    GROUP BY ALL
),
credit_by_account AS (
    SELECT k.source, k.company_id, {{ account }} AS account_id,
           sum(k.home_unapplied_amount)::DECIMAL(18,2) AS unapplied_credit
    FROM {{ ref('customer_credits') }} k
    JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
    GROUP BY ALL
),
accounts AS (
    SELECT * FROM open_by_account FULL JOIN credit_by_account USING (source, company_id, account_id)
)
SELECT a.source, a.company_id, a.account_id AS customer_id, c.name AS customer, c.email,
       {% for label in labels %}
       coalesce(a."{{ label }}", 0)::DECIMAL(18,2) AS "{{ label }}",
       {% endfor %}
       coalesce(a.total, 0)::DECIMAL(18,2) AS total,
       coalesce(a.unapplied_credit, 0)::DECIMAL(18,2) AS unapplied_credit
FROM accounts a
JOIN customers c
  ON c.source = a.source AND c.company_id = a.company_id AND c.customer_id = a.account_id
WHERE ($min_amount = 0 OR coalesce(a.total, 0) >= $min_amount)
  AND (NOT $past_due_only OR a.total IS NOT NULL)
ORDER BY total DESC, customer
