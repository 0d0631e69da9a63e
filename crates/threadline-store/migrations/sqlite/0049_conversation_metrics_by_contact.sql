-- PostgreSQL's `conversation_metrics_contact` now leads with the customer
-- (see the PostgreSQL migration of the same number). SQLite looks the
-- customer's other conversations up through both of the index's leading
-- columns, so its index stays as it was. Kept as a step so both engines'
-- migrations stay numbered alike.
SELECT 1;
