-- Each customer's unapplied credit at the date, by the aging bucket of the credit's own date (a
-- credit has no due date: it is aged from the day it was received or issued, the way QuickBooks'
-- A/R aging report places it), one column per label, unrolled (sub-customers on their own).
WITH aged AS (
    SELECT k.*,
           {{ due_bucket_index("datediff('day', k.txn_date, k.as_of)") }} AS bucket_index
    FROM {{ ref('customer_credits') }} k
)
SELECT source, company_id, customer_id,
       {% for label in labels %}
       coalesce(sum(home_unapplied_amount) FILTER (WHERE bucket_index = {{ loop.index0 }}), 0)::DECIMAL(18,2) AS "{{ label }}",
       {% endfor %}
       sum(home_unapplied_amount)::DECIMAL(18,2) AS total
FROM aged
GROUP BY ALL
