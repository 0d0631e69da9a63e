//! A person's data: everything about one contact gathered for export
//! (GDPR Art. 15 and 20), erased (Art. 17), or deleted; and legal hold.
//!
//! **Erasure** removes the person everywhere and keeps the shape: the
//! contact becomes a tombstone (no name, attributes or identities, the time
//! it was erased), messages keep their direction, channel, time and author
//! but lose their words, subjects, HTML, quoted history, problems, triage
//! reasons, provider ids and attachments; interactions lose their data;
//! events about the person lose their payload; idempotency answers, queued
//! sends' recipients and bot memories go. Reports — volumes, response
//! times, deflection — keep counting what happened.
//!
//! **Deletion** (a contact or one conversation, by an administrator)
//! removes the rows themselves, with the same thoroughness.
//!
//! On SQLite, erasing and deleting write with `secure_delete` on (freed
//! bytes are zeroed) and the full-text indexes drop the words for good
//! (`secure-delete`); afterwards the write-ahead log is checkpointed and
//! truncated, so a byte scan of the database files finds nothing.

use std::path::PathBuf;

use serde::Serialize;
use threadline_domain::contact::Contact;
use threadline_domain::conversation::Conversation;
use threadline_domain::ids::{AccountId, ContactId, ConversationId};
use threadline_domain::interaction::Interaction;
use threadline_domain::message::Message;

use crate::audit::{AuditEntry, audit};
use crate::{AttachmentStorage, Backend, Result, Store, StoreError, WriteTx, micros, now, rows};

/// Everything Threadline holds about a person, for export.
#[derive(Debug, Clone, Serialize)]
pub struct ContactExport {
    pub contact: Contact,
    /// Earlier records of the same person merged into this one.
    pub merged_contact_ids: Vec<ContactId>,
    pub legal_hold: bool,
    pub conversations: Vec<Conversation>,
    /// Oldest first, with their attachments' metadata.
    pub messages: Vec<Message>,
    pub interactions: Vec<Interaction>,
    /// What they did on the business's site or app, oldest first.
    pub customer_events: Vec<threadline_domain::tracking::CustomerEvent>,
    /// Their ways through journeys, and the tasks those left for people.
    pub journey_runs: Vec<crate::JourneyRun>,
    pub tasks: Vec<crate::Task>,
    /// Their orders from the shop, newest first.
    pub orders: Vec<crate::Order>,
    /// The satisfaction surveys sent to them, with their answers.
    pub survey_answers: Vec<crate::SurveyResponse>,
    /// Audit entries about the person or their conversations.
    pub audit: Vec<AuditEntry>,
}

/// What an erasure or deletion touched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PrivacyReport {
    pub contacts: u64,
    pub conversations: u64,
    pub messages: u64,
    pub attachments: u64,
    pub identities: u64,
    pub interactions: u64,
    pub events: u64,
    /// Tracked site and app activity removed.
    pub customer_events: u64,
    /// Tasks about the person removed (their titles name them).
    pub tasks: u64,
    /// Their orders from the shop removed (the shop keeps its own records).
    pub orders: u64,
}

impl Store {
    /// Gathers everything about a contact (and the records merged into it).
    pub async fn contact_export(&self, account_id: AccountId, contact_id: ContactId) -> Result<ContactExport> {
        let contact = self.contact(account_id, contact_id).await?;
        let people = self.person_ids(account_id, contact_id).await?;
        let legal_hold: i64 = sqlx::query_scalar("SELECT legal_hold FROM contacts WHERE id = $1 AND account_id = $2")
            .bind(contact_id.to_string())
            .bind(account_id.to_string())
            .fetch_one(&self.pool)
            .await?;
        let conversations = self.contact_conversations(account_id, contact_id).await?;
        let mut messages = Vec::new();
        let mut after = (i64::MIN, String::new());
        loop {
            let sql = format!(
                "SELECT {} FROM messages WHERE account_id = $1 AND contact_id = $2 AND (created_at > $3 OR (created_at = $3 AND id > $4)) \
                 ORDER BY created_at, id LIMIT 1000",
                crate::rows::MESSAGE_COLUMNS
            );
            let page = sqlx::query(&sql)
                .bind(account_id.to_string())
                .bind(contact_id.to_string())
                .bind(after.0)
                .bind(after.1.clone())
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = page.last() else { break };
            after = (rows::int(last, "created_at")?, rows::text(last, "id")?);
            let mut batch = page.iter().map(rows::message).collect::<Result<Vec<_>>>()?;
            let mut conn = self.pool.acquire().await?;
            crate::attachments::load_attachment_meta(&mut conn, &mut batch).await?;
            messages.extend(batch);
        }
        let interactions = self.all_interactions(account_id, contact_id).await?;
        let sql = "SELECT id, contact_id, kind, name, properties, context, message_id, occurred_at, received_at FROM customer_events \
                   WHERE account_id = $1 AND contact_id = $2 ORDER BY occurred_at, id";
        let customer_events = sqlx::query(sql)
            .bind(account_id.to_string())
            .bind(contact_id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(crate::tracking::event_row)
            .collect::<Result<Vec<_>>>()?;
        let sql = "SELECT id, journey_id, version, contact_id, status, step_id, wake_at, entered_at, ended_at, outcome, trigger_event_id \
                   FROM journey_runs WHERE account_id = $1 AND contact_id = $2 ORDER BY entered_at, id";
        let journey_runs = sqlx::query(sql)
            .bind(account_id.to_string())
            .bind(contact_id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(crate::journeys::run_row)
            .collect::<Result<Vec<_>>>()?;
        let tasks = self.tasks(account_id, false, None, Some(contact_id), 10_000).await?;
        let orders = self.contact_orders(account_id, contact_id, 100_000).await?;
        let survey_answers = self.contact_survey_responses(account_id, contact_id).await?;
        let mut subjects: Vec<String> = people.iter().map(|p| p.to_string()).collect();
        subjects.extend(conversations.iter().map(|c| c.id.to_string()));
        let mut audit = Vec::new();
        for chunk in subjects.chunks(100) {
            let sql = format!(
                "SELECT id, seq, actor, action, subject_type, subject_id, data, hash, created_at FROM audit_log \
                 WHERE account_id = $1 AND subject_id IN ({}) ORDER BY id",
                rows::list(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(account_id.to_string());
            for s in chunk {
                query = query.bind(s.clone());
            }
            for row in query.fetch_all(&self.pool).await? {
                audit.push(crate::audit::entry(&row)?);
            }
        }
        let merged_contact_ids = people.into_iter().filter(|p| *p != contact_id).collect();
        Ok(ContactExport {
            contact,
            merged_contact_ids,
            legal_hold: legal_hold != 0,
            conversations,
            messages,
            interactions,
            customer_events,
            journey_runs,
            tasks,
            orders,
            survey_answers,
            audit,
        })
    }

    /// Puts a contact on legal hold (exempt from retention and erasure) or
    /// lifts it; audited.
    pub async fn set_legal_hold(
        &self,
        account_id: AccountId,
        contact_id: ContactId,
        hold: bool,
        reason: Option<&str>,
        actor: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE contacts SET legal_hold = $3, legal_hold_reason = $4 WHERE id = $1 AND account_id = $2 AND merged_into IS NULL",
        )
        .bind(contact_id.to_string())
        .bind(account_id.to_string())
        .bind(i64::from(hold))
        .bind(reason.filter(|_| hold))
        .execute(tx.conn())
        .await?;
        crate::found(&done)?;
        let action = if hold { "contact.legal_hold" } else { "contact.legal_hold_lifted" };
        audit(&mut tx, account_id, actor, action, "contact", &contact_id.to_string(), serde_json::json!({}), now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Erases a person (see the module's documentation). Refused while the
    /// contact is on legal hold; a merged contact names the one it went into.
    pub async fn erase_contact(&self, account_id: AccountId, contact_id: ContactId, actor: &str) -> Result<PrivacyReport> {
        let mut tx = self.begin_write().await?;
        self.check_erasable(&mut tx, account_id, contact_id).await?;
        let people = person_ids_in(&mut tx, account_id, contact_id).await?;
        let people_s: Vec<String> = people.iter().map(|p| p.to_string()).collect();
        let a = account_id.to_string();
        let mut report = PrivacyReport { contacts: people.len() as u64, ..Default::default() };

        let messages = ids_where(&mut tx, "messages", "contact_id", &a, &people_s).await?;
        report.messages = messages.len() as u64;
        let (attachments, files) = self.delete_attachments(&mut tx, &a, &messages).await?;
        report.attachments = attachments;
        for chunk in messages.chunks(CHUNK) {
            let list = rows::list(2, chunk.len());
            // The words go; what happened (who, when, which channel) stays.
            let sql = format!(
                "UPDATE messages SET body_text = '', body_html = NULL, subject = NULL, quoted_text = NULL, problems = NULL, \
                 triage = NULL, automated = NULL, delivery_error = NULL, \
                 provider_message_id = CASE WHEN provider_message_id IS NULL THEN NULL ELSE 'erased:' || id END \
                 WHERE account_id = $1 AND id IN ({list})"
            );
            bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?;
            let sql = format!(
                "UPDATE outbound_jobs SET recipient = '', options = '{{}}', \
                 status = CASE WHEN status IN ('queued', 'sending') THEN 'dead' ELSE status END, \
                 last_error = CASE WHEN status IN ('queued', 'sending') THEN 'the contact was erased' ELSE last_error END \
                 WHERE account_id = $1 AND message_id IN ({list})"
            );
            bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?;
        }
        let conversations = ids_where(&mut tx, "conversations", "contact_id", &a, &people_s).await?;
        report.conversations = conversations.len() as u64;
        for chunk in conversations.chunks(CHUNK) {
            let sql = format!(
                "UPDATE bot_sessions SET memory = '{{}}', summary = NULL, handoff_reason = NULL WHERE account_id = $1 AND conversation_id IN ({})",
                rows::list(2, chunk.len())
            );
            bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?;
            // Messages written for later lose their words and never go.
            let sql = format!(
                "UPDATE scheduled_messages SET text = '', status = CASE WHEN status = 'scheduled' THEN 'cancelled' ELSE status END \
                 WHERE account_id = $1 AND conversation_id IN ({})",
                rows::list(2, chunk.len())
            );
            bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?;
        }
        for chunk in people_s.chunks(CHUNK) {
            let list = rows::list(2, chunk.len());
            let sql = format!("UPDATE interactions SET summary = NULL, data = '{{}}' WHERE account_id = $1 AND contact_id IN ({list})");
            report.interactions += bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?.rows_affected();
            let sql = format!("DELETE FROM customer_events WHERE account_id = $1 AND contact_id IN ({list})");
            report.customer_events += bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?.rows_affected();
            let sql = format!("DELETE FROM tasks WHERE account_id = $1 AND contact_id IN ({list})");
            report.tasks += bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?.rows_affected();
            // Their returns and claims, whose reasons are in their words, before their orders.
            let sql = format!("DELETE FROM after_sales_requests WHERE account_id = $1 AND contact_id IN ({list})");
            bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?;
            let sql = format!("DELETE FROM orders WHERE account_id = $1 AND contact_id IN ({list})");
            report.orders += bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?.rows_affected();
            // Signed out of the portal (any code on its way spent), devices forgotten, call records (their numbers) gone.
            for table in ["portal_sessions", "portal_codes", "push_devices", "calls"] {
                let sql = format!("DELETE FROM {table} WHERE account_id = $1 AND contact_id IN ({list})");
                bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?;
            }
            let sql = format!("DELETE FROM identities WHERE account_id = $1 AND contact_id IN ({list})");
            report.identities += bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?.rows_affected();
            let sql = format!("DELETE FROM consents WHERE contact_id IN ({})", rows::list(1, chunk.len()));
            bind_all(sqlx::query(&sql), chunk).execute(tx.conn()).await?;
            let sql = format!(
                "UPDATE contacts SET name = NULL, name_key = NULL, language = NULL, attributes = '{{}}', custom_attributes = '{{}}', \
                 preferred_channels = '{{}}', legal_hold_reason = NULL, erased_at = $2, updated_at = $2 WHERE account_id = $1 AND id IN ({})",
                rows::list(3, chunk.len())
            );
            bind_all(sqlx::query(&sql).bind(&a).bind(micros(now())), chunk).execute(tx.conn()).await?;
        }
        report.events = scrub_traces(&mut tx, &a, &people_s).await?;
        let data = serde_json::to_value(&report).unwrap_or_default();
        audit(&mut tx, account_id, actor, "contact.erase", "contact", &contact_id.to_string(), data, now()).await?;
        tx.commit().await?;
        self.finish_removal(account_id, files).await;
        Ok(report)
    }

    /// Deletes a contact and everything of theirs, rows and all (admins).
    pub async fn delete_contact(&self, account_id: AccountId, contact_id: ContactId, actor: &str) -> Result<PrivacyReport> {
        let mut tx = self.begin_write().await?;
        self.check_erasable(&mut tx, account_id, contact_id).await?;
        let people = person_ids_in(&mut tx, account_id, contact_id).await?;
        let people_s: Vec<String> = people.iter().map(|p| p.to_string()).collect();
        let a = account_id.to_string();
        let mut report = PrivacyReport { contacts: people.len() as u64, ..Default::default() };
        let conversations = ids_where(&mut tx, "conversations", "contact_id", &a, &people_s).await?;
        let mut files = Vec::new();
        for conversation in &conversations {
            let (part, removed) = self.delete_conversation_rows(&mut tx, &a, conversation).await?;
            report.conversations += 1;
            report.messages += part.messages;
            report.attachments += part.attachments;
            files.extend(removed);
        }
        // Messages of the person's outside their conversations (none are
        // expected; a merge moves them) go the same way.
        let stray = ids_where(&mut tx, "messages", "contact_id", &a, &people_s).await?;
        let (attachments, removed) = self.delete_message_rows(&mut tx, &a, &stray).await?;
        report.messages += stray.len() as u64;
        report.attachments += attachments;
        files.extend(removed);
        for chunk in people_s.chunks(CHUNK) {
            let list = rows::list(2, chunk.len());
            // A journey run's steps first: they point at the run.
            let sql = format!(
                "DELETE FROM journey_steps WHERE account_id = $1 AND run_id IN (SELECT id FROM journey_runs WHERE contact_id IN ({list}))"
            );
            bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?;
            for (table, counter) in [
                ("interactions", Some(&mut report.interactions)),
                ("identities", Some(&mut report.identities)),
                ("customer_events", Some(&mut report.customer_events)),
                ("tasks", Some(&mut report.tasks)),
                ("after_sales_requests", None),
                ("orders", Some(&mut report.orders)),
                ("journey_runs", None),
                ("segment_members", None),
                ("portal_sessions", None),
                ("portal_codes", None),
                ("push_devices", None),
                ("calls", None),
            ] {
                let sql = format!("DELETE FROM {table} WHERE account_id = $1 AND contact_id IN ({list})");
                let n = bind_all(sqlx::query(&sql).bind(&a), chunk).execute(tx.conn()).await?.rows_affected();
                if let Some(counter) = counter {
                    *counter += n;
                }
            }
            let sql = format!("DELETE FROM consents WHERE contact_id IN ({})", rows::list(1, chunk.len()));
            bind_all(sqlx::query(&sql), chunk).execute(tx.conn()).await?;
        }
        report.events = scrub_traces(&mut tx, &a, &people_s).await?;
        // Tombstones of merged records point at the contact: remove them first.
        for chunk in people_s.chunks(CHUNK) {
            let sql = format!("DELETE FROM contacts WHERE account_id = $1 AND id IN ({}) AND id <> $2", rows::list(3, chunk.len()));
            bind_all(sqlx::query(&sql).bind(&a).bind(contact_id.to_string()), chunk).execute(tx.conn()).await?;
        }
        sqlx::query("DELETE FROM contacts WHERE account_id = $1 AND id = $2")
            .bind(&a)
            .bind(contact_id.to_string())
            .execute(tx.conn())
            .await?;
        let data = serde_json::to_value(&report).unwrap_or_default();
        audit(&mut tx, account_id, actor, "contact.delete", "contact", &contact_id.to_string(), data, now()).await?;
        tx.commit().await?;
        self.finish_removal(account_id, files).await;
        Ok(report)
    }

    /// Deletes one conversation with its messages and everything that hangs
    /// off them (admins).
    pub async fn delete_conversation(&self, account_id: AccountId, conversation_id: ConversationId, actor: &str) -> Result<PrivacyReport> {
        let mut tx = self.begin_write().await?;
        let a = account_id.to_string();
        let c = conversation_id.to_string();
        let hold: Option<i64> = sqlx::query_scalar(
            "SELECT k.legal_hold FROM conversations v JOIN contacts k ON k.id = v.contact_id WHERE v.id = $1 AND v.account_id = $2",
        )
        .bind(&c)
        .bind(&a)
        .fetch_optional(tx.conn())
        .await?;
        match hold {
            None => return Err(StoreError::NotFound),
            Some(h) if h != 0 => return Err(StoreError::Conflict("the customer is on legal hold; lift the hold first".into())),
            Some(_) => {}
        }
        let (mut report, files) = self.delete_conversation_rows(&mut tx, &a, &c).await?;
        report.conversations = 1;
        report.events = scrub_traces(&mut tx, &a, std::slice::from_ref(&c)).await?;
        let data = serde_json::to_value(&report).unwrap_or_default();
        audit(&mut tx, account_id, actor, "conversation.delete", "conversation", &c, data, now()).await?;
        tx.commit().await?;
        self.finish_removal(account_id, files).await;
        Ok(report)
    }

    async fn check_erasable(&self, tx: &mut WriteTx, account_id: AccountId, contact_id: ContactId) -> Result<()> {
        let row = sqlx::query("SELECT merged_into, legal_hold FROM contacts WHERE id = $1 AND account_id = $2")
            .bind(contact_id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(tx.conn())
            .await?
            .ok_or(StoreError::NotFound)?;
        if let Some(target) = rows::opt_parse::<ContactId>(&row, "merged_into")? {
            return Err(StoreError::Merged(target));
        }
        if rows::int(&row, "legal_hold")? != 0 {
            return Err(StoreError::Conflict("the customer is on legal hold; lift the hold first".into()));
        }
        Ok(())
    }

    async fn person_ids(&self, account_id: AccountId, contact_id: ContactId) -> Result<Vec<ContactId>> {
        let merged: Vec<String> = sqlx::query_scalar("SELECT id FROM contacts WHERE account_id = $1 AND merged_into = $2")
            .bind(account_id.to_string())
            .bind(contact_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        let mut ids = vec![contact_id];
        ids.extend(merged.iter().filter_map(|m| m.parse::<ContactId>().ok()));
        Ok(ids)
    }

    async fn contact_conversations(&self, account_id: AccountId, contact_id: ContactId) -> Result<Vec<Conversation>> {
        let sql = format!(
            "SELECT {} FROM conversations c WHERE c.account_id = $1 AND c.contact_id = $2 ORDER BY c.created_at, c.id",
            rows::CONVERSATION_COLUMNS
        );
        let found = sqlx::query(&sql).bind(account_id.to_string()).bind(contact_id.to_string()).fetch_all(&self.pool).await?;
        found.iter().map(rows::conversation).collect()
    }

    /// One conversation's rows, children first (foreign keys).
    async fn delete_conversation_rows(&self, tx: &mut WriteTx, a: &str, c: &str) -> Result<(PrivacyReport, Vec<PathBuf>)> {
        // Reports' stored days that counted it are stored again without it
        // (its messages' days: as they are deleted).
        crate::rollups::mark_days(tx, &[c.to_owned()]).await?;
        crate::rollups::mark_return_days(tx, &[c.to_owned()]).await?;
        let messages = ids_where(tx, "messages", "conversation_id", a, &[c.to_owned()]).await?;
        let (attachments, files) = self.delete_message_rows(tx, a, &messages).await?;
        sqlx::query("DELETE FROM jobs WHERE account_id = $1 AND lane = $2 AND kind = $3")
            .bind(a)
            .bind(c)
            .bind(crate::bot::BOT_TURN_JOB)
            .execute(tx.conn())
            .await?;
        for table in [
            "bot_sessions",
            "routing_decisions",
            "sla_breaches",
            "mentions",
            "conversation_changes",
            "conversation_metrics",
            "metrics_dirty",
            "scheduled_messages",
            "survey_requests",
            "automation_runs",
            "after_sales_requests",
            "calls",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1 AND conversation_id = $2"))
                .bind(a)
                .bind(c)
                .execute(tx.conn())
                .await?;
        }
        sqlx::query("UPDATE interactions SET conversation_id = NULL WHERE account_id = $1 AND conversation_id = $2")
            .bind(a)
            .bind(c)
            .execute(tx.conn())
            .await?;
        sqlx::query("DELETE FROM conversations WHERE account_id = $1 AND id = $2").bind(a).bind(c).execute(tx.conn()).await?;
        Ok((PrivacyReport { messages: messages.len() as u64, attachments, ..Default::default() }, files))
    }

    /// Removes messages and what references them; returns the attachments
    /// removed and the files to delete once committed.
    pub(crate) async fn delete_message_rows(&self, tx: &mut WriteTx, a: &str, messages: &[String]) -> Result<(u64, Vec<PathBuf>)> {
        let (attachments, files) = self.delete_attachments(tx, a, messages).await?;
        // The workload stored for their days is stored again without them.
        crate::rollups::mark_message_days(tx, crate::rollups::MessagesOf::Ids, messages).await?;
        for chunk in messages.chunks(CHUNK) {
            let list = rows::list(2, chunk.len());
            crate::bot::forget_turns(tx, chunk).await?;
            for table in ["outbound_jobs", "mentions"] {
                let sql = format!("DELETE FROM {table} WHERE account_id = $1 AND message_id IN ({list})");
                bind_all(sqlx::query(&sql).bind(a), chunk).execute(tx.conn()).await?;
            }
            let sql = format!("DELETE FROM messages WHERE account_id = $1 AND id IN ({list})");
            bind_all(sqlx::query(&sql).bind(a), chunk).execute(tx.conn()).await?;
        }
        Ok((attachments, files))
    }

    /// Removes the messages' attachments; returns how many, and the files
    /// to delete once committed.
    pub(crate) async fn delete_attachments(&self, tx: &mut WriteTx, a: &str, messages: &[String]) -> Result<(u64, Vec<PathBuf>)> {
        let mut count = 0;
        let mut files = Vec::new();
        for chunk in messages.chunks(CHUNK) {
            let list = rows::list(2, chunk.len());
            let sql = format!("SELECT id, storage FROM attachments WHERE account_id = $1 AND message_id IN ({list})");
            for row in bind_all(sqlx::query(&sql).bind(a), chunk).fetch_all(tx.conn()).await? {
                count += 1;
                if rows::text(&row, "storage")? == "disk"
                    && let AttachmentStorage::Disk(dir) = &self.attachment_storage
                {
                    files.push(dir.join(a).join(rows::text(&row, "id")?));
                }
            }
            let sql = format!("DELETE FROM attachments WHERE account_id = $1 AND message_id IN ({list})");
            bind_all(sqlx::query(&sql).bind(a), chunk).execute(tx.conn()).await?;
        }
        Ok((count, files))
    }

    /// After a committed removal: the files go, and on SQLite the
    /// write-ahead log (which still holds the old pages) is checkpointed
    /// into the zeroed database and truncated.
    pub(crate) async fn finish_removal(&self, account_id: AccountId, files: Vec<PathBuf>) {
        for file in files {
            if let Err(e) = tokio::fs::remove_file(&file).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::error!(account = %account_id, file = %file.display(), error = %e, "an attachment file could not be removed");
            }
        }
        if self.backend == Backend::Sqlite {
            // The checkpoint waits for readers (busy_timeout) but may still
            // report them busy: then try again a few times.
            for attempt in 1..=10 {
                match sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&self.pool).await {
                    Ok(row) if rows::int(&row, "busy").unwrap_or(1) == 0 => break,
                    Ok(_) if attempt < 10 => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                    Ok(_) => tracing::warn!("the write-ahead log is still in use; it is truncated at a later checkpoint"),
                    Err(e) => {
                        tracing::warn!(error = %e, "the write-ahead log could not be truncated after a removal; it will be at the next checkpoint");
                        break;
                    }
                }
            }
        }
    }
}

/// Statements take at most this many ids (bind-parameter limits).
const CHUNK: usize = 500;

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    values: &'q [String],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for value in values {
        query = query.bind(value.as_str());
    }
    query
}

/// Ids of `table`'s rows whose `column` is one of `values`.
async fn ids_where(tx: &mut WriteTx, table: &str, column: &str, a: &str, values: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for chunk in values.chunks(CHUNK) {
        let sql = format!("SELECT id FROM {table} WHERE account_id = $1 AND {column} IN ({})", rows::list(2, chunk.len()));
        let ids: Vec<String> = bind_all(sqlx::query(&sql).bind(a), chunk)
            .fetch_all(tx.conn())
            .await?
            .iter()
            .map(|r| rows::text(r, "id"))
            .collect::<Result<_>>()?;
        out.extend(ids);
    }
    Ok(out)
}

async fn person_ids_in(tx: &mut WriteTx, account_id: AccountId, contact_id: ContactId) -> Result<Vec<ContactId>> {
    let merged: Vec<String> = sqlx::query_scalar("SELECT id FROM contacts WHERE account_id = $1 AND merged_into = $2")
        .bind(account_id.to_string())
        .bind(contact_id.to_string())
        .fetch_all(tx.conn())
        .await?;
    let mut ids = vec![contact_id];
    ids.extend(merged.iter().filter_map(|m| m.parse::<ContactId>().ok()));
    Ok(ids)
}

/// Payloads that mention any of `ids` (contacts or conversations): events
/// lose their data (their kind and time stay, for the delivery log), and
/// stored idempotency answers are dropped. Returns the events scrubbed.
async fn scrub_traces(tx: &mut WriteTx, a: &str, ids: &[String]) -> Result<u64> {
    let mut events = 0;
    for chunk in ids.chunks(50) {
        let patterns: Vec<String> = chunk.iter().map(|id| format!("%{}%", crate::like_literal(id))).collect();
        let condition = (0..patterns.len()).map(|i| format!("data LIKE ${} ESCAPE '\\'", i + 2)).collect::<Vec<_>>().join(" OR ");
        let sql = format!("UPDATE events SET data = '{{\"erased\":true}}' WHERE account_id = $1 AND ({condition})");
        events += bind_all(sqlx::query(&sql).bind(a), &patterns).execute(tx.conn()).await?.rows_affected();
        let condition = (0..patterns.len()).map(|i| format!("response LIKE ${} ESCAPE '\\'", i + 1)).collect::<Vec<_>>().join(" OR ");
        bind_all(sqlx::query(&format!("DELETE FROM idempotency_keys WHERE {condition}")), &patterns).execute(tx.conn()).await?;
    }
    Ok(events)
}
