-- Per autopay status ($statuses: 'autopay', 'manual') over the $window_days days up to the date:
-- invoices paid off, their mean days to pay and days late and ADD (invoice form); credit sales,
-- A/R, current and overdue A/R, DSO and % current, each over that status's invoices.
WITH invoice_status AS {{ ref('invoice_autopay_status') }},
paid AS (
    SELECT autopay_status, count(*) AS paid_invoices, avg(days_to_pay) AS days_to_pay,
           avg(days_late) AS days_late,
           sum(home_total * greatest(days_late, 0)) / sum(home_total) AS add_invoice
    FROM {{ ref('autopay_paid_invoices') }}
    GROUP BY ALL
),
sales AS (
    SELECT st.autopay_status, sum(i.home_total) AS credit_sales
    FROM {{ ref('sales_invoices') }} i
    JOIN invoice_status st USING (source, company_id, invoice_id)
    JOIN {{ ref('as_of_dates') }} d ON i.txn_date > d.as_of - $window_days::INTEGER AND i.txn_date <= d.as_of
    GROUP BY ALL
),
receivable AS (
    SELECT st.autopay_status, sum(o.home_open_amount) AS total_ar,
           coalesce(sum(o.home_open_amount) FILTER (WHERE o.days_past_due <= 0), 0) AS current_ar
    FROM {{ ref('open_invoices') }} o JOIN invoice_status st USING (source, company_id, invoice_id)
    GROUP BY ALL
)
SELECT s.autopay_status, coalesce(p.paid_invoices, 0) AS paid_invoices, p.days_to_pay, p.days_late,
       p.add_invoice,
       coalesce(c.credit_sales, 0)::DECIMAL(18,2) AS credit_sales,
       coalesce(r.total_ar, 0)::DECIMAL(18,2) AS total_ar,
       coalesce(r.current_ar, 0)::DECIMAL(18,2) AS current_ar,
       coalesce(r.total_ar - r.current_ar, 0)::DECIMAL(18,2) AS overdue_ar,
       coalesce(r.total_ar, 0) / nullif(c.credit_sales, 0) * $window_days AS dso,
       r.current_ar / nullif(r.total_ar, 0) AS pct_current
FROM (SELECT unnest($statuses::VARCHAR[]) AS autopay_status) s
LEFT JOIN paid p USING (autopay_status)
LEFT JOIN sales c USING (autopay_status)
LEFT JOIN receivable r USING (autopay_status)
ORDER BY s.autopay_status
