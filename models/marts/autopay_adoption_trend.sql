-- Autopay adoption at each date: active recurring clients, those on autopay and the share; total
-- invoice-based MRR, the MRR of clients on autopay (autopay-secured) and the share.
WITH active AS {{ ref('active_recurring_clients') }},
mrr AS {{ ref('invoice_mrr') }},
clients AS (
    SELECT as_of, source, company_id, customer_id, true AS active, m.mrr
    FROM active a LEFT JOIN mrr m USING (as_of, source, company_id, customer_id)
    UNION ALL BY NAME
    SELECT as_of, source, company_id, customer_id, false AS active, mrr
    FROM mrr m ANTI JOIN active a USING (as_of, source, company_id, customer_id)
),
customer_days AS (SELECT source, company_id, customer_id, as_of AS day FROM clients),
on_days AS {{ ref('autopay_on_days') }},
adoption AS (
    SELECT c.as_of,
           count(*) FILTER (WHERE c.active) AS active_recurring_clients,
           count(*) FILTER (WHERE c.active AND s.on_autopay) AS autopay_clients,
           coalesce(sum(c.mrr), 0)::DECIMAL(18,2) AS total_mrr,
           coalesce(sum(c.mrr) FILTER (WHERE s.on_autopay), 0)::DECIMAL(18,2) AS autopay_secured_mrr
    FROM clients c
    JOIN on_days s
      ON s.source = c.source AND s.company_id = c.company_id AND s.customer_id = c.customer_id AND s.day = c.as_of
    GROUP BY c.as_of
)
SELECT d.as_of,
       coalesce(a.active_recurring_clients, 0) AS active_recurring_clients,
       coalesce(a.autopay_clients, 0) AS autopay_clients,
       a.autopay_clients / nullif(a.active_recurring_clients, 0) AS adoption_by_clients,
       coalesce(a.total_mrr, 0)::DECIMAL(18,2) AS total_mrr,
       coalesce(a.autopay_secured_mrr, 0)::DECIMAL(18,2) AS autopay_secured_mrr,
       a.autopay_secured_mrr / nullif(a.total_mrr, 0) AS adoption_by_mrr
FROM {{ ref('as_of_dates') }} d
LEFT JOIN adoption a USING (as_of)
ORDER BY d.as_of
