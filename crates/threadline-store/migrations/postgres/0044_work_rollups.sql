-- Workload and cost are stored per day too (`metrics_rollups`, dim
-- `work`). A day stored before has none: `work_rolled_at` is empty until
-- the roll-up job stores the day again, and until then reports read that
-- day's workload from its messages (its other tallies stay in use).
ALTER TABLE metrics_days ADD COLUMN work_rolled_at BIGINT;
