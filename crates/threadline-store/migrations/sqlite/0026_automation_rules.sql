-- Automation rules ("when a conversation is created on WhatsApp and the
-- customer is a VIP, assign to the VIP team"): the spec is JSON checked by
-- the domain crate; `position` orders rules that fire on the same event.
CREATE TABLE automation_rules (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    position BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX automation_rules_account ON automation_rules(account_id, trigger_kind, position);

-- Each (rule, event) fires once: this row is written in the same
-- transaction as the rule's actions, and is the rule's log.
CREATE TABLE automation_runs (
    rule_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    conversation_id TEXT NOT NULL,
    -- done, skipped (conditions did not hold is not logged), failed
    outcome TEXT NOT NULL,
    detail TEXT,
    executed_at BIGINT NOT NULL,
    PRIMARY KEY (rule_id, event_id)
);
CREATE INDEX automation_runs_conversation ON automation_runs(account_id, conversation_id, executed_at);
CREATE INDEX automation_runs_rule ON automation_runs(account_id, rule_id, executed_at);
