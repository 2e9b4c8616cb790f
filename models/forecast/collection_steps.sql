-- Each posted invoice (total > 0) on each day money was applied to it, as shares of its total,
-- in the invoice's own currency (so a fully paid invoice reaches exactly 1): `cash` (payments,
-- the cash a forecast is about), `credit` (credit memos, including QuickBooks credit memos
-- applied through a Payment, that are not write-offs) and `written_off` (bad-debt credit memos).
-- `open_before` is the share still open at the start of the day, counting a write-off as still
-- open: written-off money was never collected, which is what the forecast needs to learn.
-- Facts of their day, so no date is needed: a model at a cut-off keeps the days on or before it.
WITH daily AS (
    SELECT i.source, i.company_id, i.invoice_id, i.customer_id, i.txn_date, i.due_date, i.total, a.applied_on AS day,
           coalesce(sum(a.amount) FILTER (WHERE a.credit_memo_id IS NULL), 0) / i.total AS cash,
           coalesce(sum(a.amount) FILTER (WHERE a.credit_memo_id IS NOT NULL AND NOT coalesce(m.is_write_off, false)), 0)
               / i.total AS credit,
           coalesce(sum(a.amount) FILTER (WHERE coalesce(m.is_write_off, false)), 0) / i.total AS written_off
    FROM {{ ref('posted_invoices') }} i
    JOIN {{ ref('live_applications') }} a USING (source, company_id, invoice_id)
    LEFT JOIN credit_memos m USING (source, company_id, credit_memo_id)
    WHERE i.total > 0
    GROUP BY i.source, i.company_id, i.invoice_id, i.customer_id, i.txn_date, i.due_date, i.total, a.applied_on
)
SELECT *,
       greatest(0, 1 - coalesce(sum(cash + credit) OVER (
           PARTITION BY source, company_id, invoice_id ORDER BY day
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)) AS open_before
FROM daily
