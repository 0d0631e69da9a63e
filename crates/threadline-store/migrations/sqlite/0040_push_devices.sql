-- Devices of in-app chat users that receive push notifications
-- (threadline_domain::push): registered through the chat API by the app,
-- forgotten when the provider says the token is no longer valid.
CREATE TABLE push_devices (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    inbox_id TEXT NOT NULL REFERENCES inboxes(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    platform TEXT NOT NULL,
    token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_pushed_at BIGINT
);
CREATE UNIQUE INDEX push_devices_token ON push_devices(inbox_id, platform, token);
CREATE INDEX push_devices_contact ON push_devices(contact_id, inbox_id);
