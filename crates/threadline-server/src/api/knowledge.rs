//! The knowledge base: articles and FAQs, Italian, English or any other
//! language, searched by the bot, by agents in the reply box and by
//! customers on the help page. Everyone reads; supervisors and admins write.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use threadline_domain::ids::ArticleId;
use threadline_domain::knowledge::ArticleDraft;
use threadline_domain::role::Permission;
use threadline_store::{ArticleQuery, KbArticle};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Body, Page, Path, Query, page_limit};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// An article changed: indexed here at once, and the other nodes told.
async fn knowledge_changed(state: &AppState) {
    state.knowledge.changed(&state.store).await;
    state.bus.tell_nodes(crate::bus::NodeSignal::KnowledgeChanged { node: state.bus.node().to_owned() });
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_articles, create_article)).routes(routes!(search_articles)).routes(routes!(
        get_article,
        update_article,
        delete_article
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub language: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Articles by title.
#[utoipa::path(get, path = "/articles", tag = "knowledge base", params(ListParams), responses((status = 200, body = Page<KbArticle>)))]
async fn list_articles(State(state): State<AppState>, caller: Caller, Query(p): Query<ListParams>) -> ApiResult<Json<Page<KbArticle>>> {
    let limit = page_limit(p.limit)?;
    let after = match p.cursor.as_deref() {
        None => None,
        Some(c) => {
            let decoded = threadline_domain::timeline::TimelineCursor::decode(c)
                .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor from this list"))?;
            let (title, id) =
                decoded.id.rsplit_once('\u{1f}').ok_or_else(|| ApiError::invalid("cursor", "is not a cursor from this list"))?;
            Some((title.to_owned(), id.parse().map_err(|_| ApiError::invalid("cursor", "is not a cursor from this list"))?))
        }
    };
    let q = ArticleQuery { language: p.language.map(|l| l.trim().to_ascii_lowercase()), published_only: false, limit, after };
    let articles = state.store.articles(caller.account_id(), &q).await?;
    let next_cursor = (articles.len() as i64 == limit)
        .then(|| articles.last())
        .flatten()
        .map(|a| threadline_domain::timeline::TimelineCursor { at_micros: 0, id: format!("{}\u{1f}{}", a.title, a.id) }.encode());
    Ok(Json(Page { data: articles, next_cursor }))
}

/// Adds an article or FAQ (supervisors and admins); searchable at once.
#[utoipa::path(post, path = "/articles", tag = "knowledge base", request_body = ArticleDraft,
    responses((status = 201, body = KbArticle), (status = 422, body = ErrorBody)))]
async fn create_article(
    State(state): State<AppState>,
    caller: Caller,
    Body(draft): Body<ArticleDraft>,
) -> ApiResult<(StatusCode, Json<KbArticle>)> {
    caller.require(Permission::ManageTeams)?;
    let draft = draft.validated()?;
    let article = state.store.create_article(caller.account_id(), &draft).await?;
    knowledge_changed(&state).await;
    Ok((StatusCode::CREATED, Json(article)))
}

#[utoipa::path(get, path = "/articles/{id}", tag = "knowledge base", params(("id" = ArticleId, Path)),
    responses((status = 200, body = KbArticle), (status = 404, body = ErrorBody)))]
async fn get_article(State(state): State<AppState>, caller: Caller, Path(id): Path<ArticleId>) -> ApiResult<Json<KbArticle>> {
    Ok(Json(state.store.article(caller.account_id(), id).await?))
}

#[utoipa::path(put, path = "/articles/{id}", tag = "knowledge base", params(("id" = ArticleId, Path)), request_body = ArticleDraft,
    responses((status = 200, body = KbArticle), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_article(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ArticleId>,
    Body(draft): Body<ArticleDraft>,
) -> ApiResult<Json<KbArticle>> {
    caller.require(Permission::ManageTeams)?;
    let draft = draft.validated()?;
    let article = state.store.update_article(caller.account_id(), id, &draft).await?;
    knowledge_changed(&state).await;
    Ok(Json(article))
}

#[utoipa::path(delete, path = "/articles/{id}", tag = "knowledge base", params(("id" = ArticleId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_article(State(state): State<AppState>, caller: Caller, Path(id): Path<ArticleId>) -> ApiResult<StatusCode> {
    caller.require(Permission::ManageTeams)?;
    state.store.delete_article(caller.account_id(), id).await?;
    knowledge_changed(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The question, 1–2,000 characters.
    #[param(min_length = 1, max_length = 2000)]
    pub q: String,
    /// The question's language; default: detected from it.
    pub language: Option<String>,
    /// How many articles, 1–20 (default 5).
    #[param(minimum = 1, maximum = 20)]
    pub limit: Option<usize>,
}

/// One article found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ArticleHit {
    pub id: ArticleId,
    pub title: String,
    pub language: String,
    /// The first lines of the article.
    pub excerpt: String,
    /// The whole text.
    pub body: String,
    /// 0–1: how much of the question the article covers, lowered when the
    /// next hit is almost as good. The bot answers from 0.6 and offers
    /// choices from 0.3 by default.
    pub confidence: f32,
}

pub fn hits(found: Vec<threadline_knowledge::Hit>) -> Vec<ArticleHit> {
    found
        .into_iter()
        .map(|h| ArticleHit {
            id: h.id,
            excerpt: threadline_domain::text::clip(&h.body, 240).to_owned(),
            body: h.body,
            title: h.title,
            language: h.language,
            confidence: h.confidence,
        })
        .collect()
}

/// Published articles for a question, best first.
#[utoipa::path(get, path = "/articles/search", tag = "knowledge base", params(SearchParams),
    responses((status = 200, body = Vec<ArticleHit>), (status = 422, body = ErrorBody)))]
async fn search_articles(State(state): State<AppState>, caller: Caller, Query(p): Query<SearchParams>) -> ApiResult<Json<Vec<ArticleHit>>> {
    if p.q.trim().is_empty() || p.q.chars().count() > 2_000 {
        return Err(ApiError::invalid("q", "must be 1 to 2,000 characters"));
    }
    if p.limit.is_some_and(|n| !(1..=20).contains(&n)) {
        return Err(ApiError::invalid("limit", "must be between 1 and 20"));
    }
    let language = p.language.or_else(|| threadline_domain::triage::language::detect(&p.q).map(|d| d.language));
    let found = state
        .knowledge
        .search(&state.store, caller.account_id(), &p.q, language.as_deref(), p.limit.unwrap_or(5))
        .await
        .map_err(ApiError::Internal)?;
    Ok(Json(hits(found)))
}
