-- The source's own A/R aging ($source, optionally one $company) from its latest report dated on
-- or before the date, as stored by the pipeline: one row per customer and bucket title
-- (customer_id '' is the report's grand total). A source that reports item by item (Xero) stores
-- 'due:YYYY-MM-DD' titles: those are placed in the due-date bucket ledgerlight would use
-- (`bucket_index`, else NULL), so both sides are bucketed by one rule.
SELECT company_id, report_date, customer_id, customer, bucket, amount,
       CASE WHEN bucket LIKE 'due:%'
            THEN {{ due_bucket_index("datediff('day', CAST(substr(bucket, 5) AS DATE), report_date)") }} END AS bucket_index
FROM source_aging
WHERE source = $source AND ($company IS NULL OR company_id = $company)
  AND report_date = (SELECT max(report_date) FROM source_aging
                     WHERE source = $source AND ($company IS NULL OR company_id = $company)
                       AND report_date <= (SELECT max(as_of) FROM {{ ref('as_of_dates') }}))
