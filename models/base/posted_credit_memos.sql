-- Credit memos that count: posted ones (voided and deleted credit memos count nowhere).
SELECT * FROM credit_memos WHERE status = 'posted'
