-- Each forecast item in `items` (a relation the caller defines as a CTE: forecast_items), with all
-- its columns and its book's batch_share, with its chance of being collected in each week of the
-- horizon, where it has one (see forecast_items;
-- for a run-rate item, `week` counts from the week it is invoiced in, 1 = that week), at each
-- cut-off in $dates: `probability` (DOUBLE). A client not on autopay pays as its collection curve
-- says, conditional on the item still being open at its start age: the share collected by the
-- end of week k is 1 - exp(log_survival(end of week k) - log_survival(start age)), so only
-- later days can be expected, and an item older than anything the history shows collected gets
-- no week at all (it stays at risk). A client on autopay is charged on the due date, except the
-- book's failure share, which follows after the retry delay; an autopay invoice already past due
-- waits for that delay. `paid_on_due_date` and `paid_after_dso` are 1 in the week the baselines
-- expect it.
WITH exposure AS NOT MATERIALIZED {{ ref('collection_exposure') }},
portfolio AS {{ ref('portfolio_collection_curve') }},
clients AS {{ ref('client_collection_curve') }},
habits AS {{ ref('book_collection_habits') }},
manual AS (
    SELECT i.*, {{ account_log_survival('i.start_age', 'p', 'c') }} AS at_start
    FROM items i
    JOIN portfolio p ON {{ same_curve('p', 'i') }} AND p.age = {{ forecast_curve_age('i.start_age') }}
    LEFT JOIN clients c ON c.as_of = i.as_of AND c.account_key = i.account_key
    WHERE NOT i.on_autopay
),
bounds AS (
    -- week k of an item ends at age greatest(start_age, week_age + 7k)
    SELECT m.*, k.week,
           greatest(m.start_age, m.week_age + 7 * (k.week - 1)) AS previous_age,
           greatest(m.start_age, m.week_age + 7 * k.week) AS end_age
    FROM manual m
    CROSS JOIN (SELECT CAST(range AS INTEGER) AS week FROM range(1, $periods + 1)) k
    WHERE m.week_age + 7 * k.week > m.start_age
),
manual_weeks AS (
    SELECT b.* EXCLUDE (at_start, previous_age, end_age),
           exp({{ account_log_survival('b.previous_age', 'q', 'c') }} - b.at_start)
             - exp({{ account_log_survival('b.end_age', 'p', 'c') }} - b.at_start) AS probability,
           0 AS paid_on_due_date, 0 AS paid_after_dso
    FROM bounds b
    JOIN portfolio p ON {{ same_curve('p', 'b') }} AND p.age = {{ forecast_curve_age('b.end_age') }}
    JOIN portfolio q ON {{ same_curve('q', 'b') }} AND q.age = {{ forecast_curve_age('b.previous_age') }}
    LEFT JOIN clients c ON c.as_of = b.as_of AND c.account_key = b.account_key
),
placed_weeks AS (
    -- autopay charges (age charged, share of the amount: an overdue charge waits for the retry, but
    -- never before the day after the cut-off) and the baselines' days, each in the week it falls in
    SELECT i.*, CAST(greatest(1, ceil((c.age - i.week_age) / 7)) AS INTEGER) AS week,
           c.probability, c.paid_on_due_date, c.paid_after_dso
    FROM items i
    LEFT JOIN habits h USING (as_of, book_key)
    CROSS JOIN LATERAL (
        SELECT 0 AS age, 1 - coalesce(h.failure_share, 0) AS probability, 0 AS paid_on_due_date, 0 AS paid_after_dso
        WHERE i.on_autopay AND i.start_age < 0
        UNION ALL
        SELECT greatest(CAST(round(coalesce(h.retry_days, 0)) AS INTEGER), i.start_age + 1),
               CASE WHEN i.start_age < 0 THEN coalesce(h.failure_share, 0) ELSE 1 END, 0, 0
        WHERE i.on_autopay AND (i.start_age >= 0 OR coalesce(h.failure_share, 0) > 0)
        UNION ALL
        SELECT 0, 0, 1, 0
        UNION ALL
        SELECT i.dso_age, 0, 0, 1
    ) c
    WHERE c.age > i.start_age AND ceil((c.age - i.week_age) / 7) <= $periods
),
item_weeks AS (
    SELECT * FROM manual_weeks WHERE probability > 0
    UNION ALL BY NAME
    SELECT * FROM placed_weeks
)
SELECT w.* EXCLUDE (probability), coalesce(h.batch_share, 0) AS batch_share,
       least(greatest(w.probability, 0), 1) AS probability
FROM item_weeks w
LEFT JOIN habits h USING (as_of, book_key)
