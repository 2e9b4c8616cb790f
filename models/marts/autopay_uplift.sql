-- Each client on autopay at the date, with how it paid in the 12 months before enrolling and
-- since: paid invoices, mean days to pay and days late either side, and the uplift (days to pay
-- before - after; positive: autopay made it faster).
WITH enrolled AS (
    SELECT source, company_id, customer_id, since AS enrolled_on, provenance, method
    FROM {{ ref('autopay_status') }} WHERE on_autopay
),
paid AS (
    SELECT p.*, e.enrolled_on, p.txn_date >= e.enrolled_on AS after
    FROM {{ ref('settled_invoices') }} p
    JOIN enrolled e USING (source, company_id, customer_id)
    WHERE NOT p.written_off AND p.txn_date >= e.enrolled_on - INTERVAL 12 MONTH
)
SELECT e.source, e.company_id, e.customer_id, c.name AS customer, e.enrolled_on, e.provenance, e.method,
       count(p.invoice_id) FILTER (WHERE NOT p.after) AS invoices_before,
       avg(p.days_to_pay) FILTER (WHERE NOT p.after) AS days_to_pay_before,
       avg(p.days_late) FILTER (WHERE NOT p.after) AS days_late_before,
       count(p.invoice_id) FILTER (WHERE p.after) AS invoices_after,
       avg(p.days_to_pay) FILTER (WHERE p.after) AS days_to_pay_after,
       avg(p.days_late) FILTER (WHERE p.after) AS days_late_after,
       avg(p.days_to_pay) FILTER (WHERE NOT p.after) - avg(p.days_to_pay) FILTER (WHERE p.after) AS uplift_days
FROM enrolled e
JOIN customers c USING (source, company_id, customer_id)
LEFT JOIN paid p USING (source, company_id, customer_id)
GROUP BY ALL
ORDER BY uplift_days DESC NULLS LAST, c.name
