-- Autopay periods with the precedence that settles disagreements: an imported roster wins over a
-- manual entry, which wins over an inference; within one, the latest period counts.
SELECT *, CASE provenance WHEN 'imported' THEN 3 WHEN 'manual' THEN 2 ELSE 1 END AS precedence
FROM autopay_enrollments
