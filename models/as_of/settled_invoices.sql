-- Sales invoices fully settled by each date: when (settled_on, the date the application that
-- brought the invoice to zero took effect), days to pay (from the invoice date) and days late (from
-- the due date; negative = early). `written_off` marks invoices closed by a bad-debt credit, not
-- paid. A/R items that are not sales (a journal-entry charge, a refund) have no days to pay.
WITH applied AS (
    SELECT d.as_of, a.source, a.company_id, a.invoice_id, sum(a.amount) AS applied,
           max(a.applied_on) AS settled_on,
           bool_or(coalesce(m.is_write_off, false)) AS written_off
    FROM {{ ref('live_applications') }} a
    JOIN {{ ref('as_of_dates') }} d ON a.applied_on <= d.as_of
    LEFT JOIN credit_memos m USING (source, company_id, credit_memo_id)
    GROUP BY ALL
)
SELECT a.as_of, i.source, i.company_id, i.invoice_id, i.doc_number, i.customer_id, i.kind, i.txn_date,
       i.due_date, i.home_total, a.settled_on, a.written_off,
       datediff('day', i.txn_date, a.settled_on) AS days_to_pay,
       datediff('day', i.due_date, a.settled_on) AS days_late
FROM {{ ref('posted_invoices') }} i
JOIN applied a USING (source, company_id, invoice_id)
WHERE i.is_sale AND i.total > 0 AND a.applied >= i.total AND i.txn_date <= a.as_of
