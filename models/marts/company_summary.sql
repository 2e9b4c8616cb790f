-- Each company with its row count per book table, its invoice date range and its last run.
{% set same_company = "t.source = c.source AND t.company_id = c.company_id" %}
WITH last_run AS (
    SELECT * FROM sync_runs
    QUALIFY row_number() OVER (PARTITION BY source, company_id ORDER BY run_id DESC) = 1
)
SELECT c.source, c.company_id, c.name, c.home_currency, c.data_through, c.snapshot_on,
       {% for table in book_tables %}
       (SELECT count(*) FROM {{ table }} t WHERE {{ same_company }}) AS {{ table }},
       {% endfor %}
       (SELECT min(txn_date) FROM invoices t WHERE {{ same_company }}) AS first_invoice,
       (SELECT max(txn_date) FROM invoices t WHERE {{ same_company }}) AS last_invoice,
       r.kind AS sync_kind, r.status AS sync_status, r.started_at AS sync_started_at,
       r.finished_at AS sync_finished_at, r.error AS sync_error, r.actor AS sync_actor
FROM companies c
LEFT JOIN last_run r USING (source, company_id)
ORDER BY c.source, c.company_id
