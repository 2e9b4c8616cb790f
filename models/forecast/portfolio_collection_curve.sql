-- The portfolio's collection curve at each cut-off, from `exposure` (a relation the caller
-- defines as a CTE: collection_exposure), for invoices not on autopay: per book and age (days
-- from the due date, {{ forecast_first_age }} to {{ forecast_last_age }}), `hazard`, the share of the money still open at the
-- start of a day that is collected in cash that day (pooled within the age's band, see
-- forecast_age_band; no collection where nothing was at stake), `log_survival`, the log of the
-- share of an invoice still uncollected after that day (the sum of ln(1 - hazard) up to it), and
-- `cumulative_hazard`, the sum of the hazards up to it. The share of money open at age a still
-- open after age b is exp(log_survival(b) - log_survival(a)): a Kaplan-Meier estimate that counts
-- each invoice once and knows that an invoice still open, written off or short-paid at the
-- cut-off was not collected.
WITH changes AS (
    SELECT as_of, book_key, least(greatest(age, {{ forecast_first_age }}), {{ forecast_last_age }}) AS age,
           sum(exposure) AS exposure, sum(collected) AS collected
    FROM exposure
    WHERE NOT autopay
    GROUP BY ALL
),
books AS (
    SELECT DISTINCT as_of, book_key FROM changes
),
days AS (
    SELECT b.as_of, b.book_key, CAST(d.age AS INTEGER) AS age,
           coalesce(c.exposure, 0) AS exposure, coalesce(c.collected, 0) AS collected
    FROM books b
    CROSS JOIN (SELECT range AS age FROM range({{ forecast_first_age }}, {{ forecast_last_age + 1 }})) d
    LEFT JOIN changes c ON c.as_of = b.as_of AND c.book_key = b.book_key AND c.age = d.age
),
at_stake AS (
    SELECT *, {{ forecast_age_band('age') }} AS band,
           sum(exposure) OVER (PARTITION BY as_of, book_key ORDER BY age) AS open_shares
    FROM days
),
bands AS (
    SELECT as_of, book_key, band,
           CASE WHEN sum(greatest(open_shares, 0)) > 1e-9
                THEN least(sum(collected) / sum(greatest(open_shares, 0)), 1) ELSE 0 END AS hazard
    FROM at_stake
    GROUP BY ALL
)
SELECT a.as_of, a.book_key, a.age, b.hazard, ln(1 - least(b.hazard, 1 - 1e-9)) AS log_rate,
       sum(ln(1 - least(b.hazard, 1 - 1e-9))) OVER curve AS log_survival,
       sum(b.hazard) OVER curve AS cumulative_hazard
FROM at_stake a
JOIN bands b USING (as_of, book_key, band)
WINDOW curve AS (PARTITION BY a.as_of, a.book_key ORDER BY a.age)
