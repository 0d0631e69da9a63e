-- Orders from the business's shop (threadline_domain::order): what each
-- customer bought, where it is, what became of it.

-- A shop sending signed order webhooks: Shopify or WooCommerce, with the
-- secret its deliveries are signed with (sealed with the installation key).
CREATE TABLE order_sources (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX order_sources_account ON order_sources(account_id);

-- One row per order, the latest version the shop sent. `origin` is the
-- order source's id, or 'api' for the order API; with `external_id` (the
-- shop's id) it names the order. `details` holds the lines, parcels and
-- the customer as the shop knows them (JSON); `shop_updated_at` is the
-- shop's own time of the version, so an older one arriving late is
-- dropped.
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT NOT NULL,
    number TEXT NOT NULL,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    total TEXT NOT NULL,
    details TEXT NOT NULL,
    placed_at BIGINT NOT NULL,
    shop_updated_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT orders_external_unique UNIQUE (account_id, origin, external_id)
);
CREATE INDEX orders_contact ON orders(contact_id, placed_at);
CREATE INDEX orders_number ON orders(account_id, number);
