//! Which channels an agent may answer a customer on right now, and why not.
//!
//! Each messaging channel has its own rules: WhatsApp allows free-form
//! replies only within 24 hours of the customer's last message (templates
//! after that), Messenger and Instagram likewise, with the human-agent tag
//! stretching the window to seven days; every channel needs an identity to
//! send to and an inbox to send through, and a customer who withdrew consent
//! for service messages on a channel is not written to there. These rules
//! live here so the API, the outbox and the workspace give the same answer.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::channel::Channel;
use crate::identity::IdentityKind;
use crate::ids::InboxId;
use crate::message::DeliveryStatus;

/// What a channel can carry. Each channel adapter declares its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Capabilities {
    /// The longest text one message may carry, in characters.
    pub max_text_chars: usize,
    /// Attachments one message may carry (0: none).
    pub max_attachments: usize,
    /// Whether text and an attachment can travel in one message (as a
    /// caption); when false they must be sent as separate messages.
    pub text_with_attachment: bool,
    /// The longest caption, when text travels with an attachment.
    pub max_caption_chars: usize,
    /// Whether approved message templates exist on this channel.
    pub templates: bool,
    /// The customer-service window, if the channel has one.
    pub reply_window: Option<ReplyWindow>,
}

/// Free-form replies are allowed for `hours` after the customer's last
/// message; a human agent may answer for `human_agent_hours` (Meta's
/// human-agent tag) when the channel has that extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReplyWindow {
    pub hours: i64,
    pub human_agent_hours: Option<i64>,
}

/// Where a conversation stands against a channel's reply window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    /// The channel has no window.
    Unlimited,
    Open {
        closes_at: OffsetDateTime,
    },
    /// Past the standard window but within the human-agent extension: a
    /// human may answer, and the message is sent with the human-agent tag.
    HumanAgent {
        closes_at: OffsetDateTime,
    },
    /// Closed at `closed_at` (`None`: the customer never wrote on it).
    Closed {
        closed_at: Option<OffsetDateTime>,
    },
}

impl ReplyWindow {
    pub fn state(self, last_inbound: Option<OffsetDateTime>, now: OffsetDateTime) -> WindowState {
        let Some(last) = last_inbound else { return WindowState::Closed { closed_at: None } };
        let closes_at = last + Duration::hours(self.hours);
        if now < closes_at {
            return WindowState::Open { closes_at };
        }
        match self.human_agent_hours.map(|h| last + Duration::hours(h)) {
            Some(extended) if now < extended => WindowState::HumanAgent { closes_at: extended },
            Some(extended) => WindowState::Closed { closed_at: Some(extended) },
            None => WindowState::Closed { closed_at: Some(closes_at) },
        }
    }
}

/// Why a channel cannot be used right now. The codes are stable API values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Blocker {
    /// The contact has no identity on this channel (no phone for SMS…).
    NoIdentity,
    /// The account has no inbox of this channel to send through.
    NoInbox,
    /// The customer withdrew consent for service messages on this channel.
    NoConsent,
    /// The customer-service window is closed: only templates may be sent.
    WindowClosed,
}

impl Blocker {
    pub fn explain(self, channel: Channel) -> String {
        match self {
            Blocker::NoIdentity => format!("the contact has no {} identity to send to", channel_identity_name(channel)),
            Blocker::NoInbox => format!("there is no {channel} inbox in this account to send through"),
            Blocker::NoConsent => format!("the contact withdrew consent for service messages on {channel}"),
            Blocker::WindowClosed => {
                format!("the {channel} customer-service window is closed: the customer has not written on {channel} recently")
            }
        }
    }
}

fn channel_identity_name(channel: Channel) -> &'static str {
    channel.identity_kind().map(IdentityKind::as_str).unwrap_or("suitable")
}

/// What is known about one channel of one contact, gathered by the store.
#[derive(Debug, Clone)]
pub struct ChannelFacts {
    pub channel: Channel,
    /// `None` when no adapter sends on this channel: an integration
    /// delivers those messages (it learns of them from `message.created`).
    pub capabilities: Option<Capabilities>,
    /// The identity value to send to, if the contact has one.
    pub recipient: Option<String>,
    /// The inbox to send through: the one the customer last wrote to on this
    /// channel, else the account's first inbox of the channel.
    pub inbox_id: Option<InboxId>,
    pub last_inbound_at: Option<OffsetDateTime>,
    /// `Some(false)` when consent for `service` was withdrawn.
    pub service_consent: Option<bool>,
}

/// The verdict on one channel, as served by the API.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReplyOption {
    pub channel: Channel,
    /// Whether a free-form message may be sent now.
    pub allowed: bool,
    /// Whether an approved template may be sent now (window closed, but
    /// everything else in order, on a channel with templates).
    pub template_allowed: bool,
    pub inbox_id: Option<InboxId>,
    pub recipient: Option<String>,
    /// Why not, when not allowed.
    pub blocker: Option<Blocker>,
    pub reason: Option<String>,
    /// When the free-form window closes, on channels with one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub window_closes_at: Option<OffsetDateTime>,
    /// Replies now go out with the human-agent tag (Messenger, Instagram).
    pub human_agent_tag: bool,
    /// The default: the channel of the customer's last message.
    pub default: bool,
    /// Threadline sends through a provider itself (`false`: an integration
    /// delivers the message, learning of it from the `message.created` event).
    pub sent_by_threadline: bool,
}

/// Judges one channel. The checks run in the order a person would fix them:
/// to whom, through what, may we, and is it too late.
pub fn judge(facts: &ChannelFacts, now: OffsetDateTime) -> ReplyOption {
    let mut option = ReplyOption {
        channel: facts.channel,
        allowed: false,
        template_allowed: false,
        inbox_id: facts.inbox_id,
        recipient: facts.recipient.clone(),
        blocker: None,
        reason: None,
        window_closes_at: None,
        human_agent_tag: false,
        default: false,
        sent_by_threadline: facts.capabilities.is_some(),
    };
    let blocked = |mut option: ReplyOption, blocker: Blocker| {
        option.reason = Some(blocker.explain(facts.channel));
        option.blocker = Some(blocker);
        option
    };
    if facts.recipient.is_none() && facts.channel.identity_kind().is_some() {
        return blocked(option, Blocker::NoIdentity);
    }
    if facts.inbox_id.is_none() {
        return blocked(option, Blocker::NoInbox);
    }
    if facts.service_consent == Some(false) {
        return blocked(option, Blocker::NoConsent);
    }
    option.template_allowed = facts.capabilities.is_some_and(|c| c.templates);
    match facts.capabilities.and_then(|c| c.reply_window).map_or(WindowState::Unlimited, |w| w.state(facts.last_inbound_at, now)) {
        WindowState::Unlimited => option.allowed = true,
        WindowState::Open { closes_at } => {
            option.allowed = true;
            option.window_closes_at = Some(closes_at);
        }
        WindowState::HumanAgent { closes_at } => {
            option.allowed = true;
            option.human_agent_tag = true;
            option.window_closes_at = Some(closes_at);
        }
        WindowState::Closed { closed_at } => {
            option.window_closes_at = closed_at;
            let mut option = blocked(option, Blocker::WindowClosed);
            if option.template_allowed {
                option.reason = option.reason.map(|r| r + "; only an approved template may be sent");
            }
            return option;
        }
    }
    option
}

/// Whether a delivery report may replace the status a message has: reports
/// arrive out of order (a `sent` after `delivered`), and a message that was
/// delivered or read does not become failed by a late report.
pub fn status_advances(from: DeliveryStatus, to: DeliveryStatus) -> bool {
    fn rank(s: DeliveryStatus) -> u8 {
        match s {
            DeliveryStatus::Pending => 1,
            DeliveryStatus::Sent => 2,
            DeliveryStatus::Failed => 3,
            DeliveryStatus::Delivered => 4,
            DeliveryStatus::Read => 5,
            DeliveryStatus::Received | DeliveryStatus::Internal => 0,
        }
    }
    if matches!(from, DeliveryStatus::Received | DeliveryStatus::Internal) {
        return false;
    }
    rank(to) > rank(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const WHATSAPP: Capabilities = Capabilities {
        max_text_chars: 4096,
        max_attachments: 1,
        text_with_attachment: true,
        max_caption_chars: 1024,
        templates: true,
        reply_window: Some(ReplyWindow { hours: 24, human_agent_hours: None }),
    };
    const MESSENGER: Capabilities =
        Capabilities { templates: false, reply_window: Some(ReplyWindow { hours: 24, human_agent_hours: Some(24 * 7) }), ..WHATSAPP };

    fn facts(capabilities: Capabilities, last: Option<OffsetDateTime>) -> ChannelFacts {
        ChannelFacts {
            channel: Channel::Whatsapp,
            capabilities: Some(capabilities),
            recipient: Some("+393331234567".into()),
            inbox_id: Some(InboxId::new()),
            last_inbound_at: last,
            service_consent: None,
        }
    }

    #[test]
    fn the_window_is_open_for_24_hours_after_the_customer_wrote() {
        let wrote = datetime!(2026-03-01 10:00 UTC);
        let open = judge(&facts(WHATSAPP, Some(wrote)), datetime!(2026-03-02 09:59 UTC));
        assert!(open.allowed);
        assert_eq!(open.window_closes_at, Some(datetime!(2026-03-02 10:00 UTC)));
        let closed = judge(&facts(WHATSAPP, Some(wrote)), datetime!(2026-03-02 10:00 UTC));
        assert!(!closed.allowed);
        assert!(closed.template_allowed, "a template is the way back in");
        assert_eq!(closed.blocker, Some(Blocker::WindowClosed));
        assert!(closed.reason.unwrap().contains("template"));
        let never = judge(&facts(WHATSAPP, None), datetime!(2026-03-02 10:00 UTC));
        assert_eq!(never.blocker, Some(Blocker::WindowClosed));
    }

    #[test]
    fn the_human_agent_tag_extends_messenger_to_seven_days() {
        let wrote = datetime!(2026-03-01 10:00 UTC);
        let tagged = judge(&facts(MESSENGER, Some(wrote)), datetime!(2026-03-05 10:00 UTC));
        assert!(tagged.allowed && tagged.human_agent_tag);
        let late = judge(&facts(MESSENGER, Some(wrote)), datetime!(2026-03-08 10:00 UTC));
        assert!(!late.allowed && !late.template_allowed);
    }

    #[test]
    fn identity_inbox_and_consent_are_checked_first() {
        let now = datetime!(2026-03-01 11:00 UTC);
        let last = Some(datetime!(2026-03-01 10:00 UTC));
        let mut f = facts(WHATSAPP, last);
        f.recipient = None;
        assert_eq!(judge(&f, now).blocker, Some(Blocker::NoIdentity));
        let mut f = facts(WHATSAPP, last);
        f.inbox_id = None;
        assert_eq!(judge(&f, now).blocker, Some(Blocker::NoInbox));
        let mut f = facts(WHATSAPP, last);
        f.service_consent = Some(false);
        assert_eq!(judge(&f, now).blocker, Some(Blocker::NoConsent));
        let mut f = facts(WHATSAPP, last);
        f.capabilities = None;
        let integration = judge(&f, now);
        assert!(integration.allowed && !integration.sent_by_threadline);
    }

    #[test]
    fn delivery_reports_only_move_forward() {
        use DeliveryStatus::*;
        assert!(status_advances(Pending, Sent));
        assert!(status_advances(Sent, Delivered));
        assert!(status_advances(Sent, Failed));
        assert!(!status_advances(Delivered, Sent));
        assert!(!status_advances(Read, Delivered));
        assert!(!status_advances(Delivered, Failed));
        assert!(!status_advances(Received, Read));
    }
}
