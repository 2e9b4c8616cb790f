-- Open invoices already past due at each cut-off in $dates that may never be collected: for each,
-- the share of its open amount the forecast does not expect within the $periods weeks
-- (forecast_item_weeks: 1 - the sum of its weekly chances), and that amount (home currency, to the
-- cent). An invoice older than anything the history shows being collected keeps all of it: a
-- bad-debt candidate, not cash due next week. Clients on autopay (at the date or in $what_if)
-- are charged after the retry delay, so none of theirs is at risk. Largest amount first.
WITH items AS {{ ref('forecast_items') }},
expected AS (
    SELECT item_id, sum(probability) AS collected_share
    FROM {{ ref('forecast_item_weeks') }}
    GROUP BY ALL
)
SELECT i.as_of, i.source, i.company_id, i.customer_id, c.name AS customer, i.invoice_id, o.doc_number,
       i.txn_date, i.due_date, i.start_age AS days_past_due, CAST(i.amount AS DECIMAL(18,2)) AS home_open_amount,
       greatest(1 - coalesce(e.collected_share, 0), 0) AS at_risk_share,
       CAST(round(i.amount * greatest(1 - coalesce(e.collected_share, 0), 0), 2) AS DECIMAL(18,2)) AS at_risk
FROM items i
LEFT JOIN expected e USING (item_id)
JOIN customers c USING (source, company_id, customer_id)
JOIN invoices o USING (source, company_id, invoice_id)
WHERE i.kind = 'open' AND i.start_age > 0 AND NOT i.on_autopay
ORDER BY i.as_of, at_risk DESC, i.due_date, i.invoice_id
