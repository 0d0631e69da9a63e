//! Group commit for inbound messages.
//!
//! Every inbound message goes through one queue per process. A writer task
//! takes whatever is waiting (up to [`MAX_BATCH`]) and stores it in one
//! transaction with set-based statements: one query finds every sender's
//! identities, one finds their latest conversations, one multi-row INSERT
//! writes the messages, and so on — about ten statements per batch instead of
//! ten per message, and one commit (one fsync with `sqlite_sync = full`).
//! Under light load a batch is one message and nothing waits; under heavy
//! load batches grow by themselves.
//!
//! The batch applies exactly the rules of the per-message path
//! ([`Store::ingest_one`]): the same identity resolution, the same
//! continuity rule from the domain, the same events. Messages with an
//! idempotency key or attachments take the per-message path directly (the
//! writer never sees them), and if a batch
//! fails as a whole (a unique-constraint race with another node, say) each of
//! its messages is retried on its own, so one bad message never fails others.

use std::collections::{HashMap, HashSet};

use std::sync::Arc;
use threadline_domain::contact::{Contact, Identity};
use threadline_domain::conversation::{Continuity, Conversation, Handler, LatestConversation, continue_or_open};
use threadline_domain::event::{DomainEvent, EventKind};
use threadline_domain::identity::{IdentityKind, NormalizedIdentity};
use threadline_domain::ids::{AccountId, ContactId, ConversationId, IdentityId, InboxId, MessageId};
use threadline_domain::message::Message;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::conversations::{conversation_event, load_conversation};
use threadline_domain::ingest::{self, continue_with, new_conversation, sender, stored_message};

use crate::messages::{insert_conversations, insert_messages, load_message, message_event, update_continued};
use crate::rows::{self, CONVERSATION_COLUMNS};
use crate::{Account, Backend, IdempotencyKey, InboundMessage, IngestOutcome, Result, Store, StoreError, micros, now};

/// The most messages stored in one transaction.
pub const MAX_BATCH: usize = 64;

/// What [`Store::ingest_inbound`] returns: the outcome, and whether it was
/// an idempotent replay. (Its events leave through the relay.)
pub type Ingested = (IngestOutcome, bool);

pub(crate) struct IngestJob {
    account: Account,
    inbound: InboundMessage,
    idempotency: Option<IdempotencyKey>,
    reply: oneshot::Sender<Result<Ingested>>,
}

/// Starts the writer for `store` and returns its queue.
/// How many batches are stored at once. SQLite has one writer, so one;
/// PostgreSQL overlaps a few transactions to hide round-trip latency
/// (batches that race on a new identity fall back to the per-message path).
fn writers(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 4,
    }
}

/// Starts the writers for `store` and returns their queue.
pub(crate) fn start(store: Store) -> mpsc::Sender<IngestJob> {
    let (sender, receiver) = mpsc::channel::<IngestJob>(4 * MAX_BATCH);
    let receiver = Arc::new(Mutex::new(receiver));
    for _ in 0..writers(store.backend) {
        let (store, receiver) = (store.clone(), receiver.clone());
        tokio::spawn(async move {
            loop {
                let jobs = {
                    // Whoever holds the receiver takes everything waiting.
                    let mut receiver = receiver.lock().await;
                    let Some(first) = receiver.recv().await else { return };
                    let mut jobs = vec![first];
                    while jobs.len() < MAX_BATCH {
                        match receiver.try_recv() {
                            Ok(job) => jobs.push(job),
                            Err(_) => break,
                        }
                    }
                    jobs
                };
                store.process(jobs).await;
            }
        });
    }
    sender
}

impl Store {
    /// Stores an inbound message: resolves the sender to a contact (creating
    /// it if unknown), continues their open conversation whatever channel it
    /// was on or opens one, and records the events — committed before this
    /// returns. With an idempotency key that was seen before, the first
    /// outcome is returned and `replayed` is set.
    pub async fn ingest_inbound(
        &self,
        account: &Account,
        inbound: &InboundMessage,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<Ingested> {
        // Idempotency keys, attachments, threads and what may answer a
        // survey (a bare score) take the per-message path.
        let batchable = idempotency.is_none()
            && inbound.attachments.is_empty()
            && inbound.thread.is_none()
            && !threadline_domain::survey::looks_like_answer(&inbound.text);
        let Some(queue) = self.ingest_queue.as_ref().filter(|_| batchable) else {
            return self.ingest_one(account, inbound, idempotency).await;
        };
        let (reply, answer) = oneshot::channel();
        let job = IngestJob { account: account.clone(), inbound: inbound.clone(), idempotency: idempotency.cloned(), reply };
        if queue.send(job).await.is_err() {
            return self.ingest_one(account, inbound, idempotency).await;
        }
        answer.await.unwrap_or(Err(StoreError::Corrupt("the ingest writer stopped".into())))
    }

    async fn process(&self, jobs: Vec<IngestJob>) {
        let mut by_account: HashMap<AccountId, Vec<IngestJob>> = HashMap::new();
        for job in jobs {
            by_account.entry(job.account.id).or_default().push(job);
        }
        for (_, jobs) in by_account {
            if jobs.len() == 1 {
                for job in jobs {
                    let result = self.ingest_one(&job.account, &job.inbound, job.idempotency.as_ref()).await;
                    let _ = job.reply.send(result);
                }
                continue;
            }
            let inbound: Vec<&InboundMessage> = jobs.iter().map(|j| &j.inbound).collect();
            let started = std::time::Instant::now();
            let result = self.ingest_batch(&jobs[0].account, &inbound).await;
            tracing::debug!(size = jobs.len(), micros = started.elapsed().as_micros() as u64, ok = result.is_ok(), "stored a batch");
            match result {
                Ok(results) => {
                    for (job, result) in jobs.into_iter().zip(results) {
                        let _ = job.reply.send(Ok(result));
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, size = jobs.len(), "batch failed; storing its messages one by one");
                    for job in jobs {
                        let result = self.ingest_one(&job.account, &job.inbound, job.idempotency.as_ref()).await;
                        let _ = job.reply.send(result);
                    }
                }
            }
        }
    }

    /// Stores `jobs` (one account's, none with idempotency keys or
    /// attachments) in one transaction.
    async fn ingest_batch(&self, account: &Account, jobs: &[&InboundMessage]) -> Result<Vec<Ingested>> {
        let account_id = account.id;
        let a = account_id.to_string();
        let mut tx = self.begin_write().await?;
        // After the write gate, so no row committed while waiting is newer.
        let at = now();
        let values: Vec<String> = jobs.iter().flat_map(|j| j.identities.iter().map(|i| format!("identity:{}", i.value))).collect();
        tx.lock_keys(account_id, &values).await?;

        // Provider ids stored before: those messages are duplicates. Looked up
        // per inbox, which is how the unique index is keyed.
        let mut provider_ids: HashMap<InboxId, Vec<String>> = HashMap::new();
        for job in jobs {
            if let Some(id) = &job.provider_message_id {
                provider_ids.entry(job.inbox_id).or_default().push(id.clone());
            }
        }
        let mut stored: HashMap<(InboxId, String), MessageId> = HashMap::new();
        for (inbox, ids) in &provider_ids {
            let ids = rows::padded(ids);
            let sql = format!(
                "SELECT id, provider_message_id FROM messages WHERE inbox_id = $1 AND account_id = $2 AND provider_message_id IN ({})",
                rows::list(3, ids.len())
            );
            let mut query = sqlx::query(&sql).bind(inbox.to_string()).bind(&a);
            for id in &ids {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(tx.conn()).await? {
                stored.insert((*inbox, rows::text(&row, "provider_message_id")?), rows::parse(&row, "id")?);
            }
        }

        // Every identity of every sender, with its equivalents, in one query.
        let mut values: Vec<&str> = jobs.iter().flat_map(|j| j.identities.iter().map(|i| i.value.as_str())).collect();
        values.sort_unstable();
        values.dedup();
        let values = rows::padded(&values);
        let mut owners: HashMap<(IdentityKind, String), ContactId> = HashMap::new();
        let mut named: HashSet<ContactId> = HashSet::new();
        if !values.is_empty() {
            let sql = format!(
                "SELECT i.contact_id, i.kind, i.value, c.name FROM identities i JOIN contacts c ON c.id = i.contact_id \
                 WHERE i.account_id = $1 AND i.value IN ({})",
                rows::list(2, values.len())
            );
            let mut query = sqlx::query(&sql).bind(&a);
            for v in &values {
                query = query.bind(*v);
            }
            for row in query.fetch_all(tx.conn()).await? {
                let contact: ContactId = rows::parse(&row, "contact_id")?;
                if rows::opt_text(&row, "name")?.is_some() {
                    named.insert(contact);
                }
                owners.insert((rows::parse(&row, "kind")?, rows::text(&row, "value")?), contact);
            }
        }

        // Resolve each sender in order, so a new contact created by one
        // message is found by the next message from the same address.
        let mut plans: Vec<Plan> = Vec::with_capacity(jobs.len());
        let mut seen_provider: HashMap<(InboxId, String), usize> = HashMap::new();
        let mut new_contacts: Vec<Contact> = Vec::new();
        let mut new_identities: Vec<(ContactId, Identity)> = Vec::new();
        let mut name_updates: Vec<(ContactId, String)> = Vec::new();
        let mut language_updates: Vec<(ContactId, String)> = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            if let Some(pid) = &job.provider_message_id {
                let key = (job.inbox_id, pid.clone());
                if let Some(id) = stored.get(&key) {
                    plans.push(Plan::StoredBefore(*id));
                    continue;
                }
                if let Some(&first) = seen_provider.get(&key) {
                    plans.push(Plan::SameAs(first));
                    continue;
                }
                seen_provider.insert(key, i);
            }
            let found = sender(&job.identities, |i| owners.get(&(i.kind, i.value.clone())).copied());
            let mut linked = Vec::new();
            let (contact_id, contact_created) = match found {
                Some(contact_id) => {
                    for identity in &job.identities {
                        let key = (identity.kind, identity.value.clone());
                        if let std::collections::hash_map::Entry::Vacant(slot) = owners.entry(key) {
                            slot.insert(contact_id);
                            new_identities.push((contact_id, new_identity(identity, at)));
                            linked.push(identity.clone());
                        }
                    }
                    if let Some(name) = &job.sender_name
                        && named.insert(contact_id)
                    {
                        name_updates.push((contact_id, name.clone()));
                    }
                    if let Some(language) = &job.sender_language {
                        language_updates.push((contact_id, language.clone()));
                    }
                    (contact_id, false)
                }
                None => {
                    let mut contact = Contact {
                        id: ContactId::new(),
                        name: job.sender_name.clone(),
                        language: job.sender_language.clone(),
                        attributes: Default::default(),
                        custom_attributes: Default::default(),
                        preferred_channels: Default::default(),
                        identities: Vec::new(),
                        consents: Vec::new(),
                        created_at: at,
                        updated_at: at,
                    };
                    for identity in &job.identities {
                        if owners.insert((identity.kind, identity.value.clone()), contact.id).is_none() {
                            let row = new_identity(identity, at);
                            contact.identities.push(row.clone());
                            new_identities.push((contact.id, row));
                        }
                    }
                    if contact.name.is_some() {
                        named.insert(contact.id);
                    }
                    let id = contact.id;
                    new_contacts.push(contact);
                    (id, true)
                }
            };
            plans.push(Plan::Store {
                contact_id,
                contact_created,
                linked,
                conversation_id: None,
                conversation_created: false,
                reopened: false,
                changed: false,
            });
        }

        // The latest conversation of every returning contact, in one query.
        let mut returning: Vec<ContactId> = plans
            .iter()
            .filter_map(|p| match p {
                Plan::Store { contact_id, contact_created: false, .. } => Some(*contact_id),
                _ => None,
            })
            .collect();
        returning.sort_unstable();
        returning.dedup();
        tx.lock_keys(account_id, &returning.iter().map(|c| format!("contact:{c}")).collect::<Vec<_>>()).await?;
        let mut current: HashMap<ContactId, Conversation> = HashMap::new();
        if !returning.is_empty() {
            // The index on (contact_id, last_activity_at) answers each MAX.
            let returning = rows::padded(&returning);
            let sql = format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE account_id = $1 AND contact_id IN ({}) \
                 AND last_activity_at = (SELECT MAX(l.last_activity_at) FROM conversations l WHERE l.account_id = c.account_id AND l.contact_id = c.contact_id)",
                rows::list(2, returning.len())
            );
            let mut query = sqlx::query(&sql).bind(&a);
            for c in &returning {
                query = query.bind(c.to_string());
            }
            for row in query.fetch_all(tx.conn()).await? {
                let conversation = rows::conversation(&row)?;
                // Two conversations touched in the same microsecond: the newer id wins, as in the per-message path.
                let keep = current.get(&conversation.contact_id).is_none_or(|c| c.id < conversation.id);
                if keep {
                    current.insert(conversation.contact_id, conversation);
                }
            }
        }

        // The continuity rule, message by message.
        let loaded: HashMap<ConversationId, Conversation> = current.values().map(|c| (c.id, c.clone())).collect();
        let mut new_conversations: Vec<ConversationId> = Vec::new();
        let mut continued: Vec<ConversationId> = Vec::new();
        for (plan, job) in plans.iter_mut().zip(jobs) {
            let Plan::Store { contact_id, conversation_id, conversation_created, reopened, changed, .. } = plan else { continue };
            let latest =
                current.get(contact_id).map(|c| LatestConversation { id: c.id, status: c.status, last_activity_at: c.last_activity_at });
            match continue_or_open(latest, at, account.continuity_window()) {
                Continuity::Continue { id, reopen } => {
                    if let Some(c) = current.get_mut(contact_id) {
                        if reopen {
                            ingest::reopen(c);
                            *reopened = true;
                        }
                        if new_conversations.contains(&id) {
                            // Opened earlier in this batch: still its first write.
                            let _ = continue_with(c, job, false, at);
                        } else {
                            *changed = continue_with(c, job, reopen, at);
                        }
                    }
                    if !new_conversations.contains(&id) && !continued.contains(&id) {
                        continued.push(id);
                    }
                    *conversation_id = Some(id);
                }
                Continuity::OpenNew => {
                    let c = new_conversation(*contact_id, job, at);
                    new_conversations.push(c.id);
                    *conversation_id = Some(c.id);
                    *conversation_created = true;
                    current.insert(*contact_id, c);
                }
            }
        }

        // Writes: a few multi-row statements for the whole batch.
        for chunk in rows::fixed_chunks(&new_contacts) {
            let sql = format!(
                "INSERT INTO contacts (id, account_id, name, attributes, custom_attributes, preferred_channels, created_at, updated_at, name_key, language) \
                 VALUES {}",
                rows::placeholders(tx.backend(), chunk.len(), 10)
            );
            let mut query = sqlx::query(&sql);
            for c in chunk {
                query = query
                    .bind(c.id.to_string())
                    .bind(&a)
                    .bind(c.name.clone())
                    .bind("{}")
                    .bind("{}")
                    .bind("{}")
                    .bind(micros(at))
                    .bind(micros(at))
                    .bind(crate::contacts::stored_name_key(c.name.as_deref()))
                    .bind(c.language.clone());
            }
            query.execute(tx.conn()).await?;
        }
        for chunk in rows::fixed_chunks(&new_identities) {
            let sql = format!(
                "INSERT INTO identities (id, account_id, contact_id, kind, value, created_at) VALUES {} \
                 ON CONFLICT (account_id, kind, value) DO NOTHING",
                rows::placeholders(tx.backend(), chunk.len(), 6)
            );
            let mut query = sqlx::query(&sql);
            for (contact, identity) in chunk {
                query = query
                    .bind(identity.id.to_string())
                    .bind(&a)
                    .bind(contact.to_string())
                    .bind(identity.kind.as_str())
                    .bind(identity.value.clone())
                    .bind(micros(at));
            }
            if query.execute(tx.conn()).await?.rows_affected() != chunk.len() as u64 {
                // Another writer linked one of these identities meanwhile.
                return Err(StoreError::Race);
            }
        }
        for (contact, name) in &name_updates {
            sqlx::query("UPDATE contacts SET name = $3, updated_at = $4, name_key = $5 WHERE id = $1 AND account_id = $2 AND name IS NULL")
                .bind(contact.to_string())
                .bind(&a)
                .bind(name)
                .bind(micros(at))
                .bind(crate::contacts::stored_name_key(Some(name)))
                .execute(tx.conn())
                .await?;
        }
        for (contact, language) in &language_updates {
            crate::messages::enrich_language(&mut tx, account_id, *contact, language, at).await?;
        }
        let created: Vec<&Conversation> = current.values().filter(|c| new_conversations.contains(&c.id)).collect();
        insert_conversations(&mut tx, account_id, &created).await?;
        // Continued conversations all end open, touched now and with the
        // customer waiting: one statement for those where that is all; the
        // few whose channel, language, category, priority, team or queue
        // changed are written one by one.
        let mut plain: Vec<ConversationId> = Vec::new();
        for id in &continued {
            let now_state = current.values().find(|c| c.id == *id);
            let before = loaded.get(id);
            let same = |a: &Conversation, b: &Conversation| {
                (a.channel, &a.language, &a.category, a.priority, a.team_id, a.queued_at)
                    == (b.channel, &b.language, &b.category, b.priority, b.team_id, b.queued_at)
            };
            match (now_state, before) {
                (Some(c), Some(b)) if !same(c, b) => update_continued(&mut tx, account_id, c).await?,
                _ => plain.push(*id),
            }
        }
        for chunk in plain.chunks(256) {
            let chunk = rows::padded(chunk);
            let sql = format!(
                "UPDATE conversations SET status = 'open', snoozed_until = NULL, resolved_at = NULL, last_activity_at = $1, updated_at = $1, \
                 awaiting_since = COALESCE(awaiting_since, $1) WHERE account_id = $2 AND id IN ({})",
                rows::list(3, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(micros(at)).bind(&a);
            for id in &chunk {
                query = query.bind(id.to_string());
            }
            query.execute(tx.conn()).await?;
        }
        let mut messages: Vec<Option<Message>> = Vec::with_capacity(jobs.len());
        for (job, plan) in jobs.iter().zip(&plans) {
            messages.push(match plan {
                Plan::Store { contact_id, conversation_id: Some(conversation_id), .. } => {
                    Some(stored_message(job, *conversation_id, *contact_id, at))
                }
                _ => None,
            });
        }
        let to_insert: Vec<&Message> = messages.iter().flatten().collect();
        insert_messages(&mut tx, account_id, &to_insert).await?;
        let for_bots: Vec<&Message> = to_insert
            .iter()
            .copied()
            .filter(|m| current.get(&m.contact_id).is_some_and(|c| c.id == m.conversation_id && c.handler == Handler::Bot))
            .collect();
        crate::bot::enqueue_bot_jobs(&mut tx, account_id, &for_bots, at).await?;
        if current.values().any(|c| c.handler == Handler::Human && c.assignee_id.is_none() && c.team_id.is_some()) {
            tx.routing_needed = true;
        }

        // Events, message by message, in the order the per-message path emits them.
        let contacts_by_id: HashMap<ContactId, &Contact> = new_contacts.iter().map(|c| (c.id, c)).collect();
        let mut outcomes: Vec<Option<IngestOutcome>> = Vec::with_capacity(jobs.len());
        for (plan, message) in plans.iter().zip(&messages) {
            let outcome = match (plan, message) {
                (
                    Plan::Store {
                        contact_id,
                        contact_created,
                        linked,
                        conversation_id: Some(cid),
                        conversation_created,
                        reopened,
                        changed,
                    },
                    Some(message),
                ) => {
                    let conversation = current
                        .get(contact_id)
                        .filter(|c| c.id == *cid)
                        .cloned()
                        .ok_or_else(|| StoreError::Corrupt("lost a conversation".into()))?;
                    if *contact_created && let Some(contact) = contacts_by_id.get(contact_id) {
                        tx.emit(DomainEvent::new(account_id, EventKind::ContactCreated, serde_json::json!({ "contact": contact }), at));
                    }
                    for identity in linked {
                        tx.emit(DomainEvent::new(
                            account_id,
                            EventKind::IdentityLinked,
                            serde_json::json!({ "contact_id": contact_id, "identity": identity }),
                            at,
                        ));
                    }
                    if *conversation_created {
                        tx.emit(conversation_event(account_id, EventKind::ConversationCreated, &conversation, at));
                    } else if *reopened || *changed {
                        tx.emit(conversation_event(account_id, EventKind::ConversationUpdated, &conversation, at));
                    }
                    tx.emit(message_event(account_id, message, &conversation, at));
                    Some(IngestOutcome {
                        message: message.clone(),
                        conversation,
                        contact_id: *contact_id,
                        contact_created: *contact_created,
                        conversation_created: *conversation_created,
                        duplicate: false,
                    })
                }
                (Plan::StoredBefore(id), _) => {
                    let message = load_message(tx.conn(), account_id, *id).await?;
                    let conversation = load_conversation(tx.conn(), account_id, message.conversation_id).await?;
                    Some(IngestOutcome {
                        contact_id: message.contact_id,
                        message,
                        conversation,
                        contact_created: false,
                        conversation_created: false,
                        duplicate: true,
                    })
                }
                _ => None,
            };
            outcomes.push(outcome);
        }
        tx.commit().await?;

        let mut results = Vec::with_capacity(jobs.len());
        for (i, plan) in plans.iter().enumerate() {
            let outcome = match plan {
                Plan::SameAs(first) => outcomes[*first].clone().map(|o| IngestOutcome {
                    contact_created: false,
                    conversation_created: false,
                    duplicate: true,
                    ..o
                }),
                _ => outcomes[i].clone(),
            };
            let outcome = outcome.ok_or_else(|| StoreError::Corrupt("a batched message has no outcome".into()))?;
            results.push((outcome, false));
        }
        Ok(results)
    }
}

enum Plan {
    /// Store the message for this contact.
    Store {
        contact_id: ContactId,
        contact_created: bool,
        linked: Vec<NormalizedIdentity>,
        conversation_id: Option<ConversationId>,
        conversation_created: bool,
        reopened: bool,
        /// Its category, priority or team changed.
        changed: bool,
    },
    /// Its provider id was stored before this batch.
    StoredBefore(MessageId),
    /// Its provider id repeats an earlier message of this batch.
    SameAs(usize),
}

fn new_identity(identity: &NormalizedIdentity, at: time::OffsetDateTime) -> Identity {
    Identity { id: IdentityId::new(), kind: identity.kind, value: identity.value.clone(), created_at: at }
}
