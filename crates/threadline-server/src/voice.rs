//! Voice inboxes: Twilio Voice (and providers speaking the same TwiML)
//! calls `POST /hooks/voice/{inbox_id}` when a call arrives and at each
//! step after; every request is checked against `X-Twilio-Signature` and
//! answered with TwiML made by `threadline_domain::voice` from the inbox's
//! IVR (`settings.ivr`).
//!
//! The caller is found by their number (the same customer as their SMS and
//! WhatsApp), and the call continues their conversation — or opens one —
//! on the voice channel; a caller whose conversation is open with a team is
//! queued for that team. The call is a row (`threadline_store::calls`) that
//! follows it through the IVR and the queue; its voicemail (the recording,
//! stored like any attachment, and the provider's transcript) are the
//! caller's messages in the conversation; the call's final status
//! (`?step=status`, the number's status callback) ends it once and puts a
//! `call` interaction in the customer's timeline.
//!
//! A queued caller is offered to one agent at a time
//! (`threadline_domain::voice::choose_agent`): Twilio rings the agent's
//! phone for the IVR's `ring_secs`; an agent who does not answer is passed
//! over and the next one's phone rings; while nobody is free, each of the
//! queue's wait steps tries again. A caller who hangs up stops the ringing.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use threadline_channels::MediaRef;
use threadline_domain::channel::Channel;
use threadline_domain::conversation::ConversationStatus;
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::ids::InboxId;
use threadline_domain::voice::{Answer, CallFacts, Ivr, Step, Words, answer, render};
use threadline_store::{Account, Call, CallChanges, InboundMessage, Inbox, NewCall};

use crate::app::AppState;
use crate::auth::constant_time_eq;
use crate::channels::{inbox_config, open_secrets};
use crate::error::ApiError;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/hooks/voice/{inbox_id}", axum::routing::post(receive))
}

/// The URL Twilio is given for a voice inbox (its "A call comes in" webhook);
/// its status callback is the same with `?step=status`.
pub fn voice_url(state: &AppState, inbox_id: InboxId) -> String {
    format!("{}/hooks/voice/{inbox_id}", state.settings.effective_public_url())
}

/// The IVR of an inbox: its `ivr` setting, or a greeting and the inbox's
/// queue when it has none.
pub fn ivr_of(inbox: &Inbox, account: &Account) -> Result<Ivr, String> {
    match inbox.settings.get("ivr") {
        Some(value) => serde_json::from_value::<Ivr>(value.clone()).map_err(|e| e.to_string()),
        None => {
            let greeting: Words = [("en".to_owned(), format!("Thank you for calling {}.", account.name))].into();
            Ok(Ivr {
                languages: vec!["en".into()],
                greeting,
                menu: Vec::new(),
                hours: None,
                closed: Words::new(),
                hold_music_url: None,
                max_wait_secs: 300,
                record: false,
                callback: false,
                ring_secs: 20,
            })
        }
    }
}

fn twiml(xml: String) -> Response {
    let mut response = (StatusCode::OK, xml).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=utf-8"));
    response
}

/// Final call statuses (Twilio's `CallStatus`).
fn is_final(status: &str) -> bool {
    matches!(status, "completed" | "busy" | "no-answer" | "failed" | "canceled")
}

async fn receive(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let inbox_id: InboxId = raw_id.parse().map_err(|_| ApiError::NotFound)?;
    let (inbox, account) = state.inbox_by_id(inbox_id).await?;
    if inbox.channel != Channel::Voice {
        return Err(ApiError::NotFound);
    }
    let secrets = open_secrets(&state, &inbox).map_err(ApiError::Internal)?;
    let Some(token) = secrets.get("auth_token") else {
        return Err(ApiError::Forbidden("the voice inbox has no auth_token to check Twilio's signature with".into()));
    };
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let url = match query.as_deref() {
        Some(q) if !q.is_empty() => format!("{}?{q}", voice_url(&state, inbox.id)),
        _ => voice_url(&state, inbox.id),
    };
    let given = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let expected = threadline_channels::twilio::signature(token, &url, &params);
    if !constant_time_eq(expected.as_bytes(), given.trim().as_bytes()) {
        tracing::warn!(inbox = %inbox.id, "a voice webhook without a valid X-Twilio-Signature was refused");
        return Err(ApiError::Unauthorized);
    }
    let field = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
    let query: Vec<(String, String)> = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()).into_owned().collect();
    let param = |name: &str| query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    if param("step") == Some("dialed") && param("recording") == Some("1") {
        // A recording of a call Threadline placed (click-to-call), or of a
        // waiting caller's call answered by an agent (`for`: the caller's;
        // a conference's recording callback names no call).
        if let Some(sid) = param("for").or(field("CallSid"))
            && let Some(call) = state.store.call_by_sid(account.id, inbox.id, sid).await?
        {
            call_recording(&state, &account, &inbox, &secrets, &call, &params).await?;
        }
        return Ok(twiml(render(&[])));
    }
    let call_sid = field("CallSid").ok_or_else(|| ApiError::invalid("CallSid", "is missing"))?.to_owned();
    let now = state.clock.now();

    let ivr = ivr_of(&inbox, &account).map_err(|e| ApiError::Internal(anyhow::anyhow!("the voice inbox's IVR cannot be read: {e}")))?;
    let line = Line { state: &state, account: &account, inbox: &inbox, secrets: &secrets, ivr: &ivr };
    if param("step") == Some("status") {
        if let Some(status) = field("CallStatus").filter(|s| is_final(s)) {
            let duration = field("CallDuration").and_then(|d| d.parse::<i64>().ok());
            match state.store.end_call(account.id, inbox.id, &call_sid, status, duration, now).await? {
                // The caller hung up while an agent's phone rang: it stops.
                Some(ended) => {
                    if let Some(offer) = &ended.offer_sid {
                        cancel_ringing(&line, offer).await;
                    }
                }
                // An agent's phone that was not answered: the next agent's rings.
                None if status != "completed" => {
                    if let Some(waiting) = state.store.decline_offer(account.id, inbox.id, &call_sid, now).await? {
                        offer(&line, &waiting, false).await;
                    }
                }
                None => {}
            }
        }
        return Ok(twiml(render(&[])));
    }
    let step = Step::parse(param("step").unwrap_or("start")).ok_or_else(|| ApiError::invalid("step", "is not a step of a call"))?;
    if step == Step::Answer {
        // The agent's own leg: they are joined to the caller they were offered.
        return answer_offer(&line, param("for"), param("lang")).await;
    }
    if step == Step::Join {
        // The answered caller, out of the queue, joins the agent's room.
        let known = state.store.call_by_sid(account.id, inbox.id, &call_sid).await?.is_some();
        let facts = CallFacts { room: known.then(|| threadline_domain::voice::room_name(&call_sid)), ..CallFacts::default() };
        let base = voice_url(&state, inbox.id);
        let next = |step: Step, language: &str| format!("{base}?step={}&lang={language}", step.as_str());
        return Ok(twiml(render(&answer(&ivr, Step::Join, &facts, &next).verbs)));
    }
    let offset = crate::sla::offset_in(ivr.hours.as_ref().map(|h| h.time_zone.as_str()));
    let open = ivr
        .hours
        .as_ref()
        .is_none_or(|hours| threadline_domain::sla::business_time_between(Some(hours), now, now + time::Duration::minutes(1), &offset) > 0);

    let (call, open_team) = match step {
        Step::Start => {
            start(&state, &account, &inbox, &call_sid, field("From"), field("To"), field("Direction"), field("CallStatus")).await?
        }
        _ => match state.store.call_by_sid(account.id, inbox.id, &call_sid).await? {
            // A team before the caller is queued is their open conversation's.
            Some(call) => {
                let team = call.team_id.filter(|_| call.enqueued_at.is_none());
                (call, team)
            }
            // A step of a call Threadline never saw start: start it now.
            None => start(&state, &account, &inbox, &call_sid, field("From"), field("To"), field("Direction"), field("CallStatus")).await?,
        },
    };
    if step == Step::Recorded {
        voicemail(&state, &account, &inbox, &secrets, &call, &params).await?;
        // The transcription callback expects no TwiML of its own.
        if field("TranscriptionStatus").is_some() {
            return Ok(twiml(render(&[])));
        }
    }
    let facts = CallFacts {
        open,
        language: param("lang").map(str::to_owned).or(call.language.clone()),
        digits: field("Digits").map(str::to_owned),
        speech: field("SpeechResult").map(str::to_owned),
        misses: call.misses as u32,
        open_conversation_team: open_team,
        queue_position: field("QueuePosition").and_then(|p| p.parse().ok()),
        queue_secs: field("QueueTime").and_then(|t| t.parse().ok()).unwrap_or(0),
        queue_result: field("QueueResult").map(str::to_owned),
        // Click-to-call: the customer, shown the inbox's number.
        dial: (call.direction == "outbound").then(|| call.to_number.clone()),
        caller_id: inbox.settings.get("from").and_then(|f| f.as_str()).map(str::to_owned),
        room: None,
        caller_name: None,
        recording_callback: None,
    };
    let base = voice_url(&state, inbox.id);
    let next = |step: Step, language: &str| format!("{base}?step={}&lang={language}", step.as_str());
    let answered: Answer = answer(&ivr, step, &facts, &next);
    let changes = CallChanges {
        language: Some(answered.language.clone()),
        team_id: answered.enqueued,
        missed: answered.missed,
        enqueued_at: answered.enqueued.map(|_| now),
        queue_secs: (step == Step::Left).then_some(facts.queue_secs as i64),
        voicemail: answered.voicemail,
        // Click-to-call: how long the customer's leg lasted.
        talk_secs: if step == Step::Dialed { field("DialCallDuration").and_then(|d| d.parse().ok()) } else { None },
    };
    state.store.update_call(account.id, &call.id, changes, now).await?;
    // Out of the queue (for voicemail or a callback): nobody's phone rings for it any more.
    let leaves = step == Step::Left || answered.verbs.contains(&threadline_domain::voice::Verb::Leave);
    if leaves && let Some(ringing) = state.store.withdraw_offer(account.id, &call, now).await? {
        cancel_ringing(&line, &ringing).await;
    }
    if answered.callback {
        request_callback(&line, &call).await?;
    }
    // Just queued, or still waiting with nobody's phone ringing: offer the call.
    let waiting_unoffered =
        step == Step::Wait && call.agent_id.is_none() && !answered.verbs.contains(&threadline_domain::voice::Verb::Leave);
    if answered.enqueued.is_some() || waiting_unoffered {
        let fresh = state.store.call_by_sid(account.id, inbox.id, &call.call_sid).await?.unwrap_or(call);
        offer(&line, &fresh, step == Step::Wait).await;
    }
    Ok(twiml(render(&answered.verbs)))
}

/// A voice inbox answering one webhook: its account, secrets and IVR.
struct Line<'a> {
    state: &'a AppState,
    account: &'a Account,
    inbox: &'a Inbox,
    secrets: &'a std::collections::BTreeMap<String, String>,
    ivr: &'a Ivr,
}

/// Offers a waiting call to the agent routing picks among those of its
/// queue's team (anyone, for the inbox's own queue) — the caller's own
/// agent first — who have a phone and room for a call and have not let it
/// ring out: Twilio rings their phone for the IVR's `ring_secs`, and their
/// workspace shows the caller. `again`: when everyone free has let it ring
/// out, start over with them. Nobody free: it waits for the next try; a
/// phone that cannot be rung passes to the next agent.
async fn offer(line: &Line<'_>, call: &Call, again: bool) {
    let mut call = call.clone();
    // Each agent at most once per try, so a run of unreachable phones ends.
    for _ in 0..8 {
        match offer_once(line, &call, again).await {
            Ok(None) => return,
            Ok(Some(next)) => call = next,
            Err(e) => {
                // The caller waits on, and leaves a message after the longest wait.
                tracing::warn!(inbox = %line.inbox.id, call = %call.call_sid, error = %e, "a waiting call could not be offered to an agent");
                return;
            }
        }
    }
}

/// One offer; `Some(call)` when the chosen agent's phone could not be rung
/// (they are passed over: try the next).
async fn offer_once(line: &Line<'_>, call: &Call, again: bool) -> anyhow::Result<Option<Call>> {
    use threadline_domain::routing::{ConversationFacts, Strategy, Waiting};
    let (state, account) = (line.state, line.account);
    let now = state.clock.now();
    let (policy, agents) = state.store.call_agents(account.id, call.team_id).await?;
    let conversation = state.store.conversation(account.id, call.conversation_id).await?;
    let requirements = if policy.strategy == Strategy::Skills {
        let contact = state.store.contact(account.id, call.contact_id).await?;
        let facts = ConversationFacts {
            language: call.language.as_deref(),
            category: conversation.category.as_deref(),
            channel: Some(Channel::Voice),
            attributes: Some(&contact.attributes),
        };
        policy.skills.requirements(&facts)
    } else {
        Vec::new()
    };
    let waiting = Waiting {
        id: call.conversation_id,
        channel: Channel::Voice,
        priority: conversation.priority,
        queued_at: call.enqueued_at.unwrap_or(now),
        requirements,
    };
    let mut declined = call.declined.clone();
    let mut chosen = threadline_domain::voice::choose_agent(&policy, &agents, &waiting, conversation.assignee_id, &declined);
    if chosen.is_none() && again && !declined.is_empty() {
        // Everyone free has let it ring once: start over.
        declined.clear();
        chosen = threadline_domain::voice::choose_agent(&policy, &agents, &waiting, conversation.assignee_id, &declined);
    }
    let Some(chosen) = chosen else {
        tracing::info!(call = %call.call_sid, "no agent free to take a waiting call");
        return Ok(None);
    };
    let capacity = agents.iter().find(|a| a.agent.id == chosen.agent).map_or(1, |a| a.agent.capacity_for(Channel::Voice));
    if !state.store.claim_call_offer(account.id, call, chosen.agent, capacity, &declined, now).await? {
        // Another node offered it, or took the agent's last room, meanwhile.
        return Ok(None);
    }
    let language = call.language.as_deref().unwrap_or_else(|| line.ivr.languages.first().map_or("en", String::as_str));
    let step = format!("answer&for={}&lang={language}", call.call_sid);
    match place_call(state, line.inbox, line.secrets, &chosen.phone, &step, Some(line.ivr.ring_secs)).await {
        Ok(sid) => {
            tracing::debug!(call = %call.call_sid, reason = %chosen.reason, "a waiting call was offered to an agent");
            if !state.store.offer_call(account.id, call, chosen.agent, &sid, now).await? {
                // The caller went while the agent's phone was being rung.
                cancel_ringing(line, &sid).await;
            }
            Ok(None)
        }
        Err(e) => {
            tracing::warn!(call = %call.call_sid, error = %e, "an agent's phone could not be rung; the next agent is tried");
            Ok(state.store.decline_offer(account.id, line.inbox.id, &call.id, now).await?)
        }
    }
}

/// Stops an agent's phone ringing for a caller who has gone (Twilio leaves
/// a call already answered alone). A failure only means it rings out.
async fn cancel_ringing(line: &Line<'_>, offer_sid: &str) {
    let base = voice_url(line.state, line.inbox.id);
    let config = inbox_config(line.state, line.inbox, line.secrets, &base);
    let Ok(request) = threadline_channels::twilio::cancel_call_request(&config, offer_sid) else { return };
    if let Err(e) = crate::channels::execute(&line.state.egress, &line.state.providers.client, &request, 64 * 1024).await {
        tracing::info!(call = %offer_sid, error = %e, "an agent's ringing phone could not be stopped");
    }
}

/// The caller asked to be called back: a `call` task for the queue's team,
/// in the line's first language, shown in the workspace with a call button.
async fn request_callback(line: &Line<'_>, call: &Call) -> Result<(), ApiError> {
    let fresh = line.state.store.call_by_sid(line.account.id, line.inbox.id, &call.call_sid).await?.unwrap_or_else(|| call.clone());
    let waited = fresh.queue_secs.unwrap_or(0);
    let waited = format!("{}:{:02}", waited / 60, waited % 60);
    let title = if line.ivr.languages.first().is_some_and(|l| l == "it") {
        format!("Richiamare {} (in attesa per {waited})", fresh.from_number)
    } else {
        format!("Call back {} (waited {waited} in the queue)", fresh.from_number)
    };
    line.state.store.request_callback(line.account.id, &fresh, &title, line.state.clock.now()).await?;
    Ok(())
}

/// Why Twilio did not place a call.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// The inbox cannot place calls (no `from` number, no credentials).
    #[error("{0}")]
    Inbox(String),
    /// Twilio could not be reached, or refused (its words).
    #[error("{0}")]
    Provider(String),
}

/// Has Twilio call `to` from the inbox's number; when it answers, Twilio
/// fetches this inbox's voice URL at `?step={step}` for what to do, and
/// reports the call's end to its status step. The new call's `CallSid`.
pub async fn place_call(
    state: &AppState,
    inbox: &Inbox,
    secrets: &std::collections::BTreeMap<String, String>,
    to: &str,
    step: &str,
    ring_secs: Option<u32>,
) -> Result<String, PlaceError> {
    let base = voice_url(state, inbox.id);
    let config = inbox_config(state, inbox, secrets, &base);
    let request =
        threadline_channels::twilio::call_request(&config, to, &format!("{base}?step={step}"), &format!("{base}?step=status"), ring_secs)
            .map_err(|e| PlaceError::Inbox(e.reason))?;
    let (status, body) = crate::channels::execute(&state.egress, &state.providers.client, &request, 1024 * 1024)
        .await
        .map_err(|e| PlaceError::Provider(format!("Twilio could not be reached: {e}")))?;
    threadline_channels::twilio::call_result(status, &body).map_err(|e| PlaceError::Provider(e.reason))
}

/// The TwiML for an agent who answered an offered call: who calls, then a
/// room of their own where that very caller — taken out of the queue by
/// Twilio's call update — joins them (the front of the queue may be
/// someone else, offered to another agent).
async fn answer_offer(line: &Line<'_>, caller_sid: Option<&str>, lang: Option<&str>) -> Result<Response, ApiError> {
    let (state, account, inbox) = (line.state, line.account, line.inbox);
    let call = match caller_sid {
        Some(sid) => state.store.call_by_sid(account.id, inbox.id, sid).await?,
        None => None,
    };
    let mut facts = CallFacts { language: lang.map(str::to_owned), ..CallFacts::default() };
    let base = voice_url(state, inbox.id);
    let call = match call.filter(|c| c.ended_at.is_none()) {
        Some(call) => {
            let language = call.language.as_deref().unwrap_or("en");
            let join = format!("{base}?step=join&lang={language}");
            let config = inbox_config(state, inbox, line.secrets, &base);
            let moved = match threadline_channels::twilio::redirect_call_request(&config, &call.call_sid, &join) {
                Ok(request) => crate::channels::execute(&state.egress, &state.providers.client, &request, 64 * 1024)
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|(status, body)| {
                        if (200..300).contains(&status) { Ok(()) } else { Err(format!("{status}: {}", String::from_utf8_lossy(&body))) }
                    }),
                Err(e) => Err(e.reason),
            };
            match moved {
                Ok(()) => Some(call),
                Err(e) => {
                    tracing::warn!(call = %call.call_sid, error = %e, "an answered caller could not be taken out of the queue");
                    None
                }
            }
        }
        None => None,
    };
    if let Some(call) = &call {
        state.store.answer_offer(account.id, inbox.id, &call.call_sid, state.clock.now()).await?;
        facts.room = Some(threadline_domain::voice::room_name(&call.call_sid));
        if line.ivr.record {
            facts.recording_callback = Some(format!("{base}?step=dialed&lang={}&recording=1&for={}", lang.unwrap_or("en"), call.call_sid));
        }
        facts.caller_name = state.store.contact(account.id, call.contact_id).await?.name.or(Some(call.from_number.clone()));
    }
    let next = |step: Step, language: &str| format!("{base}?step={}&lang={language}", step.as_str());
    Ok(twiml(render(&answer(line.ivr, Step::Answer, &facts, &next).verbs)))
}

/// A call arriving: its caller's conversation (continued or opened, the
/// call's id deduplicating a redelivery) and the call's row; the team of
/// the conversation if the caller already had one open.
#[allow(clippy::too_many_arguments)]
async fn start(
    state: &AppState,
    account: &Account,
    inbox: &Inbox,
    call_sid: &str,
    from: Option<&str>,
    to: Option<&str>,
    direction: Option<&str>,
    status: Option<&str>,
) -> Result<(Call, Option<threadline_domain::ids::TeamId>), ApiError> {
    let from = from.unwrap_or("anonymous");
    let region = Region::parse(&account.default_region).unwrap_or_default();
    // A withheld number (`anonymous`, `+266696687`…) is a caller of this call only.
    let identity = NormalizedIdentity::parse(IdentityKind::Phone, from, region)
        .or_else(|_| NormalizedIdentity::parse(IdentityKind::ExternalId, &format!("call:{call_sid}"), region))
        .map_err(|e| ApiError::invalid("From", e.to_string()))?;
    let inbound = InboundMessage {
        identities: vec![identity],
        text: format!("📞 Call from {from}"),
        provider_message_id: Some(call_sid.to_owned()),
        ..InboundMessage::new(inbox.id, Channel::Voice)
    };
    let (outcome, _) = crate::inbound::receive(state, account, inbox, inbound, None).await?;
    let conversation = &outcome.conversation;
    let open_team = (!outcome.conversation_created && !outcome.duplicate && conversation.status != ConversationStatus::Resolved)
        .then_some(conversation.team_id)
        .flatten();
    let direction = if direction.is_some_and(|d| d.starts_with("outbound")) { "outbound" } else { "inbound" };
    let new = NewCall {
        inbox_id: inbox.id,
        call_sid,
        contact_id: outcome.contact_id,
        conversation_id: conversation.id,
        direction,
        from_number: from,
        to_number: to.unwrap_or(""),
        status: status.unwrap_or("ringing"),
        agent_id: None,
    };
    let call = state.store.start_call(account.id, new, state.clock.now()).await?;
    if open_team.is_some() && call.team_id.is_none() {
        // Kept for the steps after the language choice.
        let changes = CallChanges { team_id: Some(open_team), ..CallChanges::default() };
        state.store.update_call(account.id, &call.id, changes, state.clock.now()).await?;
    }
    Ok((call, open_team))
}

/// The caller's voicemail: the recording (fetched from the provider with
/// the inbox's credentials, stored as an attachment) and, when the
/// transcription callback brings it, the transcript — each a message of
/// the caller's in the call's conversation, once (the recording's id).
async fn voicemail(
    state: &AppState,
    account: &Account,
    inbox: &Inbox,
    secrets: &std::collections::BTreeMap<String, String>,
    call: &Call,
    params: &[(String, String)],
) -> Result<(), ApiError> {
    let field = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
    let Some(recording) = field("RecordingSid") else { return Ok(()) };
    let (text, provider_id, attachments) = match field("TranscriptionText") {
        Some(transcript) => (transcript.to_owned(), format!("{recording}:transcript"), Vec::new()),
        None => {
            let Some(url) = field("RecordingUrl") else { return Ok(()) };
            let secs = field("RecordingDuration").and_then(|d| d.parse::<u64>().ok()).unwrap_or(0);
            let (stored, refused) = fetch_recording(state, inbox, secrets, url, "voicemail.mp3").await?;
            let mut text = format!("🎙 Voicemail ({}:{:02})", secs / 60, secs % 60);
            for line in refused {
                text.push('\n');
                text.push_str(&line);
            }
            (text, recording.to_owned(), stored)
        }
    };
    let region = Region::parse(&account.default_region).unwrap_or_default();
    let identity = NormalizedIdentity::parse(IdentityKind::Phone, &call.from_number, region)
        .or_else(|_| NormalizedIdentity::parse(IdentityKind::ExternalId, &format!("call:{}", call.call_sid), region))
        .map_err(|e| ApiError::invalid("From", e.to_string()))?;
    let inbound = InboundMessage {
        sender_language: call.language.clone(),
        identities: vec![identity],
        text,
        provider_message_id: Some(provider_id),
        attachments,
        thread: Some(call.conversation_id),
        team_id: call.team_id,
        ..InboundMessage::new(inbox.id, Channel::Voice)
    };
    crate::inbound::receive(state, account, inbox, inbound, None).await?;
    Ok(())
}

/// A click-to-call call's recording (Twilio's recording status callback):
/// fetched with the inbox's credentials and kept as the team's note in the
/// conversation, once per call.
async fn call_recording(
    state: &AppState,
    account: &Account,
    inbox: &Inbox,
    secrets: &std::collections::BTreeMap<String, String>,
    call: &Call,
    params: &[(String, String)],
) -> Result<(), ApiError> {
    let field = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
    let (Some(recording), Some(url)) = (field("RecordingSid"), field("RecordingUrl")) else { return Ok(()) };
    if field("RecordingStatus").is_some_and(|s| s != "completed") {
        return Ok(());
    }
    if !state.store.claim_call_recording(account.id, inbox.id, &call.call_sid, recording).await? {
        return Ok(());
    }
    let secs = field("RecordingDuration").and_then(|d| d.parse::<u64>().ok()).unwrap_or(0);
    let (attachments, refused) = fetch_recording(state, inbox, secrets, url, "call-recording.mp3").await?;
    let mut text = format!("🎙 Call recording ({}:{:02}), {} → {}", secs / 60, secs % 60, call.from_number, call.to_number);
    for line in refused {
        text.push('\n');
        text.push_str(&line);
    }
    let note = threadline_store::OutboundMessage {
        kind: threadline_domain::message::MessageKind::Note,
        channel: Channel::Voice,
        inbox_id: Some(inbox.id),
        sender: None,
        bot: Some("voice".into()),
        delivery: None,
        text,
        html: None,
        subject: None,
        attachments,
        mentions: Vec::new(),
        choices: Vec::new(),
    };
    state.store.create_outbound_message(account.id, call.conversation_id, &note).await?;
    Ok(())
}

/// A recording Twilio made (its URL without extension), fetched as MP3 with
/// the inbox's credentials under the media rules of every channel: the
/// attachment, or for the message a line saying why it is missing.
async fn fetch_recording(
    state: &AppState,
    inbox: &Inbox,
    secrets: &std::collections::BTreeMap<String, String>,
    url: &str,
    filename: &str,
) -> Result<(Vec<threadline_store::NewAttachment>, Vec<String>), ApiError> {
    let adapter = threadline_channels::adapter_for(Channel::Sms).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no Twilio adapter")))?;
    let hook = voice_url(state, inbox.id);
    let config = inbox_config(state, inbox, secrets, &hook);
    let media = [MediaRef { locator: format!("{url}.mp3"), content_type: Some("audio/mpeg".into()), filename: Some(filename.into()) }];
    Ok(crate::channels::media::fetch_all(state, adapter, &config, &media).await)
}
