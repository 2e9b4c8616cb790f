-- Credit sales (home-currency totals of the sales invoices dated in it) of each window
-- (starts_after, ends_on], the windows given as two lists of the same length: $starts and $ends.
WITH windows AS (
    SELECT DISTINCT unnest($starts::DATE[]) AS starts_after, unnest($ends::DATE[]) AS ends_on
)
SELECT w.starts_after, w.ends_on, coalesce(sum(i.home_total), 0)::DECIMAL(18,2) AS sales
FROM windows w
LEFT JOIN {{ ref('sales_invoices') }} i ON i.txn_date > w.starts_after AND i.txn_date <= w.ends_on
GROUP BY ALL
ORDER BY w.ends_on DESC
