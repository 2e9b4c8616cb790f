-- For each window (starts_after, as_of] (the two lists $dates and $starts, of the same length):
-- A/R written off by bad-debt credit memos (home currency at the invoice's rate), and the amount
-- and amount x days late (early counts as 0) of the invoices paid off in the window (write-offs
-- are bad debt, not payments).
WITH windows AS (
    SELECT unnest($dates::DATE[]) AS as_of, unnest($starts::DATE[]) AS starts_after
),
written_off AS (
    SELECT w.as_of, coalesce(sum(a.home_amount), 0)::DECIMAL(18,2) AS written_off
    FROM windows w
    LEFT JOIN (
        SELECT a.* FROM {{ ref('home_applications') }} a
        JOIN credit_memos m USING (source, company_id, credit_memo_id)
        WHERE m.is_write_off
    ) a ON a.applied_on > w.starts_after AND a.applied_on <= w.as_of
    GROUP BY w.as_of
),
paid AS (
    SELECT w.as_of, sum(s.home_total * greatest(s.days_late, 0)) AS weighted_days_late, sum(s.home_total) AS paid_amount
    FROM windows w
    LEFT JOIN {{ ref('settled_invoices') }} s
      ON s.as_of = w.as_of AND NOT s.written_off AND s.settled_on > w.starts_after
    GROUP BY w.as_of
)
SELECT * FROM written_off JOIN paid USING (as_of) ORDER BY as_of
