-- Autopay status of each (source, company_id, customer_id, day) in a `customer_days` relation the
-- caller defines as a CTE (e.g. each invoice's client on its invoice date, or every client at each
-- month-end), by the precedence of `ranked_enrollments`. A day no period covers is not autopay.
SELECT d.source, d.company_id, d.customer_id, d.day,
       coalesce(arg_max(e.status = 'enabled', (e.precedence, e.valid_from))
                FILTER (WHERE e.provenance IS NOT NULL), false) AS on_autopay
FROM customer_days d
LEFT JOIN {{ ref('ranked_enrollments') }} e
  ON e.source = d.source AND e.company_id = d.company_id AND e.customer_id = d.customer_id
 AND e.valid_from <= d.day AND (e.valid_to IS NULL OR e.valid_to > d.day)
GROUP BY ALL
