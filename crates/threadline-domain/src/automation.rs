//! Automation rules: "when this happens to a conversation, and these
//! conditions hold, do that" — assign, label, set the priority, answer
//! with a canned reply or a template, send a survey, snooze, resolve
//! (now, or after N days pending), leave a note, remind someone.
//!
//! A rule is decided here, from [`RuleFacts`] (the conversation, the
//! message or survey answer that triggered it, the customer); the server
//! carries its actions out through the same executor journeys use, once
//! per (rule, event). What automation itself changes never triggers
//! automation, so two rules cannot chase each other.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::conversation::{Priority, string_enum};
use crate::ids::{CannedResponseId, SurveyId, TeamId, UserId};
use crate::journey::{Op, lookup};
use crate::segment::Matching;
use crate::validation::ValidationErrors;

/// At most this many conditions, and this many actions, in one rule.
pub const MAX_CONDITIONS: usize = 20;
pub const MAX_ACTIONS: usize = 10;
/// The longest a rule may snooze, or wait before resolving: a year.
pub const MAX_DAYS: u32 = 366;

string_enum! {
    /// What a rule waits for.
    RuleTrigger {
        /// A new conversation (the customer's first message, or one an agent or a journey opened).
        ConversationCreated => "conversation_created",
        /// Any change to a conversation: status, assignee, team, labels, priority.
        ConversationUpdated => "conversation_updated",
        ConversationResolved => "conversation_resolved",
        /// A customer's message (not the agents', bots' or automatic ones).
        MessageReceived => "message_received",
        /// A conversation missed an SLA target.
        SlaMissed => "sla_missed",
        /// The customer answered a survey about a conversation.
        SurveyAnswered => "survey_answered",
    }
}

/// The fields conditions may name, by their first part.
pub const FIELD_ROOTS: [&str; 5] = ["conversation", "message", "contact", "survey", "sla"];

/// A condition on what triggered the rule: `field` is a dotted path into
/// [`RuleFacts`] — `conversation.channel`, `conversation.labels`,
/// `message.text`, `contact.vip`, `survey.score`, `sla.target`…
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCondition {
    pub field: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// What a rule does, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleAction {
    /// To a team, an agent, or both (an agent outside the team is allowed:
    /// the rule's author decides).
    Assign {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        team_id: Option<TeamId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assignee_id: Option<UserId>,
    },
    AddLabel {
        label: String,
    },
    RemoveLabel {
        label: String,
    },
    SetPriority {
        priority: Priority,
    },
    /// Answers on the conversation's channel, by the channel's rules (no
    /// free text outside WhatsApp's window: name a template for that).
    /// Exactly one of `text`, `canned_id` or `template`.
    Reply {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        canned_id: Option<CannedResponseId>,
        /// An approved template's name, in the customer's language if there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        template: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        variables: Vec<String>,
    },
    /// An internal note on the conversation (agents see it, the customer does not).
    Note {
        text: String,
    },
    /// Sends one of the account's surveys about the conversation now (its
    /// throttling still applies).
    SendSurvey {
        survey_id: SurveyId,
    },
    Snooze {
        hours: u32,
    },
    Resolve,
    /// Resolves the conversation `days` from now if it is still pending
    /// and the customer has not written since.
    ResolveIfPending {
        days: u32,
    },
    /// A reminder for a team or an agent, due in `due_in_minutes`.
    Notify {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        team_id: Option<TeamId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assignee_id: Option<UserId>,
        title: String,
        #[serde(default)]
        due_in_minutes: u32,
    },
}

/// A rule as its author writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub when: RuleTrigger,
    /// `all` (default): every condition holds; `any`: at least one does.
    #[serde(default)]
    pub matching: Matching,
    #[serde(default)]
    pub conditions: Vec<RuleCondition>,
    pub actions: Vec<RuleAction>,
}

impl RuleSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.conditions.len() > MAX_CONDITIONS {
            errors.push("conditions", format!("at most {MAX_CONDITIONS} conditions"));
        }
        for (i, condition) in self.conditions.iter().enumerate() {
            let root = condition.field.split('.').next().unwrap_or_default();
            if !FIELD_ROOTS.contains(&root) || condition.field.split('.').any(str::is_empty) {
                errors.push(
                    format!("conditions[{i}].field"),
                    format!("`{}` is not a field: start with one of {}", condition.field, FIELD_ROOTS.join(", ")),
                );
            }
            if !matches!(condition.op, Op::Exists | Op::NotExists) && condition.value.is_none() {
                errors.push(format!("conditions[{i}].value"), "this comparison needs a value");
            }
        }
        if self.actions.is_empty() {
            errors.push("actions", "a rule does at least one thing");
        }
        if self.actions.len() > MAX_ACTIONS {
            errors.push("actions", format!("at most {MAX_ACTIONS} actions"));
        }
        for (i, action) in self.actions.iter().enumerate() {
            let at = |field: &str| format!("actions[{i}].{field}");
            match action {
                RuleAction::Assign { team_id: None, assignee_id: None } => errors.push(at("team_id"), "name a team, an agent or both"),
                RuleAction::AddLabel { label } | RuleAction::RemoveLabel { label } if label.trim().is_empty() || label.len() > 100 => {
                    errors.push(at("label"), "a label of 1 to 100 characters")
                }
                RuleAction::Reply { text, canned_id, template, .. } => {
                    let given = usize::from(text.as_deref().is_some_and(|t| !t.trim().is_empty()))
                        + usize::from(canned_id.is_some())
                        + usize::from(template.as_deref().is_some_and(|t| !t.trim().is_empty()));
                    if given != 1 {
                        errors.push(at("text"), "give exactly one of text, canned_id or template");
                    }
                    if text.as_ref().is_some_and(|t| t.len() > 10_000) {
                        errors.push(at("text"), "at most 10,000 characters");
                    }
                }
                RuleAction::Note { text } if text.trim().is_empty() || text.len() > 10_000 => {
                    errors.push(at("text"), "a note of 1 to 10,000 characters")
                }
                RuleAction::Snooze { hours } if *hours == 0 || *hours > MAX_DAYS * 24 => {
                    errors.push(at("hours"), format!("between 1 and {} hours", MAX_DAYS * 24))
                }
                RuleAction::ResolveIfPending { days } if *days == 0 || *days > MAX_DAYS => {
                    errors.push(at("days"), format!("between 1 and {MAX_DAYS} days"))
                }
                RuleAction::Notify { team_id, assignee_id, title, due_in_minutes } => {
                    if team_id.is_none() && assignee_id.is_none() {
                        errors.push(at("team_id"), "name a team, an agent or both");
                    }
                    if title.trim().is_empty() || title.len() > 500 {
                        errors.push(at("title"), "a title of 1 to 500 characters");
                    }
                    if *due_in_minutes > MAX_DAYS * 24 * 60 {
                        errors.push(at("due_in_minutes"), "at most a year");
                    }
                }
                _ => {}
            }
        }
        if self.actions.iter().filter(|a| matches!(a, RuleAction::Reply { .. })).count() > 1 {
            errors.push("actions", "at most one reply per rule");
        }
        errors.into_result(())
    }

    /// Whether the rule's conditions hold for `facts`.
    pub fn holds(&self, facts: &RuleFacts) -> bool {
        let check = |c: &RuleCondition| c.op.holds(facts.get(&c.field), c.value.as_ref());
        match self.matching {
            Matching::All => self.conditions.iter().all(check),
            Matching::Any => self.conditions.is_empty() || self.conditions.iter().any(check),
        }
    }
}

/// What a rule's conditions read: one JSON object with `conversation`,
/// `contact` and, depending on the trigger, `message`, `survey` or `sla`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleFacts(pub Map<String, Value>);

impl RuleFacts {
    /// The conversation and its customer. Contact attributes (built-in and
    /// custom) sit side by side under `contact`, with `name` and `language`.
    pub fn new(conversation: &crate::conversation::Conversation, contact: &crate::contact::Contact) -> Self {
        let mut facts = Map::new();
        facts.insert("conversation".into(), serde_json::to_value(conversation).unwrap_or_default());
        let mut person = Map::new();
        for (k, v) in contact.custom_attributes.iter().chain(contact.attributes.iter()) {
            person.insert(k.clone(), v.clone());
        }
        if let Some(name) = &contact.name {
            person.insert("name".into(), Value::String(name.clone()));
        }
        if let Some(language) = &contact.language {
            person.insert("language".into(), Value::String(language.clone()));
        }
        facts.insert("contact".into(), Value::Object(person));
        RuleFacts(facts)
    }

    /// Adds what the triggering event carries (`message`, `survey`, `sla`).
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.0.insert(key.to_owned(), value);
        self
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        lookup(&self.0, field)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::contact::Contact;
    use crate::conversation::Conversation;

    fn spec(value: Value) -> RuleSpec {
        serde_json::from_value(value).unwrap()
    }

    fn facts() -> RuleFacts {
        let conversation: Conversation = serde_json::from_value(json!({
            "id": "01a2484d-2e13-763a-8bc8-0c3f63b7a407",
            "contact_id": "01a2484d-2e13-763a-8bc8-0c3f63b7a408",
            "status": "open", "priority": "normal", "assignee_id": null, "team_id": null,
            "labels": ["billing"], "category": "refund", "snoozed_until": null, "channel": "whatsapp",
            "last_activity_at": "2026-03-02T10:00:00Z", "created_at": "2026-03-02T10:00:00Z", "updated_at": "2026-03-02T10:00:00Z"
        }))
        .unwrap();
        let contact: Contact = serde_json::from_value(json!({
            "id": "01a2484d-2e13-763a-8bc8-0c3f63b7a408", "name": "Giulia Rossi", "language": "it",
            "attributes": {}, "custom_attributes": { "vip": true, "lifetime_value": 1800 },
            "preferred_channels": {}, "identities": [], "consents": [],
            "created_at": "2026-03-02T10:00:00Z", "updated_at": "2026-03-02T10:00:00Z"
        }))
        .unwrap();
        RuleFacts::new(&conversation, &contact).with("message", json!({ "text": "Voglio un RIMBORSO subito", "channel": "whatsapp" }))
    }

    #[test]
    fn conditions_read_the_conversation_the_message_and_the_customer() {
        let rule = spec(json!({
            "when": "message_received",
            "conditions": [
                { "field": "conversation.channel", "op": "equals", "value": "whatsapp" },
                { "field": "conversation.labels", "op": "contains", "value": "billing" },
                { "field": "message.text", "op": "contains", "value": "rimborso" },
                { "field": "contact.vip", "op": "equals", "value": true },
                { "field": "contact.lifetime_value", "op": "greater_than", "value": 1000 }
            ],
            "actions": [{ "type": "set_priority", "priority": "high" }]
        }));
        assert!(rule.validate().is_ok());
        assert!(rule.holds(&facts()));

        let mut other = rule.clone();
        other.conditions[0].value = Some(json!("email"));
        assert!(!other.holds(&facts()), "all conditions must hold");
        other.matching = Matching::Any;
        assert!(other.holds(&facts()), "any: one is enough");

        let absent = spec(json!({
            "when": "message_received",
            "conditions": [{ "field": "survey.score", "op": "less_than", "value": 3 }],
            "actions": [{ "type": "resolve" }]
        }));
        assert!(!absent.holds(&facts()), "a missing field does not compare");
        let none = spec(json!({ "when": "conversation_created", "actions": [{ "type": "resolve" }] }));
        assert!(none.holds(&facts()), "no conditions: always");
    }

    #[test]
    fn a_rule_is_checked_before_it_is_saved() {
        let bad = spec(json!({
            "when": "conversation_created",
            "conditions": [
                { "field": "customer.vip", "op": "equals", "value": true },
                { "field": "contact.vip", "op": "equals" }
            ],
            "actions": [
                { "type": "assign" },
                { "type": "reply", "text": "Hi", "template": "welcome" },
                { "type": "snooze", "hours": 0 },
                { "type": "resolve_if_pending", "days": 400 },
                { "type": "notify", "title": " " }
            ]
        }));
        let errors = bad.validate().unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        for expected in [
            "conditions[0].field",
            "conditions[1].value",
            "actions[0].team_id",
            "actions[1].text",
            "actions[2].hours",
            "actions[3].days",
            "actions[4].team_id",
            "actions[4].title",
        ] {
            assert!(fields.contains(&expected), "{expected} missing from {fields:?}");
        }
        let empty = spec(json!({ "when": "sla_missed", "actions": [] }));
        assert!(empty.validate().is_err());
        assert!(serde_json::from_value::<RuleSpec>(json!({ "when": "sometime", "actions": [] })).is_err());
        assert!(serde_json::from_value::<RuleSpec>(json!({ "when": "sla_missed", "actions": [{ "type": "launch_rocket" }] })).is_err());
    }
}
