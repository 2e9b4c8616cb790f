{#- The business rules the models share, each written once. -#}

{#- Home currency: a transaction amount at its own exchange rate, to the cent. Amounts are netted
    in the transaction currency first, so a fully paid foreign invoice is exactly zero. -#}
{% macro home_amount(amount, rate) -%}
CAST(round({{ amount }} * {{ rate }}, 2) AS DECIMAL(18,2))
{%- endmacro %}

{#- Autopay: a charge settled within this many days of the due date was collected on time; one
    settled later failed first and was retried (spec: "within ±2 days of the due date"). -#}
{% set autopay_grace_days = 2 %}
{% macro autopay_on_time(days_late) -%}
abs({{ days_late }}) <= {{ autopay_grace_days }}
{%- endmacro %}
{% macro autopay_failed(days_late) -%}
{{ days_late }} > {{ autopay_grace_days }}
{%- endmacro %}

{#- An active recurring client has a recurring invoice dated in this many days up to the date. -#}
{% set active_recurring_days = 45 %}

{#- The due-date aging bucket of an item so many days past due: 0 = current (not yet due), then one
    per period of $period_days, the last of $periods open-ended (labels: metrics.aging). -#}
{% macro due_bucket_index(days_past_due) -%}
CASE WHEN {{ days_past_due }} <= 0 THEN 0 ELSE least(ceil({{ days_past_due }} / $period_days), $periods) END::INTEGER
{%- endmacro %}

{#- One column of open A/R per aging bucket, named by its label (labels come from code). -#}
{% macro bucket_sums(labels) -%}
{% for label in labels %}
coalesce(sum(home_open_amount) FILTER (WHERE bucket_index = {{ loop.index0 }}), 0)::DECIMAL(18,2) AS "{{ label }}",
{% endfor %}
{%- endmacro %}

{#- Invoices of the kind $invoice_kind asks for: 'all', 'recurring' or 'one-off' (everything else). -#}
{% macro invoice_kind_filter(kind) -%}
($invoice_kind = 'all' OR ({{ kind }} = 'recurring') = ($invoice_kind = 'recurring'))
{%- endmacro %}

{#- Cash forecast (models/forecast/): a client's habit is pulled toward the portfolio's as if the
    portfolio had this many invoices at stake at every age; payments are learnt from the days in
    this window before each cut-off, an invoice counting half as much for each half-life its due
    date lies before the cut-off. -#}
{% set forecast_shrinkage_invoices = 3 %}
{% set forecast_history_days = 365 %}
{% set forecast_half_life_days = 91 %}
{#- The age bands (days from the due date) within which the portfolio's daily collection rate is
    pooled: each day from 35 days before to 35 days after the due date, where habits are sharp
    (the due date, a payment run), then weeks to 13 weeks late, then a quarter, half a year, a
    year and beyond, where evidence is thin and the exact day says nothing. A band by its first
    age. -#}
{% macro forecast_age_band(age) -%}
CASE WHEN {{ age }} BETWEEN -35 AND 35 THEN {{ age }}
     WHEN {{ age }} < -35 THEN -42 - 7 * CAST(floor((-36 - ({{ age }})) / 7) AS INTEGER)
     WHEN {{ age }} <= 91 THEN 36 + 7 * CAST(floor(({{ age }} - 36) / 7) AS INTEGER)
     WHEN {{ age }} <= 182 THEN 92 WHEN {{ age }} <= 365 THEN 183 WHEN {{ age }} <= 730 THEN 366
     ELSE 731 END
{%- endmacro %}
{#- Ages the portfolio's curve is tabulated at, day by day; beyond the last, the 731+ band's rate
    goes on. -#}
{% set forecast_first_age = -400 %}
{% set forecast_last_age = 1100 %}
{#- The portfolio curve's log survival at `age`, from the row `alias` of portfolio_collection_curve
    joined on forecast_curve_age(age): beyond the last tabulated age its rate goes on. -#}
{% macro forecast_curve_age(age) -%}
least(greatest({{ age }}, {{ forecast_first_age }}), {{ forecast_last_age }})
{%- endmacro %}
{% macro portfolio_log_survival(alias, age) -%}
({{ alias }}.log_survival + greatest({{ age }} - {{ forecast_last_age }}, 0) * {{ alias }}.log_rate)
{%- endmacro %}
{% macro portfolio_cumulative_hazard(alias, age) -%}
({{ alias }}.cumulative_hazard + greatest({{ age }} - {{ forecast_last_age }}, 0) * {{ alias }}.hazard)
{%- endmacro %}
{% macro same_curve(alias, other) -%}
{{ alias }}.as_of = {{ other }}.as_of AND {{ alias }}.book_key = {{ other }}.book_key
{%- endmacro %}
{#- The cash forecast's band: this central share of each week's cash under the model's own
    distribution (z is its two-sided normal quantile). -#}
{% set forecast_band_level = 0.8 %}
{% set forecast_band_z = 1.2815515655446004 %}
{#- The bands (days from the due date) within which a client's pace is compared with the
    portfolio's: well before the due date, the two weeks before it, the week from it, then to
    30, 60, 90 and 180 days late, and beyond. Each by its first and last age. -#}
{% set forecast_client_bands = [(-100000, -15), (-14, -1), (0, 7), (8, 30), (31, 60), (61, 90), (91, 180), (181, 100000)] %}
{% macro forecast_client_band(age) -%}
CASE {% for first, last in forecast_client_bands %}WHEN {{ age }} <= {{ last }} THEN {{ first }} {% endfor %}END
{%- endmacro %}
{#- An account's log survival at `age` from its client_collection_curve row `client` (null: no
    history, so the portfolio's) and the portfolio_collection_curve row `portfolio` at that age. -#}
{% macro account_log_survival(age, portfolio, client) -%}
coalesce(CASE {% for first, last in forecast_client_bands %}WHEN {{ age }} <= {{ last }} THEN {{ client }}.offset_{{ loop.index0 }} + {{ client }}.pace_{{ loop.index0 }} * {{ portfolio_log_survival(portfolio, age) }} {% endfor %}END,
         {{ portfolio_log_survival(portfolio, age) }})
{%- endmacro %}
