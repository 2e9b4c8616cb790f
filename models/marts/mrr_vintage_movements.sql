{% set grace_days = 10 %}
-- MRR movements as each of several dates (vintages) knew them, in one query: mrr_movements is
-- one vintage (the as-of date), the MRR forecast backtest all its cut-offs at once. For each pair
-- (vintage, month_end) of the lists $vintages and $month_ends (same length; the month-ends of a
-- vintage in order, the last the vintage itself), the month ending at month_end computed from the
-- invoices dated by the vintage only, recurring invoices recognised from those alone
-- (recognised_recurring's known_from; $dates holds the vintages). Per month: MRR at the start, its
-- movements (new, expansion, contraction, churn, reactivation), net new, MRR at the end and ARR;
-- clients at the start and churned; logo churn, gross MRR churn, NRR and GRR. A client with MRR
-- now and none a month ago is new, or reactivated if it had recurring invoices before; one with
-- MRR a month ago and none now churned (spec "Recurring revenue"). MRR is invoice_mrr's rule: each
-- stream's latest invoice ÷ its months while its period plus {{ grace_days }} days' grace covers
-- the date.
WITH pairs AS (
    SELECT unnest($vintages::DATE[]) AS vintage, unnest($month_ends::DATE[]) AS month_end
),
vintages AS (
    SELECT DISTINCT vintage FROM pairs
),
roots AS {{ ref('customer_roots') }},
scheduled AS {{ ref('scheduled_invoices') }},
recognised AS (
    SELECT v.vintage, i.source, i.company_id, i.customer_id, i.invoice_id, i.txn_date, i.home_total, min(r.months) AS months
    FROM {{ ref('recognised_recurring') }} r
    JOIN invoices i USING (source, company_id, invoice_id)
    JOIN vintages v ON r.known_from <= v.vintage
    GROUP BY ALL
),
recurring AS (
    -- the recurring invoices each vintage knew, by billing stream
    SELECT v.vintage, s.source, s.company_id, s.customer_id, s.txn_date, s.home_total, s.stream, s.months
    FROM vintages v JOIN scheduled s ON s.txn_date <= v.vintage
    UNION ALL
    SELECT vintage, source, company_id, customer_id, txn_date, home_total, 'recognised every ' || months || ' months', months
    FROM recognised
),
spans AS (
    SELECT *, lead(txn_date) OVER (PARTITION BY vintage, source, company_id, customer_id, stream ORDER BY txn_date) AS next_billed
    FROM recurring
),
mrr AS (
    -- each stream's latest invoice by the month-end, while its period plus grace covers it
    SELECT p.vintage, p.month_end, s.source, s.company_id, c.root_id AS customer_id,
           sum(CAST(round(s.home_total / s.months, 2) AS DECIMAL(18,2))) AS mrr
    FROM pairs p
    JOIN spans s ON s.vintage = p.vintage AND s.txn_date <= p.month_end AND coalesce(s.next_billed > p.month_end, true)
    JOIN roots c USING (source, company_id, customer_id)
    WHERE p.month_end < s.txn_date + to_months(s.months) + INTERVAL {{ grace_days }} DAY
    GROUP BY ALL
),
periods AS (
    SELECT vintage, lag(month_end) OVER (PARTITION BY vintage ORDER BY month_end) AS start_date, month_end AS end_date
    FROM pairs
    QUALIFY start_date IS NOT NULL
),
first_billed AS (
    SELECT r.vintage, r.source, r.company_id, c.root_id AS customer_id, min(r.txn_date) AS first_billed
    FROM recurring r
    JOIN roots c USING (source, company_id, customer_id)
    GROUP BY ALL
),
clients AS (
    SELECT DISTINCT p.vintage, p.start_date, p.end_date, m.source, m.company_id, m.customer_id
    FROM periods p
    JOIN mrr m ON m.vintage = p.vintage AND m.month_end IN (p.start_date, p.end_date)
),
changes AS (
    SELECT k.vintage, k.start_date, k.end_date, coalesce(s.mrr, 0) AS before, coalesce(e.mrr, 0) AS after,
           f.first_billed <= k.start_date AS billed_before
    FROM clients k
    LEFT JOIN mrr s ON s.vintage = k.vintage AND s.month_end = k.start_date AND s.source = k.source
                   AND s.company_id = k.company_id AND s.customer_id = k.customer_id
    LEFT JOIN mrr e ON e.vintage = k.vintage AND e.month_end = k.end_date AND e.source = k.source
                   AND e.company_id = k.company_id AND e.customer_id = k.customer_id
    JOIN first_billed f ON f.vintage = k.vintage AND f.source = k.source AND f.company_id = k.company_id
                       AND f.customer_id = k.customer_id
),
sums AS (
    SELECT p.vintage, p.start_date, p.end_date,
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
    LEFT JOIN changes c USING (vintage, start_date, end_date)
    GROUP BY ALL
)
SELECT vintage, end_date AS month_end, mrr_start, new, expansion, contraction, churn, reactivation,
       new + expansion + reactivation - contraction - churn AS net_new, mrr_end, 12 * mrr_end AS arr,
       clients_start, clients_churned,
       clients_churned / nullif(clients_start, 0) AS logo_churn,
       (churn + contraction) / nullif(mrr_start, 0) AS gross_mrr_churn,
       (mrr_start + expansion - contraction - churn) / nullif(mrr_start, 0) AS nrr,
       (mrr_start - contraction - churn) / nullif(mrr_start, 0) AS grr
FROM sums
ORDER BY vintage, month_end
