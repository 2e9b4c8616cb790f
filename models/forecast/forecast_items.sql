{% set run_rate_days = 91 %}
-- What the cash forecast expects to collect at each cut-off t in $dates, one row per item:
-- - `open`: each invoice open at t (its open amount, home currency);
-- - `schedule`: each recurring schedule's occurrences as known at t in the next $horizon_days days
--   (invoice date, due after the terms of its last invoice, else the client's latest terms);
-- - `run_rate`: billing no schedule covers (projects, hardware, a book without schedules) at the
--   client's run rate of the last {{ run_rate_days }} days: one row per client standing for an
--   invoice dated mid-week in each week of the horizon (`amount` per week); `second_moment` is
--   the mean square ÷ mean of the amounts it billed, which sizes the spread of a Poisson stream,
--   and `billed_invoices` how many there were (how well the rate is known).
-- Ages are days from the due date. An item cannot be paid on or before `start_age` (the cut-off
-- for an open invoice, the day before its invoice date otherwise); week k of the horizon ends at
-- age greatest(start_age, week_age + 7k) (for a run-rate item, the k-th week after the one it is
-- invoiced in, which starts on its invoice date). `on_autopay`: the client is on autopay at t or
-- is named in $what_if. `dso_age`: the invoice date plus the book's DSO (average-DSO baseline).
-- `account_open_items`: how many invoices the item's account has open at t.
WITH cutoffs AS {{ ref('as_of_dates') }},
roots AS {{ ref('customer_roots') }},
billing AS (
    -- each client's invoices day by day (the latest until the next), with running totals of what
    -- no schedule covers
    SELECT hash(source, company_id, customer_id) AS customer_key, any_value(source) AS source,
           any_value(company_id) AS company_id, any_value(customer_id) AS customer_id, txn_date,
           arg_max(datediff('day', txn_date, due_date), invoice_id) AS terms_days,
           sum(sum(home_total) FILTER (WHERE recurring_template_id IS NULL)) OVER client AS billed,
           sum(count(*) FILTER (WHERE recurring_template_id IS NULL)) OVER client AS billed_invoices,
           sum(sum(pow(CAST(home_total AS DOUBLE), 2)) FILTER (WHERE recurring_template_id IS NULL)) OVER client AS billed_squares,
           coalesce(lead(txn_date) OVER client - 1, DATE '9999-12-31') AS until
    FROM {{ ref('sales_invoices') }}
    WHERE total > 0
    GROUP BY customer_key, txn_date
    WINDOW client AS (PARTITION BY customer_key ORDER BY txn_date)
),
known_clients AS (
    SELECT c.as_of, b.customer_key, b.source, b.company_id, b.customer_id
    FROM cutoffs c
    JOIN (SELECT customer_key, any_value(source) AS source, any_value(company_id) AS company_id,
                 any_value(customer_id) AS customer_id, min(txn_date) AS first_billed
          FROM billing GROUP BY customer_key) b
      ON b.first_billed <= c.as_of
),
terms AS (
    -- each client's latest due-date gap by the cut-off, and its billing no schedule covers in the
    -- last {{ run_rate_days }} days
    SELECT k.as_of, k.source, k.company_id, k.customer_id, n.terms_days,
           coalesce(n.billed, 0) - coalesce(o.billed, 0) AS billed,
           coalesce(n.billed_invoices, 0) - coalesce(o.billed_invoices, 0) AS billed_invoices,
           coalesce(n.billed_squares, 0) - coalesce(o.billed_squares, 0) AS billed_squares
    FROM known_clients k
    JOIN billing n ON n.customer_key = k.customer_key AND k.as_of BETWEEN n.txn_date AND n.until
    LEFT JOIN billing o ON o.customer_key = k.customer_key AND k.as_of - {{ run_rate_days }} BETWEEN o.txn_date AND o.until
),
open_items AS (
    SELECT as_of, source, company_id, customer_id, invoice_id, 'open' AS kind, txn_date, due_date,
           home_open_amount AS amount, NULL::DOUBLE AS second_moment, NULL::INTEGER AS billed_invoices,
           datediff('day', due_date, as_of) AS start_age, datediff('day', due_date, as_of) AS week_age,
           datediff('day', due_date, txn_date) AS txn_age
    FROM {{ ref('open_invoices') }}
    WHERE home_open_amount > 0
),
occurrences AS (
    SELECT s.as_of, s.source, s.company_id, s.customer_id, s.schedule_id, o.occurrence AS txn_date,
           CAST(coalesce(s.terms_days, t.terms_days, 0) AS INTEGER) AS terms_days,
           {{ home_amount('s.amount', 's.exchange_rate') }} AS amount
    FROM {{ ref('known_schedules') }} s
    LEFT JOIN terms t USING (as_of, source, company_id, customer_id)
    CROSS JOIN LATERAL (
        SELECT CAST(unnest(generate_series(s.next_date::TIMESTAMP,
                                           (s.as_of + $horizon_days::INTEGER)::TIMESTAMP, s.step)) AS DATE) AS occurrence
    ) o
    WHERE o.occurrence > s.as_of AND (s.end_date IS NULL OR o.occurrence <= s.end_date) AND s.amount > 0
),
schedule_items AS (
    SELECT as_of, source, company_id, customer_id, schedule_id, 'schedule', txn_date, txn_date + terms_days,
           amount, NULL::DOUBLE, NULL::INTEGER, -terms_days - 1, datediff('day', txn_date + terms_days, as_of), -terms_days
    FROM occurrences
),
run_rate_items AS (
    SELECT as_of, source, company_id, customer_id, NULL, 'run_rate', NULL::DATE, NULL::DATE,
           CAST(billed * 7 / {{ run_rate_days }} AS DECIMAL(24,6)), CAST(billed_squares / billed AS DOUBLE),
           CAST(billed_invoices AS INTEGER),
           -CAST(coalesce(terms_days, 0) AS INTEGER) - 1, -CAST(coalesce(terms_days, 0) AS INTEGER) - 4,
           -CAST(coalesce(terms_days, 0) AS INTEGER)
    FROM terms
    WHERE billed > 0
),
items AS (
    SELECT * FROM open_items UNION ALL SELECT * FROM schedule_items UNION ALL SELECT * FROM run_rate_items
),
customer_days AS (
    SELECT DISTINCT source, company_id, customer_id, as_of AS day FROM items
),
autopay_days AS {{ ref('autopay_on_days') }},
daily_sales AS (
    SELECT source, company_id, txn_date, sum(home_total) AS sales FROM {{ ref('sales_invoices') }} GROUP BY ALL
),
credit_sales AS (
    SELECT c.as_of, d.source, d.company_id, sum(d.sales) AS sales
    FROM cutoffs c
    JOIN daily_sales d ON d.txn_date <= c.as_of AND d.txn_date > c.as_of - 365
    GROUP BY ALL
),
book_dso AS (
    -- spec DSO (simple) over 365 days: A/R at t / credit sales x 365
    SELECT s.as_of, s.source, s.company_id, CAST(round(coalesce(sum(o.amount), 0) / s.sales * 365) AS INTEGER) AS dso
    FROM credit_sales s
    LEFT JOIN open_items o USING (as_of, source, company_id)
    GROUP BY s.as_of, s.source, s.company_id, s.sales
)
SELECT hash(i.as_of, i.source, i.company_id, i.kind, i.customer_id, i.invoice_id, i.txn_date) AS item_id,
       i.as_of, i.source, i.company_id, i.customer_id, r.root_id AS account_id,
       hash(i.source, i.company_id) AS book_key, hash(i.source, i.company_id, r.root_id) AS account_key,
       i.invoice_id, i.kind, CASE WHEN i.kind = 'open' THEN 'open' ELSE 'not_yet_issued' END AS origin,
       i.txn_date, i.due_date, i.amount, i.second_moment, i.billed_invoices, i.start_age, i.week_age,
       i.txn_age + coalesce(d.dso, 0) AS dso_age,
       coalesce(a.on_autopay, false) OR list_contains($what_if::VARCHAR[], i.customer_id) AS on_autopay,
       count(*) FILTER (WHERE i.kind = 'open') OVER (PARTITION BY i.as_of, hash(i.source, i.company_id, r.root_id))
           AS account_open_items
FROM items i
JOIN roots r USING (source, company_id, customer_id)
LEFT JOIN book_dso d USING (as_of, source, company_id)
LEFT JOIN autopay_days a
  ON a.source = i.source AND a.company_id = i.company_id AND a.customer_id = i.customer_id AND a.day = i.as_of
