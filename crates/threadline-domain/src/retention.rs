//! How long an account keeps its data, and what a purge may touch.
//!
//! A retention policy names a class of data, optionally one channel (for
//! messages and attachments), and a number of days; data older than that is
//! purged by the retention worker, in batches. A contact on legal hold is
//! exempt from every policy (and from erasure) until the hold is lifted.

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::conversation::string_enum;

string_enum! {
    /// What a retention policy applies to.
    DataClass {
        /// Messages (with their attachments) — the conversation rows stay,
        /// so reports keep counting conversations.
        Messages => "messages",
        /// Attachment files only; the messages keep their text.
        Attachments => "attachments",
        /// Domain events and their webhook delivery log.
        Events => "events",
        /// Audit log entries (the oldest, as a block: the chain records
        /// where what remains begins).
        Audit => "audit",
    }
}

/// The shortest and longest periods a policy may set.
pub const MIN_DAYS: i64 = 1;
pub const MAX_DAYS: i64 = 36_500;

/// One retention rule of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionPolicy {
    pub data_class: DataClass,
    /// Only this channel's messages or attachments; none for all channels.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Data older than this many days is purged.
    pub days: i64,
}

impl RetentionPolicy {
    /// A policy as an administrator wrote it, checked.
    pub fn validated(self, field: &str) -> Result<Self, crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::new();
        if !(MIN_DAYS..=MAX_DAYS).contains(&self.days) {
            errors.push(format!("{field}.days"), format!("must be between {MIN_DAYS} and {MAX_DAYS}"));
        }
        if self.channel.is_some() && !matches!(self.data_class, DataClass::Messages | DataClass::Attachments) {
            errors.push(format!("{field}.channel"), "only messages and attachments are kept per channel");
        }
        errors.into_result(self)
    }

    /// The instant before which data of this class is purged, as Unix
    /// microseconds, given now (in the same unit).
    pub fn cutoff(&self, now_micros: i64) -> i64 {
        now_micros.saturating_sub(self.days.saturating_mul(86_400_000_000))
    }
}

/// The policies that decide each message's fate: a channel's own policy
/// wins over the all-channels one for that channel, whether it is shorter
/// or longer (so an account can keep WhatsApp for a year and the rest for
/// a month, or the other way round).
pub fn message_policies(policies: &[RetentionPolicy], class: DataClass) -> (Option<&RetentionPolicy>, Vec<&RetentionPolicy>) {
    let general = policies.iter().find(|p| p.data_class == class && p.channel.is_none());
    let per_channel = policies.iter().filter(|p| p.data_class == class && p.channel.is_some()).collect();
    (general, per_channel)
}

/// Checks a whole set of policies: each valid, and at most one per class
/// and channel.
pub fn validate_set(policies: Vec<RetentionPolicy>) -> Result<Vec<RetentionPolicy>, crate::ValidationErrors> {
    let mut errors = crate::ValidationErrors::new();
    let mut out = Vec::with_capacity(policies.len());
    for (i, policy) in policies.into_iter().enumerate() {
        let field = format!("policies[{i}]");
        match policy.validated(&field) {
            Ok(p) => {
                if out.iter().any(|q: &RetentionPolicy| q.data_class == p.data_class && q.channel == p.channel) {
                    errors.push(field, "another policy already covers this class and channel");
                } else {
                    out.push(p);
                }
            }
            Err(e) => errors.0.extend(e.0),
        }
    }
    errors.into_result(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(class: DataClass, channel: Option<Channel>, days: i64) -> RetentionPolicy {
        RetentionPolicy { data_class: class, channel, days }
    }

    #[test]
    fn policies_are_checked() {
        assert!(policy(DataClass::Messages, Some(Channel::Whatsapp), 30).validated("p").is_ok());
        let errors = policy(DataClass::Events, Some(Channel::Sms), 0).validated("p").unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["p.days", "p.channel"]);
        let twice = validate_set(vec![policy(DataClass::Audit, None, 400), policy(DataClass::Audit, None, 800)]).unwrap_err();
        assert_eq!(twice.0[0].field, "policies[1]");
    }

    #[test]
    fn the_cutoff_is_days_before_now() {
        let now = 1_800_000_000_000_000;
        assert_eq!(policy(DataClass::Events, None, 2).cutoff(now), now - 2 * 86_400_000_000);
        assert_eq!(policy(DataClass::Events, None, MAX_DAYS).cutoff(i64::MIN + 5), i64::MIN, "no overflow");
    }

    #[test]
    fn a_channels_own_policy_stands_beside_the_general_one() {
        let set = [policy(DataClass::Messages, None, 30), policy(DataClass::Messages, Some(Channel::Whatsapp), 365)];
        let (general, channels) = message_policies(&set, DataClass::Messages);
        assert_eq!(general.map(|p| p.days), Some(30));
        assert_eq!(channels.len(), 1);
    }
}
