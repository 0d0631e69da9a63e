//! The channels Threadline can send and receive on. Adding a channel is a
//! module implementing [`ChannelAdapter`] and one line here.

use threadline_domain::channel::Channel;

use crate::adapter::ChannelAdapter;
use crate::{meta, telegram, twilio, whatsapp};

static ADAPTERS: &[&dyn ChannelAdapter] =
    &[&twilio::TwilioSms, &whatsapp::WhatsApp, &meta::MESSENGER, &meta::INSTAGRAM, &telegram::Telegram];

/// The adapter of a channel, if Threadline speaks to a provider for it.
pub fn adapter_for(channel: Channel) -> Option<&'static dyn ChannelAdapter> {
    ADAPTERS.iter().copied().find(|a| a.channel() == channel)
}

/// What a channel Threadline sends on can carry: its adapter's
/// capabilities, or email's (sent over SMTP, see [`crate::email`]).
pub fn capabilities_for(channel: Channel) -> Option<threadline_domain::reply::Capabilities> {
    match channel {
        Channel::Email => Some(crate::email::CAPABILITIES),
        other => adapter_for(other).map(|a| a.capabilities()),
    }
}

/// Every registered adapter.
pub fn adapters() -> &'static [&'static dyn ChannelAdapter] {
    ADAPTERS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_channel_has_at_most_one_adapter() {
        for channel in Channel::ALL {
            assert!(ADAPTERS.iter().filter(|a| a.channel() == channel).count() <= 1, "{channel}");
        }
        assert!(adapter_for(Channel::Sms).is_some());
        assert!(adapter_for(Channel::Voice).is_none());
    }
}
