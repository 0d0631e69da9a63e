//! Knowledge-base articles. Deleting keeps the row (with `deleted_at`) so
//! that every node's search index, which follows [`Store::article_changes`],
//! learns the article is gone.

use serde::Serialize;
use threadline_domain::ids::{AccountId, ArticleId};
use threadline_domain::knowledge::{ArticleDraft, ArticleKind};
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, found, micros, now, rows};

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KbArticle {
    pub id: ArticleId,
    pub kind: ArticleKind,
    pub language: String,
    pub title: String,
    pub body: String,
    pub keywords: Vec<String>,
    pub published: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A change for the search index: the article now, or its removal.
#[derive(Debug, Clone)]
pub struct ArticleChange {
    pub account_id: AccountId,
    pub article: KbArticle,
    /// Deleted or unpublished: out of the index.
    pub gone: bool,
    /// Where the next read of changes starts.
    pub cursor: (i64, String),
}

const COLUMNS: &str = "id, kind, language, title, body, keywords, published, created_at, updated_at";

fn article(row: &sqlx::any::AnyRow) -> Result<KbArticle> {
    Ok(KbArticle {
        id: rows::parse(row, "id")?,
        kind: rows::enum_of(row, "kind", ArticleKind::parse)?,
        language: rows::text(row, "language")?,
        title: rows::text(row, "title")?,
        body: rows::text(row, "body")?,
        keywords: rows::json(row, "keywords")?,
        published: rows::int(row, "published")? != 0,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

/// Filters for the article list.
#[derive(Debug, Clone, Default)]
pub struct ArticleQuery {
    pub language: Option<String>,
    pub published_only: bool,
    pub limit: i64,
    /// Continue after this title and id (the list is by title).
    pub after: Option<(String, ArticleId)>,
}

impl Store {
    pub async fn create_article(&self, account_id: AccountId, draft: &ArticleDraft) -> Result<KbArticle> {
        let at = micros(now());
        let id = ArticleId::new();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO kb_articles (id, account_id, kind, language, title, body, keywords, published, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(draft.kind.as_str())
        .bind(&draft.language)
        .bind(&draft.title)
        .bind(&draft.body)
        .bind(serde_json::to_string(&draft.keywords).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(i64::from(draft.published))
        .bind(at)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        self.article(account_id, id).await
    }

    pub async fn update_article(&self, account_id: AccountId, id: ArticleId, draft: &ArticleDraft) -> Result<KbArticle> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE kb_articles SET kind = $3, language = $4, title = $5, body = $6, keywords = $7, published = $8, updated_at = $9 \
             WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(draft.kind.as_str())
        .bind(&draft.language)
        .bind(&draft.title)
        .bind(&draft.body)
        .bind(serde_json::to_string(&draft.keywords).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(i64::from(draft.published))
        .bind(micros(now()))
        .execute(tx.conn())
        .await?;
        found(&done)?;
        tx.commit().await?;
        self.article(account_id, id).await
    }

    pub async fn delete_article(&self, account_id: AccountId, id: ArticleId) -> Result<()> {
        let at = micros(now());
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE kb_articles SET deleted_at = $3, updated_at = $3 WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL")
                .bind(id.to_string())
                .bind(account_id.to_string())
                .bind(at)
                .execute(tx.conn())
                .await?;
        found(&done)?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn article(&self, account_id: AccountId, id: ArticleId) -> Result<KbArticle> {
        let sql = format!("SELECT {COLUMNS} FROM kb_articles WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        article(&row)
    }

    /// Articles by title.
    pub async fn articles(&self, account_id: AccountId, q: &ArticleQuery) -> Result<Vec<KbArticle>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM kb_articles WHERE account_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR language = $2) \
             AND ($3 = 0 OR published = 1) AND ($4 IS NULL OR title > $4 OR (title = $4 AND id > $5)) ORDER BY title, id LIMIT $6"
        );
        let found = sqlx::query(&sql)
            .bind(account_id.to_string())
            .bind(q.language.clone())
            .bind(i64::from(q.published_only))
            .bind(q.after.as_ref().map(|(t, _)| t.clone()))
            .bind(q.after.as_ref().map(|(_, id)| id.to_string()))
            .bind(q.limit)
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(article).collect()
    }

    /// Changes to articles of every account after `cursor`, oldest first.
    /// Change times come from each node's clock: a reader that wants every
    /// change reads again from a little before its last cursor.
    pub async fn article_changes(&self, cursor: Option<&(i64, String)>, limit: i64) -> Result<Vec<ArticleChange>> {
        let (at, id) = cursor.cloned().unwrap_or((i64::MIN, String::new()));
        let sql = format!(
            "SELECT account_id, deleted_at, {COLUMNS} FROM kb_articles WHERE updated_at > $1 OR (updated_at = $1 AND id > $2) \
             ORDER BY updated_at, id LIMIT $3"
        );
        let found = sqlx::query(&sql).bind(at).bind(id).bind(limit).fetch_all(&self.pool).await?;
        found
            .iter()
            .map(|r| {
                let a = article(r)?;
                let gone = rows::opt_int(r, "deleted_at")?.is_some() || !a.published;
                let cursor = (rows::int(r, "updated_at")?, a.id.to_string());
                Ok(ArticleChange { account_id: rows::parse(r, "account_id")?, article: a, gone, cursor })
            })
            .collect()
    }
}
