//! Which of a contact's channels an agent may answer on now: gathers the
//! facts (identities, inboxes, when the customer last wrote on each channel,
//! consent) and lets the domain rules in `threadline_domain::reply` judge.

use threadline_channels::capabilities_for;
use threadline_domain::channel::Channel;
use threadline_domain::contact::Contact;
use threadline_domain::identity::IdentityKind;
use threadline_domain::ids::{AccountId, ConversationId, InboxId};
use threadline_domain::reply::{ChannelFacts, ReplyOption, judge};
use threadline_store::Inbox;
use time::OffsetDateTime;

use crate::app::AppState;
use crate::error::ApiResult;

/// Everything needed to judge any channel of one conversation's contact.
pub struct ReplyContext {
    pub contact: Contact,
    pub last_inbound: Vec<(Channel, Option<InboxId>, OffsetDateTime)>,
    pub inboxes: Vec<Inbox>,
    /// The contact has the web chat open right now.
    pub chat_open: bool,
}

impl ReplyContext {
    pub async fn load(state: &AppState, account_id: AccountId, conversation_id: ConversationId) -> ApiResult<Self> {
        let conversation = state.store.conversation(account_id, conversation_id).await?;
        let contact = state.store.contact(account_id, conversation.contact_id).await?;
        let last_inbound = state.store.last_inbound_by_channel(account_id, contact.id).await?;
        let inboxes = state.store.inboxes(account_id).await?;
        let chat_open = state.live.is_connected(contact.id);
        Ok(ReplyContext { contact, last_inbound, inboxes, chat_open })
    }

    /// The channel of the customer's most recent message — except that a
    /// chat visitor who has left, and gave an email address, is answered by
    /// email so the answer reaches them.
    pub fn default_channel(&self) -> Option<Channel> {
        let last = self.last_inbound.first().map(|(c, _, _)| *c)?;
        let left_chat = matches!(last, Channel::WebChat | Channel::InApp) && !self.chat_open;
        if left_chat && judge(&self.facts(Channel::Email), OffsetDateTime::now_utc()).allowed {
            return Some(Channel::Email);
        }
        Some(last)
    }

    /// The customer's address on `channel`: its own identity kind first,
    /// then an equivalent one (a WhatsApp number is a phone number).
    /// For email, an address the customer typed into the web chat
    /// (`chat_email`) is used when they have no email identity: it is where
    /// they asked to be answered, though not proof of who they are.
    fn recipient(&self, channel: Channel) -> Option<String> {
        let kind = channel.identity_kind()?;
        let pick = |k: IdentityKind| self.contact.identities.iter().find(|i| i.kind == k).map(|i| i.value.clone());
        let chat_email = || {
            (channel == Channel::Email)
                .then(|| self.contact.attributes.get(crate::widget::CHAT_EMAIL).and_then(|v| v.as_str()).map(str::to_owned))
                .flatten()
        };
        pick(kind).or_else(|| kind.equivalents().iter().copied().filter(|k| *k != kind).find_map(pick)).or_else(chat_email)
    }

    pub fn facts(&self, channel: Channel) -> ChannelFacts {
        let last = self.last_inbound.iter().find(|(c, _, _)| *c == channel);
        let live = |id: InboxId| self.inboxes.iter().any(|i| i.id == id);
        let inbox_id = last
            .and_then(|(_, inbox, _)| *inbox)
            .filter(|id| live(*id))
            .or_else(|| self.inboxes.iter().find(|i| i.channel == channel).map(|i| i.id));
        let consent = self.contact.consents.iter().find(|c| c.channel == channel && c.purpose == "service").map(|c| c.granted);
        ChannelFacts {
            channel,
            capabilities: capabilities_for(channel),
            recipient: self.recipient(channel),
            inbox_id,
            last_inbound_at: last.map(|(_, _, at)| *at),
            service_consent: consent,
        }
    }

    pub fn judge(&self, channel: Channel, now: OffsetDateTime) -> ReplyOption {
        let mut option = judge(&self.facts(channel), now);
        option.default = self.default_channel() == Some(channel);
        // Threadline sends itself only through an inbox connected to its
        // provider; otherwise the integration serving the inbox does.
        option.sent_by_threadline &= self.inboxes.iter().any(|i| Some(i.id) == option.inbox_id && crate::channels::provider_connected(i));
        option
    }

    /// Every channel worth showing: where the customer wrote, where the
    /// account has an inbox, and where Threadline can send; the default
    /// first, then by how recently the customer used them.
    pub fn options(&self, now: OffsetDateTime) -> Vec<ReplyOption> {
        let mut channels: Vec<Channel> = self.last_inbound.iter().map(|(c, _, _)| *c).collect();
        let more = Channel::ALL.into_iter().filter(|c| capabilities_for(*c).is_some() || self.inboxes.iter().any(|i| i.channel == *c));
        for channel in more {
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        let mut options: Vec<ReplyOption> = channels.into_iter().map(|c| self.judge(c, now)).collect();
        // The default first; the rest keep their order (stable sort).
        options.sort_by_key(|o| !o.default);
        options
    }
}
