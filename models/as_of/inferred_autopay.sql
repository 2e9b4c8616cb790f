-- Autopay periods one company ($source, $company_id) shows by the last of $dates (spec: "last ≥ 3
-- recurring invoices paid by card/ACH within ±2 days of the due date"). Recurring invoices are
-- taken in due-date order; each gets a verdict: autopay-like when settled on time by card/ACH
-- payments only, not when settled otherwise or still unpaid past the grace days (an invoice not
-- yet that far gets no verdict). A run of 3 or more autopay-like verdicts is a period from the
-- first one's invoice date until the invoice date of the next invoice that was not (open-ended
-- if none), paid by the last one's method.
WITH as_of_dates AS (
    SELECT max(as_of) AS as_of FROM {{ ref('as_of_dates') }}
),
recurring AS (
    SELECT d.as_of, i.source, i.company_id, i.customer_id, i.invoice_id, i.txn_date, i.due_date
    FROM {{ ref('posted_invoices') }} i
    JOIN as_of_dates d ON i.txn_date <= d.as_of
    WHERE i.kind = 'recurring' AND i.total > 0 AND i.source = $source AND i.company_id = $company_id
),
paid_by AS (
    SELECT a.source, a.company_id, a.invoice_id,
           bool_and(p.method IN ('card', 'ach')) AS electronic, arg_max(p.method, a.applied_on) AS method
    FROM {{ ref('live_applications') }} a
    JOIN payments p USING (source, company_id, payment_id)
    WHERE a.applied_on <= (SELECT as_of FROM as_of_dates) AND a.credit_memo_id IS NULL
    GROUP BY ALL
),
verdicts AS (
    SELECT r.*, m.method,
           CASE WHEN s.settled_on IS NOT NULL
                THEN {{ autopay_on_time('s.days_late') }} AND coalesce(m.electronic, false) AND NOT s.written_off
                WHEN {{ autopay_failed("datediff('day', r.due_date, r.as_of)") }} THEN false
           END AS autopay_like
    FROM recurring r
    LEFT JOIN {{ ref('settled_invoices') }} s USING (as_of, source, company_id, invoice_id)
    LEFT JOIN paid_by m USING (source, company_id, invoice_id)
),
numbered AS (
    SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY due_date, invoice_id)
              - row_number() OVER (PARTITION BY customer_id, autopay_like ORDER BY due_date, invoice_id) AS run
    FROM verdicts
    WHERE autopay_like IS NOT NULL
),
runs AS (
    SELECT source, company_id, customer_id, run, min(txn_date) AS valid_from, max(due_date) AS last_due,
           arg_max(method, due_date) AS method
    FROM numbered
    WHERE autopay_like
    GROUP BY ALL
    HAVING count(*) >= 3
)
SELECT r.customer_id, 'inferred' AS provenance, r.valid_from, min(b.txn_date) AS valid_to,
       'enabled' AS status, r.method
FROM runs r
LEFT JOIN numbered b
  ON b.customer_id = r.customer_id AND NOT b.autopay_like AND b.due_date > r.last_due
GROUP BY r.customer_id, r.valid_from, r.method
