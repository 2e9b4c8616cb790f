-- A/R at each date in total, not yet due (current) and 91 or more days past due, and the open
-- invoices it is made of.
SELECT d.as_of,
       coalesce(sum(o.home_open_amount), 0)::DECIMAL(18,2) AS total_ar,
       coalesce(sum(o.home_open_amount) FILTER (WHERE o.days_past_due <= 0), 0)::DECIMAL(18,2) AS current_ar,
       coalesce(sum(o.home_open_amount) FILTER (WHERE o.days_past_due >= 91), 0)::DECIMAL(18,2) AS ar_91_plus,
       count(o.invoice_id) AS open_invoices
FROM {{ ref('as_of_dates') }} d
LEFT JOIN {{ ref('open_invoices') }} o USING (as_of)
GROUP BY d.as_of
ORDER BY d.as_of
