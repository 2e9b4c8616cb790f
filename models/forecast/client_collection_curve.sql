{% set bands = forecast_client_bands %}
{% set K = forecast_shrinkage_invoices %}
-- Each account's collection curve at each cut-off, from `exposure` and `portfolio` (relations
-- the caller defines as CTEs: collection_exposure and portfolio_collection_curve): the
-- portfolio's, paced by how the account has paid. Within each band of ages
-- (forecast_client_bands) the account's rate is the portfolio's times
-- (collected + K) / (expected + K), K = {{ K }}: `collected` counts the invoices it paid in cash at
-- those ages (not on autopay, each invoice once) and `expected` how many the portfolio's rates
-- would have collected from what it had open there. An account with little history at an age
-- follows the portfolio; one that paid many invoices there follows its own pace.
-- One row per account, with for each band i (0 = the earliest) `pace_i` and `offset_i`: the
-- account's log survival at an age b in band i is  offset_i + pace_i x portfolio log_survival(b).
--
-- `expected` without tabulating each account day by day: the open share N(x) is the sum of the
-- exposure changes at or before x, so the sum over a band [s, e] of N(x) h(x) is
--     N(s) x (H(e) - H(s - 1)) + the sum over the changes d at ages a in the band of d x (H(e) - H(a - 1)),
-- H being the portfolio's cumulative hazard.
WITH changes AS (
    SELECT e.as_of, e.book_key, e.account_key, {{ forecast_client_band('e.age') }} AS band, e.exposure, e.collected,
           e.exposure * {{ portfolio_cumulative_hazard('h', 'e.age - 1') }} AS weighted
    FROM exposure e
    JOIN portfolio h ON {{ same_curve('h', 'e') }} AND h.age = {{ forecast_curve_age('e.age - 1') }}
    WHERE NOT e.autopay
),
per_band AS (
    SELECT as_of, book_key, account_key, band,
           sum(exposure) AS exposure, sum(weighted) AS weighted, sum(collected) AS collected
    FROM changes
    GROUP BY ALL
),
accounts AS (
    SELECT as_of, book_key, account_key,
           {% for first, last in bands %}
           coalesce(sum(exposure) FILTER (WHERE band = {{ first }}), 0) AS exposure_{{ loop.index0 }},
           coalesce(sum(weighted) FILTER (WHERE band = {{ first }}), 0) AS weighted_{{ loop.index0 }},
           coalesce(sum(collected) FILTER (WHERE band = {{ first }}), 0) AS collected_{{ loop.index0 }}{{ "," if not loop.last }}
           {% endfor %}
    FROM per_band
    GROUP BY as_of, book_key, account_key
),
edges AS (
    -- per book and band: the portfolio's cumulative hazard and log survival the day before the
    -- band starts and on its last day
    SELECT as_of, book_key,
           {% for first, last in bands %}
           max({{ portfolio_cumulative_hazard('p', first ~ ' - 1') }}) FILTER (WHERE age = {{ forecast_curve_age(first ~ ' - 1') }}) AS hazard_before_{{ loop.index0 }},
           max({{ portfolio_cumulative_hazard('p', last) }}) FILTER (WHERE age = {{ forecast_curve_age(last) }}) AS hazard_last_{{ loop.index0 }},
           max({{ portfolio_log_survival('p', first ~ ' - 1') }}) FILTER (WHERE age = {{ forecast_curve_age(first ~ ' - 1') }}) AS survival_before_{{ loop.index0 }},
           max({{ portfolio_log_survival('p', last) }}) FILTER (WHERE age = {{ forecast_curve_age(last) }}) AS survival_last_{{ loop.index0 }}{{ "," if not loop.last }}
           {% endfor %}
    FROM portfolio p
    GROUP BY as_of, book_key
),
paced AS (
    SELECT a.as_of, a.book_key, a.account_key,
           {% for first, last in bands %}
           {% set i = loop.index0 %}
           (a.collected_{{ i }} + {{ K }}) / (greatest(
               greatest({% for j in range(i) %}a.exposure_{{ j }} + {% endfor %}0, 0) * (g.hazard_last_{{ i }} - g.hazard_before_{{ i }})
               + g.hazard_last_{{ i }} * a.exposure_{{ i }} - a.weighted_{{ i }}, 0) + {{ K }}) AS pace_{{ i }},
           g.survival_before_{{ i }}, g.survival_last_{{ i }}{{ "," if not loop.last }}
           {% endfor %}
    FROM accounts a
    JOIN edges g USING (as_of, book_key)
)
SELECT as_of, book_key, account_key,
       {% for first, last in bands %}
       {% set i = loop.index0 %}
       pace_{{ i }},
       survival_before_0 {% for j in range(i) %}+ pace_{{ j }} * (survival_last_{{ j }} - survival_before_{{ j }}) {% endfor %}
           - pace_{{ i }} * survival_before_{{ i }} AS offset_{{ i }}{{ "," if not loop.last }}
       {% endfor %}
FROM paced
