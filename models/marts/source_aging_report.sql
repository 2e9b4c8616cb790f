-- The source's own A/R aging ($source, optionally one $company) from its latest report dated on
-- or before the date, as stored by the pipeline: one row per customer and bucket title
-- (customer_id '' is the report's grand total).
SELECT company_id, report_date, customer_id, customer, bucket, amount
FROM source_aging
WHERE source = $source AND ($company IS NULL OR company_id = $company)
  AND report_date = (SELECT max(report_date) FROM source_aging
                     WHERE source = $source AND ($company IS NULL OR company_id = $company)
                       AND report_date <= (SELECT max(as_of) FROM {{ ref('as_of_dates') }}))
