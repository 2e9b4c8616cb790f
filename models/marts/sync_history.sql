-- The latest $limit runs of every source, newest first: who ran each (NULL before ledgerlight
-- recorded it), how long it took and what was odd.
SELECT run_id, source, company_id, origin, kind, status, actor, started_at, finished_at,
       date_diff('millisecond', started_at, finished_at) / 1000 AS seconds, requests, counts, error,
       coalesce(json_array_length(warnings), 0) AS warning_count, warnings
FROM sync_runs
ORDER BY run_id DESC
LIMIT $limit
