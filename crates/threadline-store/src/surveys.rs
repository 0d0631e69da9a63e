//! Surveys and the surveys sent (see [`threadline_domain::survey`]).
//!
//! A resolution commits with a `survey.send` job (once any survey exists);
//! the job claims one row per survey and conversation before it sends, so
//! a customer is never asked twice for one conversation. An answer is
//! recognised on the way in (the per-message ingest path) and stored in
//! the survey's conversation without reopening it.

use serde::Serialize;
use threadline_domain::conversation::ConversationStatus;
use threadline_domain::event::{ConversationRef, DomainEvent, EventKind, Payload, SurveyPayload};
use threadline_domain::ids::{AccountId, ContactId, ConversationId, MessageId, SurveyId, TaskId, TeamId, UserId};
use threadline_domain::message::SenderKind;
use threadline_domain::metrics::Change;
pub use threadline_domain::survey::SurveyResponse;
use threadline_domain::survey::{DetractorAction, Sentiment, SurveyKind, SurveySpec, sentiment};
use time::OffsetDateTime;

use crate::audit::audit;
use crate::{MetricsFilter, Result, Store, StoreError, WriteTx, micros, now, rows};

/// The job kind that sends a resolved conversation's survey.
pub const SURVEY_JOB: &str = "survey.send";

/// A survey an account defined.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Survey {
    pub id: SurveyId,
    pub name: String,
    pub spec: SurveySpec,
    /// Inactive surveys are not sent; their answers stay.
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A survey about to be sent.
#[derive(Debug, Clone)]
pub struct NewSurveyRequest {
    pub account_id: AccountId,
    pub survey_id: SurveyId,
    pub kind: SurveyKind,
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub channel: String,
    pub agent_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub token_hash: String,
    pub expires_at: OffsetDateTime,
}

/// A survey waiting for the customer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenRequest {
    id: String,
    pub(crate) kind: SurveyKind,
    pub(crate) conversation_id: ConversationId,
}

const RESPONSE_COLUMNS: &str = "id, survey_id, kind, conversation_id, contact_id, channel, agent_id, team_id, status, failure, \
     sent_at, expires_at, answered_at, score";

fn response(row: &sqlx::any::AnyRow) -> Result<SurveyResponse> {
    Ok(SurveyResponse {
        id: rows::text(row, "id")?,
        survey_id: rows::parse(row, "survey_id")?,
        kind: rows::enum_of(row, "kind", SurveyKind::parse)?,
        conversation_id: rows::parse(row, "conversation_id")?,
        contact_id: rows::parse(row, "contact_id")?,
        channel: rows::text(row, "channel")?,
        agent_id: rows::opt_parse(row, "agent_id")?,
        team_id: rows::opt_parse(row, "team_id")?,
        status: rows::text(row, "status")?,
        failure: rows::opt_text(row, "failure")?,
        sent_at: rows::time(row, "sent_at")?,
        expires_at: rows::time(row, "expires_at")?,
        answered_at: rows::opt_time(row, "answered_at")?,
        score: rows::opt_int(row, "score")?.and_then(|s| u8::try_from(s).ok()),
    })
}

fn survey(row: &sqlx::any::AnyRow) -> Result<Survey> {
    Ok(Survey {
        id: rows::parse(row, "id")?,
        name: rows::text(row, "name")?,
        spec: rows::json(row, "spec")?,
        active: rows::int(row, "active")? != 0,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

/// The job that looks at a resolved conversation's survey.
pub(crate) fn survey_job(event: &DomainEvent) -> Option<crate::NewJob> {
    if event.kind != EventKind::ConversationResolved {
        return None;
    }
    let id = event.about().conversation_id?;
    Some(crate::NewJob {
        lane: None,
        kind: SURVEY_JOB,
        account_id: Some(event.account_id),
        dedup_key: Some(format!("survey:{id}")),
        payload: serde_json::json!({ "conversation_id": id }),
        run_at: event.occurred_at,
    })
}

/// The survey waiting for this customer's answer, if any: only about
/// their latest conversation (a number written in a newer conversation
/// answers whatever was asked there, not the survey).
pub(crate) async fn open_request(
    tx: &mut WriteTx,
    account_id: AccountId,
    contact_id: ContactId,
    at: OffsetDateTime,
) -> Result<Option<OpenRequest>> {
    let row = sqlx::query(
        "SELECT id, kind, conversation_id FROM survey_requests WHERE account_id = $1 AND contact_id = $2 AND status = 'sent' \
         AND answered_at IS NULL AND expires_at > $3 AND conversation_id = (SELECT c.id FROM conversations c \
         WHERE c.account_id = $1 AND c.contact_id = $2 ORDER BY c.last_activity_at DESC, c.id DESC LIMIT 1) \
         ORDER BY sent_at DESC LIMIT 1",
    )
    .bind(account_id.to_string())
    .bind(contact_id.to_string())
    .bind(micros(at))
    .fetch_optional(tx.conn())
    .await?;
    row.map(|row| {
        Ok(OpenRequest {
            id: rows::text(&row, "id")?,
            kind: rows::enum_of(&row, "kind", SurveyKind::parse)?,
            conversation_id: rows::parse(&row, "conversation_id")?,
        })
    })
    .transpose()
}

/// Records an answer in `tx` (once: a second answer to the same survey
/// changes nothing) with its `survey.answered` event; whether it counted.
async fn record_answer(
    tx: &mut WriteTx,
    account_id: AccountId,
    request_id: &str,
    score: u8,
    message_id: Option<MessageId>,
    at: OffsetDateTime,
) -> Result<Option<SurveyResponse>> {
    let done = sqlx::query(
        "UPDATE survey_requests SET answered_at = $3, score = $4, answer_message_id = $5 \
         WHERE id = $1 AND account_id = $2 AND answered_at IS NULL AND status = 'sent'",
    )
    .bind(request_id)
    .bind(account_id.to_string())
    .bind(micros(at))
    .bind(i64::from(score))
    .bind(message_id.map(|m| m.to_string()))
    .execute(tx.conn())
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let sql = format!("SELECT {RESPONSE_COLUMNS} FROM survey_requests WHERE id = $1");
    let answered = response(&sqlx::query(&sql).bind(request_id).fetch_one(tx.conn()).await?)?;
    let feeling = sentiment(answered.kind, score);
    let conversation = ConversationRef { id: answered.conversation_id, contact_id: Some(answered.contact_id), status: None };
    let payload = SurveyPayload { survey_response: answered.clone(), conversation, sentiment: Some(feeling) };
    tx.emit(DomainEvent::new(account_id, Payload::SurveyAnswered(payload), at));
    // On the customer's timeline, linked to the conversation, agent, team and channel.
    let (_, high) = answered.kind.range();
    let answer = threadline_domain::interaction::Interaction {
        id: threadline_domain::ids::InteractionId::new(),
        contact_id: answered.contact_id,
        conversation_id: Some(answered.conversation_id),
        kind: threadline_domain::interaction::InteractionKind::SurveyAnswer,
        summary: Some(format!("{} {score}/{high}", answered.kind.as_str().to_uppercase())),
        data: serde_json::json!({
            "survey_id": answered.survey_id,
            "survey_response_id": answered.id,
            "kind": answered.kind,
            "score": score,
            "sentiment": feeling,
            "channel": answered.channel,
            "agent_id": answered.agent_id,
            "team_id": answered.team_id,
        }),
        occurred_at: at,
    };
    crate::interactions::insert_interaction(tx, account_id, &answer, at).await?;
    if feeling == Sentiment::Detractor {
        follow_up(tx, account_id, &answered, score, at).await?;
    }
    Ok(Some(answered))
}

/// What the survey says to do about a detractor's answer, in `tx`: a
/// follow-up task for the conversation's agent (or team), or the
/// conversation opened again.
async fn follow_up(tx: &mut WriteTx, account_id: AccountId, answered: &SurveyResponse, score: u8, at: OffsetDateTime) -> Result<()> {
    let spec: SurveySpec = {
        let row = sqlx::query("SELECT spec FROM surveys WHERE id = $1").bind(answered.survey_id.to_string()).fetch_one(tx.conn()).await?;
        rows::json(&row, "spec")?
    };
    match spec.detractor_action {
        DetractorAction::None => {}
        DetractorAction::Task => {
            let task = crate::Task {
                id: TaskId::new(),
                contact_id: answered.contact_id,
                kind: "follow_up".into(),
                title: format!("Follow up: {} {score} on conversation {}", answered.kind.as_str().to_uppercase(), answered.conversation_id),
                team_id: answered.team_id,
                assignee_id: answered.agent_id,
                due_at: at + time::Duration::hours(4),
                status: "open".into(),
                journey_id: None,
                run_id: None,
                created_at: at,
                done_at: None,
                done_by: None,
            };
            crate::journeys::insert_task(tx, account_id, &task).await?;
            tx.emit(DomainEvent::task_created(account_id, &task, at));
        }
        DetractorAction::Reopen => {
            let mut c = crate::conversations::load_conversation(tx.conn(), account_id, answered.conversation_id).await?;
            if c.status != ConversationStatus::Resolved {
                return Ok(());
            }
            c.status = ConversationStatus::Open;
            c.resolved_at = None;
            c.updated_at = at;
            if c.assignee_id.is_none() {
                c.queued_at = Some(at);
                tx.routing_needed = true;
            }
            sqlx::query("UPDATE conversations SET status = 'open', resolved_at = NULL, updated_at = $3, queued_at = $4 WHERE id = $1 AND account_id = $2")
                .bind(c.id.to_string())
                .bind(account_id.to_string())
                .bind(micros(at))
                .bind(c.queued_at.map(micros))
                .execute(tx.conn())
                .await?;
            crate::metrics::record_change(tx, account_id, c.id, Change::Reopened, SenderKind::System, at).await?;
            tx.emit(crate::conversations::conversation_event(account_id, Payload::ConversationUpdated, &c, at));
        }
    }
    Ok(())
}

/// Records the answer a customer's message gives in `tx`.
pub(crate) async fn answer_from_message(
    tx: &mut WriteTx,
    account_id: AccountId,
    open: &OpenRequest,
    score: u8,
    message_id: MessageId,
    at: OffsetDateTime,
) -> Result<()> {
    record_answer(tx, account_id, &open.id, score, Some(message_id), at).await?;
    Ok(())
}

/// What an answer page needs about the survey its link names.
#[derive(Debug, Clone)]
pub struct SurveyByToken {
    pub account_id: AccountId,
    pub response: SurveyResponse,
    pub spec: SurveySpec,
    pub italian: bool,
    pub account_name: String,
}

impl Store {
    pub async fn load_surveys_exist(&self) -> Result<bool> {
        let any: Option<String> = sqlx::query_scalar("SELECT id FROM surveys WHERE active = 1 LIMIT 1").fetch_optional(&self.pool).await?;
        self.surveys_exist.store(any.is_some(), std::sync::atomic::Ordering::Relaxed);
        Ok(any.is_some())
    }

    pub async fn create_survey(&self, account_id: AccountId, name: &str, spec: &SurveySpec, actor: &str) -> Result<Survey> {
        let at = now();
        let id = SurveyId::new();
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO surveys (id, account_id, name, spec, active, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $5)")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(name)
            .bind(serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
        audit(&mut tx, account_id, actor, "survey.create", "survey", &id.to_string(), serde_json::json!({ "name": name }), at).await?;
        tx.commit().await?;
        self.surveys_exist.store(true, std::sync::atomic::Ordering::Relaxed);
        self.survey(account_id, id).await
    }

    pub async fn surveys(&self, account_id: AccountId) -> Result<Vec<Survey>> {
        let rows =
            sqlx::query("SELECT id, name, spec, active, created_at, updated_at FROM surveys WHERE account_id = $1 ORDER BY created_at, id")
                .bind(account_id.to_string())
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(survey).collect()
    }

    pub async fn survey(&self, account_id: AccountId, id: SurveyId) -> Result<Survey> {
        let row = sqlx::query("SELECT id, name, spec, active, created_at, updated_at FROM surveys WHERE id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        survey(&row)
    }

    pub async fn update_survey(
        &self,
        account_id: AccountId,
        id: SurveyId,
        name: &str,
        spec: &SurveySpec,
        active: bool,
        actor: &str,
    ) -> Result<Survey> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE surveys SET name = $3, spec = $4, active = $5, updated_at = $6 WHERE id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(name)
            .bind(serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .bind(i64::from(active))
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
        crate::found(&done)?;
        let data = serde_json::json!({ "name": name, "active": active });
        audit(&mut tx, account_id, actor, "survey.update", "survey", &id.to_string(), data, at).await?;
        tx.commit().await?;
        if active {
            self.surveys_exist.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.survey(account_id, id).await
    }

    /// Deletes a survey never sent; one with answers is deactivated instead (409).
    pub async fn delete_survey(&self, account_id: AccountId, id: SurveyId, actor: &str) -> Result<()> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let sent: Option<String> = sqlx::query_scalar("SELECT id FROM survey_requests WHERE survey_id = $1 AND account_id = $2 LIMIT 1")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(tx.conn())
            .await?;
        if sent.is_some() {
            return Err(StoreError::Conflict("this survey was sent and has answers: set it inactive instead".into()));
        }
        let done = sqlx::query("DELETE FROM surveys WHERE id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        crate::found(&done)?;
        audit(&mut tx, account_id, actor, "survey.delete", "survey", &id.to_string(), serde_json::json!({}), at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// When this customer was last sent a survey, if ever.
    pub async fn last_survey_sent(&self, account_id: AccountId, contact_id: ContactId) -> Result<Option<OffsetDateTime>> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT MAX(sent_at) FROM survey_requests WHERE account_id = $1 AND contact_id = $2 AND status = 'sent'")
                .bind(account_id.to_string())
                .bind(contact_id.to_string())
                .fetch_one(&self.pool)
                .await?;
        Ok(at.map(crate::from_micros))
    }

    /// Claims the right to send `request` (one per survey and conversation);
    /// the request's id, or none when it was claimed before.
    pub async fn claim_survey_request(&self, request: &NewSurveyRequest) -> Result<Option<String>> {
        let id = uuid::Uuid::now_v7().to_string();
        let at = now();
        let done = sqlx::query(
            "INSERT INTO survey_requests (id, account_id, survey_id, kind, conversation_id, contact_id, channel, agent_id, team_id, \
             token_hash, status, sent_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'sending', $11, $12) \
             ON CONFLICT (survey_id, conversation_id) DO NOTHING",
        )
        .bind(&id)
        .bind(request.account_id.to_string())
        .bind(request.survey_id.to_string())
        .bind(request.kind.as_str())
        .bind(request.conversation_id.to_string())
        .bind(request.contact_id.to_string())
        .bind(&request.channel)
        .bind(request.agent_id.map(|u| u.to_string()))
        .bind(request.team_id.map(|t| t.to_string()))
        .bind(&request.token_hash)
        .bind(micros(at))
        .bind(micros(request.expires_at))
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() == 1).then_some(id))
    }

    /// The survey went out as `message_id` (or could not: `failure`).
    pub async fn survey_request_sent(
        &self,
        account_id: AccountId,
        id: &str,
        outcome: std::result::Result<MessageId, String>,
    ) -> Result<()> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let (status, message, failure) = match &outcome {
            Ok(message) => ("sent", Some(message.to_string()), None),
            Err(reason) => ("failed", None, Some(reason.clone())),
        };
        sqlx::query(
            "UPDATE survey_requests SET status = $3, message_id = $4, failure = $5, sent_at = $6 WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(account_id.to_string())
        .bind(status)
        .bind(message)
        .bind(failure)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        if outcome.is_ok() {
            let sql = format!("SELECT {RESPONSE_COLUMNS} FROM survey_requests WHERE id = $1");
            let sent = response(&sqlx::query(&sql).bind(id).fetch_one(tx.conn()).await?)?;
            let conversation = ConversationRef { id: sent.conversation_id, contact_id: Some(sent.contact_id), status: None };
            let payload = SurveyPayload { survey_response: sent, conversation, sentiment: None };
            tx.emit(DomainEvent::new(account_id, Payload::SurveySent(payload), at));
        }
        tx.commit().await
    }

    /// The survey an answer link names (by its token's hash).
    pub async fn survey_by_token(&self, token_hash: &str) -> Result<Option<SurveyByToken>> {
        let sql = format!(
            "SELECT r.account_id, {}, s.spec, c.language, a.name AS account_name FROM survey_requests r \
             JOIN surveys s ON s.id = r.survey_id JOIN contacts c ON c.id = r.contact_id JOIN accounts a ON a.id = r.account_id \
             WHERE r.token_hash = $1",
            RESPONSE_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ")
        );
        let Some(row) = sqlx::query(&sql).bind(token_hash).fetch_optional(&self.pool).await? else { return Ok(None) };
        Ok(Some(SurveyByToken {
            account_id: rows::parse(&row, "account_id")?,
            response: response(&row)?,
            spec: rows::json(&row, "spec")?,
            italian: rows::opt_text(&row, "language")?.as_deref() == Some("it"),
            account_name: rows::text(&row, "account_name")?,
        }))
    }

    /// Records an answer given on the answer page; the response as it
    /// stands (unchanged when it was answered before or has expired).
    pub async fn answer_survey(&self, account_id: AccountId, id: &str, score: u8) -> Result<SurveyResponse> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {RESPONSE_COLUMNS} FROM survey_requests WHERE id = $1 AND account_id = $2");
        let current = response(
            &sqlx::query(&sql).bind(id).bind(account_id.to_string()).fetch_optional(tx.conn()).await?.ok_or(StoreError::NotFound)?,
        )?;
        if current.answered_at.is_some() || current.expires_at <= at {
            tx.rollback().await?;
            return Ok(current);
        }
        let answered = record_answer(&mut tx, account_id, id, score, None, at).await?.unwrap_or(current);
        tx.commit().await?;
        Ok(answered)
    }

    /// Every survey sent to a contact and their answers, oldest first (for
    /// their export).
    pub async fn contact_survey_responses(&self, account_id: AccountId, contact_id: ContactId) -> Result<Vec<SurveyResponse>> {
        let sql = format!("SELECT {RESPONSE_COLUMNS} FROM survey_requests WHERE account_id = $1 AND contact_id = $2 ORDER BY sent_at, id");
        sqlx::query(&sql)
            .bind(account_id.to_string())
            .bind(contact_id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(response)
            .collect()
    }

    /// Surveys sent in `from..to` (newest first, at most `limit`), filtered
    /// like reports (by channel, team, agent).
    pub async fn survey_responses(
        &self,
        account_id: AccountId,
        from: OffsetDateTime,
        to: OffsetDateTime,
        filter: &MetricsFilter,
        limit: i64,
    ) -> Result<Vec<SurveyResponse>> {
        let mut conditions = String::new();
        let mut extra = Vec::new();
        for (column, value) in [("channel", &filter.channel), ("team_id", &filter.team_id), ("agent_id", &filter.assignee_id)] {
            if let Some(value) = value {
                extra.push(value.clone());
                conditions.push_str(&format!(" AND {column} = ${}", 4 + extra.len()));
            }
        }
        let sql = format!(
            "SELECT {RESPONSE_COLUMNS} FROM survey_requests WHERE account_id = $1 AND sent_at >= $2 AND sent_at < $3 AND status = 'sent'{conditions} \
             ORDER BY sent_at DESC, id DESC LIMIT $4"
        );
        let mut query = sqlx::query(&sql).bind(account_id.to_string()).bind(micros(from)).bind(micros(to)).bind(limit);
        for value in extra {
            query = query.bind(value);
        }
        query.fetch_all(&self.pool).await?.iter().map(response).collect()
    }
}
