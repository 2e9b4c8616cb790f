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
