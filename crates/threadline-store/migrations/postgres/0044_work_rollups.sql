-- Workload and cost are stored per day too (`metrics_rollups`, dim
-- `work`): every day with a message is stored (again) by the roll-up job.
-- Until then reports read those days from their messages, as before.
INSERT INTO metrics_days (account_id, day, marked)
SELECT DISTINCT account_id, created_at / 86400000000, 0 FROM messages WHERE true
ON CONFLICT (account_id, day) DO UPDATE SET marked = 0;
UPDATE metrics_days SET marked = 0 WHERE rolled_at IS NOT NULL;
