-- PostgreSQL's `conversations_contact` now leads with the customer (see the
-- PostgreSQL migration of the same number). SQLite already looks each
-- returning customer up through both of the index's leading columns, so
-- its index stays as it was. Kept as a step so both engines' migrations
-- stay numbered alike.
SELECT 1;
