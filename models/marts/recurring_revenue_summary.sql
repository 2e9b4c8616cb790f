-- At the later of two dates ($dates: a year before, and the as-of date): MRR, ARR, the MRR of
-- clients on autopay and of clients with an invoice more than $delinquent_after_days past due;
-- and for the clients with MRR at the earlier date: NRR (their MRR now ÷ then), GRR (the same,
-- each capped at its MRR then) and logo churn (the share with no MRR now).
WITH mrr AS {{ ref('invoice_mrr') }},
now AS (SELECT * FROM mrr WHERE as_of = (SELECT max(as_of) FROM {{ ref('as_of_dates') }})),
year_ago AS (SELECT * FROM mrr WHERE as_of = (SELECT min(as_of) FROM {{ ref('as_of_dates') }})),
cohort AS (
    SELECT t.mrr AS before, coalesce(n.mrr, 0) AS after
    FROM year_ago t
    LEFT JOIN now n USING (source, company_id, customer_id)
),
roots AS {{ ref('customer_roots') }},
autopay AS (
    SELECT DISTINCT r.source, r.company_id, r.root_id AS customer_id
    FROM {{ ref('autopay_status') }} a
    JOIN roots r USING (source, company_id, customer_id)
    WHERE a.on_autopay AND a.as_of = (SELECT max(as_of) FROM {{ ref('as_of_dates') }})
),
delinquent AS (
    SELECT DISTINCT r.source, r.company_id, r.root_id AS customer_id
    FROM {{ ref('open_invoices') }} o
    JOIN roots r USING (source, company_id, customer_id)
    WHERE o.days_past_due > $delinquent_after_days AND o.as_of = (SELECT max(as_of) FROM {{ ref('as_of_dates') }})
)
SELECT coalesce((SELECT sum(mrr) FROM now), 0) AS mrr,
       12 * coalesce((SELECT sum(mrr) FROM now), 0) AS arr,
       coalesce((SELECT sum(mrr) FROM now SEMI JOIN autopay USING (source, company_id, customer_id)), 0)
           AS autopay_secured_mrr,
       coalesce((SELECT sum(mrr) FROM now SEMI JOIN delinquent USING (source, company_id, customer_id)), 0)
           AS delinquent_mrr,
       (SELECT sum(after) / nullif(sum(before), 0) FROM cohort) AS nrr_12m,
       (SELECT sum(least(after, before)) / nullif(sum(before), 0) FROM cohort) AS grr_12m,
       (SELECT avg((after = 0)::INTEGER) FROM cohort) AS logo_churn_12m
