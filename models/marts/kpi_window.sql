-- For the $window_days days up to each date: A/R written off by bad-debt credit memos (home
-- currency at the invoice's rate), and the amount and amount × days late (early counts as 0) of
-- the invoices paid off in the window (write-offs are bad debt, not payments).
WITH as_of_dates AS {{ ref('as_of_dates') }},
written_off AS (
    SELECT d.as_of, coalesce(sum(a.home_amount), 0)::DECIMAL(18,2) AS written_off
    FROM as_of_dates d
    LEFT JOIN (
        SELECT a.* FROM {{ ref('home_applications') }} a
        JOIN credit_memos m USING (source, company_id, credit_memo_id)
        WHERE m.is_write_off
    ) a ON a.applied_on > d.as_of - $window_days::INTEGER AND a.applied_on <= d.as_of
    GROUP BY d.as_of
),
paid AS (
    SELECT d.as_of, sum(s.home_total * greatest(s.days_late, 0)) AS weighted_days_late, sum(s.home_total) AS paid_amount
    FROM as_of_dates d
    LEFT JOIN {{ ref('settled_invoices') }} s
      ON s.as_of = d.as_of AND NOT s.written_off AND s.settled_on > d.as_of - $window_days::INTEGER
    GROUP BY d.as_of
)
SELECT * FROM written_off JOIN paid USING (as_of) ORDER BY as_of
