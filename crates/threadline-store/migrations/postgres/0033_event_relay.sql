-- Committed domain events not yet handed to the bus: one row per commit
-- that emitted events, written in that commit, naming its events (ids,
-- comma-separated, in order). Each node's relay claims the oldest rows
-- with FOR UPDATE SKIP LOCKED, publishes their events (read from
-- `events`, so an erased event is not sent) and deletes the rows in the
-- same transaction; a node that dies first leaves them to the others.
CREATE TABLE event_relay (
    seq BIGSERIAL PRIMARY KEY,
    event_ids TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
