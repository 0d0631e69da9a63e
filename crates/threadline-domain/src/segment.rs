//! Segments: saved conditions over what Threadline knows of a customer
//! (attributes, consents, tracked events, conversations), with a live list
//! of the customers who meet them.
//!
//! A segment is the same [`Condition`]s journeys branch on, all or any of
//! them. Membership is decided here, from [`ContactFacts`]; the server keeps
//! the member list current (at once when a customer's events arrive, and
//! by a periodic sweep for conditions that lapse as time passes — "visited
//! in the last 7 days") and writes an enter or exit event on each change,
//! which journeys may start on.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::conversation::string_enum;
use crate::journey::{Condition, ContactFacts, check_condition};
use crate::validation::ValidationErrors;

/// At most this many conditions in one segment.
pub const MAX_CONDITIONS: usize = 20;

/// What a segment asks of its members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentSpec {
    /// `all` (default): every condition holds; `any`: at least one does.
    #[serde(default)]
    pub matching: Matching,
    pub conditions: Vec<Condition>,
}

string_enum! {
    Matching {
        All => "all",
        Any => "any",
    }
}

// The enum comes from `string_enum!`, which derives no `Default`.
#[allow(clippy::derivable_impls)]
impl Default for Matching {
    fn default() -> Self {
        Self::All
    }
}

string_enum! {
    /// A change of membership, which journeys may start on.
    SegmentChange {
        Entered => "entered",
        Exited => "exited",
    }
}

#[allow(clippy::derivable_impls)]
impl Default for SegmentChange {
    fn default() -> Self {
        Self::Entered
    }
}

impl SegmentSpec {
    /// Field names point into the spec (`conditions[1].days`).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.conditions.is_empty() {
            errors.push("conditions", "a segment needs at least one condition");
        }
        if self.conditions.len() > MAX_CONDITIONS {
            errors.push("conditions", format!("at most {MAX_CONDITIONS} conditions"));
        }
        for (i, condition) in self.conditions.iter().enumerate() {
            let path = format!("conditions[{i}]");
            if matches!(condition, Condition::InSegment { .. }) {
                // Membership is computed from facts, not from other lists:
                // no cycles, no order of evaluation to get wrong.
                errors.push(format!("{path}.type"), "a segment cannot be defined by another segment");
                continue;
            }
            check_condition(condition, &path, &mut errors);
        }
        errors.into_result(())
    }

    /// Whether a customer with `facts` is a member at `now`.
    pub fn admits(&self, facts: &ContactFacts, now: OffsetDateTime) -> bool {
        match self.matching {
            Matching::All => self.conditions.iter().all(|c| facts.holds(c, now, None)),
            Matching::Any => self.conditions.iter().any(|c| facts.holds(c, now, None)),
        }
    }

    /// Whether deciding needs the customer's tracked events.
    pub fn reads_events(&self) -> bool {
        self.conditions.iter().any(|c| matches!(c, Condition::Did { .. } | Condition::DidNot { .. } | Condition::DidNotSince { .. }))
    }

    /// Whether deciding needs the customer's conversations.
    pub fn reads_conversations(&self) -> bool {
        self.conditions.iter().any(|c| matches!(c, Condition::HasOpenConversation | Condition::Conversations { .. }))
    }
}

/// What changes for a customer who was (or was not) a member and now is
/// (or is not).
pub fn change(was_member: bool, is_member: bool) -> Option<SegmentChange> {
    match (was_member, is_member) {
        (false, true) => Some(SegmentChange::Entered),
        (true, false) => Some(SegmentChange::Exited),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::Duration;

    use super::*;
    use crate::channel::Channel;
    use crate::ids::{ContactId, CustomerEventId};
    use crate::tracking::{CallKind, CustomerEvent};

    fn event(name: &str, ago_days: i64, now: OffsetDateTime) -> CustomerEvent {
        CustomerEvent {
            id: CustomerEventId::new(),
            contact_id: ContactId::new(),
            kind: CallKind::Track,
            name: Some(name.into()),
            properties: Default::default(),
            context: Default::default(),
            message_id: String::new(),
            occurred_at: now - Duration::days(ago_days),
            received_at: now,
        }
    }

    fn spec(value: serde_json::Value) -> SegmentSpec {
        serde_json::from_value(value).expect("a valid segment")
    }

    #[test]
    fn cart_abandoners_are_those_who_started_checkout_and_have_not_ordered_since() {
        let now = OffsetDateTime::now_utc();
        let abandoners = spec(json!({ "conditions": [{
            "type": "did_not_since",
            "event": { "name": "Order Completed" },
            "since": { "name": "Checkout Started" }
        }] }));
        let mut facts = ContactFacts { events: vec![event("Checkout Started", 2, now)], ..Default::default() };
        assert!(abandoners.admits(&facts, now));
        // An order before the checkout does not count…
        facts.events.push(event("Order Completed", 3, now));
        assert!(abandoners.admits(&facts, now));
        // …one after it does.
        facts.events.push(event("Order Completed", 1, now));
        assert!(!abandoners.admits(&facts, now));
        // Never started checkout: not an abandoner.
        assert!(!abandoners.admits(&ContactFacts::default(), now));
    }

    #[test]
    fn frequency_conditions_lapse_as_time_passes() {
        let now = OffsetDateTime::now_utc();
        let keen = spec(json!({ "conditions": [{
            "type": "did", "event": { "kind": "page", "name": "Pricing" }, "times": 2, "days": 7
        }] }));
        let page = |ago| CustomerEvent { kind: CallKind::Page, name: Some("Pricing".into()), ..event("x", ago, now) };
        let facts = ContactFacts { events: vec![page(1), page(5)], ..Default::default() };
        assert!(keen.admits(&facts, now));
        // Three days later the older visit is out of the window.
        assert!(!keen.admits(&facts, now + Duration::days(3)));
    }

    #[test]
    fn any_and_all_combine_attributes_consents_and_conversations() {
        let now = OffsetDateTime::now_utc();
        let conditions = json!([
            { "type": "attribute", "property": "plan", "op": "equals", "value": "pro" },
            { "type": "consent", "channel": "whatsapp", "purpose": "marketing" },
            { "type": "conversations", "channel": "email", "times": 2, "days": 30 }
        ]);
        let all = spec(json!({ "conditions": conditions }));
        let any = spec(json!({ "matching": "any", "conditions": conditions }));
        let mut facts = ContactFacts::default();
        facts.attributes.insert("plan".into(), json!("pro"));
        assert!(!all.admits(&facts, now));
        assert!(any.admits(&facts, now));
        facts.consents.insert((Channel::Whatsapp, "marketing".into()), true);
        facts.conversations = vec![(Channel::Email, now - Duration::days(2)), (Channel::Sms, now - Duration::days(3))];
        assert!(!all.admits(&facts, now), "one email conversation is not two");
        facts.conversations.push((Channel::Email, now - Duration::days(29)));
        assert!(all.admits(&facts, now));
        assert!(all.reads_conversations() && !all.reads_events());
    }

    #[test]
    fn validation_names_the_field_and_refuses_segments_of_segments() {
        let bad = spec(json!({ "conditions": [
            { "type": "did", "event": { "name": "" }, "days": 0 },
            { "type": "in_segment", "segment_id": crate::ids::SegmentId::new() }
        ] }));
        let errors = bad.validate().unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"conditions[0].event.name"), "{fields:?}");
        assert!(fields.contains(&"conditions[0].days"), "{fields:?}");
        assert!(fields.contains(&"conditions[1].type"), "{fields:?}");
        assert!(spec(json!({ "conditions": [] })).validate().is_err());
    }

    #[test]
    fn membership_changes_are_entries_and_exits() {
        assert_eq!(change(false, true), Some(SegmentChange::Entered));
        assert_eq!(change(true, false), Some(SegmentChange::Exited));
        assert_eq!(change(true, true), None);
        assert_eq!(change(false, false), None);
    }
}
