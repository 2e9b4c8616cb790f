-- The A/R items that are credit sales: posted invoices and statement charges (not journal-entry
-- charges or refunds of a customer's credit).
SELECT * FROM {{ ref('posted_invoices') }} WHERE is_sale
