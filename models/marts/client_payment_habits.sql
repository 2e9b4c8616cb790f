-- Per account at the date: mean and amount-weighted days to pay and days late over each of
-- {{ habit_months }} months, share paid on time, median days late and invoices paid (12 months),
-- last payment date, and drift: each of the account's 3 latest invoices (by due date, paid or
-- already past due, an unpaid one counting its days past due so far) is later than its 12-month
-- median days late by more than $margin days.
WITH paid AS {{ ref('paid_invoices') }},
habits AS (
    SELECT source, company_id, account_id,
           {% for months in habit_months %}
           {% set recent = "settled_on > as_of - INTERVAL " ~ months ~ " MONTH" %}
           {% for measure in ("days_to_pay", "days_late") %}
           avg({{ measure }}) FILTER (WHERE {{ recent }}) AS mean_{{ measure }}_{{ months }}m,
           sum(home_total * {{ measure }}) FILTER (WHERE {{ recent }}) /
               sum(home_total) FILTER (WHERE {{ recent }}) AS weighted_{{ measure }}_{{ months }}m,
           {% endfor %}
           {% endfor %}
           avg((days_late <= 0)::INTEGER) FILTER (WHERE settled_on > as_of - INTERVAL 12 MONTH) AS share_on_time_12m,
           median(days_late) FILTER (WHERE settled_on > as_of - INTERVAL 12 MONTH) AS median_days_late_12m,
           count(*) FILTER (WHERE settled_on > as_of - INTERVAL 12 MONTH) AS paid_invoices_12m
    FROM paid
    GROUP BY ALL
),
latest AS (
    SELECT source, company_id, account_id, due_date, days_late FROM paid
    UNION ALL
    SELECT o.source, o.company_id, r.root_id, o.due_date, o.days_past_due
    FROM {{ ref('open_invoices') }} o
    JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
    WHERE o.days_past_due > 0 AND {{ invoice_kind_filter('o.kind') }}
),
latest_three AS (
    SELECT source, company_id, account_id, count(*) AS n, min(days_late) AS least_late
    FROM (
        SELECT *, row_number() OVER (
            PARTITION BY source, company_id, account_id ORDER BY due_date DESC) AS recency
        FROM latest
    )
    WHERE recency <= 3
    GROUP BY ALL
),
last_payment AS (
    SELECT p.source, p.company_id, r.root_id AS account_id, max(p.txn_date) AS last_payment_date
    FROM {{ ref('posted_payments') }} p
    JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
    WHERE p.amount > 0 AND p.txn_date <= (SELECT max(as_of) FROM {{ ref('as_of_dates') }})
    GROUP BY ALL
),
accounts AS (
    SELECT source, company_id, account_id FROM habits
    UNION SELECT source, company_id, account_id FROM latest_three
)
SELECT source, company_id, account_id AS customer_id, c.name AS customer,
       h.* EXCLUDE (source, company_id, account_id), l.last_payment_date,
       coalesce(t.n = 3 AND t.least_late > h.median_days_late_12m + $margin, false) AS drift
FROM accounts a
LEFT JOIN habits h USING (source, company_id, account_id)
LEFT JOIN latest_three t USING (source, company_id, account_id)
LEFT JOIN last_payment l USING (source, company_id, account_id)
JOIN customers c
  ON c.source = a.source AND c.company_id = a.company_id AND c.customer_id = a.account_id
ORDER BY c.name
