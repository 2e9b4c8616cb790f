-- Each customer's autopay status at each date from the dated enrollment history (the period
-- with the highest precedence covering the date): on_autopay, method, provenance, since.
SELECT d.as_of, e.source, e.company_id, e.customer_id,
       arg_max(e.status = 'enabled', (e.precedence, e.valid_from)) AS on_autopay,
       arg_max(e.method, (e.precedence, e.valid_from)) AS method,
       arg_max(e.provenance, (e.precedence, e.valid_from)) AS provenance,
       arg_max(e.valid_from, (e.precedence, e.valid_from)) AS since
FROM {{ ref('as_of_dates') }} d
JOIN {{ ref('ranked_enrollments') }} e
  ON e.valid_from <= d.as_of AND (e.valid_to IS NULL OR e.valid_to > d.as_of)
GROUP BY ALL
