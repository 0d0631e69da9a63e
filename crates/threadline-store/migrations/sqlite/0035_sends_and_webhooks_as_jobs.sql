-- Sends and webhook deliveries are scheduled on the job table too; their
-- own tables stay their records (a send's status and attempts, the
-- delivery log). What was waiting moves over: a send found `sending` is
-- taken up by its job, which fails it as interrupted rather than send twice.
INSERT INTO jobs (id, kind, account_id, dedup_key, payload, run_at, attempts, generation, lease_until, last_error, dead, created_at, lane)
SELECT 'send:' || message_id, 'message.send', account_id, 'send:' || message_id,
       '{"message_id":"' || message_id || '"}', next_attempt_at, 0, 0, NULL, NULL, 0, created_at, NULL
FROM outbound_jobs WHERE status IN ('queued', 'sending');
INSERT INTO jobs (id, kind, account_id, dedup_key, payload, run_at, attempts, generation, lease_until, last_error, dead, created_at, lane)
SELECT 'webhook:' || id, 'webhook.deliver', account_id, 'webhook:' || id,
       '{"delivery_id":"' || id || '"}', next_attempt_at, 0, 0, NULL, NULL, 0, created_at, NULL
FROM webhook_deliveries WHERE status = 'pending';
