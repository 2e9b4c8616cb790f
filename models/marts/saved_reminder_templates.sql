-- Reminder templates as people edited them (the defaults live in etl/reminder_templates.py).
SELECT source, company_id, stage, kind, days_past_due, subject, body, active, author, recorded_at
FROM reminder_templates
ORDER BY source, company_id, stage
