-- Open A/R per bucket (a column per label) and in total at each date.
SELECT d.as_of,
       {{ bucket_sums(labels) }}
       coalesce(sum(home_open_amount), 0)::DECIMAL(18,2) AS total
FROM {{ ref('as_of_dates') }} d LEFT JOIN {{ ref('aged_invoices') }} i USING (as_of)
GROUP BY d.as_of ORDER BY d.as_of
