//! The workspace's segment pages: the list with each segment's count, and
//! one segment's page — its conditions in words, who is in it now, and its
//! definition to edit.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use threadline_domain::ids::SegmentId;
use threadline_domain::journey::Condition;
use threadline_domain::role::Permission;
use threadline_domain::segment::Matching;
use threadline_store::{Segment, SegmentMember};

use super::i18n::{Lang, Texts};
use super::journeys::describe_filter;
use super::{Top, page, signed_in, user_lang};
use crate::app::AppState;
use crate::error::ApiError;

/// The words of the segment pages.
pub struct SegmentTexts {
    pub segments: &'static str,
    pub new_segment: &'static str,
    pub start_from: &'static str,
    pub members: &'static str,
    pub conditions: &'static str,
    pub all_of: &'static str,
    pub any_of: &'static str,
    pub refreshed: &'static str,
    pub never: &'static str,
    pub entered: &'static str,
    pub none_yet: &'static str,
    pub nobody: &'static str,
    pub definition: &'static str,
    pub definition_hint: &'static str,
    pub save: &'static str,
    pub delete: &'static str,
    pub delete_confirm: &'static str,
    pub starter_names: [(&'static str, &'static str); 4],
    // Conditions in words.
    pub did: &'static str,
    pub times_in_days: &'static str,
    pub did_not: &'static str,
    pub in_days: &'static str,
    pub since: &'static str,
    pub consent: &'static str,
    pub open_conversation: &'static str,
    pub conversations: &'static str,
    pub in_segment: &'static str,
}

const EN: SegmentTexts = SegmentTexts {
    segments: "Segments",
    new_segment: "New segment",
    start_from: "Start from",
    members: "Members",
    conditions: "Conditions",
    all_of: "All of these",
    any_of: "Any of these",
    refreshed: "Last full look",
    never: "not yet",
    entered: "entered",
    none_yet: "No segments yet.",
    nobody: "Nobody is in this segment now.",
    definition: "Definition",
    definition_hint: "The conditions as JSON: attribute, did, did_not, did_not_since, consent, has_open_conversation, conversations.",
    save: "Save",
    delete: "Delete",
    delete_confirm: "Delete this segment?",
    starter_names: [
        ("pricing", "Visited the pricing page twice in 7 days"),
        ("abandoners", "Started checkout and has not ordered since"),
        ("whatsapp_marketing", "Agreed to marketing on WhatsApp"),
        ("email_heavy", "Two or more email conversations in 30 days"),
    ],
    did: "did",
    times_in_days: "times in the last {d} days",
    did_not: "did not do",
    in_days: "in the last {d} days",
    since: "since",
    consent: "agreed to",
    open_conversation: "has an open conversation",
    conversations: "conversations in the last {d} days",
    in_segment: "is in segment",
};

const IT: SegmentTexts = SegmentTexts {
    segments: "Segmenti",
    new_segment: "Nuovo segmento",
    start_from: "Parti da",
    members: "Membri",
    conditions: "Condizioni",
    all_of: "Tutte queste",
    any_of: "Almeno una di queste",
    refreshed: "Ultimo controllo completo",
    never: "non ancora",
    entered: "entrato",
    none_yet: "Ancora nessun segmento.",
    nobody: "Nessuno è in questo segmento ora.",
    definition: "Definizione",
    definition_hint: "Le condizioni in JSON: attribute, did, did_not, did_not_since, consent, has_open_conversation, conversations.",
    save: "Salva",
    delete: "Elimina",
    delete_confirm: "Eliminare questo segmento?",
    starter_names: [
        ("pricing", "Ha visto la pagina prezzi due volte in 7 giorni"),
        ("abandoners", "Ha iniziato il checkout e non ha ordinato da allora"),
        ("whatsapp_marketing", "Ha accettato il marketing su WhatsApp"),
        ("email_heavy", "Due o più conversazioni email in 30 giorni"),
    ],
    did: "ha fatto",
    times_in_days: "volte negli ultimi {d} giorni",
    did_not: "non ha fatto",
    in_days: "negli ultimi {d} giorni",
    since: "da quando ha fatto",
    consent: "ha accettato",
    open_conversation: "ha una conversazione aperta",
    conversations: "conversazioni negli ultimi {d} giorni",
    in_segment: "è nel segmento",
};

pub fn texts(lang: Lang) -> &'static SegmentTexts {
    match lang {
        Lang::En => &EN,
        Lang::It => &IT,
    }
}

/// Segments a new one may start from.
pub fn starters() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "pricing",
            serde_json::json!({ "conditions": [ { "type": "did", "times": 2, "days": 7,
                "event": { "kind": "page", "properties": [ { "property": "path", "op": "starts_with", "value": "/pricing" } ] } } ] }),
        ),
        (
            "abandoners",
            serde_json::json!({ "conditions": [ { "type": "did_not_since", "event": { "name": "Order Completed" }, "since": { "name": "Checkout Started" } } ] }),
        ),
        (
            "whatsapp_marketing",
            serde_json::json!({ "conditions": [ { "type": "consent", "channel": "whatsapp", "purpose": "marketing" } ] }),
        ),
        ("email_heavy", serde_json::json!({ "conditions": [ { "type": "conversations", "channel": "email", "times": 2, "days": 30 } ] })),
    ]
}

/// A condition in the reader's language.
pub fn describe(s: &SegmentTexts, condition: &Condition, segments: &[Segment]) -> String {
    match condition {
        Condition::Attribute { condition } => {
            let value = condition.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
            format!("{} {} {value}", condition.property, condition.op)
        }
        Condition::Did { event, times, days } => {
            format!("{} {} ≥ {times} {}", s.did, describe_filter(event), s.times_in_days.replace("{d}", &days.to_string()))
        }
        Condition::DidNot { event, days } => {
            format!("{} {} {}", s.did_not, describe_filter(event), s.in_days.replace("{d}", &days.to_string()))
        }
        Condition::DidNotSince { event, since } => {
            format!("{} {} {} {}", s.did_not, describe_filter(event), s.since, describe_filter(since))
        }
        Condition::Consent { channel, purpose } => format!("{} {purpose} · {channel}", s.consent),
        Condition::HasOpenConversation => s.open_conversation.to_owned(),
        Condition::Conversations { channel, times, days } => {
            let on = channel.map(|c| format!(" {c}")).unwrap_or_default();
            format!("≥ {times}{on} {}", s.conversations.replace("{d}", &days.to_string()))
        }
        Condition::InSegment { segment_id } => {
            let name = segments.iter().find(|x| x.id == *segment_id).map_or_else(|| segment_id.to_string(), |x| x.name.clone());
            format!("{} “{name}”", s.in_segment)
        }
    }
}

/// An instant to the minute, in UTC (`2026-03-02 09:40 UTC`).
pub(super) fn utc_minute(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), t.month() as u8, t.day(), t.hour(), t.minute())
}

fn when(at: Option<time::OffsetDateTime>, s: &SegmentTexts) -> String {
    at.map(utc_minute).unwrap_or_else(|| s.never.to_owned())
}

struct Row {
    id: SegmentId,
    name: String,
    matching: &'static str,
    conditions: Vec<String>,
    members: i64,
    refreshed: String,
}

#[derive(Template)]
#[template(path = "segments.html")]
struct ListPage<'a> {
    t: &'a Texts,
    s: &'static SegmentTexts,
    lang: &'a str,
    top: Top<'a>,
    rows: Vec<Row>,
    starters: Vec<(String, &'static str)>,
}

fn rows(s: &'static SegmentTexts, segments: &[Segment]) -> Vec<Row> {
    segments
        .iter()
        .map(|segment| Row {
            id: segment.id,
            name: segment.name.clone(),
            matching: if segment.spec.matching == Matching::Any { s.any_of } else { s.all_of },
            conditions: segment.spec.conditions.iter().map(|c| describe(s, c, segments)).collect(),
            members: segment.members,
            refreshed: when(segment.refreshed_at, s),
        })
        .collect()
}

pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    if !session.user.role.allows(Permission::SuperviseContacts) {
        return ApiError::Forbidden("segments are for supervisors and administrators".into()).into_response();
    }
    let lang = user_lang(&session, &headers);
    let s = texts(lang);
    let segments = match state.store.segments(session.user.account_id).await {
        Ok(list) => list,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let starters = starters()
        .into_iter()
        .map(|(key, spec)| (spec.to_string(), s.starter_names.iter().find(|(k, _)| *k == key).map_or("", |(_, n)| *n)))
        .collect();
    page(&ListPage { t: lang.texts(), s, lang: lang.code(), top: Top::of(&session, lang), rows: rows(s, &segments), starters })
}

#[derive(Template)]
#[template(path = "segment.html")]
struct DetailPage<'a> {
    t: &'a Texts,
    s: &'static SegmentTexts,
    lang: &'a str,
    top: Top<'a>,
    row: Row,
    members: Vec<(SegmentMember, String)>,
    spec_json: String,
}

pub async fn detail(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<SegmentId>) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    if !session.user.role.allows(Permission::SuperviseContacts) {
        return ApiError::Forbidden("segments are for supervisors and administrators".into()).into_response();
    }
    let lang = user_lang(&session, &headers);
    let s = texts(lang);
    let account_id = session.user.account_id;
    let loaded = async {
        let segments = state.store.segments(account_id).await?;
        let segment = state.store.segment(account_id, id).await?;
        let members = state.store.segment_members(account_id, id, None, 200).await?;
        Ok::<_, threadline_store::StoreError>((segments, segment, members))
    }
    .await;
    let (segments, segment, members) = match loaded {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let row = rows(s, &segments).into_iter().find(|r| r.id == id).unwrap_or_else(|| rows(s, std::slice::from_ref(&segment)).remove(0));
    let members = members.into_iter().map(|m| (m.clone(), when(Some(m.entered_at), s))).collect();
    let spec_json = serde_json::to_string_pretty(&segment.spec).unwrap_or_default();
    page(&DetailPage { t: lang.texts(), s, lang: lang.code(), top: Top::of(&session, lang), row, members, spec_json })
}
