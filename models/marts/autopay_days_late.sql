-- The autopay habit observed in the book: amount-weighted mean days late of autopay invoices paid
-- off in the $window_days days up to the date (failed and retried charges included); NULL if none.
SELECT sum(home_total * days_late) / sum(home_total) AS days_late
FROM {{ ref('autopay_paid_invoices') }}
WHERE autopay_status = 'autopay'
