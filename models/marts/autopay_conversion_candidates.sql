-- Active recurring clients not on autopay at the date, with their MRR, how late they paid over
-- the 365 days to the date (amount-weighted, $window_days), their usual payment method and the
-- share of their payments made by card or ACH (home currency).
WITH on_autopay AS (SELECT * FROM {{ ref('autopay_status') }} WHERE on_autopay),
lateness AS (
    SELECT source, company_id, customer_id, count(*) AS paid_invoices_12m,
           sum(home_total * days_late) / sum(home_total) AS weighted_days_late_12m
    FROM {{ ref('autopay_paid_invoices') }}
    GROUP BY ALL
),
methods AS (
    SELECT source, company_id, customer_id,
           sum(home_amount) FILTER (WHERE method IN ('card', 'ach')) / sum(home_amount) AS card_or_ach_share_12m,
           arg_max(method, home_amount) AS usual_method
    FROM (
        SELECT p.source, p.company_id, p.customer_id, p.method,
               {{ home_amount('sum(p.amount)', 'any_value(p.exchange_rate)') }} AS home_amount
        FROM {{ ref('posted_payments') }} p
        JOIN {{ ref('as_of_dates') }} d ON p.txn_date <= d.as_of AND p.txn_date > d.as_of - $window_days::INTEGER
        WHERE p.amount > 0
        GROUP BY ALL
    )
    GROUP BY ALL
)
SELECT a.source, a.company_id, a.customer_id, c.name AS customer, c.email,
       coalesce(m.mrr, 0)::DECIMAL(18,2) AS mrr, l.paid_invoices_12m, l.weighted_days_late_12m,
       p.usual_method, p.card_or_ach_share_12m,
       coalesce(p.card_or_ach_share_12m >= 0.5, false) AS pays_by_card_or_ach
FROM {{ ref('active_recurring_clients') }} a
ANTI JOIN on_autopay USING (source, company_id, customer_id)
JOIN customers c USING (source, company_id, customer_id)
LEFT JOIN {{ ref('invoice_mrr') }} m USING (source, company_id, customer_id)
LEFT JOIN lateness l USING (source, company_id, customer_id)
LEFT JOIN methods p USING (source, company_id, customer_id)
