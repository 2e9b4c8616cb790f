-- Invoices paid off in the $window_days days up to the date (write-offs are bad debt, not
-- payments), each with its autopay status on its invoice date.
SELECT p.*, st.autopay_status
FROM {{ ref('settled_invoices') }} p
JOIN {{ ref('invoice_autopay_status') }} st USING (source, company_id, invoice_id)
WHERE NOT p.written_off AND p.settled_on > p.as_of - $window_days::INTEGER
