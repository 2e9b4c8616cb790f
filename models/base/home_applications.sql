-- Applications to invoices that count, each also in the home currency at the invoice's rate.
SELECT a.*, i.exchange_rate, {{ home_amount('a.amount', 'i.exchange_rate') }} AS home_amount
FROM applications a
JOIN {{ ref('posted_invoices') }} i USING (source, company_id, invoice_id)
