-- Background work on one table (threadline_store::jobs), and customer
-- journeys (threadline_domain::journey) that run on it.

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    account_id TEXT,
    -- At most one pending job per key (e.g. 'journey-run:<run id>').
    dedup_key TEXT UNIQUE,
    payload TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    -- Bumped when the job is asked for again while a worker holds it.
    generation BIGINT NOT NULL DEFAULT 0,
    lease_until BIGINT,
    last_error TEXT,
    dead BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs(run_at);

-- A journey and its versions: editing a live journey adds a version; new
-- runs start on `live_version`, running ones finish on their own.
CREATE TABLE journeys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    version BIGINT NOT NULL,
    live_version BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX journeys_account ON journeys(account_id, status);

CREATE TABLE journey_versions (
    journey_id TEXT NOT NULL REFERENCES journeys(id),
    version BIGINT NOT NULL,
    spec TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (journey_id, version)
);

-- One customer's way through one journey. `step_id` is where it stands;
-- `wake_at` when its wait ends.
CREATE TABLE journey_runs (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    journey_id TEXT NOT NULL REFERENCES journeys(id),
    version BIGINT NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    status TEXT NOT NULL,
    step_id TEXT,
    wake_at BIGINT,
    entered_at BIGINT NOT NULL,
    ended_at BIGINT,
    outcome TEXT,
    trigger_event_id TEXT
);
CREATE INDEX journey_runs_contact ON journey_runs(contact_id, status);
-- One run per triggering event: a trigger looked at twice (after a crash)
-- starts nothing new.
CREATE UNIQUE INDEX journey_runs_trigger ON journey_runs(journey_id, trigger_event_id);
CREATE INDEX journey_runs_journey ON journey_runs(journey_id, status);

-- Each (run, step) happens once: the effect (a send, a task) is written in
-- the same transaction as this row.
CREATE TABLE journey_steps (
    run_id TEXT NOT NULL REFERENCES journey_runs(id),
    step_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    journey_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    channel TEXT,
    detail TEXT,
    message_id TEXT,
    executed_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, step_id)
);
CREATE INDEX journey_steps_journey ON journey_steps(journey_id, step_id);

-- Work for people that journeys (and, later, automations) create.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    team_id TEXT REFERENCES teams(id),
    assignee_id TEXT REFERENCES users(id),
    due_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    journey_id TEXT,
    run_id TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT,
    done_by TEXT
);
CREATE INDEX tasks_open ON tasks(account_id, status, due_at);
CREATE INDEX tasks_contact ON tasks(contact_id);

-- Each account's rules for every journey's sends (quiet hours, caps).
CREATE TABLE journey_settings (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    rules TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
