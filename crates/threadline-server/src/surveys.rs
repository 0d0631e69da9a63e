//! Sending surveys, and the page an email's score links open.
//!
//! When a conversation is resolved, `survey.send` picks the account's
//! first active survey that applies (its inboxes and teams), waits its
//! delay, skips customers asked within its throttle, claims the one row
//! per survey and conversation, and sends the question on the
//! conversation's channel through the same rules as any reply (consent,
//! messaging windows). Text channels ask for a number; email carries
//! one link per score to a page that asks to confirm (link scanners open
//! links; only the button records), signed by an unguessable token kept
//! hashed.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use rand::RngCore;
use threadline_domain::channel::Channel;
use threadline_domain::conversation::ConversationStatus;
use threadline_domain::ids::ConversationId;
use threadline_domain::message::Choice;
use threadline_domain::survey::parse_answer;
use threadline_store::{Job, NewSurveyRequest};
use time::Duration;

use crate::app::AppState;
use crate::auth::hash_token;
use crate::channels::reply::{Author, Draft};
use crate::jobs::Outcome;

/// The job that sends `survey_id` about a conversation now (an automation
/// rule's `send_survey`): the survey's throttling still applies, its delay
/// and inbox/team filters do not (the rule chose).
pub fn send_job(
    account_id: threadline_domain::ids::AccountId,
    conversation_id: ConversationId,
    survey_id: threadline_domain::ids::SurveyId,
    at: time::OffsetDateTime,
) -> threadline_store::NewJob {
    threadline_store::NewJob {
        lane: None,
        kind: threadline_store::SURVEY_JOB,
        account_id: Some(account_id),
        dedup_key: Some(format!("survey:{conversation_id}:{survey_id}")),
        payload: serde_json::json!({ "conversation_id": conversation_id, "survey_id": survey_id }),
        run_at: at,
    }
}

/// `survey.send`: the survey for a conversation just resolved, or the one
/// a rule named.
pub async fn on_resolved(state: &AppState, job: &Job) -> anyhow::Result<Outcome> {
    let Some(account_id) = job.account_id else { return Ok(Outcome::Done) };
    let Some(id) = job.payload.get("conversation_id").and_then(|v| v.as_str()).and_then(|v| v.parse::<ConversationId>().ok()) else {
        return Ok(Outcome::Done);
    };
    let named = job.payload.get("survey_id").and_then(|v| v.as_str()).and_then(|v| v.parse::<threadline_domain::ids::SurveyId>().ok());
    let conversation = match state.store.conversation(account_id, id).await {
        Ok(c) => c,
        Err(threadline_store::StoreError::NotFound) => return Ok(Outcome::Done),
        Err(e) => return Err(e.into()),
    };
    let last = state.store.last_inbound_message(account_id, id, None).await?;
    let inbox = last.as_ref().and_then(|m| m.inbox_id);
    let surveys = state.store.surveys(account_id).await?;
    let (survey, resolved_at) = match named {
        Some(named) => {
            let Some(survey) = surveys.into_iter().find(|s| s.id == named && s.active) else { return Ok(Outcome::Done) };
            (survey, None)
        }
        None => {
            // Reopened meanwhile: not over yet.
            let Some(resolved_at) = conversation.resolved_at.filter(|_| conversation.status == ConversationStatus::Resolved) else {
                return Ok(Outcome::Done);
            };
            let Some(survey) = surveys.into_iter().find(|s| {
                s.active
                    && (s.spec.inbox_ids.is_empty() || inbox.is_some_and(|i| s.spec.inbox_ids.contains(&i)))
                    && (s.spec.team_ids.is_empty() || conversation.team_id.is_some_and(|t| s.spec.team_ids.contains(&t)))
            }) else {
                return Ok(Outcome::Done);
            };
            (survey, Some(resolved_at))
        }
    };
    let now = state.clock.now();
    if let Some(resolved_at) = resolved_at {
        let due = resolved_at + Duration::hours(i64::from(survey.spec.delay_hours));
        if due > now {
            return Ok(Outcome::Later(due));
        }
    }
    if let Some(last_sent) = state.store.last_survey_sent(account_id, conversation.contact_id).await?
        && now - last_sent < Duration::days(i64::from(survey.spec.throttle_days))
    {
        return Ok(Outcome::Done);
    }
    let contact = state.store.contact(account_id, conversation.contact_id).await?;
    let italian = contact.language.as_deref().or(conversation.language.as_deref()) == Some("it");
    let channel = last.as_ref().map(|m| m.channel).or(conversation.channel).unwrap_or(Channel::Api);
    let mut token = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut token);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token);
    let request = NewSurveyRequest {
        account_id,
        survey_id: survey.id,
        kind: survey.spec.kind,
        conversation_id: id,
        contact_id: conversation.contact_id,
        channel: channel.as_str().to_owned(),
        agent_id: conversation.assignee_id,
        team_id: conversation.team_id,
        token_hash: hash_token(&token),
        expires_at: now + Duration::hours(i64::from(survey.spec.expiry_hours)),
    };
    let Some(request_id) = state.store.claim_survey_request(&request).await? else {
        return Ok(Outcome::Done);
    };
    let text = if channel == Channel::Email {
        let (low, high) = survey.spec.kind.range();
        let base = state.settings.public_url.trim_end_matches('/');
        let mut text = format!("{}\n\n", survey.spec.question(italian));
        for score in (low..=high).rev() {
            text.push_str(&format!("{score}: {base}/survey/{token}?score={score}\n"));
        }
        text
    } else {
        survey.spec.prompt(italian)
    };
    let subject = (channel == Channel::Email).then(|| if italian { "La sua opinione" } else { "Your opinion" }.to_owned());
    let draft = Draft {
        author: Author::System,
        channel: Some(channel),
        inbox_id: None,
        text,
        html: None,
        attachments: Vec::new(),
        template: None,
        subject,
    };
    // At most once: a survey that could not go out is recorded as failed, not retried.
    let outcome = match ask(state, account_id, id, &survey.spec, channel, italian, draft).await {
        Ok(message) => Ok(message),
        Err(e) => Err(e.to_string()),
    };
    state.store.survey_request_sent(account_id, &request_id, outcome).await?;
    Ok(Outcome::Done)
}

/// Sends the survey: with its scores to tap where the channel has buttons
/// (buttons in the web and in-app chat, a WhatsApp list for up to ten, a
/// Telegram keyboard), and on WhatsApp
/// after the 24 hours as the survey's approved template, if it names one.
async fn ask(
    state: &AppState,
    account_id: threadline_domain::ids::AccountId,
    id: ConversationId,
    spec: &threadline_domain::survey::SurveySpec,
    channel: Channel,
    italian: bool,
    mut draft: Draft,
) -> crate::error::ApiResult<threadline_domain::ids::MessageId> {
    let context = crate::channels::reply::ReplyContext::load(state, account_id, id).await?;
    let closed = channel == Channel::Whatsapp && !context.judge(channel, state.clock.now()).allowed;
    if closed && let Some(name) = &spec.whatsapp_template {
        let language = if italian { Some("it") } else { Some("en") };
        if let Some(template) = state.store.template_by_name(account_id, channel, name, language).await? {
            draft.text = String::new();
            draft.template = Some((template.id, Vec::new()));
        }
    }
    let mut outbound = crate::channels::reply::compose(state, account_id, &context, Some(id), draft).await?;
    let choices: Vec<Choice> = spec
        .choices(italian)
        .into_iter()
        .map(|(score, words)| Choice { id: format!("score:{score}"), title: score.to_string(), description: words.map(str::to_owned) })
        .collect();
    match channel {
        // The chat shows the message's choices as buttons.
        Channel::WebChat | Channel::InApp => outbound.choices = choices,
        Channel::Whatsapp | Channel::Telegram if !closed => {
            if let Some(delivery) = outbound.delivery.as_mut() {
                delivery.choices = choices.clone();
                delivery.choices_button = Some(if italian { "Scegli" } else { "Choose" }.to_owned());
            }
            outbound.choices = choices;
        }
        _ => {}
    }
    let message = state.store.create_outbound_message(account_id, id, &outbound).await?;
    Ok(message.id)
}

#[derive(serde::Deserialize)]
pub struct ScoreParam {
    score: Option<String>,
}

#[derive(Template)]
#[template(path = "survey.html")]
struct AnswerPage {
    lang: &'static str,
    account: String,
    question: String,
    /// The scores to choose from, highest first.
    scores: Vec<u8>,
    /// The score a link chose, to confirm.
    chosen: Option<u8>,
    /// The recorded answer, once given.
    answered: Option<u8>,
    expired: bool,
    italian: bool,
}

fn answer_page(page: &AnswerPage) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = Html(html).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                ),
            );
            headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            response
        }
        Err(e) => crate::error::ApiError::Internal(e.into()).into_response(),
    }
}

async fn load(state: &AppState, token: &str) -> Result<threadline_store::SurveyByToken, Response> {
    if token.len() > 64 {
        return Err(crate::error::ApiError::NotFound.into_response());
    }
    match state.store.survey_by_token(&hash_token(token)).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(crate::error::ApiError::NotFound.into_response()),
        Err(e) => Err(crate::error::ApiError::from(e).into_response()),
    }
}

fn page_for(found: &threadline_store::SurveyByToken, chosen: Option<u8>, now: time::OffsetDateTime) -> AnswerPage {
    let (low, high) = found.spec.kind.range();
    AnswerPage {
        lang: if found.italian { "it" } else { "en" },
        account: found.account_name.clone(),
        question: found.spec.question(found.italian),
        scores: (low..=high).rev().collect(),
        chosen,
        answered: found.response.score,
        expired: found.response.answered_at.is_none() && found.response.expires_at <= now,
        italian: found.italian,
    }
}

/// `GET /survey/{token}`: the question, or the confirm step for a score a
/// link chose. Nothing is recorded on GET.
pub async fn show(State(state): State<AppState>, Path(token): Path<String>, Query(q): Query<ScoreParam>) -> Response {
    let found = match load(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chosen = q.score.as_deref().and_then(|s| parse_answer(found.spec.kind, s));
    answer_page(&page_for(&found, chosen, state.clock.now()))
}

#[derive(serde::Deserialize)]
pub struct ScoreForm {
    score: String,
}

/// `POST /survey/{token}`: records the score (once; later answers change nothing).
pub async fn answer(State(state): State<AppState>, Path(token): Path<String>, axum::Form(form): axum::Form<ScoreForm>) -> Response {
    let found = match load(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(score) = parse_answer(found.spec.kind, &form.score) else {
        return crate::error::ApiError::invalid("score", "is one of the scale's numbers").into_response();
    };
    match state.store.answer_survey(found.account_id, &found.response.id, score).await {
        Ok(response) => {
            let found = threadline_store::SurveyByToken { response, ..found };
            answer_page(&page_for(&found, None, state.clock.now()))
        }
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}
