-- Every reminder recorded as sent or sending (either writer), one row per invoice and stage,
-- newest first: the exactly-once record a reminder run checks, and what the pages list.
SELECT d.source, d.company_id, d.stage, d.customer_id, c.name AS customer, d.invoice_id,
       coalesce(i.doc_number, d.invoice_id) AS invoice, d.message_id, d.status, d.via, d.recipients, d.subject,
       d.author, d.claimed_at, d.sent_at, d.origin
FROM reminder_deliveries d
LEFT JOIN customers c USING (source, company_id, customer_id)
LEFT JOIN invoices i USING (source, company_id, invoice_id)
ORDER BY d.claimed_at DESC, d.message_id, d.invoice_id
