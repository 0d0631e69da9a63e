//! The rules of taking in a customer's message, whichever path stores it
//! (one message in its own transaction, or many in one): who sent it, what
//! it changes in the conversation it continues or opens, and the message as
//! stored. The store looks up what they need and writes what they decide;
//! which conversation a message goes to is
//! [`crate::conversation::continue_or_open`].

use time::OffsetDateTime;

use crate::channel::Channel;
use crate::conversation::{Conversation, ConversationStatus, Handler, Priority};
use crate::identity::NormalizedIdentity;
use crate::ids::{ContactId, ConversationId, InboxId, MessageId, TeamId};
use crate::message::{DeliveryStatus, Direction, Message, MessageKind, SenderKind};

/// An attachment to store with a message.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
    /// An email's inline image: the `cid:` its HTML refers to.
    pub content_id: Option<String>,
}

/// A message from a customer, parsed and validated by its channel.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    pub inbox_id: InboxId,
    pub channel: Channel,
    pub sender_name: Option<String>,
    /// The sender's language as the provider knows it (an ISO 639-1 code,
    /// e.g. Telegram's `language_code`): a new contact takes it, and a
    /// contact without one gets it.
    pub sender_language: Option<String>,
    /// The sender's identities, the channel's own first: it decides the
    /// contact when the others belong to different people.
    pub identities: Vec<NormalizedIdentity>,
    pub text: String,
    pub html: Option<String>,
    pub provider_message_id: Option<String>,
    pub attachments: Vec<NewAttachment>,
    /// The conversation this message answers, when the channel can tell
    /// (an email's `In-Reply-To`, or its reply address). It is followed
    /// only if it belongs to the sender's contact; otherwise the usual
    /// continuity rule decides.
    pub thread: Option<ConversationId>,
    pub subject: Option<String>,
    pub quoted_text: Option<String>,
    pub automated: Option<String>,
    pub problems: Vec<String>,
    /// What triage understood of it (the server reads it before storing):
    /// stored with the message, and a new conversation takes its category
    /// and urgency; a continued one gets a category if it had none, and a
    /// priority raised, never lowered.
    pub triage: Option<crate::triage::Triage>,
    /// The team a routing rule sends it to; a conversation that has a team
    /// keeps it.
    pub team_id: Option<TeamId>,
    /// A new conversation starts with the inbox's bot instead of a person.
    pub bot_first: bool,
}

impl InboundMessage {
    /// Removes U+0000 from every text the message carries. Channels whose
    /// input cannot be refused (providers' webhooks, mail) go through this
    /// before storing: PostgreSQL cannot store NUL, and SQLite must keep the
    /// same text.
    pub fn strip_nul(&mut self) {
        use crate::validation::strip_nul;
        strip_nul(&mut self.text);
        for text in [
            &mut self.sender_name,
            &mut self.sender_language,
            &mut self.html,
            &mut self.provider_message_id,
            &mut self.subject,
            &mut self.quoted_text,
            &mut self.automated,
        ]
        .into_iter()
        .flatten()
        {
            strip_nul(text);
        }
        for problem in &mut self.problems {
            strip_nul(problem);
        }
        for attachment in &mut self.attachments {
            strip_nul(&mut attachment.filename);
            strip_nul(&mut attachment.content_type);
            if let Some(cid) = &mut attachment.content_id {
                strip_nul(cid);
            }
        }
    }

    /// An empty message for `inbox`; fill in what the channel knows.
    pub fn new(inbox_id: InboxId, channel: Channel) -> Self {
        InboundMessage {
            inbox_id,
            channel,
            sender_name: None,
            sender_language: None,
            identities: Vec::new(),
            text: String::new(),
            html: None,
            provider_message_id: None,
            attachments: Vec::new(),
            thread: None,
            subject: None,
            quoted_text: None,
            automated: None,
            problems: Vec::new(),
            triage: None,
            team_id: None,
            bot_first: false,
        }
    }
}

/// Who sent a message: the owner of the first of its identities known as
/// such; else the owner of one known under an equivalent kind (a WhatsApp
/// id that is a known phone number); else nobody yet (a new contact).
/// `owner` answers from what the store looked up.
pub fn sender(identities: &[NormalizedIdentity], owner: impl Fn(&NormalizedIdentity) -> Option<ContactId>) -> Option<ContactId> {
    identities.iter().find_map(&owner).or_else(|| {
        identities.iter().find_map(|identity| {
            identity.kind.equivalents().iter().find_map(|kind| owner(&NormalizedIdentity { kind: *kind, value: identity.value.clone() }))
        })
    })
}

/// The conversation a message opens: with a person (in the queue) or the
/// inbox's bot, taking what the message says of itself.
pub fn new_conversation(contact_id: ContactId, inbound: &InboundMessage, at: OffsetDateTime) -> Conversation {
    let handler = if inbound.bot_first { Handler::Bot } else { Handler::Human };
    let mut conversation = Conversation {
        id: ConversationId::new(),
        contact_id,
        status: ConversationStatus::Open,
        priority: Priority::Normal,
        assignee_id: None,
        team_id: None,
        labels: Vec::new(),
        category: None,
        snoozed_until: None,
        channel: None,
        language: None,
        handler,
        queued_at: (handler == Handler::Human).then_some(at),
        first_response_at: None,
        awaiting_since: None,
        resolved_at: None,
        last_activity_at: at,
        created_at: at,
        updated_at: at,
    };
    absorb(&mut conversation, inbound, at);
    conversation
}

/// A conversation the message continues that was not open (snoozed,
/// pending, or a resolved one it answers) is open again.
pub fn reopen(c: &mut Conversation) {
    c.status = ConversationStatus::Open;
    c.snoozed_until = None;
    c.resolved_at = None;
}

/// Applies `inbound` to a conversation it continues (after [`reopen`] when
/// it `reopened` it); whether its category, priority or team changed (worth
/// a `conversation.updated`).
pub fn continue_with(c: &mut Conversation, inbound: &InboundMessage, reopened: bool, at: OffsetDateTime) -> bool {
    let before = (c.category.clone(), c.priority, c.team_id);
    absorb(c, inbound, at);
    // Back in the queue when nobody has it and it was put aside.
    if c.handler == Handler::Human && c.assignee_id.is_none() && (reopened || c.queued_at.is_none()) {
        c.queued_at = Some(at);
    }
    c.last_activity_at = at;
    c.updated_at = at;
    before != (c.category.clone(), c.priority, c.team_id)
}

/// What any inbound message sets on its conversation: the channel and
/// language the customer now uses, a category if it had none, a higher
/// priority if the message is more urgent, a team if it had none, and the
/// customer waiting for an answer.
fn absorb(c: &mut Conversation, inbound: &InboundMessage, at: OffsetDateTime) {
    c.channel = Some(inbound.channel);
    if let Some(t) = &inbound.triage {
        if t.language.is_some() {
            c.language = t.language.clone();
        }
        if c.category.is_none() {
            c.category = t.category.clone();
        }
        if crate::triage::rank(t.urgency) > crate::triage::rank(c.priority) {
            c.priority = t.urgency;
        }
    }
    if c.team_id.is_none() {
        c.team_id = inbound.team_id;
    }
    if c.awaiting_since.is_none() {
        c.awaiting_since = Some(at);
    }
}

/// The message as stored in `conversation_id`, from `contact_id`.
pub fn stored_message(inbound: &InboundMessage, conversation_id: ConversationId, contact_id: ContactId, at: OffsetDateTime) -> Message {
    Message {
        id: MessageId::new(),
        conversation_id,
        contact_id,
        kind: MessageKind::Message,
        direction: Direction::Inbound,
        channel: inbound.channel,
        inbox_id: Some(inbound.inbox_id),
        sender_kind: SenderKind::Contact,
        sender_id: Some(contact_id.to_string()),
        text: inbound.text.clone(),
        html: inbound.html.clone(),
        provider_message_id: inbound.provider_message_id.clone(),
        delivery_status: DeliveryStatus::Received,
        delivery_error: None,
        subject: inbound.subject.clone(),
        quoted_text: inbound.quoted_text.clone(),
        automated: inbound.automated.clone(),
        problems: inbound.problems.clone(),
        choices: Vec::new(),
        attachments: Vec::new(),
        triage: inbound.triage.clone().map(Box::new),
        created_at: at,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use time::macros::datetime;

    use super::*;
    use crate::identity::IdentityKind;
    use crate::triage::Triage;

    fn identity(kind: IdentityKind, value: &str) -> NormalizedIdentity {
        NormalizedIdentity { kind, value: value.into() }
    }

    fn message(text: &str) -> InboundMessage {
        let mut inbound = InboundMessage::new(InboxId::new(), Channel::Sms);
        inbound.text = text.into();
        inbound
    }

    fn triage(category: Option<&str>, urgency: Priority) -> Triage {
        Triage {
            language: Some("it".into()),
            sentiment: 0.0,
            category: category.map(str::to_owned),
            confidence: None,
            urgency,
            reasons: Vec::new(),
        }
    }

    #[test]
    fn the_sender_is_the_owner_of_the_first_known_identity_then_of_an_equivalent() {
        let (ada, bo, cy) = (ContactId::new(), ContactId::new(), ContactId::new());
        let known: HashMap<(IdentityKind, String), ContactId> = [
            ((IdentityKind::Email, "bo@example.com".to_owned()), bo),
            ((IdentityKind::Phone, "+393475550000".to_owned()), ada),
            ((IdentityKind::Whatsapp, "+393475551111".to_owned()), cy),
        ]
        .into();
        let owner = |i: &NormalizedIdentity| known.get(&(i.kind, i.value.clone())).copied();
        // The channel's own identity comes first and decides.
        let both = [identity(IdentityKind::Phone, "+393475550000"), identity(IdentityKind::Email, "bo@example.com")];
        assert_eq!(sender(&both, owner), Some(ada));
        // An unknown identity before a known one: the known one's owner.
        let later = [identity(IdentityKind::Email, "new@example.com"), identity(IdentityKind::Email, "bo@example.com")];
        assert_eq!(sender(&later, owner), Some(bo));
        // An SMS from a number known only as a WhatsApp id: the same person.
        assert_eq!(sender(&[identity(IdentityKind::Phone, "+393475551111")], owner), Some(cy));
        // An exact owner wins over an equivalent one.
        let mixed = [identity(IdentityKind::Phone, "+393475551111"), identity(IdentityKind::Email, "bo@example.com")];
        assert_eq!(sender(&mixed, owner), Some(bo));
        assert_eq!(sender(&[identity(IdentityKind::Email, "nobody@example.com")], owner), None);
    }

    #[test]
    fn a_new_conversation_takes_what_the_message_says_and_waits_in_the_queue_or_with_the_bot() {
        let at = datetime!(2026-12-06 09:00 UTC);
        let contact = ContactId::new();
        let mut inbound = message("Il pacco non è arrivato, è urgente");
        inbound.triage = Some(triage(Some("shipping"), Priority::High));
        let team = TeamId::new();
        inbound.team_id = Some(team);
        let c = new_conversation(contact, &inbound, at);
        assert_eq!(
            (c.status, c.priority, c.category.as_deref(), c.team_id),
            (ConversationStatus::Open, Priority::High, Some("shipping"), Some(team))
        );
        assert_eq!((c.channel, c.language.as_deref()), (Some(Channel::Sms), Some("it")));
        assert_eq!((c.handler, c.queued_at, c.awaiting_since), (Handler::Human, Some(at), Some(at)));

        inbound.bot_first = true;
        let with_bot = new_conversation(contact, &inbound, at);
        assert_eq!((with_bot.handler, with_bot.queued_at), (Handler::Bot, None), "the bot has it: not in a queue");
    }

    #[test]
    fn a_continued_conversation_keeps_what_it_had_and_only_raises_priority() {
        let start = datetime!(2026-12-06 09:00 UTC);
        let mut first = message("Ordine 42?");
        first.triage = Some(triage(Some("orders"), Priority::High));
        let team = TeamId::new();
        first.team_id = Some(team);
        let mut c = new_conversation(ContactId::new(), &first, start);

        let later = start + time::Duration::minutes(5);
        let mut second = message("grazie");
        second.channel = Channel::Whatsapp;
        second.triage = Some(triage(Some("thanks"), Priority::Low));
        second.team_id = Some(TeamId::new());
        let changed = continue_with(&mut c, &second, false, later);
        assert!(!changed, "nothing worth telling changed");
        assert_eq!((c.category.as_deref(), c.priority, c.team_id), (Some("orders"), Priority::High, Some(team)));
        assert_eq!(c.channel, Some(Channel::Whatsapp), "the channel the customer now uses");
        assert_eq!((c.awaiting_since, c.last_activity_at), (Some(start), later), "waiting since the first unanswered message");

        let mut urgent = message("È urgentissimo!");
        urgent.triage = Some(triage(None, Priority::Urgent));
        assert!(continue_with(&mut c, &urgent, false, later), "a raised priority is worth telling");
        assert_eq!(c.priority, Priority::Urgent);
    }

    #[test]
    fn a_reopened_conversation_goes_back_in_the_queue() {
        let at = datetime!(2026-12-06 09:00 UTC);
        let mut c = new_conversation(ContactId::new(), &message("Ciao"), at);
        c.queued_at = None;
        c.status = ConversationStatus::Snoozed;
        c.snoozed_until = Some(at + time::Duration::days(1));
        let later = at + time::Duration::hours(2);
        reopen(&mut c);
        continue_with(&mut c, &message("Ci sono novità?"), true, later);
        assert_eq!((c.status, c.snoozed_until, c.resolved_at, c.queued_at), (ConversationStatus::Open, None, None, Some(later)));

        // Someone has it: it stays theirs, out of the queue.
        let mut mine = new_conversation(ContactId::new(), &message("Ciao"), at);
        mine.assignee_id = Some(crate::ids::UserId::new());
        mine.queued_at = None;
        continue_with(&mut mine, &message("ancora io"), true, later);
        assert_eq!(mine.queued_at, None);
    }

    #[test]
    fn the_stored_message_is_the_customers_as_received() {
        let at = datetime!(2026-12-06 09:00 UTC);
        let (conversation, contact) = (ConversationId::new(), ContactId::new());
        let mut inbound = message("Buongiorno");
        inbound.provider_message_id = Some("SM123".into());
        let m = stored_message(&inbound, conversation, contact, at);
        assert_eq!((m.direction, m.sender_kind, m.delivery_status), (Direction::Inbound, SenderKind::Contact, DeliveryStatus::Received));
        assert_eq!((m.conversation_id, m.contact_id, m.sender_id), (conversation, contact, Some(contact.to_string())));
        assert_eq!((m.text.as_str(), m.provider_message_id.as_deref(), m.created_at), ("Buongiorno", Some("SM123"), at));
    }
}
