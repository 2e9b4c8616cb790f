-- Open invoices at each date with their aging bucket and the account they are reported under
-- (the customer, or its top-level parent when $roll_up). `bucket_index` indexes the bucket labels:
-- by due date ($basis 'due') 0 = current, then one per period of $period_days, the last of
-- $periods open-ended; by invoice date 0 = the first period.
SELECT o.*,
       CASE WHEN $basis = 'due' THEN {{ due_bucket_index('days_past_due') }}
            ELSE least(greatest(ceil(days_since_invoice / $period_days), 1), $periods) - 1
       END::INTEGER AS bucket_index,
       CASE WHEN $roll_up THEN r.root_id ELSE o.customer_id END AS account_id
FROM {{ ref('open_invoices') }} o
JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
