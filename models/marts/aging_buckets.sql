-- Open A/R per bucket at the date: one row per bucket (empty ones too) with amount and invoices;
-- $past_due_only counts only invoices past their due date.
WITH buckets AS (SELECT unnest(range($bucket_count::BIGINT))::INTEGER AS bucket_index)
SELECT b.bucket_index, coalesce(sum(i.home_open_amount), 0)::DECIMAL(18,2) AS amount,
       count(i.invoice_id) AS invoices
FROM buckets b
LEFT JOIN {{ ref('aged_invoices') }} i
       ON i.bucket_index = b.bucket_index AND (NOT $past_due_only OR i.days_past_due > 0)
GROUP BY b.bucket_index ORDER BY b.bucket_index
