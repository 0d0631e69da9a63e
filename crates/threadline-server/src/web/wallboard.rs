//! The wallboard: what a supervisor keeps on a screen — each team's queue
//! and its longest wait, agents online, open conversations, and SLA
//! targets at risk or already missed. The page follows the live socket
//! (and looks again every 30 seconds), like the inbox.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use threadline_domain::role::Permission;
use threadline_domain::sla::ClockState;

use super::i18n::{Lang, Texts};
use super::{Top, page, signed_in, user_lang};
use crate::app::AppState;
use crate::error::ApiError;

pub struct WallboardTexts {
    pub title: &'static str,
    pub queues: &'static str,
    pub team: &'static str,
    pub waiting: &'static str,
    pub longest: &'static str,
    pub online: &'static str,
    pub open: &'static str,
    pub at_risk: &'static str,
    pub missed: &'static str,
    pub updated: &'static str,
    pub no_teams: &'static str,
}

const EN: WallboardTexts = WallboardTexts {
    title: "Wallboard",
    queues: "Queues",
    team: "Team",
    waiting: "Waiting",
    longest: "Longest wait",
    online: "Agents online",
    open: "Open conversations",
    at_risk: "SLA at risk",
    missed: "SLA missed, still open",
    updated: "Updated",
    no_teams: "No teams yet: conversations wait in one queue.",
};

const IT: WallboardTexts = WallboardTexts {
    title: "Situazione in tempo reale",
    queues: "Code",
    team: "Team",
    waiting: "In attesa",
    longest: "Attesa più lunga",
    online: "Agenti online",
    open: "Conversazioni aperte",
    at_risk: "SLA a rischio",
    missed: "SLA mancati, ancora aperte",
    updated: "Aggiornato",
    no_teams: "Ancora nessun team: le conversazioni aspettano in un'unica coda.",
};

pub fn texts(lang: Lang) -> &'static WallboardTexts {
    match lang {
        Lang::En => &EN,
        Lang::It => &IT,
    }
}

#[derive(Template)]
#[template(path = "wallboard.html")]
struct WallboardPage<'a> {
    t: &'a Texts,
    w: &'static WallboardTexts,
    lang: &'a str,
    top: Top<'a>,
    /// (team, waiting, longest wait in words)
    queues: Vec<(String, i64, String)>,
    online: i64,
    open: i64,
    at_risk: i64,
    missed: i64,
    updated: String,
}

fn wait(secs: Option<i64>) -> String {
    match secs {
        None => "—".into(),
        Some(s) if s < 60 => format!("{s} s"),
        Some(s) if s < 3600 => format!("{} min", s / 60),
        Some(s) => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

pub async fn wallboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    if !session.user.role.allows(Permission::SuperviseContacts) {
        return ApiError::Forbidden("the wallboard is for supervisors and administrators".into()).into_response();
    }
    let lang = user_lang(&session, &headers);
    let account_id = session.user.account_id;
    let now = state.clock.now();
    let loaded = async {
        let (queues, online) = state.store.queues_now(account_id, now).await?;
        let backlog = state.store.backlog(account_id, now).await?;
        let policies = state.store.sla_policies(account_id).await?;
        let teams = state.store.teams(account_id).await?;
        // Open conversations' clocks: at risk (little time left) or missed.
        let (mut at_risk, mut missed, mut after) = (0, 0, None);
        loop {
            let page = state.store.sla_candidates(account_id, after, 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.conversation.id);
            for candidate in &page {
                let Some(policy) = crate::sla::policy_for(&policies, &teams, &candidate.conversation) else { continue };
                let clocks = crate::sla::conversation_clocks(&policy.policy, &candidate.conversation, candidate.started_at, now);
                if clocks.iter().any(|c| c.state == ClockState::Breached) {
                    missed += 1;
                } else if clocks.iter().any(|c| c.state == ClockState::Warning) {
                    at_risk += 1;
                }
            }
        }
        Ok::<_, threadline_store::StoreError>((queues, online, backlog, at_risk, missed))
    }
    .await;
    let (queues, online, backlog, at_risk, missed) = match loaded {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let local = now.to_offset(time::UtcOffset::UTC);
    page(&WallboardPage {
        t: lang.texts(),
        w: texts(lang),
        lang: lang.code(),
        top: Top::of(&session, lang),
        queues: queues.into_iter().map(|q| (q.team, q.waiting, wait(q.longest_wait_secs))).collect(),
        online,
        open: backlog.open,
        at_risk,
        missed,
        updated: format!("{:02}:{:02}:{:02} UTC", local.hour(), local.minute(), local.second()),
    })
}
