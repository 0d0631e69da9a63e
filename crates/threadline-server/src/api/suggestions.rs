//! Agent assist: beside the reply box, resolved conversations like this
//! one — with the answer that resolved them — and knowledge-base articles
//! that match what the customer asked.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use threadline_domain::ids::ConversationId;
use threadline_domain::message::{Direction, MessageKind, SenderKind};
use threadline_domain::text::words;
use threadline_store::ResolvedCase;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Path;
use super::knowledge::{ArticleHit, hits};
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(suggestions))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Suggestions {
    pub articles: Vec<ArticleHit>,
    pub similar: Vec<SimilarCase>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SimilarCase {
    #[serde(flatten)]
    pub case: ResolvedCase,
    /// 0–1: the share of words the two customers' questions have in common.
    pub similarity: f32,
}

/// The words that say something: three letters or more.
fn content_words(text: &str) -> HashSet<String> {
    words(text).into_iter().filter(|w| w.chars().count() >= 3 && !w.bytes().all(|b| b.is_ascii_digit())).collect()
}

/// The overlap of two questions' words (Jaccard).
pub fn similarity(a: &HashSet<String>, b: &HashSet<String>) -> f32 {
    let union = a.union(b).count();
    if union == 0 { 0.0 } else { a.intersection(b).count() as f32 / union as f32 }
}

/// How many resolved conversations are compared.
const CANDIDATES: i64 = 300;

/// Suggestions for answering what the customer is waiting on: their
/// messages since an agent last answered.
#[utoipa::path(get, path = "/conversations/{id}/suggestions", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Suggestions), (status = 404, body = ErrorBody)))]
async fn suggestions(State(state): State<AppState>, caller: Caller, Path(id): Path<ConversationId>) -> ApiResult<Json<Suggestions>> {
    Ok(Json(for_conversation(&state, caller.account_id(), id).await?))
}

/// What agent assist suggests for a conversation of the account.
pub async fn for_conversation(
    state: &AppState,
    account_id: threadline_domain::ids::AccountId,
    id: ConversationId,
) -> ApiResult<Suggestions> {
    let conversation = state.store.conversation(account_id, id).await?;
    let messages = state.store.conversation_messages(account_id, id, None, 200).await?;
    // What the customer is waiting for an answer to: their messages since
    // an agent last answered (a bot's answers do not count), the last three.
    let since_answer: Vec<&threadline_domain::message::Message> = messages
        .iter()
        .rev()
        .take_while(|m| !(m.direction == Direction::Outbound && m.kind == MessageKind::Message && m.sender_kind == SenderKind::User))
        .filter(|m| m.kind == MessageKind::Message && m.direction == Direction::Inbound)
        .take(3)
        .collect();
    let Some(last) = since_answer.first().copied() else {
        return Ok(Suggestions { articles: Vec::new(), similar: Vec::new() });
    };
    let question: String = since_answer
        .iter()
        .rev()
        .map(|m| format!("{} {}", m.subject.as_deref().unwrap_or_default(), m.text))
        .collect::<Vec<_>>()
        .join("\n");
    let language = last.triage.as_ref().and_then(|t| t.language.clone()).or(conversation.language.clone());
    let found = state.knowledge.search(&state.store, account_id, &question, language.as_deref(), 3).await.map_err(ApiError::Internal)?;
    let articles = hits(found);

    let asked = content_words(&question);
    let mut cases = state.store.resolved_cases(account_id, conversation.category.as_deref(), id, CANDIDATES).await?;
    if cases.len() < 10 && conversation.category.is_some() {
        cases.extend(state.store.resolved_cases(account_id, None, id, CANDIDATES).await?);
    }
    let mut seen = HashSet::new();
    let mut similar: Vec<SimilarCase> = cases
        .into_iter()
        .filter(|c| seen.insert(c.conversation_id) && c.answer.is_some())
        .map(|case| {
            let similarity = similarity(&asked, &content_words(&case.question));
            SimilarCase { case, similarity: (similarity * 1000.0).round() / 1000.0 }
        })
        .filter(|c| c.similarity > 0.0)
        .collect();
    similar.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    similar.truncate(3);
    Ok(Suggestions { articles, similar })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_alike_share_words() {
        let a = content_words("Il mio pacco non è arrivato, ordine 1234");
        let b = content_words("pacco non arrivato da una settimana");
        let c = content_words("vorrei cambiare la password");
        assert!(similarity(&a, &b) > similarity(&a, &c));
        assert_eq!(similarity(&a, &c), 0.0);
        assert_eq!(similarity(&HashSet::new(), &HashSet::new()), 0.0);
    }
}
