-- Each UTC day's tallies once the day is over (threadline_domain::tally),
-- so a year's report reads a few hundred rows instead of every
-- conversation: the whole account's (dim ''), each group's of channel,
-- inbox, team, agent and category (key '' for none), and each UTC hour's
-- (dim 'hour', key 0-23). The tally is JSON.
CREATE TABLE metrics_rollups (
    account_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    dim TEXT NOT NULL,
    key TEXT NOT NULL,
    tally TEXT NOT NULL,
    PRIMARY KEY (account_id, dim, day, key)
);

-- The days with measured conversations: `marked` when a change touched
-- the day since it was stored (NULL once stored again), `valid_until`
-- when a verdict counted as pending ends its window. A day that is
-- marked, or past its validity, is read from the conversations until it
-- is stored again.
CREATE TABLE metrics_days (
    account_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    marked BIGINT,
    rolled_at BIGINT,
    valid_until BIGINT,
    PRIMARY KEY (account_id, day)
);

INSERT INTO metrics_days (account_id, day, marked)
SELECT account_id, day, 0 FROM (
    SELECT account_id, created_at / 86400000000 AS day FROM conversation_metrics
    UNION SELECT account_id, resolved_at / 86400000000 FROM conversation_metrics WHERE resolved_at IS NOT NULL
    UNION SELECT account_id, first_resolved_at / 86400000000 FROM conversation_metrics WHERE first_resolved_at IS NOT NULL
) AS touched;
