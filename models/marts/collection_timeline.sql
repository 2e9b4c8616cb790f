-- One account's collections history ($customer_id, with its sub-customers), or every account's
-- ($customer_id NULL, each row under its `account_id`), newest first, up to the date: notes, calls,
-- emails and reminders sent, promises made, disputes opened and resolved.
-- `record_id` is the note's, promise's or dispute's own id; `status` a promise's at the date
-- (kept, broken, open: promise_status) and a dispute's (open, resolved).
WITH roots AS {{ ref('customer_roots') }},
account AS (SELECT source, company_id, customer_id, root_id AS account_id FROM roots
            WHERE $customer_id IS NULL OR root_id = $customer_id),
as_of AS (SELECT max(as_of) AS as_of FROM {{ ref('as_of_dates') }}),
events AS (
    SELECT source, company_id, customer_id, invoice_id, activity_on AS happened_on, kind, author,
           body AS text, activity_id AS record_id, NULL AS status, origin, recorded_at
    FROM collection_activities
    UNION ALL
    SELECT p.source, p.company_id, p.customer_id, NULL, p.made_on, 'promise', p.author,
           'Promised ' || p.amount::VARCHAR || ' by ' || p.pay_by::VARCHAR || coalesce(': ' || p.note, ''),
           p.promise_id, s.status, p.origin, p.recorded_at
    FROM payment_promises p
    LEFT JOIN {{ ref('promise_status') }} s USING (source, company_id, promise_id)
    UNION ALL
    SELECT source, company_id, customer_id, invoice_id, opened_on, 'dispute', author, reason,
           dispute_id, CASE WHEN resolved_on <= (SELECT as_of FROM as_of) THEN 'resolved' ELSE 'open' END,
           origin, recorded_at
    FROM disputes
    UNION ALL
    SELECT source, company_id, customer_id, invoice_id, resolved_on, 'dispute resolved',
           coalesce(resolved_by, author), coalesce(resolution, 'resolved'), dispute_id, NULL, origin, recorded_at
    FROM disputes
    WHERE resolved_on IS NOT NULL
)
SELECT e.happened_on, e.kind, e.status, e.author, e.text, i.doc_number AS invoice, e.invoice_id, e.record_id,
       e.origin, e.source, e.company_id, e.customer_id, account.account_id
FROM events e
JOIN account USING (source, company_id, customer_id)
LEFT JOIN invoices i USING (source, company_id, invoice_id)
WHERE e.happened_on <= (SELECT as_of FROM as_of)
ORDER BY e.happened_on DESC, e.recorded_at DESC, e.record_id
