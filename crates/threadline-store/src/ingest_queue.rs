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
//! A batch and a single message take the same path
//! ([`Store::ingest_in_tx`], crate::ingest): the per-message path is a
//! batch of one in its own transaction. Messages with an idempotency key,
//! attachments, a thread or what may answer a survey take it directly (the
//! writer never sees them), and if a batch fails as a whole (a
//! unique-constraint race with another node, say) each of its messages is
//! retried on its own, so one bad message never fails others.

use std::collections::HashMap;
use std::sync::Arc;

use threadline_domain::ids::AccountId;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::{Account, Backend, IdempotencyKey, InboundMessage, IngestOutcome, Result, Store, StoreError};

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
        let mut tx = self.begin_write().await?;
        let outcomes = self.ingest_in_tx(&mut tx, account, jobs).await?;
        tx.commit().await?;
        Ok(outcomes.into_iter().map(|outcome| (outcome, false)).collect())
    }
}
