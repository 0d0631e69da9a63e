-- Returns, exchanges and warranty claims (threadline_domain::after_sales):
-- each one a conversation with the customer, with a status that moves
-- along the workflow. `order_id` names the order it is about, if any.
CREATE TABLE after_sales_requests (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    order_id TEXT REFERENCES orders(id),
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX after_sales_conversation ON after_sales_requests(conversation_id);
CREATE INDEX after_sales_contact ON after_sales_requests(contact_id, created_at);
CREATE INDEX after_sales_status ON after_sales_requests(account_id, status, updated_at);
