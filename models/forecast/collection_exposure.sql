-- What the cash forecast learns from at each cut-off in $dates: every invoice on each of its days
-- in the {{ forecast_history_days }} days up to the cut-off (from its invoice date on, while not
-- fully settled), by account (top-level parent; `book_key` and `account_key` identify book and
-- account) and age (days from the due date, negative before it), as changes: `exposure`, the
-- change from that age on in the invoices still open, each counting by the share of it still open
-- (so one large invoice cannot dominate a habit), and `collected`, a share paid in cash that day
-- (several rows may share an age: sum them); both weighted by recency: an invoice due {{ forecast_half_life_days }} days before the cut-off counts half as
-- much as one due then, as habits drift. A write-off is not a change: written-off money stays
-- uncollected until the cut-off, and so does an old short-paid remainder. `autopay`: the client
-- was on autopay on the invoice date (a portal charged it). Only days on or before the cut-off
-- are read.
WITH cutoffs AS {{ ref('as_of_dates') }},
steps AS (
    SELECT hash(source, company_id, invoice_id) AS invoice_key, day, cash,
           least(cash + credit, open_before) AS settles, open_before - cash - credit <= 1e-9 AS settling
    FROM {{ ref('collection_steps') }}
),
settled AS (
    SELECT invoice_key, min(day) AS settled_on FROM steps WHERE settling GROUP BY ALL
),
invoices AS (
    SELECT hash(i.source, i.company_id, i.invoice_id) AS invoice_key, i.source, i.company_id, i.customer_id,
           i.txn_date, i.due_date, hash(i.source, i.company_id) AS book_key,
           hash(i.source, i.company_id, r.root_id) AS account_key
    FROM {{ ref('posted_invoices') }} i
    JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
    WHERE i.total > 0
),
customer_days AS (
    SELECT DISTINCT source, company_id, customer_id, txn_date AS day FROM invoices
),
autopay_days AS {{ ref('autopay_on_days') }},
classified AS (
    SELECT i.invoice_key, i.book_key, i.account_key, i.txn_date, i.due_date, s.settled_on, a.on_autopay AS autopay
    FROM invoices i
    LEFT JOIN settled s USING (invoice_key)
    JOIN autopay_days a
      ON a.source = i.source AND a.company_id = i.company_id AND a.customer_id = i.customer_id AND a.day = i.txn_date
),
events AS (
    -- an invoice's life (day null) and each of its steps, with the cut-offs that see them: from
    -- the day they happen until the window has passed the invoice's settlement
    SELECT *, greatest(txn_date, coalesce(day, txn_date)) AS seen_from,
           coalesce(settled_on + {{ forecast_history_days - 1 }}, DATE '9999-12-31') AS seen_to
    FROM (
        SELECT c.*, NULL::DATE AS day, 0.0 AS cash, 0.0 AS settles FROM classified c
        UNION ALL
        SELECT c.*, s.day, s.cash, s.settles FROM classified c JOIN steps s USING (invoice_key)
    )
),
in_scope AS (
    SELECT c.as_of, e.*, greatest(e.txn_date, c.as_of - {{ forecast_history_days - 1 }}) AS first_day,
           pow(0.5, greatest(datediff('day', e.due_date, c.as_of), 0) / {{ forecast_half_life_days }}) AS weight,
           coalesce(e.settled_on > c.as_of, true) AS open_after
    FROM cutoffs c
    JOIN events e ON c.as_of >= e.seen_from AND c.as_of <= e.seen_to
)
-- An invoice enters whole on the window's first day and, unless settled by then, leaves whole
-- after the cut-off; each amount settled takes its share out from the next day (out of the entry
-- if before the window) and out of the exit.
SELECT s.as_of, s.book_key, s.account_key, s.autopay,
       CAST(CASE WHEN s.day IS NULL THEN
                     CASE p.part WHEN 0 THEN datediff('day', s.due_date, s.first_day) ELSE datediff('day', s.due_date, s.as_of) + 1 END
                 ELSE
                     CASE p.part WHEN 0 THEN datediff('day', s.due_date, s.day)
                                 WHEN 1 THEN datediff('day', s.due_date, greatest(s.day + 1, s.first_day))
                                 ELSE datediff('day', s.due_date, s.as_of) + 1 END
            END AS INTEGER) AS age,
       CASE WHEN s.day IS NULL THEN CASE p.part WHEN 0 THEN s.weight ELSE -s.weight END
            ELSE CASE p.part WHEN 0 THEN 0 WHEN 1 THEN -s.settles * s.weight ELSE s.settles * s.weight END
       END AS exposure,
       CASE WHEN s.day IS NOT NULL AND p.part = 0 THEN s.cash * s.weight ELSE 0 END AS collected
FROM in_scope s
CROSS JOIN (SELECT unnest([0, 1, 2]) AS part) p
WHERE CASE WHEN s.day IS NULL THEN p.part = 0 OR (p.part = 1 AND s.open_after)
           ELSE (p.part = 0 AND s.day >= s.first_day AND s.cash > 0) OR p.part = 1 OR (p.part = 2 AND s.open_after) END
