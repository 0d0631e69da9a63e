//! Contacts: one record per customer, whatever channels they use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::channel::Channel;
use crate::identity::IdentityKind;
use crate::ids::{ContactId, IdentityId};

/// A customer as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: ContactId,
    pub name: Option<String>,
    /// BCP 47 language tag, e.g. `it` or `en-GB`.
    pub language: Option<String>,
    /// Standard attributes (company, city, tier…): free-form JSON object.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Attributes the business defines for itself.
    pub custom_attributes: serde_json::Map<String, serde_json::Value>,
    /// The channel this customer prefers for each topic (`billing` → `email`).
    pub preferred_channels: BTreeMap<String, Channel>,
    pub identities: Vec<Identity>,
    pub consents: Vec<Consent>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Identity {
    pub id: IdentityId,
    pub kind: IdentityKind,
    pub value: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Whether the customer agreed to be contacted on `channel` for `purpose`
/// (e.g. `marketing`, `service`, `surveys`), and where that came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Consent {
    pub channel: Channel,
    pub purpose: String,
    pub granted: bool,
    pub source: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

pub const MAX_NAME_CHARS: usize = 200;

/// A language tag: 2–3 letter primary subtag, optional region/script subtags.
pub fn parse_language(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let mut parts = raw.split(['-', '_']);
    let primary = parts.next()?;
    if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let mut tag = primary.to_ascii_lowercase();
    for part in parts {
        if !(2..=8).contains(&part.len()) || !part.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        tag.push('-');
        tag.push_str(&if part.len() == 2 { part.to_ascii_uppercase() } else { part.to_owned() });
    }
    Some(tag)
}

/// A consent purpose or preference topic: a short lower-case token.
pub fn parse_topic(raw: &str) -> Option<String> {
    let t = raw.trim().to_ascii_lowercase();
    let ok = !t.is_empty() && t.len() <= 64 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    ok.then_some(t)
}

/// Lower-cased, accent-folded, whitespace-collapsed form of a name, used to
/// spot near-identical names among duplicates: its words as
/// [`crate::text::words`] reads them.
pub fn name_key(name: &str) -> String {
    crate::text::words(name).join(" ")
}

/// The key under which contacts with the same name meet, whatever the
/// case, accents, spacing or word order ("Rossi  Maria" and "maria rossì"):
/// the folded words, sorted. None for names too short to say anything.
pub fn name_match_key(name: &str) -> Option<String> {
    let key = name_key(name);
    if key.len() < 3 {
        return None;
    }
    let mut words: Vec<&str> = key.split(' ').collect();
    words.sort_unstable();
    Some(words.join(" "))
}

/// Whether two names are near-identical: the same after folding, or within a
/// Jaro-Winkler similarity of 0.93 (one typo in a full name), in either word
/// order ("Rossi Maria" is "Maria Rossi").
pub fn names_look_alike(a: &str, b: &str) -> bool {
    let (a, b) = (name_key(a), name_key(b));
    if a.len() < 3 || b.len() < 3 {
        return false;
    }
    if a == b {
        return true;
    }
    let sorted = |s: &str| {
        let mut words: Vec<&str> = s.split(' ').collect();
        words.sort_unstable();
        words.join(" ")
    };
    strsim::jaro_winkler(&a, &b) >= 0.93 || sorted(&a) == sorted(&b) || strsim::jaro_winkler(&sorted(&a), &sorted(&b)) >= 0.95
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        assert_eq!(parse_language("IT").as_deref(), Some("it"));
        assert_eq!(parse_language("en_gb").as_deref(), Some("en-GB"));
        assert_eq!(parse_language("english"), None);
        assert_eq!(parse_language(""), None);
    }

    #[test]
    fn near_identical_names() {
        assert!(names_look_alike("Maria Rossi", "maria  rossi"));
        assert!(names_look_alike("Niccolò Bianchi", "Niccolo Bianchi"));
        assert!(names_look_alike("Giovanni Esposito", "Giovani Esposito"));
        assert!(names_look_alike("Rossi Maria", "Maria Rossi"));
        assert!(!names_look_alike("Maria Rossi", "Mario Bianchi"));
        assert!(!names_look_alike("Al", "Al"));
        assert_eq!(name_match_key("Rossi  Maria"), name_match_key("maria rossì"));
        assert_eq!(name_match_key("Rossi Maria").as_deref(), Some("maria rossi"));
        assert_eq!(name_match_key(" - "), None);
    }

    #[test]
    fn topics() {
        assert_eq!(parse_topic(" Marketing ").as_deref(), Some("marketing"));
        assert_eq!(parse_topic("no spaces please"), None);
    }
}
