-- Expected cash in each of the $periods weeks after each cut-off in $dates (week k = the days
-- cut-off + 7(k-1) + 1 .. cut-off + 7k): the forecast, its {{ (forecast_band_level * 100) | int }} % band, the open / not-yet-issued
-- split and both baselines (forecast_item_weeks). Each item is collected in a week or not, so a
-- week's cash has mean sum(amount x p) and variance sum(amount^2 x p(1 - p)) over its items (a
-- run-rate item is a Poisson stream of invoices: amount x second moment x p), plus, for an
-- account's open invoices, the share of its invoices it used to pay together (batch_share) of
-- the spread they would have if always paid together; the band is the central {{ (forecast_band_level * 100) | int }} % of a
-- log-normal distribution with that mean and variance, never above the most the week's items
-- could bring. Money is rounded to the cent once per week.
{% macro money(expression) -%}
CAST(round(coalesce({{ expression }}, 0), 2) AS DECIMAL(18,2))
{%- endmacro %}
WITH items AS (
    SELECT item_id, as_of, book_key, account_key, kind, origin, amount, second_moment, start_age, week_age,
           dso_age, on_autopay, account_open_items
    FROM {{ ref('forecast_items') }}
),
item_weeks AS (
    SELECT as_of, week, kind, origin, batch_share, probability, paid_on_due_date, paid_after_dso,
           CAST(amount AS DOUBLE) AS amount, second_moment,
           -- an account's open invoices move together when it pays several at once
           CASE WHEN kind = 'open' AND account_open_items > 1 THEN account_key END AS together_key
    FROM {{ ref('forecast_item_weeks') }}
),
grouped AS (
    SELECT as_of, week, kind, origin, together_key, any_value(batch_share) AS batch_share,
           sum(amount * probability) AS expected,
           sum(CASE WHEN kind = 'run_rate' THEN amount * second_moment * probability
                    ELSE amount * amount * probability * (1 - probability) END) AS variance,
           sum(amount * sqrt(probability * (1 - probability))) AS spread,
           sum(amount) FILTER (WHERE probability > 1e-12) AS most,
           sum(amount * paid_on_due_date) AS due_date_baseline, sum(amount * paid_after_dso) AS average_dso_baseline
    FROM item_weeks
    GROUP BY as_of, week, kind, origin, together_key
),
kinds AS (
    SELECT as_of, week, kind, origin, sum(expected) AS expected,
           sum(variance + CASE WHEN together_key IS NOT NULL THEN batch_share * (spread * spread - variance) ELSE 0 END)
               AS variance,
           sum(most) AS most, sum(due_date_baseline) AS due_date_baseline, sum(average_dso_baseline) AS average_dso_baseline
    FROM grouped
    GROUP BY ALL
),
invoiced AS (
    SELECT as_of, week AS period, origin, expected, variance, most, due_date_baseline, average_dso_baseline
    FROM kinds
    WHERE kind <> 'run_rate'
),
run_rate AS (
    -- a run-rate item stands for an invoice in every week: week w of the one invoiced in week j
    -- is week j + w - 1 of the horizon; a Poisson stream has no most
    SELECT r.as_of, r.week + j.issued AS period, sum(r.expected) AS expected, sum(r.variance) AS variance,
           sum(r.due_date_baseline) AS due_date_baseline, sum(r.average_dso_baseline) AS average_dso_baseline
    FROM kinds r
    CROSS JOIN (SELECT CAST(range AS INTEGER) AS issued FROM range(0, $periods)) j
    WHERE r.kind = 'run_rate' AND r.week + j.issued <= $periods
    GROUP BY ALL
),
sums AS (
    SELECT as_of, period, sum(expected) AS expected, sum(variance) AS variance,
           sum(expected) FILTER (WHERE origin = 'open') AS from_open,
           sum(expected) FILTER (WHERE origin <> 'open') AS from_not_yet_issued,
           CASE WHEN bool_or(origin = 'run_rate' AND expected > 0) THEN NULL ELSE sum(most) END AS most,
           sum(due_date_baseline) AS due_date_baseline, sum(average_dso_baseline) AS average_dso_baseline
    FROM (
        SELECT * FROM invoiced
        UNION ALL
        SELECT as_of, period, 'run_rate', expected, variance, NULL, due_date_baseline, average_dso_baseline FROM run_rate
    )
    GROUP BY ALL
),
weeks AS (
    SELECT c.as_of, k AS period, c.as_of + 7 * (k - 1) + 1 AS period_start, c.as_of + 7 * k AS period_end
    FROM {{ ref('as_of_dates') }} c,
         (SELECT CAST(range AS INTEGER) AS k FROM range(1, $periods + 1))
),
banded AS (
    -- the log-normal with that mean and variance: ln(cash) has sd s, s^2 = ln(1 + variance / mean^2)
    SELECT w.*, coalesce(s.expected, 0) AS mean, s.most,
           s.from_open, s.from_not_yet_issued, s.due_date_baseline, s.average_dso_baseline,
           CASE WHEN s.expected > 0 AND s.variance > 0 THEN sqrt(ln(1 + s.variance / (s.expected * s.expected))) END AS spread
    FROM weeks w
    LEFT JOIN sums s USING (as_of, period)
)
SELECT as_of, period, period_start, period_end, {{ money('mean') }} AS expected,
       {{ money("CASE WHEN spread IS NULL THEN mean
                     ELSE least(mean * exp(-spread * spread / 2 - " ~ forecast_band_z ~ " * spread), mean) END") }} AS low,
       {{ money("CASE WHEN spread IS NULL THEN mean
                     ELSE greatest(least(mean * exp(-spread * spread / 2 + " ~ forecast_band_z ~ " * spread), coalesce(most, 'infinity')), mean) END") }} AS high,
       {{ money('from_open') }} AS from_open, {{ money('from_not_yet_issued') }} AS from_not_yet_issued,
       {{ money('due_date_baseline') }} AS due_date_baseline, {{ money('average_dso_baseline') }} AS average_dso_baseline
FROM banded
ORDER BY as_of, period
