-- Invoices in dispute at each date: a dispute opened on or before it and not resolved by then
-- (its amount is shown apart and left out of the amount to chase). One row per invoice: the
-- earliest such dispute, should there be several.
SELECT d.as_of, x.source, x.company_id, x.invoice_id,
       arg_min(x.dispute_id, x.opened_on) AS dispute_id, arg_min(x.reason, x.opened_on) AS reason,
       min(x.opened_on) AS opened_on
FROM disputes x
JOIN {{ ref('as_of_dates') }} d
  ON x.opened_on <= d.as_of AND (x.resolved_on IS NULL OR x.resolved_on > d.as_of)
GROUP BY ALL
