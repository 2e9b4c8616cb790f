-- Per account at each date, what collections work says about it: `parked` while a promise to
-- pay is open (pay-by date not passed, not yet kept), with the amount and the nearest pay-by
-- date of its open promises; how many promises it broke whose pay-by date fell in the 365 days
-- to the date; its next action (a person's wins over the demo's; one with no date clears it);
-- the date of its latest note, call, email or reminder on or before the date.
WITH promises AS {{ ref('promise_status') }},
promise_summary AS (
    SELECT as_of, source, company_id, account_id,
           bool_or(status = 'open') AS parked,
           coalesce(sum(amount) FILTER (WHERE status = 'open'), 0)::DECIMAL(18,2) AS promised_amount,
           min(pay_by) FILTER (WHERE status = 'open') AS promised_by,
           count(*) FILTER (WHERE status = 'broken' AND pay_by > as_of - INTERVAL 365 DAY) AS broken_promises
    FROM promises
    GROUP BY ALL
),
actions AS (
    SELECT n.source, n.company_id, r.root_id AS account_id, n.due_on, n.owner, n.action
    FROM next_actions n
    JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
    QUALIFY row_number() OVER (PARTITION BY n.source, n.company_id, r.root_id
                               ORDER BY n.origin = 'user' DESC, n.recorded_at DESC) = 1
),
activity AS (
    SELECT d.as_of, a.source, a.company_id, r.root_id AS account_id, max(a.activity_on) AS last_activity_on
    FROM collection_activities a
    JOIN {{ ref('customer_roots') }} r USING (source, company_id, customer_id)
    JOIN {{ ref('as_of_dates') }} d ON a.activity_on <= d.as_of
    GROUP BY ALL
),
accounts AS (
    SELECT d.as_of, r.source, r.company_id, r.customer_id AS account_id
    FROM {{ ref('customer_roots') }} r CROSS JOIN {{ ref('as_of_dates') }} d
    WHERE r.root_id = r.customer_id
)
SELECT k.as_of, k.source, k.company_id, k.account_id AS customer_id,
       coalesce(p.parked, false) AS parked, coalesce(p.promised_amount, 0)::DECIMAL(18,2) AS promised_amount,
       p.promised_by, coalesce(p.broken_promises, 0) AS broken_promises,
       n.due_on AS next_action_on, n.owner AS next_action_owner, n.action AS next_action,
       a.last_activity_on
FROM accounts k
LEFT JOIN promise_summary p USING (as_of, source, company_id, account_id)
LEFT JOIN actions n USING (source, company_id, account_id)
LEFT JOIN activity a USING (as_of, source, company_id, account_id)
