-- Expected cash in each of the $periods weeks after each cut-off in $dates (week k = the days
-- cut-off + 7(k-1) + 1 .. cut-off + 7k): the forecast, its band (the least and greatest of the
-- forecast and its early and late scenarios), the open / not-yet-issued split and both baselines.
{% macro week_total(measure, where="true") -%}
CAST(round(coalesce(sum(p.amount) FILTER (WHERE p.measure = '{{ measure }}' AND {{ where }}), 0), 2) AS DECIMAL(18,2))
{%- endmacro %}
WITH pieces AS {{ ref('payment_pieces') }},
weeks AS (
    SELECT c.as_of, k AS period, c.as_of + 7 * (k - 1) + 1 AS period_start, c.as_of + 7 * k AS period_end
    FROM {{ ref('as_of_dates') }} c,
         (SELECT CAST(range AS INTEGER) AS k FROM range(1, $periods + 1))
),
sums AS (
    SELECT w.as_of, w.period, w.period_start, w.period_end,
           {{ week_total("expected") }} AS expected,
           {{ week_total("early") }} AS if_early,
           {{ week_total("late") }} AS if_late,
           {{ week_total("expected", "p.origin = 'open'") }} AS from_open,
           {{ week_total("expected", "p.origin = 'not_yet_issued'") }} AS from_not_yet_issued,
           {{ week_total("due_date") }} AS due_date_baseline,
           {{ week_total("average_dso") }} AS average_dso_baseline
    FROM weeks w
    LEFT JOIN pieces p ON p.as_of = w.as_of AND p.on_date BETWEEN w.period_start AND w.period_end
    GROUP BY ALL
)
SELECT as_of, period, period_start, period_end, expected,
       least(expected, if_early, if_late) AS low, greatest(expected, if_early, if_late) AS high,
       from_open, from_not_yet_issued, due_date_baseline, average_dso_baseline
FROM sums
ORDER BY as_of, period
