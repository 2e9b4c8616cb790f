-- Each invoice dated by the last of $dates as 'autopay' or 'manual': autopay when its client was on
-- autopay on the invoice date (that is when a portal would charge it).
WITH customer_days AS (
    SELECT DISTINCT source, company_id, customer_id, txn_date AS day
    FROM {{ ref('posted_invoices') }}
    WHERE txn_date <= (SELECT max(as_of) FROM {{ ref('as_of_dates') }})
),
on_days AS {{ ref('autopay_on_days') }}
SELECT i.source, i.company_id, i.invoice_id,
       CASE WHEN s.on_autopay THEN 'autopay' ELSE 'manual' END AS autopay_status
FROM {{ ref('posted_invoices') }} i
JOIN on_days s
  ON s.source = i.source AND s.company_id = i.company_id AND s.customer_id = i.customer_id AND s.day = i.txn_date
