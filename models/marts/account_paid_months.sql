-- Per account (top-level parent) and calendar month since $since: the invoices paid in full in
-- the month (as the books stood at the date), their mean days to pay and the share paid by the
-- due date.
SELECT source, company_id, account_id AS customer_id, date_trunc('month', settled_on)::DATE AS month_start,
       count(*) AS invoices_paid, avg(days_to_pay) AS days_to_pay,
       avg(CASE WHEN days_late <= 0 THEN 1 ELSE 0 END) AS on_time_share
FROM {{ ref('paid_invoices') }}
WHERE settled_on >= $since
GROUP BY ALL
