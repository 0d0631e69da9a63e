-- A conversation is measured once its changes settle (no change for
-- metrics_quiet_secs), or once it has waited metrics_max_lag_secs since
-- it was first marked — so a busy conversation is not measured again on
-- every refresh. `since` moves with each change; `first_marked` does not.
ALTER TABLE metrics_dirty ADD COLUMN first_marked BIGINT;
UPDATE metrics_dirty SET first_marked = since;
CREATE INDEX metrics_dirty_since ON metrics_dirty(since);
CREATE INDEX metrics_dirty_first ON metrics_dirty(first_marked);
