//! The workspace's pages and parts for routing, triage, SLA, the knowledge
//! base and bots: why a message was read as it was, the SLA clocks, the
//! bot's handoff note, the assist panel beside the reply box, the routing
//! and knowledge administration pages, and the public help pages.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use threadline_domain::conversation::{Conversation, ConversationStatus};
use threadline_domain::ids::{ArticleId, ConversationId, InboxId};
use threadline_domain::role::Permission;
use threadline_domain::sla::{Clock, ClockState, SlaTarget};
use threadline_domain::triage::Triage;
use threadline_store::{ArticleQuery, BotSession, StoredSlaPolicy, Team};
use time::OffsetDateTime;

use super::i18n::{Automation, Lang, Texts};
use super::{Top, lang, page, signed_in, user_lang};
use crate::app::AppState;
use crate::error::ApiError;

/// One SLA clock, as a badge.
#[derive(Debug, Clone)]
pub struct SlaBadge {
    pub target: &'static str,
    /// `running`, `warning`, `breached`, `met`, `met_late`.
    pub state: &'static str,
    /// "due in 12 min", "overdue by 1 h 5 min", "met".
    pub text: String,
    /// RFC 3339.
    pub due_at: String,
}

fn target_name(a: &Automation, target: SlaTarget) -> &'static str {
    match target {
        SlaTarget::FirstResponse => a.first_response,
        SlaTarget::NextResponse => a.next_response,
        SlaTarget::Resolution => a.resolution,
    }
}

fn badge(lang: Lang, clock: &Clock, now: OffsetDateTime) -> SlaBadge {
    let a = lang.automation();
    let (state, text) = match clock.state {
        ClockState::Met => ("met", a.met.to_owned()),
        ClockState::MetLate => ("met_late", a.met_late.to_owned()),
        ClockState::Running => ("running", format!("{} {}", a.due_in, lang.duration(clock.due_at - now))),
        ClockState::Warning => ("warning", format!("{} {}", a.due_in, lang.duration(clock.due_at - now))),
        ClockState::Breached => ("breached", format!("{} {}", a.overdue_by, lang.duration(now - clock.due_at))),
    };
    SlaBadge { target: target_name(a, clock.target), state, text, due_at: super::rfc3339(clock.due_at) }
}

pub fn sla_badges(lang: Lang, clocks: &[Clock], now: OffsetDateTime) -> Vec<SlaBadge> {
    clocks.iter().map(|c| badge(lang, c, now)).collect()
}

/// For the inbox: the clock closest to (or furthest past) its due time,
/// when it is close or missed.
pub fn most_pressing(
    lang: Lang,
    policies: &[StoredSlaPolicy],
    teams: &[Team],
    c: &Conversation,
    handed_off_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Option<SlaBadge> {
    if c.status != ConversationStatus::Open || policies.is_empty() {
        return None;
    }
    let policy = crate::sla::policy_for(policies, teams, c)?;
    let clocks = crate::sla::conversation_clocks(&policy.policy, c, handed_off_at.unwrap_or(c.created_at), now);
    clocks
        .iter()
        .filter(|k| matches!(k.state, ClockState::Warning | ClockState::Breached))
        .min_by_key(|k| k.due_at)
        .map(|k| badge(lang, k, now))
}

/// Why a message was read as it was: (what, value, why).
pub fn reasons(lang: Lang, t: &Triage) -> Vec<(String, String, String)> {
    let a = lang.automation();
    t.reasons
        .iter()
        .map(|r| {
            let what = match r.label.as_str() {
                "language" => a.language,
                "sentiment" => a.sentiment,
                "category" => a.category,
                "urgency" => a.urgency,
                "team" => a.team,
                _ => "",
            };
            (what.to_owned(), if r.label == "team" { String::new() } else { r.value.clone() }, r.why.clone())
        })
        .collect()
}

/// The bot's handoff, for the top of the conversation.
#[derive(Debug, Clone)]
pub struct HandoffNote {
    pub title: &'static str,
    pub reason: &'static str,
    pub category: Option<String>,
    pub summary: String,
}

pub fn handoff_note(lang: Lang, session: &BotSession) -> Option<HandoffNote> {
    let a = lang.automation();
    match session.status.as_str() {
        "handed_off" => Some(HandoffNote {
            title: a.handed_off,
            reason: session.handoff_reason.map(|r| r.describe(lang.code())).unwrap_or_default(),
            category: session.category.clone(),
            summary: session.summary.clone().unwrap_or_default(),
        }),
        "resolved" => {
            Some(HandoffNote { title: a.resolved_by_bot, reason: "", category: session.category.clone(), summary: String::new() })
        }
        _ => None,
    }
}

fn forbidden(lang: Lang) -> Response {
    (StatusCode::FORBIDDEN, Html(format!("<!doctype html><meta charset=utf-8><p>{}</p>", lang.texts().admin_only))).into_response()
}

// --- the assist panel -------------------------------------------------------

#[derive(Template)]
#[template(path = "assist.html")]
struct AssistPart<'a> {
    a: &'a Automation,
    articles: Vec<(String, String, String)>,
    similar: Vec<(ConversationId, String, String)>,
}

/// Beside the reply box: articles matching what the customer asked, and
/// resolved conversations like this one with the answer that resolved
/// them — each ready to put into the reply.
pub async fn assist(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<ConversationId>) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let lang = user_lang(&session, &headers);
    let found = match crate::api::suggestions::for_conversation(&state, session.user.account_id, id).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    page(&AssistPart {
        a: lang.automation(),
        articles: found.articles.into_iter().map(|h| (h.title, h.excerpt, h.body)).collect(),
        similar: found.similar.into_iter().map(|s| (s.case.conversation_id, s.case.question, s.case.answer.unwrap_or_default())).collect(),
    })
}

// --- routing administration ----------------------------------------------------

struct RuleLine {
    id: String,
    name: String,
    conditions: String,
    team: String,
    priority: String,
}

struct TeamRoutingLine {
    id: String,
    name: String,
    auto_assign: bool,
    strategy: &'static str,
    language: bool,
    category: bool,
    attributes: String,
    fallback: &'static str,
    reassign_after: String,
    sla_policy: String,
    waiting: i64,
}

struct AgentLine {
    id: String,
    name: String,
    skills: String,
    capacity: String,
}

struct PolicyLine {
    id: String,
    name: String,
    is_default: bool,
    json: String,
}

struct TriageRuleLine {
    id: String,
    name: String,
    keywords: String,
    language: String,
    category: String,
    urgency: String,
}

#[derive(Template)]
#[template(path = "admin_routing.html")]
struct RoutingPage<'a> {
    t: &'a Texts,
    a: &'a Automation,
    lang: &'a str,
    top: Top<'a>,
    rules: Vec<RuleLine>,
    teams: Vec<TeamRoutingLine>,
    team_choices: Vec<(String, String)>,
    inbox_choices: Vec<(String, String)>,
    channels: Vec<(&'static str, &'static str)>,
    priorities: Vec<(&'static str, &'static str)>,
    agents: Vec<AgentLine>,
    policies: Vec<PolicyLine>,
    triage_rules: Vec<TriageRuleLine>,
    model: Option<String>,
    is_admin: bool,
}

/// `name:level, …` / `channel:n, …` as the forms show them.
fn pairs<K: std::fmt::Display, V: std::fmt::Display>(map: impl IntoIterator<Item = (K, V)>) -> String {
    map.into_iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(", ")
}

/// Routing rules, team queues, agents' skills and capacity, SLA policies
/// and triage (rules and model) — supervisors and administrators; the
/// triage rules and model are changed by administrators.
pub async fn routing_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let lang = user_lang(&session, &headers);
    if !session.user.role.allows(Permission::ManageTeams) {
        return forbidden(lang);
    }
    let account_id = session.user.account_id;
    let loaded = async {
        Ok::<_, threadline_store::StoreError>((
            state.store.routing_rules(account_id).await?,
            state.store.teams(account_id).await?,
            state.store.inboxes(account_id).await?,
            state.store.users(account_id).await?,
            state.store.sla_policies(account_id).await?,
            state.store.triage_settings(account_id).await?,
            state.store.triage_model(account_id).await?,
            state.store.queue_stats(account_id).await?,
        ))
    }
    .await;
    let (rules, teams, inboxes, users, policies, triage, model, queues) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let a = lang.automation();
    let team_name: HashMap<_, _> = teams.iter().map(|t| (t.id, t.name.clone())).collect();
    let inbox_name: HashMap<_, _> = inboxes.iter().map(|i| (i.id, i.name.clone())).collect();
    let strategy = |s: threadline_domain::routing::Strategy| match s {
        threadline_domain::routing::Strategy::RoundRobin => "round_robin",
        threadline_domain::routing::Strategy::LeastBusy => "least_busy",
        threadline_domain::routing::Strategy::Skills => "skills",
    };
    let model = model.map(|(_, report)| {
        let accuracy = report.holdout_accuracy.map(|x| format!(" · {:.0}% {}", x * 100.0, a.accuracy)).unwrap_or_default();
        format!("{} {} {} · {}{accuracy}", a.trained_on, report.examples, a.labelled_conversations, report.categories.join(", "))
    });
    page(&RoutingPage {
        t: lang.texts(),
        a,
        lang: lang.code(),
        top: Top::of(&session, lang),
        rules: rules
            .iter()
            .map(|r| {
                let c = &r.conditions;
                let mut parts = Vec::new();
                if let Some(v) = &c.category {
                    parts.push(format!("{} = {v}", a.category));
                }
                if let Some(v) = &c.language {
                    parts.push(format!("{} = {v}", a.language));
                }
                if let Some(v) = c.channel {
                    parts.push(format!("{} = {}", lang.texts().channel, lang.channel(v)));
                }
                if let Some(v) = c.inbox_id {
                    parts.push(format!("{} = {}", lang.texts().inbox, inbox_name.get(&v).cloned().unwrap_or_default()));
                }
                if let Some(v) = c.min_urgency {
                    parts.push(format!("{} ≥ {}", a.urgency, lang.priority(v)));
                }
                RuleLine {
                    id: r.id.to_string(),
                    name: r.name.clone(),
                    conditions: if parts.is_empty() { a.any.to_owned() } else { parts.join(" · ") },
                    team: team_name.get(&r.team_id).cloned().unwrap_or_default(),
                    priority: r.priority.map(|p| lang.priority(p).to_owned()).unwrap_or_default(),
                }
            })
            .collect(),
        teams: teams
            .iter()
            .map(|t| TeamRoutingLine {
                id: t.id.to_string(),
                name: t.name.clone(),
                auto_assign: t.routing.auto_assign,
                strategy: strategy(t.routing.strategy),
                language: t.routing.skills.language,
                category: t.routing.skills.category,
                attributes: t.routing.skills.attributes.join(", "),
                fallback: t.routing.skills.fallback.as_str(),
                reassign_after: t.routing.reassign_offline_after_secs.map(|s| s.to_string()).unwrap_or_default(),
                sla_policy: t.routing.sla_policy_id.map(|p| p.to_string()).unwrap_or_default(),
                waiting: queues.iter().find(|q| q.team_id == t.id).map_or(0, |q| q.waiting),
            })
            .collect(),
        team_choices: teams.iter().map(|t| (t.id.to_string(), t.name.clone())).collect(),
        inbox_choices: inboxes.iter().map(|i| (i.id.to_string(), i.name.clone())).collect(),
        channels: threadline_domain::channel::Channel::ALL.iter().map(|c| (c.as_str(), lang.channel(*c))).collect(),
        priorities: [
            threadline_domain::conversation::Priority::Low,
            threadline_domain::conversation::Priority::Normal,
            threadline_domain::conversation::Priority::High,
            threadline_domain::conversation::Priority::Urgent,
        ]
        .iter()
        .map(|p| (p.as_str(), lang.priority(*p)))
        .collect(),
        agents: users
            .iter()
            .map(|u| AgentLine {
                id: u.id.to_string(),
                name: u.name.clone(),
                skills: pairs(u.routing.skills.iter()),
                capacity: pairs(u.routing.capacity.iter().map(|(c, n)| (c.as_str(), n))),
            })
            .collect(),
        policies: policies
            .iter()
            .map(|p| PolicyLine {
                id: p.id.to_string(),
                name: p.name.clone(),
                is_default: p.is_default,
                json: serde_json::to_string_pretty(&p.policy).unwrap_or_default(),
            })
            .collect(),
        triage_rules: triage
            .rules
            .iter()
            .map(|r| TriageRuleLine {
                id: r.id.to_string(),
                name: r.rule.name.clone(),
                keywords: r.rule.keywords.join(", "),
                language: r.rule.language.clone().unwrap_or_default(),
                category: r.rule.category.clone().unwrap_or_default(),
                urgency: r.rule.urgency.map(|u| lang.priority(u).to_owned()).unwrap_or_default(),
            })
            .collect(),
        model,
        is_admin: session.user.role.allows(Permission::Administer),
    })
}

// --- knowledge and bots administration -----------------------------------------------

struct ArticleLine {
    id: String,
    kind: &'static str,
    language: String,
    title: String,
    body: String,
    keywords: String,
    published: bool,
}

struct InboxBotLine {
    id: String,
    name: String,
    /// `""` (people), `builtin`, or the external agent bot's id.
    current: String,
}

struct AgentBotLine {
    id: String,
    name: String,
    url: String,
    prefix: String,
}

#[derive(Template)]
#[template(path = "admin_knowledge.html")]
struct KnowledgePage<'a> {
    t: &'a Texts,
    a: &'a Automation,
    lang: &'a str,
    top: Top<'a>,
    articles: Vec<ArticleLine>,
    inboxes: Vec<InboxBotLine>,
    agent_bots: Vec<AgentBotLine>,
    deflection: String,
    help_link: Option<String>,
    is_admin: bool,
}

/// The knowledge base's articles (supervisors and administrators), and the
/// bots: who answers first in each inbox, the external agent bots, and how
/// often bots resolve conversations themselves (administrators change them).
pub async fn knowledge_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let lang = user_lang(&session, &headers);
    if !session.user.role.allows(Permission::ManageTeams) {
        return forbidden(lang);
    }
    let account_id = session.user.account_id;
    let since = threadline_store::now() - time::Duration::days(30);
    let loaded = async {
        Ok::<_, threadline_store::StoreError>((
            state.store.articles(account_id, &ArticleQuery { limit: 500, ..Default::default() }).await?,
            state.store.inboxes(account_id).await?,
            state.store.agent_bots(account_id).await?,
            state.store.bot_stats(account_id, since).await?,
        ))
    }
    .await;
    let (articles, inboxes, agent_bots, stats) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let a = lang.automation();
    let deflection = match stats.deflection_rate {
        Some(rate) => format!("{:.0}% · {} / {}", rate * 100.0, stats.resolved_by_bot, stats.resolved_by_bot + stats.handed_off),
        None => "—".to_owned(),
    };
    page(&KnowledgePage {
        t: lang.texts(),
        a,
        lang: lang.code(),
        top: Top::of(&session, lang),
        articles: articles
            .iter()
            .map(|x| ArticleLine {
                id: x.id.to_string(),
                kind: x.kind.as_str(),
                language: x.language.clone(),
                title: x.title.clone(),
                body: x.body.clone(),
                keywords: x.keywords.join(", "),
                published: x.published,
            })
            .collect(),
        help_link: inboxes.first().map(|i| format!("/help/{}", i.id)),
        inboxes: inboxes
            .iter()
            .map(|i| InboxBotLine {
                id: i.id.to_string(),
                name: i.name.clone(),
                current: match &i.bot {
                    None => String::new(),
                    Some(b) => match b.agent_bot_id {
                        Some(id) => id.to_string(),
                        None => "builtin".to_owned(),
                    },
                },
            })
            .collect(),
        agent_bots: agent_bots
            .iter()
            .map(|b| AgentBotLine { id: b.id.to_string(), name: b.name.clone(), url: b.url.clone(), prefix: b.token_prefix.clone() })
            .collect(),
        deflection,
        is_admin: session.user.role.allows(Permission::Administer),
    })
}

// --- the public help pages ---------------------------------------------------------

#[derive(Template)]
#[template(path = "help.html")]
struct HelpPage<'a> {
    a: &'a Automation,
    lang: &'a str,
    account: String,
    inbox_id: InboxId,
    q: String,
    searched: bool,
    /// (id, title, excerpt)
    articles: Vec<(String, String, String)>,
    /// The web chat to write to, when this inbox is one.
    chat: Option<String>,
}

#[derive(Template)]
#[template(path = "help_article.html")]
struct HelpArticlePage<'a> {
    a: &'a Automation,
    lang: &'a str,
    account: String,
    inbox_id: InboxId,
    title: String,
    body: String,
}

#[derive(Deserialize)]
pub struct HelpQuery {
    q: Option<String>,
}

/// The self-service help page of an inbox's account: its published
/// articles, and a search in the reader's words. Anyone may read it.
pub async fn help(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(inbox_id): Path<InboxId>,
    Query(query): Query<HelpQuery>,
) -> Response {
    let lang = lang(&headers);
    let Ok((inbox, account)) = state.inbox_by_id(inbox_id).await else { return ApiError::NotFound.into_response() };
    let q = query.q.unwrap_or_default();
    let q = threadline_domain::text::clip(q.trim(), 500).to_owned();
    let articles = if q.is_empty() {
        match state.store.articles(account.id, &ArticleQuery { published_only: true, limit: 200, ..Default::default() }).await {
            Ok(list) => {
                list.into_iter().map(|x| (x.id.to_string(), x.title, threadline_domain::text::clip(&x.body, 200).to_owned())).collect()
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        let language = threadline_domain::triage::language::detect(&q).map(|d| d.language);
        match state.knowledge.search(&state.store, account.id, &q, language.as_deref(), 10).await {
            Ok(hits) => {
                hits.into_iter().map(|h| (h.id.to_string(), h.title, threadline_domain::text::clip(&h.body, 200).to_owned())).collect()
            }
            Err(e) => return ApiError::Internal(e).into_response(),
        }
    };
    let chat = matches!(inbox.channel, threadline_domain::channel::Channel::WebChat).then(|| format!("/widget/{}/try", inbox.id));
    page(&HelpPage { a: lang.automation(), lang: lang.code(), account: account.name, inbox_id, searched: !q.is_empty(), q, articles, chat })
}

pub async fn help_article(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((inbox_id, article_id)): Path<(InboxId, ArticleId)>,
) -> Response {
    let lang = lang(&headers);
    let Ok((_, account)) = state.inbox_by_id(inbox_id).await else { return ApiError::NotFound.into_response() };
    match state.store.article(account.id, article_id).await {
        Ok(article) if article.published => page(&HelpArticlePage {
            a: lang.automation(),
            lang: lang.code(),
            account: account.name,
            inbox_id,
            title: article.title,
            body: article.body,
        }),
        Ok(_) | Err(threadline_store::StoreError::NotFound) => ApiError::NotFound.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
