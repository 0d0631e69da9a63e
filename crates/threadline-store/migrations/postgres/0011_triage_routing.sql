-- Understanding messages and routing conversations to the right person.

-- What triage understood of each inbound message: its language, sentiment
-- (−100…100), category, and the whole verdict with its reasons (JSON,
-- threadline_domain::triage::Triage).
ALTER TABLE messages ADD COLUMN language TEXT;
ALTER TABLE messages ADD COLUMN sentiment BIGINT;
ALTER TABLE messages ADD COLUMN category TEXT;
ALTER TABLE messages ADD COLUMN triage TEXT;

-- On conversations: the channel and language the customer last wrote in;
-- who handles it (`human`, or `bot` until the bot hands it off); since
-- when it waits in its team's queue; and the instants the SLA clocks are
-- measured from (the first agent reply, the customer's oldest unanswered
-- message, the resolution).
ALTER TABLE conversations ADD COLUMN channel TEXT;
ALTER TABLE conversations ADD COLUMN language TEXT;
ALTER TABLE conversations ADD COLUMN handler TEXT NOT NULL DEFAULT 'human';
ALTER TABLE conversations ADD COLUMN queued_at BIGINT;
ALTER TABLE conversations ADD COLUMN first_response_at BIGINT;
ALTER TABLE conversations ADD COLUMN awaiting_since BIGINT;
ALTER TABLE conversations ADD COLUMN resolved_at BIGINT;
-- The queues: open conversations no agent has yet.
CREATE INDEX conversations_waiting ON conversations(account_id, team_id, queued_at) WHERE status = 'open' AND assignee_id IS NULL;
-- An agent's open conversations: their load, and "mine" in the inbox.
CREATE INDEX conversations_assignee ON conversations(account_id, assignee_id, status);

-- Per agent (JSON): skills with levels ({"language:it": 3}) and capacity
-- per channel ({"email": 10}); and when routing last gave them a conversation.
ALTER TABLE users ADD COLUMN routing TEXT;
ALTER TABLE users ADD COLUMN last_assigned_at BIGINT;

-- Per team (JSON): whether its queue is routed automatically, the
-- strategy, the skills policy, reassignment when agents go offline and
-- the SLA policy (threadline_store::TeamRouting).
ALTER TABLE teams ADD COLUMN routing TEXT;

-- Which team a new conversation goes to: rules in order, the first whose
-- conditions (JSON: category, language, channel, inbox, urgency) all
-- hold sets the team and may raise the priority.
CREATE TABLE routing_rules (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    conditions TEXT NOT NULL,
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    priority TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX routing_rules_account ON routing_rules(account_id, position);

-- Every assignment routing made (or undid), with its reason in words.
CREATE TABLE routing_decisions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    team_id TEXT,
    user_id TEXT,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX routing_decisions_conversation ON routing_decisions(conversation_id, created_at);

-- An account's triage settings (JSON): its keyword rules and the model's
-- confidence threshold. No row: the built-in default rules.
CREATE TABLE triage_settings (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    settings TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The category model learnt from agents' labels, and how training went.
CREATE TABLE triage_models (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    model TEXT NOT NULL,
    report TEXT NOT NULL,
    trained_at BIGINT NOT NULL
);

-- SLA policies (JSON: threadline_domain::sla::SlaPolicy). The default one
-- applies to conversations whose team names none.
CREATE TABLE sla_policies (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    policy TEXT NOT NULL,
    is_default BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT sla_policies_name_unique UNIQUE (account_id, name)
);

-- Each missed target, once: the key makes a breach fire its escalations
-- one time however many nodes check.
CREATE TABLE sla_breaches (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    target TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    breached_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, target, due_at)
);
CREATE INDEX sla_breaches_account ON sla_breaches(account_id, breached_at);

-- Conversations from before: the channel of their latest customer message.
UPDATE conversations SET channel = (
    SELECT m.channel FROM messages m WHERE m.conversation_id = conversations.id AND m.direction = 'inbound'
    ORDER BY m.created_at DESC LIMIT 1
), queued_at = created_at WHERE channel IS NULL;
