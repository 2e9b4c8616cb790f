-- Every autopay period started by the date, imported, manual and inferred side by side, with
-- `counts` marking the one that sets the client's status at the date (precedence).
SELECT e.source, e.company_id, e.customer_id, c.name AS customer, e.provenance, e.status, e.method,
       e.valid_from, e.valid_to,
       coalesce(s.provenance = e.provenance AND s.since = e.valid_from, false) AS counts
FROM autopay_enrollments e
JOIN customers c USING (source, company_id, customer_id)
LEFT JOIN {{ ref('autopay_status') }} s USING (source, company_id, customer_id)
WHERE e.valid_from <= (SELECT max(as_of) FROM {{ ref('as_of_dates') }})
ORDER BY c.name, e.valid_from, e.provenance
