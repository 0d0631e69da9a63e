//! The knowledge base on the server: the search index of every account's
//! published articles, kept in step with the database — fully at start,
//! at once after a change made on this node, and, told over the bus that
//! another node changed one, by reading the changes before the next search.
//! A word missed (NATS away) is made up for within [`FRESH_FOR`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use threadline_domain::ids::{AccountId, ArticleId};
use threadline_knowledge::{Article, Hit, KnowledgeIndex};
use threadline_store::Store;

/// How stale the index may be before a search reads changes first, even
/// without word of a change (a word lost while NATS was away).
pub const FRESH_FOR: Duration = Duration::from_secs(30);
/// Changes are read again from this long before the last one seen, so a
/// change stamped by a node whose clock is a little behind is not missed.
const LOOKBACK_MICROS: i64 = 5_000_000;

struct SyncState {
    cursor: Option<(i64, String)>,
    /// The version (change time) of each article in the index.
    applied: HashMap<ArticleId, i64>,
    synced: Option<Instant>,
}

pub struct Knowledge {
    index: KnowledgeIndex,
    // Tokio's Mutex: held across the database reads of a sync, so that
    // concurrent searches wait for one sync instead of each running one.
    sync: tokio::sync::Mutex<SyncState>,
}

impl Knowledge {
    pub fn new() -> Result<Knowledge, threadline_knowledge::KnowledgeError> {
        Ok(Knowledge {
            index: KnowledgeIndex::new()?,
            sync: tokio::sync::Mutex::new(SyncState { cursor: None, applied: HashMap::new(), synced: None }),
        })
    }

    /// Reads changes since the last read into the index; how many were applied.
    pub async fn sync(&self, store: &Store) -> anyhow::Result<usize> {
        let mut state = self.sync.lock().await;
        let mut applied = 0;
        // From a little before the last change seen, then page by page.
        let mut from = state.cursor.as_ref().map(|(at, _)| (at - LOOKBACK_MICROS, String::new()));
        loop {
            let changes = store.article_changes(from.as_ref(), 1000).await?;
            let fresh: Vec<_> = changes.iter().filter(|c| state.applied.get(&c.article.id) != Some(&c.cursor.0)).collect();
            if !fresh.is_empty() {
                let (mut upserts, mut removed) = (Vec::new(), Vec::new());
                for change in &fresh {
                    if change.gone {
                        removed.push(change.article.id);
                    } else {
                        upserts.push(Article {
                            id: change.article.id,
                            account_id: change.account_id,
                            language: change.article.language.clone(),
                            title: change.article.title.clone(),
                            body: change.article.body.clone(),
                            keywords: change.article.keywords.clone(),
                        });
                    }
                }
                self.index.apply(&upserts, &removed)?;
                applied += fresh.len();
                for change in &fresh {
                    state.applied.insert(change.article.id, change.cursor.0);
                }
            }
            if let Some(last) = changes.last() {
                from = Some(last.cursor.clone());
                if state.cursor.as_ref().is_none_or(|c| *c < last.cursor) {
                    state.cursor = Some(last.cursor.clone());
                }
            }
            if changes.len() < 1000 {
                break;
            }
        }
        state.synced = Some(Instant::now());
        Ok(applied)
    }

    /// The best `limit` published articles of the account for `question`.
    pub async fn search(
        &self,
        store: &Store,
        account_id: AccountId,
        question: &str,
        language: Option<&str>,
        limit: usize,
    ) -> anyhow::Result<Vec<Hit>> {
        let stale = self.sync.lock().await.synced.is_none_or(|at| at.elapsed() > FRESH_FOR);
        if stale && let Err(e) = self.sync(store).await {
            tracing::warn!(error = %e, "could not read knowledge-base changes; searching what is indexed");
        }
        Ok(self.index.search(account_id, question, language, limit)?)
    }

    /// After a change made on this node: searched at once.
    pub async fn changed(&self, store: &Store) {
        if let Err(e) = self.sync(store).await {
            tracing::warn!(error = %e, "could not index a knowledge-base change yet");
        }
    }

    /// Another node changed an article: the next search reads changes first.
    pub async fn changed_elsewhere(&self) {
        self.sync.lock().await.synced = None;
    }
}
