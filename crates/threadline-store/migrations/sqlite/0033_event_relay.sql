-- Committed domain events not yet handed to the bus: one row per commit
-- that emitted events, written in that commit, naming its events (ids,
-- comma-separated, in order). The relay reads the oldest rows, publishes
-- their events (read from `events`, so an erased event is not sent) and
-- deletes the rows; a relay that dies first leaves them for the next look.
CREATE TABLE event_relay (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_ids TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
