-- Payments that count: posted ones (voided and deleted payments count nowhere).
SELECT * FROM payments WHERE status = 'posted'
