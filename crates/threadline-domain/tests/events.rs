//! Every kind of domain event, as the server emitted it (one file per kind
//! under `tests/events/`, each the `data` of a real event from a test run),
//! read into its typed payload and written back unchanged; and what
//! `DomainEvent::about` finds in it.

use serde_json::Value;
use threadline_domain::event::{DomainEvent, EventKind, Payload};
use threadline_domain::ids::AccountId;

fn fixture(kind: EventKind) -> Value {
    let path = format!("{}/tests/events/{}.json", env!("CARGO_MANIFEST_DIR"), kind.as_str());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e} (every event kind has a fixture)"));
    serde_json::from_str(&text).unwrap()
}

fn stored(kind: EventKind, data: Value) -> DomainEvent {
    DomainEvent {
        id: threadline_domain::ids::EventId::new(),
        account_id: AccountId::new(),
        kind,
        data,
        occurred_at: time::OffsetDateTime::UNIX_EPOCH,
    }
}

/// The string at `pointer` in `data`, if any.
fn at(data: &Value, pointer: &str) -> Option<String> {
    data.pointer(pointer).and_then(Value::as_str).map(str::to_owned)
}

#[test]
fn every_kind_reads_into_its_payload_and_writes_back_the_same_data() {
    for &kind in EventKind::ALL {
        let data = fixture(kind);
        let payload = Payload::read(kind, &data).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(payload.kind(), kind);
        let made = DomainEvent::new(AccountId::new(), payload.clone(), time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!(made.kind, kind);
        assert_eq!(made.data, data, "{kind}: the typed payload loses or adds something");
        assert_eq!(made.payload().unwrap(), payload);
    }
}

#[test]
fn a_payload_of_another_kind_is_refused_with_the_reason() {
    let task = fixture(EventKind::TaskCreated);
    let error = Payload::read(EventKind::MessageCreated, &task).unwrap_err();
    assert!(error.to_string().contains("message"), "{error}");
}

#[test]
fn about_names_the_conversation_customer_inbox_and_people_each_kind_is_about() {
    use EventKind as K;
    for &kind in EventKind::ALL {
        let data = fixture(kind);
        // Where each kind keeps the ids consumers route by.
        let (conversation, contact, inbox) = match kind {
            K::ContactCreated | K::ContactUpdated | K::ContactMerged => (None, "/contact/id", None),
            K::IdentityLinked | K::SegmentEntered | K::SegmentExited => (None, "/contact_id", None),
            K::ConversationCreated
            | K::ConversationUpdated
            | K::ConversationAssigned
            | K::ConversationResolved
            | K::ConversationHandedOff
            | K::SlaBreached => (Some("/conversation/id"), "/conversation/contact_id", None),
            K::MessageCreated | K::MessageUpdated => (Some("/message/conversation_id"), "/message/contact_id", Some("/message/inbox_id")),
            K::InteractionCreated => (Some("/interaction/conversation_id"), "/interaction/contact_id", None),
            K::JourneyEntered | K::JourneyEnded => (None, "/run/contact_id", None),
            K::TaskCreated | K::TaskUpdated => (None, "/task/contact_id", None),
            K::SurveySent | K::SurveyAnswered => (Some("/survey_response/conversation_id"), "/survey_response/contact_id", None),
            K::OrderCreated | K::OrderUpdated => (None, "/order/contact_id", None),
            K::AfterSalesUpdated => (Some("/request/conversation_id"), "/request/contact_id", None),
            K::CallOffered => (Some("/call/conversation_id"), "/call/contact_id", Some("/call/inbox_id")),
        };
        let about = stored(kind, data.clone()).about();
        let want = |pointer: Option<&str>| pointer.and_then(|p| at(&data, p));
        assert!(at(&data, contact).is_some(), "{kind}: the fixture names its customer at {contact}");
        assert_eq!(about.contact_id.map(|c| c.to_string()), at(&data, contact), "{kind}: customer");
        assert_eq!(about.conversation_id.map(|c| c.to_string()), want(conversation), "{kind}: conversation");
        assert_eq!(about.inbox_id.map(|i| i.to_string()), want(inbox), "{kind}: inbox");
        let addressed: Vec<String> = about.addressed_to.iter().map(|u| u.to_string()).collect();
        match kind {
            K::CallOffered => assert_eq!(addressed, vec![at(&data, "/agent_id").unwrap()], "the agent the call rings for"),
            _ => assert!(addressed.is_empty() || kind == K::MessageCreated, "{kind}: {addressed:?}"),
        }
    }
}

#[test]
fn a_note_is_addressed_to_the_colleagues_it_mentions() {
    let mut data = fixture(EventKind::MessageCreated);
    let (paolo, emma) = (threadline_domain::ids::UserId::new(), threadline_domain::ids::UserId::new());
    data["mentions"] = serde_json::json!([paolo, emma]);
    let about = stored(EventKind::MessageCreated, data.clone()).about();
    assert_eq!(about.addressed_to, vec![paolo, emma]);
    match stored(EventKind::MessageCreated, data).payload().unwrap() {
        Payload::MessageCreated(created) => assert_eq!(created.mentions, vec![paolo, emma]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn about_what_it_cannot_read_is_nothing_rather_than_an_error() {
    let about = stored(EventKind::MessageCreated, serde_json::json!({ "message": { "contact_id": "not an id" } })).about();
    assert_eq!(about, Default::default());
    let about = stored(EventKind::ConversationCreated, Value::Null).about();
    assert_eq!(about, Default::default());
}

#[test]
fn the_parts_only_some_events_carry_read_and_write_back_too() {
    use EventKind as K;
    let user = threadline_domain::ids::UserId::new();
    let parts = [
        (K::ConversationAssigned, "routing", serde_json::json!({ "strategy": "least_busy", "reason": "Paolo has the fewest open" })),
        (
            K::ConversationHandedOff,
            "handoff",
            serde_json::json!({ "bot": "Aurora", "reason": "asked_for_human", "category": null, "summary": "Wants a person" }),
        ),
        (K::MessageCreated, "mentions", serde_json::json!([user])),
        (K::SurveyAnswered, "sentiment", serde_json::json!("promoter")),
        (K::AfterSalesUpdated, "from", serde_json::json!("requested")),
    ];
    for (kind, key, value) in parts {
        let mut data = fixture(kind);
        data[key] = value;
        let payload = Payload::read(kind, &data).unwrap_or_else(|e| panic!("{kind} with {key}: {e}"));
        let made = DomainEvent::new(AccountId::new(), payload, time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!(made.data, data, "{kind} with {key}");
        // Without the part, the key is left out rather than written as null.
        let mut without = data.clone();
        without.as_object_mut().unwrap().remove(key);
        let made = DomainEvent::new(AccountId::new(), Payload::read(kind, &without).unwrap(), time::OffsetDateTime::UNIX_EPOCH);
        assert!(made.data.get(key).is_none(), "{kind}: {key} written when absent");
    }
}
