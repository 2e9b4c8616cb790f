-- Every monthly review pack emailed, or still 'sending' (the connection broke while the server
-- held it: it may or may not have gone), newest first.
SELECT message_id, month, as_of, company, status, via, recipients, subject, attachment, author, claimed_at, sent_at
FROM pack_deliveries
ORDER BY claimed_at DESC, message_id
