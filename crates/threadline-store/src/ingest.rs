//! Storing customers' messages: one path for one message in its own
//! transaction and for a batch of many in one (the group commit of
//! [`crate::ingest_queue`]). It reads top to bottom:
//! provider-id duplicates → who sent each message (the domain's
//! [`ingest::senders`], from one lookup of every identity) → survey
//! answers → where each goes (the domain's [`ingest::place`], from one
//! lookup of the senders' latest conversations and of the conversations
//! replies name) → a few multi-row writes → events, message by message.
//! Nothing is acknowledged before the caller commits.

use std::collections::{HashMap, HashSet};

use threadline_domain::contact::Contact;
use threadline_domain::conversation::{Conversation, Handler};
use threadline_domain::event::{DomainEvent, Payload};
use threadline_domain::identity::IdentityKind;
use threadline_domain::ids::{ContactId, ConversationId, InboxId, MessageId};
use threadline_domain::ingest::{self, InboundMessage, stored_message};
use threadline_domain::message::{Message, SenderKind};
use threadline_domain::metrics::Change;

use crate::attachments::insert_attachments;
use crate::conversations::{conversation_event, load_conversation};
use crate::messages::{by_provider_ids, insert_conversations, insert_messages, load_message, update_continued};
use crate::rows::{self, CONVERSATION_COLUMNS};
use crate::{Account, IngestOutcome, Result, Store, StoreError, WriteTx, micros, now};

/// What becomes of one message of a batch.
enum Plan {
    /// Stored: the `n`th message stored.
    Store(usize),
    /// Its provider id was stored before this batch.
    StoredBefore(MessageId),
    /// Its provider id repeats an earlier message of this batch.
    SameAs(usize),
}

impl Store {
    /// Stores `messages` (one account's) in `tx`: each one's outcome, in
    /// order. A unique-constraint race with another writer (PostgreSQL:
    /// two first messages from one new address) is
    /// [`StoreError::Race`]: the caller retries, and then sees the
    /// winner's rows.
    pub(crate) async fn ingest_in_tx(
        &self,
        tx: &mut WriteTx,
        account: &Account,
        messages: &[&InboundMessage],
    ) -> Result<Vec<IngestOutcome>> {
        let account_id = account.id;
        let a = account_id.to_string();
        // After the write gate, so no row committed while waiting is newer.
        let at = now();
        tx.by_key_only().await?;
        let values: Vec<String> = messages.iter().flat_map(|m| m.identities.iter().map(|i| format!("identity:{}", i.value))).collect();
        tx.lock_keys(account_id, &values).await?;

        // Provider ids stored before: those messages are duplicates. Looked
        // up per inbox, which is how the unique index is keyed.
        let mut provider_ids: HashMap<InboxId, Vec<String>> = HashMap::new();
        for message in messages {
            if let Some(id) = &message.provider_message_id {
                provider_ids.entry(message.inbox_id).or_default().push(id.clone());
            }
        }
        let mut stored_before: HashMap<(InboxId, String), MessageId> = HashMap::new();
        for (inbox, ids) in &provider_ids {
            let ids = rows::padded(ids);
            let sql = by_provider_ids(tx.backend(), "id, provider_message_id", ids.len());
            let mut query = sqlx::query(&sql).bind(inbox.to_string()).bind(&a);
            for id in &ids {
                query = query.bind(id.clone());
            }
            for row in query.fetch_all(tx.conn()).await? {
                stored_before.insert((*inbox, rows::text(&row, "provider_message_id")?), rows::parse(&row, "id")?);
            }
        }
        let mut plans: Vec<Plan> = Vec::with_capacity(messages.len());
        let mut to_store: Vec<&InboundMessage> = Vec::with_capacity(messages.len());
        let mut seen_provider: HashMap<(InboxId, String), usize> = HashMap::new();
        for (i, message) in messages.iter().enumerate() {
            if let Some(pid) = &message.provider_message_id {
                let key = (message.inbox_id, pid.clone());
                if let Some(id) = stored_before.get(&key) {
                    plans.push(Plan::StoredBefore(*id));
                    continue;
                }
                if let Some(&first) = seen_provider.get(&key) {
                    plans.push(Plan::SameAs(first));
                    continue;
                }
                seen_provider.insert(key, i);
            }
            plans.push(Plan::Store(to_store.len()));
            to_store.push(message);
        }

        // Every identity of every sender, under every kind, in one query.
        let mut values: Vec<&str> = to_store.iter().flat_map(|m| m.identities.iter().map(|i| i.value.as_str())).collect();
        values.sort_unstable();
        values.dedup();
        let values = rows::padded(&values);
        let mut owners: HashMap<(IdentityKind, String), ContactId> = HashMap::new();
        let mut named: HashSet<ContactId> = HashSet::new();
        if !values.is_empty() {
            let sql = identity_owners(tx.backend(), values.len());
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
        let senders = ingest::senders(&to_store, owners, named, at);
        let mut returning: Vec<ContactId> = senders.of.iter().filter(|s| !s.created).map(|s| s.contact_id).collect();
        returning.sort_unstable();
        returning.dedup();
        tx.lock_keys(account_id, &returning.iter().map(|c| format!("contact:{c}")).collect::<Vec<_>>()).await?;

        // A bare score from a customer with a survey waiting is their
        // answer: kept in the survey's conversation, which stays as it is.
        let mut answers: HashMap<usize, (crate::surveys::OpenRequest, u8, Conversation)> = HashMap::new();
        for (n, (message, sender)) in to_store.iter().zip(&senders.of).enumerate() {
            if !sender.created
                && message.attachments.is_empty()
                && threadline_domain::survey::looks_like_answer(&message.text)
                && let Some(open) = crate::surveys::open_request(tx, account_id, sender.contact_id, at).await?
                && let Some(score) = threadline_domain::survey::parse_answer(open.kind, &message.text)
            {
                let conversation = load_conversation(tx.conn(), account_id, open.conversation_id).await?;
                answers.insert(n, (open, score, conversation));
            }
        }

        // The latest conversation of every returning contact, and the
        // conversations replies name, in one query each.
        let mut latest: HashMap<ContactId, Conversation> = HashMap::new();
        if !returning.is_empty() {
            let returning = rows::padded(&returning);
            let sql = latest_conversations(tx.backend(), returning.len());
            let mut query = sqlx::query(&sql).bind(&a);
            for c in &returning {
                query = query.bind(c.to_string());
            }
            for row in query.fetch_all(tx.conn()).await? {
                let conversation = rows::conversation(&row)?;
                // Two conversations touched in the same microsecond: the newer id wins.
                if latest.get(&conversation.contact_id).is_none_or(|c| c.id < conversation.id) {
                    latest.insert(conversation.contact_id, conversation);
                }
            }
        }
        let mut named_threads: Vec<ConversationId> =
            to_store.iter().enumerate().filter(|(n, _)| !answers.contains_key(n)).filter_map(|(_, m)| m.thread).collect();
        named_threads.sort_unstable();
        named_threads.dedup();
        let mut threads: HashMap<ConversationId, Conversation> = HashMap::new();
        if !named_threads.is_empty() {
            let named_threads = rows::padded(&named_threads);
            let sql = conversations_by_id(named_threads.len());
            let mut query = sqlx::query(&sql).bind(&a);
            for id in &named_threads {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(tx.conn()).await? {
                let conversation = rows::conversation(&row)?;
                threads.insert(conversation.id, conversation);
            }
        }
        let placing: Vec<(&InboundMessage, ContactId)> = to_store
            .iter()
            .zip(&senders.of)
            .enumerate()
            .filter(|(n, _)| !answers.contains_key(n))
            .map(|(_, (m, s))| (*m, s.contact_id))
            .collect();
        let placement = ingest::place(&placing, latest, threads, at, account.continuity_window());

        // Writes: a few multi-row statements for the whole batch.
        insert_new_contacts(tx, &a, &senders.new_contacts, at).await?;
        if !senders.new_identities.is_empty() {
            let mut new = rows::NewRows::new("identities", NEW_IDENTITY);
            for (contact, identity) in &senders.new_identities {
                new.push([
                    identity.id.to_string().into(),
                    a.as_str().into(),
                    contact.to_string().into(),
                    identity.kind.as_str().into(),
                    identity.value.clone().into(),
                    micros(at).into(),
                ]);
            }
            let count = new.len() as u64;
            let backend = tx.backend();
            if new.insert(tx.conn(), backend, "ON CONFLICT (account_id, kind, value) DO NOTHING").await? != count {
                // Another writer linked one of these identities meanwhile.
                return Err(StoreError::Race);
            }
        }
        for (contact, name) in &senders.names {
            sqlx::query("UPDATE contacts SET name = $3, updated_at = $4, name_key = $5 WHERE id = $1 AND account_id = $2 AND name IS NULL")
                .bind(contact.to_string())
                .bind(&a)
                .bind(name)
                .bind(micros(at))
                .bind(crate::contacts::stored_name_key(Some(name)))
                .execute(tx.conn())
                .await?;
        }
        for (contact, language) in &senders.languages {
            crate::messages::enrich_language(tx, account_id, *contact, language, at).await?;
        }
        let opened: Vec<&Conversation> = placement.opened.iter().filter_map(|id| placement.conversations.get(id)).collect();
        insert_conversations(tx, account_id, &opened).await?;
        // Continued conversations all end open, touched now and with the
        // customer waiting: one statement for those where that is all; the
        // few whose channel, language, category, priority, team or queue
        // changed are written one by one.
        let mut plain: Vec<ConversationId> = Vec::new();
        for id in &placement.continued {
            let same = |a: &Conversation, b: &Conversation| {
                (a.channel, &a.language, &a.category, a.priority, a.team_id, a.queued_at)
                    == (b.channel, &b.language, &b.category, b.priority, b.team_id, b.queued_at)
            };
            match (placement.conversations.get(id), placement.before.get(id)) {
                (Some(c), Some(b)) if !same(c, b) => update_continued(tx, account_id, c).await?,
                _ => plain.push(*id),
            }
        }
        for chunk in plain.chunks(256) {
            let chunk = rows::padded(chunk);
            let sql = touch_continued(chunk.len());
            let mut query = sqlx::query(&sql).bind(micros(at)).bind(&a);
            for id in &chunk {
                query = query.bind(id.to_string());
            }
            query.execute(tx.conn()).await?;
        }
        let mut reopened_resolved: Vec<ConversationId> =
            placement.placed.iter().filter(|p| p.was_resolved).map(|p| p.conversation_id).collect();
        reopened_resolved.sort_unstable();
        reopened_resolved.dedup();
        for id in reopened_resolved {
            crate::metrics::record_change(tx, account_id, id, Change::Reopened, SenderKind::Contact, at).await?;
        }

        // The messages, each in the conversation it went to (an answer in its survey's).
        let mut placed = placement.placed.iter();
        let mut stored: Vec<(Message, Option<ingest::Placed>)> = Vec::with_capacity(to_store.len());
        for (n, (message, sender)) in to_store.iter().zip(&senders.of).enumerate() {
            let (conversation_id, place) = match answers.get(&n) {
                Some((open, _, _)) => (open.conversation_id, None),
                None => {
                    let place = *placed.next().ok_or_else(|| StoreError::Corrupt("a message was not placed".into()))?;
                    (place.conversation_id, Some(place))
                }
            };
            stored.push((stored_message(message, conversation_id, sender.contact_id, at), place));
        }
        insert_messages(tx, account_id, &stored.iter().map(|(m, _)| m).collect::<Vec<_>>()).await?;
        for ((stored, _), message) in stored.iter_mut().zip(&to_store) {
            if !message.attachments.is_empty() {
                stored.attachments = insert_attachments(self, tx, account_id, stored.id, &message.attachments, at).await?;
            }
        }
        let for_bots: Vec<&Message> = stored
            .iter()
            .filter(|(m, place)| {
                place.is_some() && placement.conversations.get(&m.conversation_id).is_some_and(|c| c.handler == Handler::Bot)
            })
            .map(|(m, _)| m)
            .collect();
        crate::bot::enqueue_bot_jobs(tx, account_id, &for_bots, at).await?;
        if placement
            .placed
            .iter()
            .filter_map(|p| placement.conversations.get(&p.conversation_id))
            .any(|c| c.handler == Handler::Human && c.assignee_id.is_none() && c.team_id.is_some())
        {
            tx.routing_needed = true;
        }

        // Events and outcomes, message by message.
        let new_contacts: HashMap<ContactId, &Contact> = senders.new_contacts.iter().map(|c| (c.id, c)).collect();
        let mut outcomes: Vec<IngestOutcome> = Vec::with_capacity(to_store.len());
        for (n, ((message, place), sender)) in stored.into_iter().zip(&senders.of).enumerate() {
            let contact_id = sender.contact_id;
            if sender.created
                && let Some(contact) = new_contacts.get(&contact_id)
            {
                tx.emit(DomainEvent::contact_created(account_id, contact, at));
            }
            for identity in &sender.linked {
                tx.emit(DomainEvent::identity_linked(account_id, contact_id, identity, at));
            }
            let conversation = match (place, answers.get(&n)) {
                (_, Some((open, score, conversation))) => {
                    // The answer is recorded (`survey.answered`) before its message's event.
                    crate::surveys::answer_from_message(tx, account_id, open, *score, message.id, at).await?;
                    conversation.clone()
                }
                (Some(place), None) => {
                    let conversation = placement
                        .conversations
                        .get(&place.conversation_id)
                        .cloned()
                        .ok_or_else(|| StoreError::Corrupt("lost a conversation".into()))?;
                    if place.created {
                        tx.emit(conversation_event(account_id, Payload::ConversationCreated, &conversation, at));
                    } else if place.reopened || place.changed {
                        tx.emit(conversation_event(account_id, Payload::ConversationUpdated, &conversation, at));
                    }
                    conversation
                }
                (None, None) => return Err(StoreError::Corrupt("a message was not placed".into())),
            };
            tx.emit(DomainEvent::message_created(account_id, &message, &conversation, &[], at));
            let conversation_created = place.is_some_and(|p| p.created);
            outcomes.push(IngestOutcome {
                message,
                conversation,
                contact_id,
                contact_created: sender.created,
                conversation_created,
                duplicate: false,
            });
        }

        let mut results: Vec<IngestOutcome> = Vec::with_capacity(messages.len());
        for plan in &plans {
            let outcome = match plan {
                Plan::Store(n) => outcomes.get(*n).cloned(),
                Plan::SameAs(first) => match plans.get(*first) {
                    Some(Plan::Store(n)) => outcomes.get(*n).cloned().map(|o| IngestOutcome {
                        contact_created: false,
                        conversation_created: false,
                        duplicate: true,
                        ..o
                    }),
                    _ => None,
                },
                Plan::StoredBefore(id) => {
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
            };
            results.push(outcome.ok_or_else(|| StoreError::Corrupt("a message has no outcome".into()))?);
        }
        Ok(results)
    }
}

/// The identities of account `$1` with any of `n` values (`$2`…), under
/// every kind, with their contact's name; on PostgreSQL one value at a
/// time ([`rows::each_key`]), not by walking the account's identities.
fn identity_owners(backend: crate::Backend, n: usize) -> String {
    let select = "SELECT i.contact_id, i.kind, i.value, c.name FROM identities i JOIN contacts c ON c.id = i.contact_id \
                  WHERE i.account_id = $1 AND {key}";
    rows::by_keys(backend, 2, n, "i.value", select)
}

/// The latest conversations (more than one if touched in the same
/// microsecond) of `n` contacts (`$2`…) of account `$1`, through the index
/// `conversations_contact`. On PostgreSQL it leads with the contact, and
/// the statement looks each contact up alone ([`rows::each_key`]) with the
/// account and the latest time as filters ([`rows::guard`]): as index
/// conditions, either could lead the planner to an account-leading index
/// whose whole range for the account it would walk. (The two engines'
/// statements differ beyond the key, so not [`rows::by_keys`]: SQLite's
/// index leads with the account, which it needs as an index condition.)
fn latest_conversations(backend: crate::Backend, n: usize) -> String {
    match backend {
        crate::Backend::Sqlite => format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE account_id = $1 AND contact_id IN ({}) \
             AND last_activity_at = (SELECT MAX(l.last_activity_at) FROM conversations l WHERE l.account_id = c.account_id AND l.contact_id = c.contact_id)",
            rows::list(2, n)
        ),
        crate::Backend::Postgres => rows::each_key(
            2,
            n,
            &format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE contact_id = wanted.key AND {} AND {}",
                rows::guard("account_id", "$1"),
                rows::guard(
                    "last_activity_at",
                    &format!(
                        "(SELECT MAX(l.last_activity_at) FROM conversations l WHERE l.contact_id = wanted.key AND {})",
                        rows::guard("l.account_id", "$1")
                    )
                )
            ),
        ),
    }
}

/// `n` conversations of an account by id (`$1` the account).
fn conversations_by_id(n: usize) -> String {
    format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE {} AND id IN ({})", rows::guard("account_id", "$1"), rows::list(2, n))
}

/// Continued conversations open, touched at `$1`, with the customer waiting
/// (`$2` the account, then `n` ids).
fn touch_continued(n: usize) -> String {
    format!(
        "UPDATE conversations SET status = 'open', snoozed_until = NULL, resolved_at = NULL, last_activity_at = $1, updated_at = $1, \
         awaiting_since = COALESCE(awaiting_since, $1) WHERE {} AND id IN ({})",
        rows::guard("account_id", "$2"),
        rows::list(3, n)
    )
}

/// The columns a new identity is inserted with.
const NEW_IDENTITY: &[&str] = &["id", "account_id", "contact_id", "kind", "value", "created_at"];

/// The columns a new contact is inserted with.
const NEW_CONTACT: &[&str] = &[
    "id",
    "account_id",
    "name",
    "attributes",
    "custom_attributes",
    "preferred_channels",
    "created_at",
    "updated_at",
    "name_key",
    "language",
];

/// Inserts the contacts a batch creates (their identities are written with the rest).
async fn insert_new_contacts(tx: &mut WriteTx, account: &str, contacts: &[Contact], at: time::OffsetDateTime) -> Result<()> {
    if contacts.is_empty() {
        return Ok(());
    }
    let mut rows = rows::NewRows::new("contacts", NEW_CONTACT);
    for c in contacts {
        rows.push([
            c.id.to_string().into(),
            account.into(),
            c.name.clone().into(),
            "{}".into(),
            "{}".into(),
            "{}".into(),
            micros(at).into(),
            micros(at).into(),
            crate::contacts::stored_name_key(c.name.as_deref()).into(),
            c.language.clone().into(),
        ]);
    }
    let backend = tx.backend();
    rows.insert(tx.conn(), backend, "").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value bound before a statement's list of keys.
    enum Fixed {
        Time,
        Id,
    }

    /// What the engine plans for `sql` with `n` keys after the `fixed`
    /// values. On PostgreSQL, the generic plan: the one a prepared
    /// statement keeps, made without the values (here on empty tables, as
    /// when a server starts on a new database).
    async fn plan(store: &Store, sql: &str, fixed: &[Fixed], n: usize) -> String {
        let mut conn = store.pool.acquire().await.unwrap();
        let rows = if store.backend == crate::Backend::Sqlite {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut query = sqlx::query(&explain);
            for value in fixed {
                query = match value {
                    Fixed::Time => query.bind(1_i64),
                    Fixed::Id => query.bind(uuid::Uuid::now_v7().to_string()),
                };
            }
            for i in 0..n {
                query = query.bind(format!("id-{i}"));
            }
            query.fetch_all(&mut *conn).await.unwrap()
        } else {
            let (mut types, mut values) = (Vec::new(), Vec::new());
            for value in fixed {
                match value {
                    Fixed::Time => (types.push("bigint"), values.push("1".to_owned())),
                    Fixed::Id => (types.push("text"), values.push(format!("'{}'", uuid::Uuid::now_v7()))),
                };
            }
            for i in 0..n {
                types.push("text");
                values.push(format!("'id-{i}'"));
            }
            for setup in [
                // Empty tables, where reading one page is cheapest.
                "SET enable_seqscan = off".to_owned(),
                "SET plan_cache_mode = force_generic_plan".to_owned(),
                format!("PREPARE plan_check({}) AS {sql}", types.join(", ")),
            ] {
                sqlx::query(&setup).execute(&mut *conn).await.unwrap();
            }
            let rows = sqlx::query(&format!("EXPLAIN EXECUTE plan_check({})", values.join(", "))).fetch_all(&mut *conn).await.unwrap();
            sqlx::query("DEALLOCATE plan_check").execute(&mut *conn).await.unwrap();
            rows
        };
        let column = if store.backend == crate::Backend::Sqlite { "detail" } else { "QUERY PLAN" };
        rows.iter().map(|r| rows::text(r, column).unwrap()).collect::<Vec<_>>().join("; ")
    }

    /// Runs `check` on a migrated store on SQLite in a new folder, then on
    /// a new PostgreSQL database at `THREADLINE_TEST_DATABASE_URL`, and
    /// removes both after.
    async fn on_both_engines<F: AsyncFn(&Store)>(check: F) {
        let dir = std::env::temp_dir().join(format!("threadline-plan-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("plan.db").display());
        let store = Store::connect(&url, &crate::ConnectOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        check(&store).await;
        store.pool.close().await;
        let _ = std::fs::remove_dir_all(dir);

        let base = std::env::var("THREADLINE_TEST_DATABASE_URL")
            .expect("THREADLINE_TEST_DATABASE_URL: the PostgreSQL these tests run against (see README)");
        let name = format!("threadline_plan_{}", uuid::Uuid::now_v7().simple());
        let admin = Store::connect(&base, &crate::ConnectOptions::default()).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin.pool).await.unwrap();
        // The same server, another database (keeping any `?…` options).
        let (path, options) = base.split_once('?').map_or((base.as_str(), ""), |(p, o)| (p, o));
        let (server, _) = path.rsplit_once('/').unwrap();
        let url = if options.is_empty() { format!("{server}/{name}") } else { format!("{server}/{name}?{options}") };
        let store = Store::connect(&url, &crate::ConnectOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        check(&store).await;
        store.pool.close().await;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin.pool).await.unwrap();
    }

    /// The metrics refresh's look-ups by conversation id (each
    /// conversation's message history; the same customers' other
    /// conversations whose days a measurement marks) descend an index by
    /// each id, and by the customer for the others: never a walk of the
    /// messages or of the account's measured conversations, whose cost
    /// would grow with every message stored.
    #[tokio::test]
    async fn the_refresh_looks_conversations_up_by_key() {
        on_both_engines(async |store: &Store| {
            let postgres = store.backend == crate::Backend::Postgres;
            for n in [4, 64] {
                let history = crate::metrics::history_sql(store.backend, n);
                let history = plan(store, &history, &[], n).await;
                let by_key = if postgres { "conversation_id = \"*VALUES*\".column1" } else { "conversation_id=?" };
                assert!(history.contains(by_key) && history.contains("messages_conversation"), "history, {n}: {history}");
                let returns = crate::rollups::mark_sql(store.backend, n, "m.conversation_id", &crate::rollups::return_days(store.backend));
                let returns = plan(store, &returns, &[Fixed::Time], n).await;
                let others = if postgres {
                    "Index Cond: (contact_id = m.contact_id)"
                } else {
                    "conversation_metrics_contact (account_id=? AND contact_id=?"
                };
                assert!(returns.contains("conversation_metrics_contact") && returns.contains(others), "return days, {n}: {returns}");
                // The account is checked on the rows found, never the way in.
                assert!(!returns.contains("Index Cond: (account_id = m.account_id)"), "return days, {n}: {returns}");
                for plan in [&history, &returns] {
                    let walks = plan.split("; ").any(|step| {
                        if postgres {
                            step.contains("Seq Scan")
                        } else {
                            step.starts_with("SCAN") && !step.contains("VALUES") && !step.contains("SCAN touched")
                        }
                    });
                    assert!(!walks, "{n} ids: {plan}");
                }
            }
            if postgres {
                // The customer's index condition is a descent only if the
                // index leads with the customer (otherwise it is a whole-index
                // scan that a plan shows the same way).
                let definition = sqlx::query("SELECT indexdef FROM pg_indexes WHERE indexname = 'conversation_metrics_contact'")
                    .fetch_one(&store.pool)
                    .await
                    .unwrap();
                let definition = rows::text(&definition, "indexdef").unwrap();
                assert!(definition.ends_with("(contact_id, first_customer_at)"), "{definition}");
            }
        })
        .await;
    }

    /// Rows written through one JSON parameter come back as they went in on
    /// both engines: quotes, backslashes, line breaks, non-Latin text and
    /// emoji; the extreme 64-bit integers; absent values as NULL.
    #[tokio::test]
    async fn rows_carried_as_json_are_stored_exactly() {
        on_both_engines(async |store: &Store| {
            store.execute_raw("CREATE TABLE json_rows_check (t TEXT, n BIGINT, k TEXT)").await.unwrap();
            const COLUMNS: &[&str] = &["t", "n", "k"];
            let texts =
                ["plain", "quote \" and 'single', back\\slash", "line\nbreak\ttab\r", "Привет, 你好, مرحبا 😀", "", "{\"json\": [1]}"];
            let mut rows = rows::NewRows::new("json_rows_check", COLUMNS);
            let mut expected = Vec::new();
            for (i, text) in texts.iter().enumerate() {
                let n = [i64::MAX, i64::MIN, 0, -1, 9_007_199_254_740_993, 42][i];
                let key = (i % 2 == 0).then(|| format!("k{i}"));
                rows.push([(*text).into(), n.into(), key.clone().into()]);
                expected.push((text.to_string(), n, key));
            }
            rows.push([serde_json::Value::Null, serde_json::Value::Null, "last".into()]);
            let mut conn = store.pool.acquire().await.unwrap();
            assert_eq!(rows.insert(&mut conn, store.backend, "").await.unwrap(), 7);
            let stored =
                sqlx::query("SELECT t, n, k FROM json_rows_check WHERE t IS NOT NULL ORDER BY n").fetch_all(&store.pool).await.unwrap();
            let mut stored: Vec<(String, i64, Option<String>)> =
                stored.iter().map(|r| (rows::text(r, "t").unwrap(), rows::int(r, "n").unwrap(), rows::opt_text(r, "k").unwrap())).collect();
            stored.sort_by_key(|r| r.1);
            expected.sort_by_key(|r| r.1);
            assert_eq!(stored, expected);
            let nulls = sqlx::query("SELECT k FROM json_rows_check WHERE t IS NULL AND n IS NULL").fetch_all(&store.pool).await.unwrap();
            assert_eq!(nulls.iter().map(|r| rows::text(r, "k").unwrap()).collect::<Vec<_>>(), vec!["last"]);
        })
        .await;
    }

    /// A batch's look-ups and updates by conversation id find each id
    /// through the primary key, however many conversations the account has,
    /// instead of walking the account's rows through one of its indexes.
    #[tokio::test]
    async fn conversations_are_found_by_their_ids_not_by_walking_the_account() {
        on_both_engines(async |store: &Store| {
            let primary_key = match store.backend {
                crate::Backend::Sqlite => "sqlite_autoindex_conversations_1 (id=?)",
                crate::Backend::Postgres => "conversations_pkey",
            };
            // The account-leading indexes a walk would go through.
            let walks = ["conversations_account", "conversations_backlog", "conversations_contact", "conversations_assignee"];
            for n in [16, 64, 256] {
                for (what, sql, fixed) in
                    [("read", conversations_by_id(n), &[Fixed::Id][..]), ("touch", touch_continued(n), &[Fixed::Time, Fixed::Id])]
                {
                    let plan = plan(store, &sql, fixed, n).await;
                    assert!(plan.contains(primary_key) && !walks.iter().any(|w| plan.contains(w)), "{what}, {n} ids: {plan}");
                }
            }
            if store.backend == crate::Backend::Sqlite {
                // The control: with the account as a plain equality SQLite
                // chooses an account index, so this test fails if the guard goes.
                let unguarded = conversations_by_id(64).replace(&rows::guard("account_id", "$1"), "account_id = $1");
                let unguarded = plan(store, &unguarded, &[Fixed::Id], 64).await;
                assert!(!unguarded.contains("(id=?)"), "{unguarded}");
            }
        })
        .await;
    }

    /// The look-ups by a list of keys under an account or inbox (stored
    /// provider ids, senders' identities, returning customers' latest
    /// conversations) descend an index by each key, not only by the account
    /// or inbox: a plan that reads the account's or inbox's whole range and
    /// filters it by the list costs more with every row the range gains.
    #[tokio::test]
    async fn batch_look_ups_descend_an_index_by_each_key() {
        on_both_engines(async |store: &Store| {
            let postgres = store.backend == crate::Backend::Postgres;
            for n in [4, 64] {
                let look_ups = [
                    (
                        "provider ids",
                        by_provider_ids(store.backend, "id, provider_message_id", n),
                        &[Fixed::Id, Fixed::Id][..],
                        "provider_message_id",
                    ),
                    ("identities", identity_owners(store.backend, n), &[Fixed::Id], "value"),
                    ("latest conversations", latest_conversations(store.backend, n), &[Fixed::Id], "contact_id"),
                ];
                for (what, sql, fixed, key) in look_ups {
                    let plan = plan(store, &sql, fixed, n).await;
                    // PostgreSQL: an index condition on the key, one `VALUES` row at a time.
                    let by_key = if postgres { format!("{key} = \"*VALUES*\".column1") } else { format!("{key}=?") };
                    assert!(plan.contains(&by_key), "{what}, {n} keys: {plan}");
                    // Nothing read whole: no scan without an index condition.
                    let walks = plan.split("; ").any(|step| {
                        if postgres { step.contains("Seq Scan") } else { step.starts_with("SCAN") && !step.contains("VALUES") }
                    });
                    assert!(!walks, "{what}, {n} keys: {plan}");
                }
            }
            if postgres {
                // The control: as an `IN` list, the provider ids are a filter
                // on the inbox's range in the plan a prepared statement
                // keeps, so this test fails if the look-up goes back to one.
                let in_list = by_provider_ids(crate::Backend::Sqlite, "id, provider_message_id", 64);
                let in_list = plan(store, &in_list, &[Fixed::Id, Fixed::Id], 64).await;
                assert!(!in_list.contains("Index Cond: ((inbox_id = $1) AND (provider_message_id"), "{in_list}");
                assert!(in_list.contains("Filter: ((account_id = $2) AND (provider_message_id = ANY"), "{in_list}");
            }
        })
        .await;
    }
}
