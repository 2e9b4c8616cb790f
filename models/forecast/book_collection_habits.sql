-- The book's collection habits at each cut-off in $dates, from the invoices settled in the 365
-- days up to it, each invoice counting once. Autopay (clients on autopay on the invoice date):
-- `failure_share` (settled more than {{ autopay_grace_days }} days after the due date: the charge failed and was
-- retried) and `retry_days` (their mean days late). Everyone else: `batch_share`, the share of
-- invoices settled on the same day as another invoice of the same account (one payment for
-- several invoices), which says how closely an account's open invoices are paid together.
WITH cutoffs AS {{ ref('as_of_dates') }},
settled AS (
    SELECT source, company_id, invoice_id, customer_id, txn_date, due_date, min(day) AS settled_on
    FROM {{ ref('collection_steps') }}
    WHERE open_before - cash - credit <= 1e-9
    GROUP BY ALL
),
customer_days AS (
    SELECT DISTINCT source, company_id, customer_id, txn_date AS day FROM settled
),
autopay_days AS {{ ref('autopay_on_days') }},
classified AS (
    SELECT s.source, s.company_id, r.root_id AS account_id, s.settled_on, a.on_autopay,
           datediff('day', s.due_date, s.settled_on) AS days_late
    FROM settled s
    JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
    JOIN autopay_days a
      ON a.source = s.source AND a.company_id = s.company_id AND a.customer_id = s.customer_id AND a.day = s.txn_date
),
account_days AS (
    SELECT source, company_id, settled_on, on_autopay, count(*) AS invoices,
           count(*) FILTER (WHERE {{ autopay_failed('days_late') }}) AS failed, sum(days_late) FILTER (WHERE {{ autopay_failed('days_late') }}) AS failed_days
    FROM classified
    GROUP BY source, company_id, account_id, settled_on, on_autopay
),
days AS (
    SELECT source, company_id, settled_on,
           sum(invoices) FILTER (WHERE on_autopay) AS autopay_invoices,
           sum(failed) FILTER (WHERE on_autopay) AS failed, sum(failed_days) FILTER (WHERE on_autopay) AS failed_days,
           sum(invoices) FILTER (WHERE NOT on_autopay) AS manual_invoices,
           sum(invoices) FILTER (WHERE NOT on_autopay AND invoices > 1) AS together
    FROM account_days
    GROUP BY ALL
)
SELECT c.as_of, d.source, d.company_id, hash(d.source, d.company_id) AS book_key,
       coalesce(sum(d.failed) / nullif(sum(d.autopay_invoices), 0), 0) AS failure_share,
       coalesce(sum(d.failed_days) / nullif(sum(d.failed), 0), 0) AS retry_days,
       coalesce(sum(d.together) / nullif(sum(d.manual_invoices), 0), 0) AS batch_share
FROM cutoffs c
JOIN days d ON d.settled_on <= c.as_of AND d.settled_on > c.as_of - 365
GROUP BY ALL
