//! Customer events in: what customers do on a site or in an app, received
//! as the Segment HTTP Tracking API's calls (`track`, `identify`, `page`,
//! `screen`, `group`, `alias` and `batch`), so that sites and apps already
//! sending Segment calls can point their libraries at Threadline unchanged.
//!
//! This module reads a call's JSON into a [`Call`] (checking it as Segment
//! documents: an identifier on every call, an `event` on a track, 32 KB per
//! call and 500 KB per batch), corrects the sender's clock skew, and decides
//! how a call's identifiers find their contact ([`plan`]).
//!
//! Identifiers from a tracking call are claims, not proof: a site's write
//! key is public in its pages. So a tracking call never joins two known
//! customers: only a contact that is nothing but anonymous activity (its
//! identities are tracking anonymous ids, and it has no conversations) is
//! folded into the customer who identifies. Anonymous ids are stored with
//! the [`ANONYMOUS_PREFIX`] so that no tracking call can name a chat
//! visitor's identity.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::conversation::string_enum;
use crate::identity::{IdentityKind, NormalizedIdentity, Region};
use crate::ids::{ContactId, CustomerEventId};
use crate::validation::ValidationErrors;

/// The largest call, serialised (Segment: "32KB per call").
pub const MAX_CALL_BYTES: usize = 32 * 1024;
/// The largest batch request (Segment: "500KB per batch").
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Identifiers, event and page names: at most this many characters.
pub const MAX_ID_CHARS: usize = 255;
/// A web-visitor identity made from a tracking call's `anonymousId`.
pub const ANONYMOUS_PREFIX: &str = "anon:";
/// A timestamp further ahead of the server's clock than this is taken as
/// the time of receipt (a sender's clock gone wrong must not schedule the
/// future).
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);

string_enum! {
    /// The Segment call types.
    CallKind {
        Track => "track",
        Identify => "identify",
        Page => "page",
        Screen => "screen",
        Group => "group",
        Alias => "alias",
    }
}

pub type JsonMap = Map<String, Value>;

/// One checked call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub kind: CallKind,
    /// The sender's id for deduplication; generated when absent.
    pub message_id: String,
    /// Whether `message_id` came from the sender (only then does a repeat
    /// count as a duplicate).
    pub message_id_given: bool,
    pub anonymous_id: Option<String>,
    pub user_id: Option<String>,
    /// `alias`: the id the user had before.
    pub previous_id: Option<String>,
    /// `group`: the group's id.
    pub group_id: Option<String>,
    /// `track`: the event; `page`/`screen`: the page's name, if given.
    pub name: Option<String>,
    /// `track`/`page`/`screen`: properties; `identify`/`group`: traits.
    pub properties: JsonMap,
    pub context: JsonMap,
    /// When it happened, corrected for the sender's clock skew.
    pub occurred_at: OffsetDateTime,
}

/// Why a whole request was refused (as opposed to one call in a batch).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Malformed(String),
}

/// Reads one call. `kind` comes from the path (`/v1/track`) or, in a batch,
/// from the call's `type`; `shared_context` is a batch's `context`, merged
/// under the call's own.
pub fn parse_call(
    value: Value,
    kind: Option<CallKind>,
    shared_context: Option<&JsonMap>,
    received_at: OffsetDateTime,
) -> Result<Call, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let Value::Object(mut object) = value else {
        return Err(ValidationErrors::single("", "a call is a JSON object"));
    };
    let kind = match (kind, object.get("type")) {
        (Some(kind), _) => kind,
        (None, Some(Value::String(t))) => match CallKind::parse(&t.to_ascii_lowercase()) {
            Some(kind) => kind,
            None => return Err(ValidationErrors::single("type", format!("unknown call type `{t}`"))),
        },
        (None, _) => return Err(ValidationErrors::single("type", "each call in a batch needs its `type`")),
    };

    let anonymous_id = identifier(&object, "anonymousId", &mut errors);
    let user_id = identifier(&object, "userId", &mut errors);
    let previous_id = identifier(&object, "previousId", &mut errors);
    let group_id = identifier(&object, "groupId", &mut errors);
    let message_id = identifier(&object, "messageId", &mut errors);

    match kind {
        CallKind::Alias => {
            if previous_id.is_none() {
                errors.push("previousId", "an alias call needs `previousId`");
            }
            if user_id.is_none() {
                errors.push("userId", "an alias call needs `userId`");
            }
        }
        _ if anonymous_id.is_none() && user_id.is_none() => errors.push("userId", "every call needs a `userId` or an `anonymousId`"),
        _ => {}
    }
    if kind == CallKind::Group && group_id.is_none() {
        errors.push("groupId", "a group call needs `groupId`");
    }

    let name = match kind {
        CallKind::Track => match object.get("event") {
            Some(Value::String(e)) if !e.trim().is_empty() && e.chars().count() <= MAX_ID_CHARS => Some(e.trim().to_owned()),
            Some(Value::String(e)) if !e.trim().is_empty() => {
                errors.push("event", format!("must be at most {MAX_ID_CHARS} characters"));
                None
            }
            _ => {
                errors.push("event", "a track call needs its `event` name");
                None
            }
        },
        CallKind::Page | CallKind::Screen => match object.get("name") {
            Some(Value::String(n)) if n.chars().count() <= MAX_ID_CHARS => Some(n.trim().to_owned()).filter(|n| !n.is_empty()),
            Some(Value::String(_)) => {
                errors.push("name", format!("must be at most {MAX_ID_CHARS} characters"));
                None
            }
            Some(Value::Null) | None => None,
            Some(_) => {
                errors.push("name", "must be a string");
                None
            }
        },
        _ => None,
    };

    let field = match kind {
        CallKind::Identify | CallKind::Group => "traits",
        _ => "properties",
    };
    let mut properties = object_field(&mut object, field, &mut errors);
    // Segment's libraries also put traits in `context.traits` on identify;
    // and a page's name and category live beside its properties.
    let mut context = object_field(&mut object, "context", &mut errors);
    if let Some(shared) = shared_context {
        for (k, v) in shared {
            context.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if kind == CallKind::Identify
        && let Some(Value::Object(traits)) = context.get("traits")
    {
        for (k, v) in traits {
            properties.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if matches!(kind, CallKind::Page | CallKind::Screen)
        && let Some(Value::String(category)) = object.get("category")
    {
        properties.entry("category").or_insert_with(|| Value::String(category.clone()));
    }

    let timestamp = time_field(&object, "timestamp", &mut errors).or_else(|| time_field(&object, "originalTimestamp", &mut errors));
    let sent_at = time_field(&object, "sentAt", &mut errors);
    errors.into_result(())?;

    Ok(Call {
        kind,
        message_id_given: message_id.is_some(),
        message_id: message_id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        anonymous_id,
        user_id,
        previous_id,
        group_id,
        name,
        properties,
        context,
        occurred_at: corrected_time(timestamp, sent_at, received_at),
    })
}

/// A batch request's calls, each read on its own: one bad call does not
/// refuse the others (the sender's library would retry the whole batch
/// forever). The request itself must be a JSON object with a `batch` array.
pub fn parse_batch(value: Value, received_at: OffsetDateTime) -> Result<Vec<Result<Call, ValidationErrors>>, RequestError> {
    let Value::Object(mut object) = value else { return Err(RequestError::Malformed("a batch is a JSON object".into())) };
    let Some(Value::Array(items)) = object.remove("batch") else {
        return Err(RequestError::Malformed("a batch request needs a `batch` array of calls".into()));
    };
    let shared = match object.remove("context") {
        Some(Value::Object(context)) => Some(context),
        _ => None,
    };
    Ok(items
        .into_iter()
        .map(|item| {
            let size = serialized_size(&item);
            if size > MAX_CALL_BYTES {
                return Err(ValidationErrors::single("", format!("a call is at most {MAX_CALL_BYTES} bytes; this one is {size}")));
            }
            parse_call(item, None, shared.as_ref(), received_at)
        })
        .collect())
}

/// How many bytes `value` takes as compact JSON, counted without writing it.
fn serialized_size(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

/// Segment's clock-skew correction: when a call carries both the time it
/// happened (`timestamp`, by the sender's clock) and the time it was sent
/// (`sentAt`, by the same clock), it happened `sentAt - timestamp` before
/// it arrived. Without `sentAt` the timestamp is taken as is; without
/// either, the time of receipt. A time more than [`MAX_FUTURE_SKEW`] ahead
/// is taken as the time of receipt.
pub fn corrected_time(timestamp: Option<OffsetDateTime>, sent_at: Option<OffsetDateTime>, received_at: OffsetDateTime) -> OffsetDateTime {
    let at = match (timestamp, sent_at) {
        (Some(ts), Some(sent)) => received_at - (sent - ts),
        (Some(ts), None) => ts,
        (None, _) => received_at,
    };
    if at > received_at + MAX_FUTURE_SKEW { received_at } else { at }
}

/// An identifier: a string or a number (Segment's libraries send numeric
/// user ids as numbers), 1–255 characters.
fn identifier(object: &JsonMap, key: &str, errors: &mut ValidationErrors) -> Option<String> {
    let text = match object.get(key) {
        None | Some(Value::Null) => return None,
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            errors.push(key, "must be a string or a number");
            return None;
        }
    };
    if text.is_empty() {
        return None;
    }
    if text.chars().count() > MAX_ID_CHARS || text.chars().any(char::is_control) {
        errors.push(key, format!("must be at most {MAX_ID_CHARS} characters, with no control characters"));
        return None;
    }
    Some(text)
}

fn object_field(object: &mut JsonMap, key: &str, errors: &mut ValidationErrors) -> JsonMap {
    match object.remove(key) {
        None | Some(Value::Null) => JsonMap::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            errors.push(key, "must be an object");
            JsonMap::new()
        }
    }
}

/// An ISO 8601 time. Segment's own examples write unpadded dates
/// (`2015-2-02T00:30:08.276Z`), so single-digit months, days and hours
/// are padded before reading.
fn time_field(object: &JsonMap, key: &str, errors: &mut ValidationErrors) -> Option<OffsetDateTime> {
    match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match parse_time(s) {
            Some(t) => Some(t),
            None => {
                errors.push(key, "must be an ISO 8601 time with a zone, e.g. 2026-12-02T00:30:08.276Z");
                None
            }
        },
        Some(_) => {
            errors.push(key, "must be an ISO 8601 time string");
            None
        }
    }
}

pub fn parse_time(raw: &str) -> Option<OffsetDateTime> {
    let raw = raw.trim();
    if let Ok(t) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Some(t);
    }
    // Pad the date's and time's numeric fields: 2015-2-2T0:30:08Z.
    let (date, rest) = raw.split_once(['T', 't', ' '])?;
    let mut parts = date.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let time_end = rest.find(|c: char| !(c.is_ascii_digit() || c == ':'))?;
    let (clock, tail) = rest.split_at(time_end);
    let mut clock_parts = clock.split(':');
    let (h, min, sec) = (clock_parts.next()?, clock_parts.next()?, clock_parts.next().unwrap_or("00"));
    let pad = |s: &str| if s.len() == 1 { format!("0{s}") } else { s.to_owned() };
    let fixed = format!("{y}-{}-{}T{}:{}:{}{tail}", pad(m), pad(d), pad(h), pad(min), pad(sec));
    OffsetDateTime::parse(&fixed, &Rfc3339).ok()
}

/// An identity a call names, and whether it may decide whose the call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub identity: NormalizedIdentity,
    /// A user id or anonymous id decides; an e-mail address or phone number
    /// from traits decides only when the source is trusted (a server's
    /// secret write key, not a key published in a web page). An undecisive
    /// claim only enriches the contact the call belongs to, when nobody
    /// holds it yet.
    pub decisive: bool,
}

/// The identities a call names, the most certain first: the site's user id
/// (`userId`, as `external_id`), then, on `identify`, the e-mail address and
/// phone number in its traits, then the anonymous id (on `alias`, the
/// `previousId` read as an anonymous id).
pub fn claimed_identities(call: &Call, region: Region, trusted_source: bool) -> Vec<Claim> {
    let mut out: Vec<Claim> = Vec::new();
    let mut push = |kind: IdentityKind, raw: &str, decisive: bool| {
        if let Ok(identity) = NormalizedIdentity::parse(kind, raw, region)
            && !out.iter().any(|c| c.identity == identity)
        {
            out.push(Claim { identity, decisive });
        }
    };
    if let Some(user) = &call.user_id {
        push(IdentityKind::ExternalId, user, true);
    }
    if call.kind == CallKind::Identify {
        if let Some(Value::String(email)) = call.properties.get("email") {
            push(IdentityKind::Email, email, trusted_source);
        }
        if let Some(Value::String(phone)) = call.properties.get("phone") {
            push(IdentityKind::Phone, phone, trusted_source);
        }
    }
    if let Some(anonymous) = &call.anonymous_id {
        push(IdentityKind::WebVisitor, &format!("{ANONYMOUS_PREFIX}{anonymous}"), true);
    }
    if call.kind == CallKind::Alias
        && let Some(previous) = &call.previous_id
    {
        push(IdentityKind::WebVisitor, &format!("{ANONYMOUS_PREFIX}{previous}"), true);
    }
    out
}

/// Who holds an identity a call claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub contact_id: ContactId,
    /// The contact is only anonymous activity: no identities but tracking
    /// anonymous ids, and no conversations.
    pub anonymous: bool,
}

/// How a call's identities find their contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The contact the call belongs to; `None`: a new one.
    pub contact: Option<ContactId>,
    /// Anonymous contacts to fold into it (their events and journeys move).
    pub fold: Vec<ContactId>,
    /// Identities to give it (claimed, and nobody's yet).
    pub link: Vec<NormalizedIdentity>,
    /// Identities left alone because another known customer holds them.
    pub contested: Vec<NormalizedIdentity>,
}

/// Whether [`plan`] needs to know which holders are anonymous: only when
/// the claimed identities are held by more than one contact. With one
/// holder (or none) the call belongs to it whatever it is, and nothing is
/// folded — so the store need not look.
pub fn anonymity_matters(holders: &[Option<ContactId>]) -> bool {
    let mut held = holders.iter().flatten();
    match held.next() {
        Some(first) => held.any(|other| other != first),
        None => false,
    }
}

/// Decides, from each claimed identity (most certain first) and its holder,
/// which contact a call belongs to. The most certain decisive identity held
/// by a known customer wins; anonymous holders are folded into it;
/// identities held by other known customers are never moved (a tracking
/// call cannot join two customers); unheld identities are linked.
pub fn plan(claims: &[(Claim, Option<Holder>)]) -> Plan {
    let decisive = || claims.iter().filter(|(c, _)| c.decisive);
    let known = decisive().find_map(|(_, h)| h.filter(|h| !h.anonymous).map(|h| h.contact_id));
    let contact = known.or_else(|| decisive().find_map(|(_, h)| h.map(|h| h.contact_id)));
    let mut plan = Plan { contact, fold: Vec::new(), link: Vec::new(), contested: Vec::new() };
    for (claim, holder) in claims {
        match holder {
            None => plan.link.push(claim.identity.clone()),
            Some(h) if Some(h.contact_id) == contact => {}
            Some(h) if h.anonymous && claim.decisive => {
                if !plan.fold.contains(&h.contact_id) {
                    plan.fold.push(h.contact_id);
                }
            }
            Some(_) => plan.contested.push(claim.identity.clone()),
        }
    }
    plan
}

/// What an `identify` call's traits change on its contact: the name, the
/// language and time zone (from the traits or the call's context), and the
/// rest of the traits as custom attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraitChanges {
    pub name: Option<String>,
    pub language: Option<String>,
    pub time_zone: Option<String>,
    pub custom_attributes: JsonMap,
}

/// Traits that are identities or the contact's own fields, not custom attributes.
const RESERVED_TRAITS: [&str; 7] = ["email", "phone", "name", "firstName", "lastName", "timezone", "language"];

pub fn trait_changes(call: &Call) -> TraitChanges {
    let mut changes = TraitChanges::default();
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let traits = &call.properties;
    changes.name = text(traits.get("name")).or_else(|| {
        let first = text(traits.get("firstName"));
        let last = text(traits.get("lastName"));
        match (first, last) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (f, l) => f.or(l),
        }
    });
    changes.name = changes.name.map(|n| n.chars().take(200).collect());
    let locale = text(traits.get("language")).or_else(|| text(call.context.get("locale")));
    changes.language = locale.and_then(|l| {
        let primary = l.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        (primary.len() == 2 && primary.chars().all(|c| c.is_ascii_lowercase())).then_some(primary)
    });
    changes.time_zone = text(traits.get("timezone")).or_else(|| text(call.context.get("timezone"))).filter(|z| z.len() <= 64);
    if call.kind == CallKind::Identify {
        for (k, v) in traits {
            if !RESERVED_TRAITS.contains(&k.as_str()) && k.chars().count() <= 100 {
                changes.custom_attributes.insert(k.clone(), v.clone());
            }
        }
    }
    changes
}

/// A stored customer event, as the API and the timeline show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerEvent {
    pub id: CustomerEventId,
    pub contact_id: ContactId,
    pub kind: CallKind,
    /// The event (`track`) or page/screen name.
    pub name: Option<String>,
    #[schema(value_type = Object)]
    pub properties: JsonMap,
    #[schema(value_type = Object)]
    pub context: JsonMap,
    pub message_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

impl CustomerEvent {
    /// A page's or screen's address: its `url`, else its `path`, else its name.
    pub fn page(&self) -> Option<&str> {
        ["url", "path"].iter().find_map(|k| self.properties.get(*k).and_then(Value::as_str)).or(self.name.as_deref())
    }
}

/// What the customer panel shows of a contact's activity: the latest
/// pages, what is in the cart now, and the latest orders — read from the
/// events named as Segment's e-commerce spec names them (`Product Added`,
/// `Product Removed`, `Order Completed`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivitySummary {
    /// (page, when), newest first.
    pub pages: Vec<(String, OffsetDateTime)>,
    /// Products added since the last order and not removed: (name, when added).
    pub cart: Vec<(String, OffsetDateTime)>,
    /// (order id, total with currency, when), newest first.
    pub orders: Vec<(String, String, OffsetDateTime)>,
}

pub const PRODUCT_ADDED: &str = "Product Added";
pub const PRODUCT_REMOVED: &str = "Product Removed";
pub const ORDER_COMPLETED: &str = "Order Completed";

/// Summarises `events` (newest first, as listed), keeping `keep` of each.
pub fn summarize(events: &[CustomerEvent], keep: usize) -> ActivitySummary {
    let mut summary = ActivitySummary::default();
    let text = |e: &CustomerEvent, keys: &[&str]| {
        keys.iter().find_map(|k| match e.properties.get(*k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    let mut removed: Vec<String> = Vec::new();
    let mut cart_closed = false;
    for e in events {
        match (e.kind, e.name.as_deref()) {
            (CallKind::Page | CallKind::Screen, _) if summary.pages.len() < keep => {
                if let Some(page) = e.page() {
                    summary.pages.push((page.to_owned(), e.occurred_at));
                }
            }
            (CallKind::Track, Some(ORDER_COMPLETED)) => {
                cart_closed = true;
                if summary.orders.len() < keep {
                    let id = text(e, &["order_id", "checkout_id"]).unwrap_or_default();
                    let total = text(e, &["total", "revenue", "value"]).unwrap_or_default();
                    let currency = text(e, &["currency"]).unwrap_or_default();
                    summary.orders.push((id, format!("{total} {currency}").trim().to_owned(), e.occurred_at));
                }
            }
            (CallKind::Track, Some(PRODUCT_REMOVED)) if !cart_closed => {
                removed.extend(text(e, &["product_id", "sku", "name"]));
            }
            (CallKind::Track, Some(PRODUCT_ADDED)) if !cart_closed && summary.cart.len() < keep => {
                let key = text(e, &["product_id", "sku", "name"]);
                if let Some(i) = key.as_ref().and_then(|k| removed.iter().position(|r| r == k)) {
                    removed.remove(i);
                    continue;
                }
                let name = text(e, &["name", "sku", "product_id"]).unwrap_or_else(|| PRODUCT_ADDED.to_owned());
                summary.cart.push((name, e.occurred_at));
            }
            _ => {}
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-05 12:00 UTC);

    #[test]
    fn a_track_call_from_segment_docs_reads_whole() {
        let call = parse_call(
            json!({"userId": "019mr8mf4r", "event": "Item Purchased",
                   "properties": {"name": "Leap to Conclusions Mat", "revenue": 14.99},
                   "context": {"ip": "24.5.68.47"}, "timestamp": "2012-12-02T00:30:12.984Z"}),
            Some(CallKind::Track),
            None,
            NOW,
        )
        .unwrap();
        assert_eq!(call.name.as_deref(), Some("Item Purchased"));
        assert_eq!(call.user_id.as_deref(), Some("019mr8mf4r"));
        assert_eq!(call.properties["revenue"], json!(14.99));
        assert_eq!(call.occurred_at, datetime!(2012-12-02 00:30:12.984 UTC));
        assert!(!call.message_id_given);
    }

    #[test]
    fn every_call_needs_an_identifier_and_a_track_its_event() {
        let err = parse_call(json!({"event": "X"}), Some(CallKind::Track), None, NOW).unwrap_err();
        assert_eq!(err.0[0].field, "userId");
        let err = parse_call(json!({"userId": "u"}), Some(CallKind::Track), None, NOW).unwrap_err();
        assert_eq!(err.0[0].field, "event");
        let err = parse_call(json!({"userId": "u"}), Some(CallKind::Alias), None, NOW).unwrap_err();
        assert_eq!(err.0[0].field, "previousId");
        assert!(parse_call(json!({"anonymousId": "a"}), Some(CallKind::Page), None, NOW).is_ok());
        // Numeric ids are ids.
        let call = parse_call(json!({"userId": 42, "event": "X"}), Some(CallKind::Track), None, NOW).unwrap();
        assert_eq!(call.user_id.as_deref(), Some("42"));
    }

    #[test]
    fn clock_skew_is_corrected_with_sent_at() {
        // The sender's clock runs an hour fast: the event happened 10 s before sending.
        let call = parse_call(
            json!({"userId": "u", "event": "X", "timestamp": "2026-12-05T13:00:00Z", "sentAt": "2026-12-05T13:00:10Z"}),
            Some(CallKind::Track),
            None,
            NOW,
        )
        .unwrap();
        assert_eq!(call.occurred_at, NOW - Duration::seconds(10));
        // Far future without sentAt: the time of receipt.
        assert_eq!(corrected_time(Some(NOW + Duration::days(2)), None, NOW), NOW);
    }

    #[test]
    fn unpadded_dates_from_segment_examples_are_read() {
        assert_eq!(parse_time("2015-2-02T00:30:08.276Z"), Some(datetime!(2015-02-02 00:30:08.276 UTC)));
        assert_eq!(parse_time("2026-12-05T08:00:00+01:00"), Some(datetime!(2026-12-05 07:00 UTC)));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn a_batch_keeps_good_calls_beside_bad_ones_and_shares_its_context() {
        let calls = parse_batch(
            json!({"batch": [
                {"type": "track", "userId": "u", "event": "Song Played", "context": {"ip": "1.2.3.4"}},
                {"type": "track", "userId": "u"},
                {"type": "launch", "userId": "u"},
                {"type": "identify", "userId": "u", "traits": {"email": "jake@yahoo.com"}}
            ], "context": {"device": {"type": "phone"}, "ip": "9.9.9.9"}}),
            NOW,
        )
        .unwrap();
        assert_eq!(calls.len(), 4);
        let first = calls[0].as_ref().unwrap();
        assert_eq!(first.context["ip"], json!("1.2.3.4"), "the call's own context wins");
        assert_eq!(first.context["device"]["type"], json!("phone"));
        assert_eq!(calls[1].as_ref().unwrap_err().0[0].field, "event");
        assert_eq!(calls[2].as_ref().unwrap_err().0[0].field, "type");
        assert_eq!(calls[3].as_ref().unwrap().kind, CallKind::Identify);
        assert!(parse_batch(json!({"calls": []}), NOW).is_err());
    }

    #[test]
    fn an_oversized_call_in_a_batch_is_refused_alone() {
        let big = "x".repeat(MAX_CALL_BYTES);
        let calls =
            parse_batch(json!({"batch": [{"type": "track", "userId": "u", "event": "E", "properties": {"blob": big}}, {"type": "page", "anonymousId": "a"}]}), NOW)
                .unwrap();
        assert!(calls[0].is_err());
        assert!(calls[1].is_ok());
    }

    #[test]
    fn a_call_is_measured_as_its_compact_json() {
        let call = json!({"type": "track", "userId": "ü", "properties": {"n": [1, 2.5, null], "s": "a\"b"}});
        assert_eq!(serialized_size(&call), serde_json::to_vec(&call).unwrap().len());
        // Exactly at the limit passes; a byte over does not.
        let at_limit = |extra: usize| {
            let frame = serialized_size(&json!({"type": "track", "userId": "u", "event": "E", "properties": {"blob": ""}}));
            json!({"batch": [{"type": "track", "userId": "u", "event": "E", "properties": {"blob": "x".repeat(MAX_CALL_BYTES - frame + extra)}}]})
        };
        assert!(parse_batch(at_limit(0), NOW).unwrap()[0].is_ok());
        assert!(parse_batch(at_limit(1), NOW).unwrap()[0].is_err());
    }

    #[test]
    fn anonymous_ids_are_namespaced_and_traits_claim_identities_on_identify_only() {
        let call = parse_call(
            json!({"userId": "u1", "anonymousId": "a1", "traits": {"email": "Ada@Example.com", "phone": "+39 333 123 4567"}}),
            Some(CallKind::Identify),
            None,
            NOW,
        )
        .unwrap();
        let claims = claimed_identities(&call, Region::default(), false);
        let kinds: Vec<_> = claims.iter().map(|c| (c.identity.kind, c.identity.value.as_str(), c.decisive)).collect();
        assert_eq!(
            kinds,
            [
                (IdentityKind::ExternalId, "u1", true),
                (IdentityKind::Email, "ada@example.com", false),
                (IdentityKind::Phone, "+393331234567", false),
                (IdentityKind::WebVisitor, "anon:a1", true)
            ]
        );
        assert!(claimed_identities(&call, Region::default(), true).iter().all(|c| c.decisive), "a trusted source's traits decide");
        let track =
            parse_call(json!({"anonymousId": "a1", "event": "E", "properties": {"email": "x@y.z"}}), Some(CallKind::Track), None, NOW)
                .unwrap();
        assert_eq!(claimed_identities(&track, Region::default(), true).len(), 1);
    }

    fn claim(kind: IdentityKind, value: &str, decisive: bool) -> Claim {
        Claim { identity: NormalizedIdentity::parse(kind, value, Region::default()).unwrap(), decisive }
    }

    #[test]
    fn a_known_customer_absorbs_anonymous_activity_but_never_another_customer() {
        let (known, other, anon) = (ContactId::new(), ContactId::new(), ContactId::new());
        let user = claim(IdentityKind::ExternalId, "u1", true);
        let email = claim(IdentityKind::Email, "ada@example.com", true);
        let visitor = claim(IdentityKind::WebVisitor, "anon:a1", true);
        let plan = plan(&[
            (user.clone(), Some(Holder { contact_id: known, anonymous: false })),
            (email.clone(), Some(Holder { contact_id: other, anonymous: false })),
            (visitor.clone(), Some(Holder { contact_id: anon, anonymous: true })),
        ]);
        assert_eq!(plan.contact, Some(known));
        assert_eq!(plan.fold, [anon]);
        assert_eq!(plan.contested, std::slice::from_ref(&email.identity));
        assert!(plan.link.is_empty());

        // Only anonymous activity so far, and now a user id: the anonymous
        // contact becomes the customer and gains the id.
        let plan2 = super::plan(&[(user.clone(), None), (visitor.clone(), Some(Holder { contact_id: anon, anonymous: true }))]);
        assert_eq!(plan2.contact, Some(anon));
        assert_eq!(plan2.link, std::slice::from_ref(&user.identity));
        assert!(plan2.fold.is_empty());

        // Nobody yet: a new contact with every identity.
        let plan3 = super::plan(&[(user.clone(), None), (visitor.clone(), None)]);
        assert_eq!(plan3.contact, None);
        assert_eq!(plan3.link.len(), 2);

        // An address from an untrusted source's traits does not lead to the
        // customer who holds it: a new contact, the address left alone.
        let weak_email = claim(IdentityKind::Email, "ada@example.com", false);
        let plan4 = super::plan(&[(weak_email.clone(), Some(Holder { contact_id: known, anonymous: false })), (visitor, None)]);
        assert_eq!(plan4.contact, None);
        assert_eq!(plan4.contested, [weak_email.identity]);
    }

    #[test]
    fn whether_a_lone_holder_is_anonymous_changes_nothing() {
        let (one, two) = (ContactId::new(), ContactId::new());
        assert!(!anonymity_matters(&[]));
        assert!(!anonymity_matters(&[None, None]));
        assert!(!anonymity_matters(&[Some(one), None, Some(one)]));
        assert!(anonymity_matters(&[Some(one), Some(two)]));

        // Every arrangement of one holder over a decisive and an undecisive
        // claim plans the same whichever the holder is.
        let (user, email) = (claim(IdentityKind::ExternalId, "u1", true), claim(IdentityKind::Email, "ada@example.com", false));
        for held in [[true, false], [false, true], [true, true]] {
            let claims = |anonymous: bool| {
                [user.clone(), email.clone()]
                    .into_iter()
                    .zip(held)
                    .map(|(c, h)| (c, h.then_some(Holder { contact_id: one, anonymous })))
                    .collect::<Vec<_>>()
            };
            assert_eq!(plan(&claims(true)), plan(&claims(false)), "held {held:?}");
        }
    }

    #[test]
    fn identify_traits_become_name_language_zone_and_attributes() {
        let call = parse_call(
            json!({"userId": "u", "traits": {"firstName": "Ada", "lastName": "Lovelace", "email": "a@b.c", "plan": "pro"},
                   "context": {"locale": "it-IT", "timezone": "Europe/Rome"}}),
            Some(CallKind::Identify),
            None,
            NOW,
        )
        .unwrap();
        let changes = trait_changes(&call);
        assert_eq!(changes.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(changes.language.as_deref(), Some("it"));
        assert_eq!(changes.time_zone.as_deref(), Some("Europe/Rome"));
        assert_eq!(changes.custom_attributes.keys().collect::<Vec<_>>(), ["plan"]);
    }

    fn event(kind: CallKind, name: Option<&str>, properties: serde_json::Value, minutes_ago: i64) -> CustomerEvent {
        CustomerEvent {
            id: CustomerEventId::new(),
            contact_id: ContactId::new(),
            kind,
            name: name.map(str::to_owned),
            properties: properties.as_object().cloned().unwrap_or_default(),
            context: JsonMap::new(),
            message_id: String::new(),
            occurred_at: NOW - Duration::minutes(minutes_ago),
            received_at: NOW,
        }
    }

    #[test]
    fn the_panel_shows_pages_the_open_cart_and_orders() {
        // Newest first, as the store lists them.
        let events = [
            event(CallKind::Page, None, json!({"path": "/cart"}), 1),
            event(CallKind::Track, Some(PRODUCT_REMOVED), json!({"product_id": "p2"}), 2),
            event(CallKind::Track, Some(PRODUCT_ADDED), json!({"product_id": "p2", "name": "Lamp"}), 3),
            event(CallKind::Track, Some(PRODUCT_ADDED), json!({"product_id": "p1", "name": "Vase"}), 4),
            event(CallKind::Track, Some(ORDER_COMPLETED), json!({"order_id": "50314b8e", "total": 27.5, "currency": "EUR"}), 60),
            event(CallKind::Track, Some(PRODUCT_ADDED), json!({"product_id": "p9", "name": "Bought already"}), 61),
            event(CallKind::Page, Some("Pricing"), json!({"url": "https://shop.example/pricing"}), 70),
        ];
        let summary = summarize(&events, 5);
        assert_eq!(summary.pages.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["/cart", "https://shop.example/pricing"]);
        assert_eq!(summary.cart.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["Vase"], "the lamp was removed, the rest was ordered");
        assert_eq!(summary.orders, [("50314b8e".to_owned(), "27.5 EUR".to_owned(), NOW - Duration::minutes(60))]);
    }
}
