//! The channels a conversation can travel on.
//!
//! A channel is a *kind* of medium (email, WhatsApp, …); an inbox is one
//! configured instance of a channel (the `support@` mailbox, the Italian
//! WhatsApp number). Messages record the channel and inbox they actually used,
//! because one conversation may cross several of both.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::identity::IdentityKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Whatsapp,
    Messenger,
    Instagram,
    Telegram,
    WebChat,
    InApp,
    Voice,
    /// Physical touchpoints: the shop counter, the point of sale.
    Shop,
    /// The generic API channel, for custom channels and integrations.
    Api,
}

impl Channel {
    pub const ALL: [Channel; 11] = [
        Channel::Email,
        Channel::Sms,
        Channel::Whatsapp,
        Channel::Messenger,
        Channel::Instagram,
        Channel::Telegram,
        Channel::WebChat,
        Channel::InApp,
        Channel::Voice,
        Channel::Shop,
        Channel::Api,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Messenger => "messenger",
            Channel::Instagram => "instagram",
            Channel::Telegram => "telegram",
            Channel::WebChat => "web_chat",
            Channel::InApp => "in_app",
            Channel::Voice => "voice",
            Channel::Shop => "shop",
            Channel::Api => "api",
        }
    }

    /// The identity that addresses a customer on this channel: the key an
    /// inbound message's sender is resolved by. `None` for channels whose
    /// senders identify themselves however the integration chooses.
    pub fn identity_kind(self) -> Option<IdentityKind> {
        match self {
            Channel::Email => Some(IdentityKind::Email),
            Channel::Sms | Channel::Voice => Some(IdentityKind::Phone),
            Channel::Whatsapp => Some(IdentityKind::Whatsapp),
            Channel::Messenger => Some(IdentityKind::Messenger),
            Channel::Instagram => Some(IdentityKind::Instagram),
            Channel::Telegram => Some(IdentityKind::Telegram),
            Channel::WebChat | Channel::InApp => Some(IdentityKind::WebVisitor),
            Channel::Shop | Channel::Api => None,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel `{0}`")]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for channel in Channel::ALL {
            assert_eq!(channel.as_str().parse::<Channel>().unwrap(), channel);
            let json = serde_json::to_string(&channel).unwrap();
            assert_eq!(json, format!("\"{}\"", channel.as_str()));
        }
        assert!("fax".parse::<Channel>().is_err());
    }
}
