//! The rules of taking in customers' messages — one message or many stored
//! in one transaction, the same rules: who sent each ([`senders`]), which
//! conversation it continues or opens ([`place`], by
//! [`crate::conversation::continue_or_open`]), what it changes there, and
//! the message as stored. The store looks up what they need and writes
//! what they decide.

use std::collections::{HashMap, HashSet};

use time::OffsetDateTime;

use crate::channel::Channel;
use crate::contact::{Contact, Identity};
use crate::conversation::{
    Continuity, ContinuityWindow, Conversation, ConversationStatus, Handler, LatestConversation, Priority, continue_or_open, follow_thread,
};
use crate::identity::{IdentityKind, NormalizedIdentity};
use crate::ids::{ContactId, ConversationId, IdentityId, InboxId, MessageId, TeamId};
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

/// Who sent one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub contact_id: ContactId,
    /// This message is the contact's first: the batch creates it.
    pub created: bool,
    /// The message's identities newly linked to a known contact.
    pub linked: Vec<NormalizedIdentity>,
}

/// The senders of a batch of messages, and what they change in contacts.
#[derive(Debug, Clone, Default)]
pub struct Senders {
    /// Each message's, in order.
    pub of: Vec<Sender>,
    /// Contacts to create, with their identities.
    pub new_contacts: Vec<Contact>,
    /// Identities to store, the new contacts' and those linked to known ones.
    pub new_identities: Vec<(ContactId, Identity)>,
    /// Known contacts without a name, and the name a message gives them.
    pub names: Vec<(ContactId, String)>,
    /// Known contacts and the language a provider says they use (kept
    /// only by a contact that has none).
    pub languages: Vec<(ContactId, String)>,
}

/// Who sent each of `messages`, in order, given who owned each identity
/// before (`owners`, by kind and value, with every kind stored for the
/// messages' values) and which of those contacts have a name (`named`):
/// the [`sender`] when one is known — its identities not yet stored are
/// linked to it — else a new contact with the message's identities. In
/// order, so a contact one message creates is the sender of the next from
/// the same address, and each identity is stored once.
pub fn senders(
    messages: &[&InboundMessage],
    mut owners: HashMap<(IdentityKind, String), ContactId>,
    mut named: HashSet<ContactId>,
    at: OffsetDateTime,
) -> Senders {
    let mut out = Senders::default();
    let new_identity = |identity: &NormalizedIdentity| Identity {
        id: IdentityId::new(),
        kind: identity.kind,
        value: identity.value.clone(),
        created_at: at,
    };
    for message in messages {
        let found = sender(&message.identities, |i| owners.get(&(i.kind, i.value.clone())).copied());
        let sender = match found {
            Some(contact_id) => {
                let mut linked = Vec::new();
                for identity in &message.identities {
                    if let std::collections::hash_map::Entry::Vacant(slot) = owners.entry((identity.kind, identity.value.clone())) {
                        slot.insert(contact_id);
                        out.new_identities.push((contact_id, new_identity(identity)));
                        linked.push(identity.clone());
                    }
                }
                if let Some(name) = &message.sender_name
                    && named.insert(contact_id)
                {
                    out.names.push((contact_id, name.clone()));
                }
                if let Some(language) = &message.sender_language {
                    out.languages.push((contact_id, language.clone()));
                }
                Sender { contact_id, created: false, linked }
            }
            None => {
                let mut contact = Contact {
                    id: ContactId::new(),
                    name: message.sender_name.clone(),
                    language: message.sender_language.clone(),
                    attributes: Default::default(),
                    custom_attributes: Default::default(),
                    preferred_channels: Default::default(),
                    identities: Vec::new(),
                    consents: Vec::new(),
                    created_at: at,
                    updated_at: at,
                };
                for identity in &message.identities {
                    if owners.insert((identity.kind, identity.value.clone()), contact.id).is_none() {
                        let row = new_identity(identity);
                        contact.identities.push(row.clone());
                        out.new_identities.push((contact.id, row));
                    }
                }
                if contact.name.is_some() {
                    named.insert(contact.id);
                }
                let contact_id = contact.id;
                out.new_contacts.push(contact);
                Sender { contact_id, created: true, linked: Vec::new() }
            }
        };
        out.of.push(sender);
    }
    out
}

/// Where one message of a batch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub conversation_id: ConversationId,
    /// The message opened it.
    pub created: bool,
    /// The conversation was not open (snoozed, pending, or resolved and
    /// named by the message as the one it answers): it is open again.
    pub reopened: bool,
    /// It had been resolved (a reopening the reports count).
    pub was_resolved: bool,
    /// The message changed its category, priority or team.
    pub changed: bool,
}

/// The conversations of a batch: where each message went, the
/// conversations as they end up and as they were, and which were opened
/// and which continued (each once, in order).
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub placed: Vec<Placed>,
    pub conversations: HashMap<ConversationId, Conversation>,
    pub before: HashMap<ConversationId, Conversation>,
    pub opened: Vec<ConversationId>,
    pub continued: Vec<ConversationId>,
}

/// Places each message, with its sender's contact, in order: into the
/// conversation it names as the one it answers when that is the sender's
/// ([`follow_thread`]; `threads` holds those the messages name), else by
/// the continuity rule from the contact's latest conversation (`latest`,
/// each returning contact's) — which, for a later message of the same
/// contact, is where the earlier one went.
pub fn place(
    messages: &[(&InboundMessage, ContactId)],
    latest: HashMap<ContactId, Conversation>,
    threads: HashMap<ConversationId, Conversation>,
    at: OffsetDateTime,
    window: ContinuityWindow,
) -> Placement {
    let as_latest = |c: &Conversation| LatestConversation { id: c.id, status: c.status, last_activity_at: c.last_activity_at };
    let mut current: HashMap<ContactId, ConversationId> = latest.iter().map(|(contact, c)| (*contact, c.id)).collect();
    let mut out = Placement { conversations: latest.into_values().map(|c| (c.id, c)).collect(), ..Default::default() };
    for (id, c) in threads {
        out.conversations.entry(id).or_insert(c);
    }
    out.before = out.conversations.clone();
    for (message, contact) in messages {
        let thread = message.thread.and_then(|id| out.conversations.get(&id)).filter(|c| c.contact_id == *contact).map(as_latest);
        let continuity = match thread {
            Some(thread) => follow_thread(thread),
            None => continue_or_open(current.get(contact).and_then(|id| out.conversations.get(id)).map(as_latest), at, window),
        };
        let continued = match continuity {
            Continuity::Continue { id, reopen } => out.conversations.get_mut(&id).map(|c| (id, reopen, c)),
            Continuity::OpenNew => None,
        };
        let placed = match continued {
            Some((id, reopen, c)) => {
                let was_resolved = c.status == ConversationStatus::Resolved;
                if reopen {
                    self::reopen(c);
                }
                // Opened earlier in this batch: still its first write.
                let first_write = out.opened.contains(&id);
                let changed = continue_with(c, message, reopen && !first_write, at) && !first_write;
                if !first_write && !out.continued.contains(&id) {
                    out.continued.push(id);
                }
                Placed { conversation_id: id, created: false, reopened: reopen, was_resolved: was_resolved && reopen, changed }
            }
            None => {
                let c = new_conversation(*contact, message, at);
                let id = c.id;
                out.opened.push(id);
                out.conversations.insert(id, c);
                Placed { conversation_id: id, created: true, reopened: false, was_resolved: false, changed: false }
            }
        };
        current.insert(*contact, placed.conversation_id);
        out.placed.push(placed);
    }
    out
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

    fn from(kind: IdentityKind, value: &str, name: Option<&str>) -> InboundMessage {
        let mut m = message("Ciao");
        m.identities = vec![identity(kind, value)];
        m.sender_name = name.map(str::to_owned);
        m
    }

    #[test]
    fn a_batch_creates_each_new_sender_once_and_links_what_known_ones_bring() {
        let at = datetime!(2026-12-06 09:00 UTC);
        let (ada, bo) = (ContactId::new(), ContactId::new());
        let owners: HashMap<(IdentityKind, String), ContactId> =
            [((IdentityKind::Phone, "+393475550000".to_owned()), ada), ((IdentityKind::Email, "bo@example.com".to_owned()), bo)].into();
        let named: HashSet<ContactId> = [bo].into();
        let new1 = from(IdentityKind::Email, "new@example.com", Some("Nina"));
        let new2 = from(IdentityKind::Email, "new@example.com", Some("Nina"));
        // Ada writes on WhatsApp with her known number, and says her name.
        let mut ada_wa = from(IdentityKind::Whatsapp, "+393475550000", Some("Ada"));
        ada_wa.sender_language = Some("it".into());
        let bo_named = from(IdentityKind::Email, "bo@example.com", Some("Roberto"));
        let s = senders(&[&new1, &new2, &ada_wa, &bo_named], owners, named, at);

        assert_eq!(s.of.len(), 4);
        assert!(s.of[0].created && !s.of[1].created, "the second message finds the contact the first created");
        assert_eq!(s.of[0].contact_id, s.of[1].contact_id);
        assert_eq!(s.new_contacts.len(), 1);
        assert_eq!((s.new_contacts[0].name.as_deref(), s.new_contacts[0].identities.len()), (Some("Nina"), 1));
        assert_eq!((s.of[2].contact_id, s.of[2].created), (ada, false), "a WhatsApp id that is a known phone number");
        assert_eq!(s.of[2].linked, vec![identity(IdentityKind::Whatsapp, "+393475550000")], "linked to Ada");
        assert_eq!(s.new_identities.len(), 2, "Nina's address once, Ada's WhatsApp id");
        assert_eq!(s.names, vec![(ada, "Ada".to_owned())], "Ada had no name; Bo keeps his");
        assert_eq!(s.languages, vec![(ada, "it".to_owned())]);
        assert_eq!((s.of[3].contact_id, s.of[3].linked.len()), (bo, 0));
    }

    #[test]
    fn a_batch_places_each_message_where_the_one_before_left_the_contact() {
        let at = datetime!(2026-12-06 09:00 UTC);
        let window = ContinuityWindow::default();
        let (ada, bo, cy) = (ContactId::new(), ContactId::new(), ContactId::new());
        // Bo's latest was snoozed yesterday; Cy's was resolved, and Cy answers it by name.
        let mut snoozed = new_conversation(bo, &message("Ciao"), at - time::Duration::days(1));
        snoozed.status = ConversationStatus::Snoozed;
        let mut resolved = new_conversation(cy, &message("Ciao"), at - time::Duration::days(30));
        resolved.status = ConversationStatus::Resolved;
        resolved.resolved_at = Some(at - time::Duration::days(29));
        let mut reply = message("Sì, ancora rotto");
        reply.thread = Some(resolved.id);
        // Someone else's conversation named by Ada is not followed.
        let mut stray = message("Ciao");
        stray.thread = Some(snoozed.id);
        let (first, second, bo_again) = (message("Ciao"), message("Ci sei?"), message("Novità?"));
        let latest: HashMap<ContactId, Conversation> = [(bo, snoozed.clone())].into();
        let threads: HashMap<ConversationId, Conversation> = [(resolved.id, resolved.clone()), (snoozed.id, snoozed.clone())].into();
        let batch = [(&first, ada), (&second, ada), (&bo_again, bo), (&reply, cy), (&stray, ada), (&bo_again, bo)];
        let p = place(&batch, latest, threads, at, window);

        assert!(p.placed[0].created, "Ada had no conversation");
        assert_eq!(p.placed[1].conversation_id, p.placed[0].conversation_id, "her second message continues it");
        assert!(!p.placed[1].created && !p.placed[1].changed);
        assert_eq!(p.placed[4].conversation_id, p.placed[0].conversation_id, "Bo's conversation is not Ada's to answer");
        assert_eq!(
            p.placed[2],
            Placed { conversation_id: snoozed.id, created: false, reopened: true, was_resolved: false, changed: false }
        );
        assert_eq!(p.placed[5].conversation_id, snoozed.id);
        assert!(!p.placed[5].reopened, "open since Bo's first message");
        assert_eq!(
            (p.placed[3].conversation_id, p.placed[3].reopened, p.placed[3].was_resolved),
            (resolved.id, true, true),
            "a reply naming a resolved conversation reopens it"
        );
        assert_eq!(p.opened, vec![p.placed[0].conversation_id]);
        assert_eq!(p.continued, vec![snoozed.id, resolved.id], "each once, in order");
        let c = &p.conversations[&resolved.id];
        assert_eq!((c.status, c.resolved_at, c.last_activity_at), (ConversationStatus::Open, None, at));
        assert_eq!(p.before[&resolved.id].status, ConversationStatus::Resolved, "as it was, to see what changed");
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
