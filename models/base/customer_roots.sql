-- Each customer with its top-level ancestor: QuickBooks sub-customers ("Parent:Child", up to five
-- levels) roll up to the root when figures are shown by parent.
WITH RECURSIVE climb AS (
    SELECT source, company_id, customer_id, customer_id AS ancestor_id, 0 AS depth
    FROM customers
    UNION ALL
    SELECT k.source, k.company_id, k.customer_id, c.parent_id, k.depth + 1
    FROM climb k
    JOIN customers c
      ON c.source = k.source AND c.company_id = k.company_id AND c.customer_id = k.ancestor_id
    WHERE c.parent_id IS NOT NULL AND k.depth < 10
)
SELECT source, company_id, customer_id, arg_max(ancestor_id, depth) AS root_id
FROM climb
GROUP BY ALL
