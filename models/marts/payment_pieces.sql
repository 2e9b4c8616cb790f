{% set shrinkage_invoices = 3 %}
{% set band_quantiles = [0.2, 0.8] %}
{% set history_months = 12 %}
{% set dso_window_days = 365 %}
{% set run_rate_days = 91 %}
-- One row per (item, measure, date) with the amount expected that day, for every cut-off in
-- $dates (see metrics/forecast.py). Items: invoices open at the cut-off, each recurring
-- schedule's occurrences as known then in the next $horizon_days days, and billing no schedule
-- covers at each client's run rate of the last {{ run_rate_days }} days. Measures: 'expected' (the forecast),
-- 'early' and 'late' (the band's scenarios), 'due_date' and 'average_dso' (the baselines).
-- Columns: as_of, source, company_id, customer_id, origin ('open' or 'not_yet_issued'), measure,
-- on_date, amount (exact DECIMAL for whole invoices, probability-weighted to 1e-6 for spread
-- ones). $what_if: clients to treat as on autopay from the cut-off.
{# A client's figure pulled toward the portfolio's: (n × client + K × portfolio) ÷ (n + K). #}
{% macro shrunk(column) -%}
(coalesce(h.invoices, 0) * coalesce(h.{{ column }}, 0) + {{ shrinkage_invoices }} * coalesce(p.{{ column }}, 0)) / (coalesce(h.invoices, 0) + {{ shrinkage_invoices }})
{%- endmacro %}
{% macro same_book(alias, other="i") -%}
{{ alias }}.as_of = {{ other }}.as_of AND {{ alias }}.source = {{ other }}.source AND {{ alias }}.company_id = {{ other }}.company_id
{%- endmacro %}
{% macro not_before_tomorrow(day) -%}
greatest({{ day }}, as_of + 1)
{%- endmacro %}
WITH cutoffs AS {{ ref('as_of_dates') }},
roots AS {{ ref('customer_roots') }},
history AS (
    SELECT s.as_of, s.source, s.company_id, r.root_id AS account_id, s.customer_id, s.txn_date,
           s.home_total, s.days_late
    FROM {{ ref('settled_invoices') }} s
    JOIN roots r USING (source, company_id, customer_id)
    WHERE NOT s.written_off AND s.settled_on > s.as_of - INTERVAL {{ history_months }} MONTH
),
open_items AS (
    SELECT as_of, source, company_id, customer_id, 'open' AS origin, txn_date, due_date,
           home_open_amount AS amount
    FROM {{ ref('open_invoices') }}
    WHERE home_open_amount > 0
),
future_items AS (
    SELECT s.as_of, s.source, s.company_id, s.customer_id, 'not_yet_issued' AS origin,
           o.occurrence AS txn_date,
           o.occurrence + CAST(coalesce(s.terms_days, t.terms_days, 0) AS INTEGER) AS due_date,
           {{ home_amount('s.amount', 's.exchange_rate') }} AS amount
    FROM {{ ref('known_schedules') }} s
    LEFT JOIN {{ ref('customer_terms') }} t USING (as_of, source, company_id, customer_id)
    CROSS JOIN LATERAL (
        SELECT CAST(unnest(generate_series(s.next_date::TIMESTAMP,
                                           (s.as_of + $horizon_days::INTEGER)::TIMESTAMP, s.step)) AS DATE) AS occurrence
    ) o
    WHERE o.occurrence > s.as_of AND (s.end_date IS NULL OR o.occurrence <= s.end_date) AND s.amount > 0
),
unscheduled_billing AS (
    SELECT c.as_of, i.source, i.company_id, i.customer_id, sum(i.home_total) AS billed
    FROM cutoffs c
    JOIN {{ ref('posted_invoices') }} i ON i.txn_date <= c.as_of AND i.txn_date > c.as_of - {{ run_rate_days }}
    WHERE i.recurring_template_id IS NULL AND i.total > 0
    GROUP BY ALL
),
run_rate_items AS (
    -- billing no schedule covers (projects, hardware; a book without schedules) at each client's
    -- recent run rate: one expected invoice per client and week, dated mid-week
    SELECT b.as_of, b.source, b.company_id, b.customer_id, 'not_yet_issued' AS origin,
           b.as_of + 7 * w.k - 3 AS txn_date,
           b.as_of + 7 * w.k - 3 + CAST(coalesce(t.terms_days, 0) AS INTEGER) AS due_date,
           CAST(b.billed * 7 / {{ run_rate_days }} AS DECIMAL(24,6)) AS amount
    FROM unscheduled_billing b
    LEFT JOIN {{ ref('customer_terms') }} t USING (as_of, source, company_id, customer_id)
    CROSS JOIN (SELECT CAST(range AS INTEGER) AS k FROM range(1, $horizon_days::INTEGER // 7 + 1)) w
),
items AS (
    SELECT row_number() OVER () AS item_id, *
    FROM (SELECT * FROM open_items UNION ALL SELECT * FROM future_items UNION ALL SELECT * FROM run_rate_items)
),
customer_days AS (
    SELECT DISTINCT source, company_id, customer_id, txn_date AS day FROM history
    UNION
    SELECT DISTINCT source, company_id, customer_id, as_of FROM items
),
autopay_days AS {{ ref('autopay_on_days') }},
classified_history AS (
    SELECT h.*, a.on_autopay
    FROM history h
    JOIN autopay_days a
      ON a.source = h.source AND a.company_id = h.company_id AND a.customer_id = h.customer_id AND a.day = h.txn_date
),
manual_history AS (
    SELECT * FROM classified_history WHERE NOT on_autopay
),
client_habits AS (
    SELECT as_of, source, company_id, account_id, count(*) AS invoices, sum(home_total) AS weight,
           quantile_cont(days_late, {{ band_quantiles[0] }}) AS early_days_late,
           quantile_cont(days_late, {{ band_quantiles[1] }}) AS late_days_late
    FROM manual_history
    GROUP BY ALL
),
portfolio_habits AS (
    SELECT as_of, source, company_id, sum(home_total) AS weight,
           quantile_cont(days_late, {{ band_quantiles[0] }}) AS early_days_late,
           quantile_cont(days_late, {{ band_quantiles[1] }}) AS late_days_late
    FROM manual_history
    GROUP BY ALL
),
client_days_late AS (
    SELECT as_of, source, company_id, account_id, days_late, sum(home_total) AS weight
    FROM manual_history
    GROUP BY ALL
),
portfolio_days_late AS (
    SELECT as_of, source, company_id, days_late, sum(home_total) AS weight
    FROM manual_history
    GROUP BY ALL
),
autopay_habits AS (
    SELECT as_of, source, company_id,
           coalesce(sum(home_total) FILTER (WHERE {{ autopay_failed('days_late') }}) / sum(home_total), 0)
               AS failure_share,
           coalesce(sum(home_total * days_late) FILTER (WHERE {{ autopay_failed('days_late') }})
                    / sum(home_total) FILTER (WHERE {{ autopay_failed('days_late') }}), 0) AS retry_days
    FROM classified_history
    WHERE on_autopay
    GROUP BY ALL
),
credit_sales AS (
    SELECT c.as_of, i.source, i.company_id, sum(i.home_total) AS sales
    FROM cutoffs c
    JOIN {{ ref('posted_invoices') }} i ON i.txn_date <= c.as_of AND i.txn_date > c.as_of - {{ dso_window_days }}
    GROUP BY ALL
),
book_dso AS (
    -- spec DSO (simple) over the window: A/R at t / credit sales x days
    SELECT s.as_of, s.source, s.company_id, coalesce(sum(o.amount), 0) / s.sales * {{ dso_window_days }} AS dso
    FROM credit_sales s
    LEFT JOIN open_items o USING (as_of, source, company_id)
    GROUP BY s.as_of, s.source, s.company_id, s.sales
),
rated AS (
    SELECT i.*, r.root_id AS account_id,
           coalesce(a.on_autopay, false) OR list_contains($what_if::VARCHAR[], i.customer_id) AS on_autopay,
           coalesce(h.invoices, 0) / (coalesce(h.invoices, 0) + {{ shrinkage_invoices }}) AS client_share,
           h.weight AS client_weight, p.weight AS portfolio_weight,
           {{ shrunk('early_days_late') }} AS early_days_late,
           {{ shrunk('late_days_late') }} AS late_days_late,
           coalesce(ah.failure_share, 0) AS failure_share, coalesce(ah.retry_days, 0) AS retry_days,
           i.txn_date + CAST(round(coalesce(b.dso, 0)) AS INTEGER) AS dso_on
    FROM items i
    JOIN roots r USING (source, company_id, customer_id)
    LEFT JOIN client_habits h ON {{ same_book('h') }} AND h.account_id = r.root_id
    LEFT JOIN portfolio_habits p ON {{ same_book('p') }}
    LEFT JOIN autopay_habits ah ON {{ same_book('ah') }}
    LEFT JOIN book_dso b ON {{ same_book('b') }}
    LEFT JOIN autopay_days a
      ON a.source = i.source AND a.company_id = i.company_id AND a.customer_id = i.customer_id AND a.day = i.as_of
),
-- A manual client's invoice is paid the way its past invoices were, relative to their due dates:
-- the client's amount-weighted days-late distribution with weight n / (n + K), the portfolio's
-- with K / (n + K). Only outcomes after t remain possible for an invoice still open at t.
outcomes AS (
    SELECT m.item_id, c.days_late, m.client_share * c.weight / m.client_weight AS probability
    FROM rated m
    JOIN client_days_late c ON {{ same_book('c', 'm') }} AND c.account_id = m.account_id
    WHERE NOT m.on_autopay
    UNION ALL
    SELECT m.item_id, c.days_late, (1 - m.client_share) * c.weight / m.portfolio_weight
    FROM rated m
    JOIN portfolio_days_late c ON {{ same_book('c', 'm') }}
    WHERE NOT m.on_autopay
),
possible AS (
    SELECT m.item_id, greatest(m.due_date + CAST(o.days_late AS INTEGER), m.txn_date) AS on_date, o.probability
    FROM outcomes o
    JOIN rated m USING (item_id)
    WHERE greatest(m.due_date + CAST(o.days_late AS INTEGER), m.txn_date) > m.as_of
),
spread AS (
    SELECT item_id, on_date,
           CAST(probability / sum(probability) OVER (PARTITION BY item_id) AS DECIMAL(18,9)) AS share
    FROM possible
),
manual_expected AS (
    SELECT m.item_id, s.on_date, CAST(m.amount * s.share AS DECIMAL(24,6)) AS amount
    FROM rated m
    JOIN spread s USING (item_id)
    UNION ALL
    -- later than any outcome on record: the day after the cut-off, never in the past
    SELECT item_id, as_of + 1, amount
    FROM rated
    WHERE NOT on_autopay AND item_id NOT IN (SELECT item_id FROM spread)
),
autopay_expected AS (
    -- already past due at t: the charge failed, so it waits for the retry
    SELECT item_id, {{ not_before_tomorrow("due_date + CAST(round(retry_days) AS INTEGER)") }} AS on_date, amount
    FROM rated WHERE on_autopay AND due_date <= as_of
    UNION ALL
    SELECT item_id, due_date, amount - CAST(round(amount * failure_share, 2) AS DECIMAL(18,2))
    FROM rated WHERE on_autopay AND due_date > as_of
    UNION ALL
    SELECT item_id, due_date + CAST(round(retry_days) AS INTEGER), CAST(round(amount * failure_share, 2) AS DECIMAL(18,2))
    FROM rated WHERE on_autopay AND due_date > as_of AND failure_share > 0
),
measured AS (
    SELECT item_id, 'expected' AS measure, on_date, amount FROM manual_expected
    UNION ALL
    SELECT item_id, 'expected', on_date, amount FROM autopay_expected
    UNION ALL
    SELECT item_id, 'early', on_date, amount FROM autopay_expected
    UNION ALL
    SELECT item_id, 'late', on_date, amount FROM autopay_expected
    UNION ALL
    SELECT item_id, 'early', {{ not_before_tomorrow("due_date + CAST(round(early_days_late) AS INTEGER)") }}, amount
    FROM rated WHERE NOT on_autopay
    UNION ALL
    SELECT item_id, 'late', {{ not_before_tomorrow("due_date + CAST(round(late_days_late) AS INTEGER)") }}, amount
    FROM rated WHERE NOT on_autopay
    UNION ALL
    SELECT item_id, 'due_date', due_date, amount FROM rated
    UNION ALL
    SELECT item_id, 'average_dso', dso_on, amount FROM rated
)
SELECT r.as_of, r.source, r.company_id, r.customer_id, r.origin, m.measure, m.on_date, m.amount
FROM measured m
JOIN rated r USING (item_id)
