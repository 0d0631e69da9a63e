-- Segments (threadline_domain::segment): saved conditions and the live
-- list of the customers who meet them.
CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    -- Kept with each change of membership, for lists that show counts.
    member_count BIGINT NOT NULL DEFAULT 0,
    -- When the last full sweep finished (conditions that lapse with time).
    refreshed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX segments_account ON segments(account_id, created_at);

CREATE TABLE segment_members (
    segment_id TEXT NOT NULL REFERENCES segments(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    account_id TEXT NOT NULL,
    entered_at BIGINT NOT NULL,
    PRIMARY KEY (segment_id, contact_id)
);
CREATE INDEX segment_members_contact ON segment_members(contact_id);

-- Journeys that start on a date attribute: up to when customers' dates
-- have been looked at (NULL: from the next look on).
ALTER TABLE journeys ADD COLUMN dates_scanned_until BIGINT;
