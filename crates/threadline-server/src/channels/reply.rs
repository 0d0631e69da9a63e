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

use threadline_domain::message::{Message, MessageKind};
use threadline_domain::reply::Blocker;
use threadline_domain::template::render;
use threadline_domain::validation::ValidationErrors;
use threadline_store::{OutboundDelivery, OutboundMessage, TemplateUse};

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

/// Everything needed to judge any channel of one conversation's contact.
pub struct ReplyContext {
    pub contact: Contact,
    pub last_inbound: Vec<(Channel, Option<InboxId>, OffsetDateTime)>,
    pub inboxes: Vec<Inbox>,
    /// The contact has the web chat open right now.
    pub chat_open: bool,
    /// The in-app inboxes where the contact has a device for push notifications.
    pub push_inboxes: Vec<InboxId>,
}

impl ReplyContext {
    pub async fn load(state: &AppState, account_id: AccountId, conversation_id: ConversationId) -> ApiResult<Self> {
        let conversation = state.store.conversation(account_id, conversation_id).await?;
        Self::for_contact(state, account_id, conversation.contact_id).await
    }

    /// The same facts for a customer, whatever the conversation (journeys
    /// write to customers before they write to us).
    pub async fn for_contact(state: &AppState, account_id: AccountId, contact_id: threadline_domain::ids::ContactId) -> ApiResult<Self> {
        let contact = state.store.contact(account_id, contact_id).await?;
        let last_inbound = state.store.last_inbound_by_channel(account_id, contact.id).await?;
        let inboxes = state.store.inboxes(account_id).await?;
        let chat_open = state.chat_presence.is_connected(contact.id);
        // Devices matter only where an in-app inbox can push: accounts without
        // one (most) pay no query on every reply.
        let pushes = inboxes.iter().any(|i| i.channel == Channel::InApp && crate::channels::provider_connected(i));
        let push_inboxes = match pushes {
            true => state.store.push_devices(account_id, contact.id).await?.into_iter().map(|d| d.inbox_id).collect(),
            false => Vec::new(),
        };
        Ok(ReplyContext { contact, last_inbound, inboxes, chat_open, push_inboxes })
    }

    /// The channel of the customer's most recent message — except that a
    /// chat visitor who has left, and gave an email address, is answered by
    /// email so the answer reaches them, unless the app can notify them.
    pub fn default_channel(&self) -> Option<Channel> {
        let last = self.last_inbound.first().map(|(c, _, _)| *c)?;
        let left_chat = matches!(last, Channel::WebChat | Channel::InApp) && !self.chat_open;
        let notified = last == Channel::InApp && self.can_push(self.facts(Channel::InApp).inbox_id);
        if left_chat && !notified && judge(&self.facts(Channel::Email), OffsetDateTime::now_utc()).allowed {
            return Some(Channel::Email);
        }
        Some(last)
    }

    /// Whether a reply through this in-app inbox reaches the customer as a
    /// push notification: a device there, and the inbox's push keys.
    pub fn can_push(&self, inbox_id: Option<InboxId>) -> bool {
        let Some(inbox_id) = inbox_id else { return false };
        self.push_inboxes.contains(&inbox_id)
            && self.inboxes.iter().any(|i| i.id == inbox_id && i.channel == Channel::InApp && crate::channels::provider_connected(i))
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

/// Who writes a reply.
#[derive(Debug, Clone)]
pub enum Author {
    User(threadline_domain::ids::UserId),
    /// `builtin`, or an agent bot's id.
    Bot(String),
    /// Threadline itself (a journey's message): sent as `system`.
    System,
}

/// A reply to send, checked for its form (text, HTML and attachments
/// parsed) but not yet for the channel's rules.
pub struct Draft {
    pub author: Author,
    /// Default: the channel the customer last wrote on.
    pub channel: Option<Channel>,
    pub inbox_id: Option<InboxId>,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<threadline_store::NewAttachment>,
    /// An approved template and its values, instead of free text.
    pub template: Option<(threadline_domain::ids::TemplateId, Vec<String>)>,
    pub subject: Option<String>,
}

/// Sends a reply on the chosen channel if the channel's rules allow it now
/// (otherwise 422 with a code naming why: `window_closed`, `no_identity`,
/// `no_inbox`, `no_consent`), and what the channel can carry: stored with
/// its send job when Threadline sends it through a provider.
pub async fn send(state: &AppState, account_id: AccountId, id: ConversationId, draft: Draft) -> ApiResult<Message> {
    let context = ReplyContext::load(state, account_id, id).await?;
    let outbound = compose(state, account_id, &context, Some(id), draft).await?;
    let message = state.store.create_outbound_message(account_id, id, &outbound).await?;
    Ok(message)
}

/// Checks a draft against the channel's rules and what it can carry, and
/// makes the message to store (with its send job when Threadline sends it).
/// `conversation` names the conversation an e-mail's subject continues.
pub async fn compose(
    state: &AppState,
    account_id: AccountId,
    context: &ReplyContext,
    conversation: Option<ConversationId>,
    draft: Draft,
) -> ApiResult<OutboundMessage> {
    let mut text = draft.text;
    let html = draft.html;
    let attachments = draft.attachments;
    let channel = draft.channel.or(context.default_channel()).unwrap_or(Channel::Api);
    let option = context.judge(channel, state.clock.now());
    let capabilities = capabilities_for(channel);

    // A template: allowed whenever everything but the window is in order.
    let mut template_use = None;
    if let Some((template_id, variables)) = &draft.template {
        let template = state.store.template(account_id, *template_id).await.map_err(|e| match e {
            threadline_store::StoreError::NotFound => ApiError::invalid("template.template_id", "no such template in this account"),
            other => other.into(),
        })?;
        if template.channel != channel {
            return Err(ApiError::invalid(
                "template.template_id",
                format!("is a {} template, and this reply goes out on {channel}", template.channel),
            ));
        }
        if variables.len() as i64 != template.variables {
            return Err(ApiError::invalid(
                "template.variables",
                format!("the template has {} variables and {} values were given", template.variables, variables.len()),
            ));
        }
        if !text.trim().is_empty() || html.is_some() || !attachments.is_empty() {
            return Err(ApiError::invalid("text", "a template message carries the template's text only"));
        }
        if let (Some(blocker), false) = (option.blocker, option.template_allowed) {
            return Err(refused(blocker, &option));
        }
        text = render(&template.body, variables);
        template_use = Some(TemplateUse { name: template.name, language: template.language, parameters: variables.clone() });
    } else if let Some(blocker) = option.blocker {
        return Err(refused(blocker, &option));
    }

    // What the channel can carry.
    if let Some(capabilities) = capabilities {
        let mut errors = ValidationErrors::new();
        let chars = text.chars().count();
        if attachments.len() > capabilities.max_attachments {
            errors.push("attachments", format!("{channel} carries at most {} attachment(s) per message", capabilities.max_attachments));
        }
        if !attachments.is_empty() && !text.is_empty() && !capabilities.text_with_attachment {
            errors.push("attachments", format!("{channel} sends text and an attachment as separate messages: send them one by one"));
        } else if !attachments.is_empty() && chars > capabilities.max_caption_chars {
            errors.push("text", format!("a caption on {channel} is at most {} characters", capabilities.max_caption_chars));
        } else if chars > capabilities.max_text_chars {
            errors.push("text", format!("a {channel} message is at most {} characters", capabilities.max_text_chars));
        }
        if html.is_some() && text.trim().is_empty() {
            errors.push("html", format!("{channel} sends plain text: give `text`"));
        }
        errors.into_result(())?;
    }

    let inbox_id = draft.inbox_id.or(option.inbox_id);
    // Threadline sends through the provider when the inbox is connected to
    // it; otherwise the integration serving the inbox delivers the reply.
    let connected = context.inboxes.iter().any(|i| Some(i.id) == inbox_id && crate::channels::provider_connected(i));
    // An app user is notified only when their chat is closed (an open one
    // shows the reply at once) and they have a device to notify.
    let notify = channel != Channel::InApp || (!context.chat_open && context.can_push(inbox_id));
    let delivery = match (connected && notify, option.recipient.clone()) {
        (true, Some(recipient)) => Some(OutboundDelivery {
            recipient,
            template: template_use,
            human_agent_tag: option.human_agent_tag && draft.template.is_none(),
            choices: Vec::new(),
            choices_button: None,
        }),
        _ => None,
    };
    let subject = match (&draft.subject, channel) {
        (Some(subject), _) => {
            let subject = subject.trim();
            if subject.is_empty() || subject.chars().count() > 998 || subject.chars().any(char::is_control) {
                return Err(ApiError::invalid("subject", "must be one line of 1 to 998 characters"));
            }
            Some(subject.to_owned())
        }
        (None, Channel::Email) => match conversation {
            Some(id) => {
                let inbox = context.inboxes.iter().find(|i| Some(i.id) == inbox_id);
                Some(crate::email::reply_subject(state, account_id, id, inbox).await?)
            }
            None => Some(state.store.account(account_id).await?.name),
        },
        (None, _) => None,
    };
    let outbound = OutboundMessage {
        kind: MessageKind::Message,
        channel,
        inbox_id,
        sender: match &draft.author {
            Author::User(id) => Some(*id),
            Author::Bot(_) | Author::System => None,
        },
        bot: match &draft.author {
            Author::Bot(name) => Some(name.clone()),
            Author::User(_) | Author::System => None,
        },
        delivery,
        text,
        html,
        subject,
        attachments,
        mentions: Vec::new(),
        choices: Vec::new(),
    };
    Ok(outbound)
}

fn refused(blocker: Blocker, option: &ReplyOption) -> ApiError {
    let code = match blocker {
        Blocker::NoIdentity => "no_identity",
        Blocker::NoInbox => "no_inbox",
        Blocker::NoConsent => "no_consent",
        Blocker::WindowClosed => "window_closed",
    };
    let mut message = option.reason.clone().unwrap_or_default();
    if blocker == Blocker::WindowClosed && option.template_allowed {
        message.push_str(&format!("; send one with `template` (approved templates: GET /api/v1/templates?channel={})", option.channel));
    }
    ApiError::Refused { code, message }
}
