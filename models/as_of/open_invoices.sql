-- A/R items open at each date (report-date method): total minus the applications that took
-- effect on or before it, in the transaction currency (open_amount) and the home currency
-- (home_open_amount), with days past due and days since the item. An open amount can be negative:
-- an item entered with a negative total (a credit keyed as an invoice), or one applied more than
-- its total. Only items not settled to exactly zero for good need their applications summed at a
-- date, which keeps a 12-month trend over a million invoices cheap.
WITH applications AS {{ ref('live_applications') }},
settlement AS (
    SELECT source, company_id, invoice_id,
           sum(amount) AS applied_total, max(applied_on) AS last_applied_on
    FROM applications
    GROUP BY ALL
),
candidates AS (
    SELECT d.as_of, i.source, i.company_id, i.invoice_id, i.doc_number, i.doc_type, i.customer_id,
           i.txn_date, i.due_date, i.kind, i.currency, i.exchange_rate, i.total
    FROM {{ ref('posted_invoices') }} i
    LEFT JOIN settlement s USING (source, company_id, invoice_id)
    JOIN {{ ref('as_of_dates') }} d
      ON i.txn_date <= d.as_of
     AND (coalesce(s.applied_total, 0) <> i.total OR s.last_applied_on > d.as_of)
),
applied_by_date AS (
    SELECT c.as_of, c.source, c.company_id, c.invoice_id, sum(a.amount) AS applied
    FROM candidates c
    JOIN applications a USING (source, company_id, invoice_id)
    WHERE a.applied_on <= c.as_of
    GROUP BY ALL
),
open_amounts AS (
    SELECT c.*, c.total - coalesce(p.applied, 0) AS open_amount
    FROM candidates c
    LEFT JOIN applied_by_date p USING (as_of, source, company_id, invoice_id)
)
SELECT *,
       {{ home_amount('open_amount', 'exchange_rate') }} AS home_open_amount,
       datediff('day', due_date, as_of) AS days_past_due,
       datediff('day', txn_date, as_of) AS days_since_invoice
FROM open_amounts
WHERE open_amount <> 0
