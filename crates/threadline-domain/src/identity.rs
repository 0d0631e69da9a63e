//! Identities: the addresses by which a customer reaches us (an email address,
//! a phone number, a WhatsApp id…). One contact owns many identities; an
//! identity belongs to exactly one contact per account.
//!
//! Identities are stored normalised so that the same person written two ways
//! is recognised: e-mail addresses lower-cased, phone numbers in E.164 (parsed
//! with the `phonenumber` crate, a port of Google's libphonenumber, against the
//! account's default region when the number has no country code).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    Email,
    Phone,
    Whatsapp,
    Messenger,
    Instagram,
    Telegram,
    WebVisitor,
    ExternalId,
}

impl IdentityKind {
    pub const ALL: [IdentityKind; 8] = [
        IdentityKind::Email,
        IdentityKind::Phone,
        IdentityKind::Whatsapp,
        IdentityKind::Messenger,
        IdentityKind::Instagram,
        IdentityKind::Telegram,
        IdentityKind::WebVisitor,
        IdentityKind::ExternalId,
    ];

    /// Kinds whose values name the same thing and so identify the same
    /// person: a WhatsApp id *is* a phone number, so an SMS sender and a
    /// WhatsApp sender with one number are one customer.
    pub fn equivalents(self) -> &'static [IdentityKind] {
        match self {
            IdentityKind::Phone => &[IdentityKind::Whatsapp],
            IdentityKind::Whatsapp => &[IdentityKind::Phone],
            _ => &[],
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Email => "email",
            IdentityKind::Phone => "phone",
            IdentityKind::Whatsapp => "whatsapp",
            IdentityKind::Messenger => "messenger",
            IdentityKind::Instagram => "instagram",
            IdentityKind::Telegram => "telegram",
            IdentityKind::WebVisitor => "web_visitor",
            IdentityKind::ExternalId => "external_id",
        }
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown identity kind `{0}`")]
pub struct UnknownIdentityKind(pub String);

impl FromStr for IdentityKind {
    type Err = UnknownIdentityKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdentityKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownIdentityKind(s.to_owned()))
    }
}

/// Why a raw identity value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("must not be empty")]
    Empty,
    #[error("is too long (at most {0} characters)")]
    TooLong(usize),
    #[error("is not a valid email address")]
    InvalidEmail,
    #[error("is not a valid phone number for region {0}")]
    InvalidPhone(String),
    #[error("must not contain control characters")]
    ControlCharacters,
}

/// The longest identity value accepted (RFC 5321 caps a path at 256 octets;
/// provider ids are far shorter).
pub const MAX_IDENTITY_LEN: usize = 320;

/// A two-letter region (ISO 3166-1 alpha-2) used to read phone numbers written
/// without a country code, e.g. `IT` reads `333 123 4567` as `+393331234567`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(phonenumber::country::Id);

/// Italy: the region of accounts created without one (and the fallback
/// when a stored region no longer parses).
impl Default for Region {
    fn default() -> Self {
        Region(phonenumber::country::Id::IT)
    }
}

impl Region {
    pub fn parse(code: &str) -> Option<Region> {
        code.trim().to_ascii_uppercase().parse::<phonenumber::country::Id>().ok().map(Region)
    }

    pub fn code(self) -> String {
        format!("{:?}", self.0)
    }
}

/// An identity in canonical form: the only form that is stored and compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NormalizedIdentity {
    pub kind: IdentityKind,
    pub value: String,
}

impl NormalizedIdentity {
    /// Parses and normalises `raw` as an identity of `kind`.
    pub fn parse(kind: IdentityKind, raw: &str, region: Region) -> Result<Self, IdentityError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(IdentityError::Empty);
        }
        if raw.chars().count() > MAX_IDENTITY_LEN {
            return Err(IdentityError::TooLong(MAX_IDENTITY_LEN));
        }
        if raw.chars().any(char::is_control) {
            return Err(IdentityError::ControlCharacters);
        }
        let value = match kind {
            IdentityKind::Email => normalize_email(raw)?,
            // WhatsApp ids are the customer's phone number (digits, no `+`)
            // in the Cloud API; we store E.164 so a WhatsApp identity and an
            // SMS phone identity of the same person compare equal.
            IdentityKind::Phone | IdentityKind::Whatsapp => normalize_phone(raw, region)?,
            IdentityKind::Messenger
            | IdentityKind::Instagram
            | IdentityKind::Telegram
            | IdentityKind::WebVisitor
            | IdentityKind::ExternalId => raw.to_owned(),
        };
        Ok(Self { kind, value })
    }
}

fn normalize_email(raw: &str) -> Result<String, IdentityError> {
    let lower = raw.to_lowercase();
    if !email_address::EmailAddress::is_valid(&lower) {
        return Err(IdentityError::InvalidEmail);
    }
    // `is_valid` accepts the display form `Name <a@b>`; an identity is the
    // bare address only.
    if lower.contains(['<', '>', ' ']) || !lower.contains('@') {
        return Err(IdentityError::InvalidEmail);
    }
    Ok(lower)
}

fn normalize_phone(raw: &str, region: Region) -> Result<String, IdentityError> {
    // WhatsApp sends international numbers without the leading `+`; a string
    // of 10+ digits that fails as a national number is retried as international.
    let attempt = |text: &str| {
        phonenumber::parse(Some(region.0), text)
            .ok()
            .filter(phonenumber::is_valid)
            .map(|n| n.format().mode(phonenumber::Mode::E164).to_string())
    };
    attempt(raw)
        .or_else(|| {
            let digits_only = raw.chars().all(|c| c.is_ascii_digit());
            (digits_only && raw.len() >= 10).then(|| attempt(&format!("+{raw}"))).flatten()
        })
        .ok_or_else(|| IdentityError::InvalidPhone(region.code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn it() -> Region {
        Region::parse("it").unwrap()
    }

    #[test]
    fn emails_are_lower_cased_and_validated() {
        let id = NormalizedIdentity::parse(IdentityKind::Email, "  Maria.Rossi@Example.COM ", it()).unwrap();
        assert_eq!(id.value, "maria.rossi@example.com");
        for bad in ["", "maria", "maria@", "@example.com", "Maria <m@example.com>", "a b@example.com"] {
            assert!(NormalizedIdentity::parse(IdentityKind::Email, bad, it()).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn phones_become_e164_using_the_default_region() {
        let cases = [
            ("333 123 4567", "+393331234567"),
            ("+39 333 1234567", "+393331234567"),
            ("0039 333 123 4567", "+393331234567"),
            ("+44 20 7946 0958", "+442079460958"),
            ("+1 (415) 555-2671", "+14155552671"),
        ];
        for (raw, want) in cases {
            let id = NormalizedIdentity::parse(IdentityKind::Phone, raw, it()).unwrap();
            assert_eq!(id.value, want, "for {raw}");
        }
        let us = Region::parse("US").unwrap();
        assert_eq!(NormalizedIdentity::parse(IdentityKind::Phone, "(415) 555-2671", us).unwrap().value, "+14155552671");
    }

    #[test]
    fn whatsapp_ids_without_plus_match_phone_identities() {
        let wa = NormalizedIdentity::parse(IdentityKind::Whatsapp, "393331234567", it()).unwrap();
        let sms = NormalizedIdentity::parse(IdentityKind::Phone, "333 123 4567", it()).unwrap();
        assert_eq!(wa.value, sms.value);
    }

    #[test]
    fn invalid_phones_are_refused_with_the_region() {
        for bad in ["12", "not a number", "+39 1", "+999 123"] {
            let err = NormalizedIdentity::parse(IdentityKind::Phone, bad, it()).unwrap_err();
            assert_eq!(err, IdentityError::InvalidPhone("IT".into()), "{bad:?}");
        }
    }

    #[test]
    fn opaque_ids_are_kept_but_bounded() {
        let id = NormalizedIdentity::parse(IdentityKind::Telegram, " 123456789 ", it()).unwrap();
        assert_eq!(id.value, "123456789");
        assert_eq!(NormalizedIdentity::parse(IdentityKind::ExternalId, "", it()), Err(IdentityError::Empty));
        let long = "x".repeat(MAX_IDENTITY_LEN + 1);
        assert!(matches!(NormalizedIdentity::parse(IdentityKind::ExternalId, &long, it()), Err(IdentityError::TooLong(_))));
        assert_eq!(NormalizedIdentity::parse(IdentityKind::ExternalId, "a\u{0}b", it()), Err(IdentityError::ControlCharacters));
    }

    #[test]
    fn regions_parse_case_insensitively() {
        assert_eq!(Region::parse("gb").unwrap().code(), "GB");
        assert!(Region::parse("XX").is_none());
        assert!(Region::parse("").is_none());
    }
}
