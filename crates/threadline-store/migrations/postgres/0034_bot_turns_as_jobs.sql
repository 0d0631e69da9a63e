-- A bot's turns are jobs like any other background work: one table, one
-- runner. Jobs of one lane (a conversation's bot turns) run one after
-- another in the order they fell due.
ALTER TABLE jobs ADD COLUMN lane TEXT;
CREATE INDEX jobs_lane ON jobs(lane) WHERE lane IS NOT NULL;
INSERT INTO jobs (id, kind, account_id, dedup_key, payload, run_at, attempts, generation, lease_until, last_error, dead, created_at, lane)
SELECT 'bot-turn:' || message_id, 'bot.turn', account_id, 'bot-turn:' || message_id,
       '{"conversation_id":"' || conversation_id || '","message_id":"' || message_id || '"}',
       next_attempt_at, attempts, 0, NULL, last_error, 0, created_at, conversation_id
FROM bot_jobs WHERE status IN ('queued', 'running');
DROP TABLE bot_jobs;
