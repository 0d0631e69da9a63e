-- Every day with messages has its row, so the roll-up stores its workload
-- and spans of days merge it: days whose only activity was messages (a
-- conversation created the day before) had none before workload was
-- stored per day. Since then new messages' days are marked as they come.
INSERT INTO metrics_days (account_id, day, marked)
SELECT DISTINCT account_id, created_at / 86400000000, 1 FROM messages WHERE true
ON CONFLICT (account_id, day) DO NOTHING;
