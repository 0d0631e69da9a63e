-- A customer's measured conversations, found by the customer alone (the
-- account is checked on each row found). The metrics refresh looks up,
-- for each conversation measured, the same customer's other
-- conversations it decides a verdict for (first-contact resolution,
-- deflection); with the account leading the index PostgreSQL could take
-- the account alone as the index condition (an account newer than its
-- statistics looks small) and walk every measured conversation of the
-- account for each one. Reports' "came back" checks use it the same way.
-- Replaces the index of the same name.
DROP INDEX conversation_metrics_contact;
CREATE INDEX conversation_metrics_contact ON conversation_metrics(contact_id, first_customer_at);
