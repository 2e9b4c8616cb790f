-- Every customer's id and name.
SELECT source, company_id, customer_id, name FROM customers ORDER BY name, customer_id
