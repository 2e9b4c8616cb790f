-- Per month between consecutive dates (each month-end, the last the as-of date): MRR at the
-- start, its movements (new, expansion, contraction, churn, reactivation), net new, MRR at the
-- end and ARR; clients at the start and churned; logo churn, gross MRR churn, NRR and GRR of the
-- month. A client with MRR now and none a month ago is new, or reactivated if it had recurring
-- invoices before; one with MRR a month ago and none now churned (spec "Recurring revenue").
WITH mrr AS {{ ref('invoice_mrr') }},
periods AS (
    SELECT unnest($dates[1:-2]) AS start_date, unnest($dates[2:]) AS end_date
),
first_billed AS (
    SELECT r.source, r.company_id, c.root_id AS customer_id, min(r.txn_date) AS first_billed
    FROM {{ ref('recurring_invoices') }} r
    JOIN {{ ref('customer_roots') }} c USING (source, company_id, customer_id)
    GROUP BY ALL
),
clients AS (
    SELECT DISTINCT p.start_date, p.end_date, m.source, m.company_id, m.customer_id
    FROM periods p
    JOIN mrr m ON m.as_of IN (p.start_date, p.end_date)
),
changes AS (
    SELECT k.start_date, k.end_date, coalesce(s.mrr, 0) AS before, coalesce(e.mrr, 0) AS after,
           f.first_billed <= k.start_date AS billed_before
    FROM clients k
    LEFT JOIN mrr s ON s.as_of = k.start_date AND s.source = k.source AND s.company_id = k.company_id
                   AND s.customer_id = k.customer_id
    LEFT JOIN mrr e ON e.as_of = k.end_date AND e.source = k.source AND e.company_id = k.company_id
                   AND e.customer_id = k.customer_id
    JOIN first_billed f ON f.source = k.source AND f.company_id = k.company_id AND f.customer_id = k.customer_id
),
sums AS (
    SELECT p.start_date, p.end_date,
           coalesce(sum(before), 0) AS mrr_start,
           coalesce(sum(after) FILTER (WHERE before = 0 AND NOT billed_before), 0) AS new,
           coalesce(sum(after - before) FILTER (WHERE before > 0 AND after > before), 0) AS expansion,
           coalesce(sum(before - after) FILTER (WHERE after > 0 AND after < before), 0) AS contraction,
           coalesce(sum(before) FILTER (WHERE before > 0 AND after = 0), 0) AS churn,
           coalesce(sum(after) FILTER (WHERE before = 0 AND billed_before), 0) AS reactivation,
           coalesce(sum(after), 0) AS mrr_end,
           count(*) FILTER (WHERE before > 0) AS clients_start,
           count(*) FILTER (WHERE before > 0 AND after = 0) AS clients_churned
    FROM periods p
    LEFT JOIN changes c USING (start_date, end_date)
    GROUP BY ALL
)
SELECT end_date AS month_end, mrr_start, new, expansion, contraction, churn, reactivation,
       new + expansion + reactivation - contraction - churn AS net_new, mrr_end, 12 * mrr_end AS arr,
       clients_start, clients_churned,
       clients_churned / nullif(clients_start, 0) AS logo_churn,
       (churn + contraction) / nullif(mrr_start, 0) AS gross_mrr_churn,
       (mrr_start + expansion - contraction - churn) / nullif(mrr_start, 0) AS nrr,
       (mrr_start - contraction - churn) / nullif(mrr_start, 0) AS grr
FROM sums
ORDER BY month_end
