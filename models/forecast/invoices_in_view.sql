-- How many invoices the cash forecast learns from when evaluated at $dates: those dated in the
-- {{ forecast_history_days }} days before the first date up to the last (the backtest sizes its set-based passes by it).
SELECT count(*) AS invoices
FROM {{ ref('posted_invoices') }}
WHERE txn_date > (SELECT min(as_of) FROM {{ ref('as_of_dates') }}) - {{ forecast_history_days }}
  AND txn_date <= (SELECT max(as_of) FROM {{ ref('as_of_dates') }})
