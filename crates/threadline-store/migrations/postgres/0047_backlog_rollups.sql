-- The backlog (unresolved conversations by status and age) no longer
-- counts every unresolved conversation on each report: the roll-up stores
-- with each day how many of the conversations created that day were
-- unresolved (`metrics_rollups`, dim `backlog`), and a report counts from
-- the conversations only the last eight days and the days changed since
-- they were stored, by ranges of creation time in this index.
CREATE INDEX conversations_backlog ON conversations(account_id, status, created_at);

-- The status index goes back to what lists read (creation time joined it
-- for the backlog alone).
DROP INDEX conversations_account_status;
CREATE INDEX conversations_account_status ON conversations(account_id, status, last_activity_at);

-- The days stored already get their backlog now, as the roll-up would
-- have stored it; a day marked since is counted from its conversations
-- until it is stored again.
INSERT INTO metrics_rollups (account_id, day, dim, key, tally)
SELECT d.account_id, d.day, 'backlog', '',
    '{"open":' || COALESCE(c.open, 0) || ',"pending":' || COALESCE(c.pending, 0) || ',"snoozed":' || COALESCE(c.snoozed, 0)
    || ',"oldest":' || COALESCE(CAST(c.oldest AS TEXT), 'null') || '}'
FROM metrics_days d
LEFT JOIN (
    SELECT account_id, created_at / 86400000000 AS day,
        SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS open,
        SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending,
        SUM(CASE WHEN status = 'snoozed' THEN 1 ELSE 0 END) AS snoozed,
        MIN(created_at) AS oldest
    FROM conversations WHERE status IN ('open', 'pending', 'snoozed')
    GROUP BY account_id, created_at / 86400000000
) AS c ON c.account_id = d.account_id AND c.day = d.day
WHERE d.rolled_at IS NOT NULL AND d.day >= 0
ON CONFLICT (account_id, dim, day, key) DO NOTHING;
