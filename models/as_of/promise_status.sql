-- Every promise to pay made by each date, with what covers it and its status there
-- (docs/collections.md): covered = the money the account (the client with its sub-customers) paid
-- from the day of the promise through its pay-by date (and no later than the date): applied to
-- the promised invoices when it names invoices, else every payment it made. 'kept' once covered
-- reaches the amount; 'broken' after the pay-by date if it has not; 'open' before. Home currency.
WITH promises AS (
    SELECT d.as_of, p.*, r.root_id AS account_id, least(p.pay_by, d.as_of) AS counted_to
    FROM payment_promises p
    JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
    JOIN {{ ref('as_of_dates') }} d ON p.made_on <= d.as_of
),
to_invoices AS (
    SELECT p.as_of, p.source, p.company_id, p.promise_id, sum(a.home_amount) AS covered
    FROM promises p
    JOIN {{ ref('home_applications') }} a
      ON a.source = p.source AND a.company_id = p.company_id AND list_contains(p.invoice_ids, a.invoice_id)
    WHERE len(p.invoice_ids) > 0 AND a.payment_id IS NOT NULL AND a.credit_memo_id IS NULL
      AND a.applied_on BETWEEN p.made_on AND p.counted_to
    GROUP BY ALL
),
paid AS (
    SELECT y.source, y.company_id, r.root_id AS account_id, y.txn_date,
           {{ home_amount('y.amount', 'y.exchange_rate') }} AS home_amount
    FROM {{ ref('posted_payments') }} y
    JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
    WHERE y.amount > 0
),
to_account AS (
    SELECT p.as_of, p.source, p.company_id, p.promise_id, sum(y.home_amount) AS covered
    FROM promises p
    JOIN paid y USING (source, company_id, account_id)
    WHERE len(p.invoice_ids) = 0 AND y.txn_date BETWEEN p.made_on AND p.counted_to
    GROUP BY ALL
),
covered AS (
    SELECT p.*, coalesce(i.covered, a.covered, 0)::DECIMAL(18,2) AS covered
    FROM promises p
    LEFT JOIN to_invoices i USING (as_of, source, company_id, promise_id)
    LEFT JOIN to_account a USING (as_of, source, company_id, promise_id)
)
SELECT as_of, source, company_id, promise_id, account_id, customer_id, made_on, pay_by, amount, invoice_ids,
       note, author, origin, covered,
       CASE WHEN covered >= amount THEN 'kept' WHEN as_of > pay_by THEN 'broken' ELSE 'open' END AS status
FROM covered
WHERE $customer_id IS NULL OR account_id = $customer_id
ORDER BY made_on DESC, promise_id
