//! The agent workspace: server-rendered pages (askama templates in
//! `templates/`, escaped by default) and one small hand-written script
//! (`assets/app.js`) that sends replies and status changes through the same
//! REST API integrations use, with the session's CSRF token.
//!
//! Pages stay current through the live socket ([`live`]): when something
//! they show changes, they fetch their own HTML again.
//!
//! Pages are served with a Content-Security-Policy that allows scripts and
//! styles from Threadline only, so even HTML that slipped past sanitising
//! could not run a script.

mod after_sales;
pub mod automation;
pub mod canned;
mod charts;
pub mod i18n;
pub mod journeys;
pub mod live;
mod login;
mod portal;
pub mod reports;
pub mod rules;
pub mod segments;
mod store;
mod voice;
pub mod wallboard;

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use threadline_domain::conversation::{Conversation, ConversationStatus, Priority};
use threadline_domain::ids::{ConversationId, UserId};
use threadline_domain::message::{DeliveryStatus, Direction, Message, MessageKind};
use threadline_domain::reply::ReplyOption;
use threadline_domain::role::Permission;
use threadline_domain::timeline::TimelineFilter;
use threadline_store::{AssigneeFilter, ConversationQuery, ConversationSummary, Session};

use crate::app::AppState;
use crate::auth::{hash_token, session_cookie};
use crate::error::ApiError;
use i18n::{Lang, Texts};

const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/inbox") }))
        .route("/login", get(login::login_page).post(login::login))
        .route("/logout", post(login::logout))
        .route("/inbox", get(inbox))
        .route("/conversations/{id}", get(conversation))
        .route("/live", get(live::socket))
        .route("/admin", get(admin))
        .route("/store", get(store::store_page))
        .route("/admin/routing", get(automation::routing_page))
        .route("/admin/ivr/{inbox_id}", get(voice::ivr_page))
        .route("/admin/knowledge", get(automation::knowledge_page))
        .route("/journeys", get(journeys::list))
        .route("/journeys/{id}", get(journeys::builder))
        .route("/segments", get(segments::list))
        .route("/segments/{id}", get(segments::detail))
        .route("/rules", get(rules::list))
        .route("/canned/{id}", get(canned::preview))
        .route("/rules/{id}", get(rules::detail))
        .route("/reports", get(reports::reports))
        .route("/wallboard", get(wallboard::wallboard))
        .route("/conversations/{id}/assist", get(automation::assist))
        .route("/survey/{token}", get(crate::surveys::show).post(crate::surveys::answer))
        .route("/help/{inbox_id}", get(automation::help))
        .route("/help/{inbox_id}/articles/{article_id}", get(automation::help_article))
        .route("/help/{inbox_id}/account", get(portal::home))
        .route("/help/{inbox_id}/account/code", post(portal::ask_code))
        .route("/help/{inbox_id}/account/verify", post(portal::verify_code))
        .route("/help/{inbox_id}/account/sign-out", post(portal::sign_out))
        .route(
            "/help/{inbox_id}/account/requests",
            post(portal::open_request).layer(axum::extract::DefaultBodyLimit::max(portal::MAX_UPLOAD_BYTES)),
        )
        .route("/help/{inbox_id}/account/conversations/{conversation_id}", get(portal::conversation))
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", include_str!("../../assets/app.css")) }))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", include_str!("../../assets/app.js")) }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

fn lang(headers: &HeaderMap) -> Lang {
    Lang::negotiate(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
}

/// The signed-in user's language: the one they chose, else the browser's.
fn user_lang(session: &Session, headers: &HeaderMap) -> Lang {
    match session.user.language.as_deref() {
        Some("it") => Lang::It,
        Some("en") => Lang::En,
        _ => lang(headers),
    }
}

/// A rendered page with the workspace's security headers.
fn page(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = Html(html).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => ApiError::Internal(e.into()).into_response(),
    }
}

/// What the top bar of every signed-in page shows, and the session's CSRF
/// token the page's script sends back.
struct Top<'a> {
    /// The language the user chose, if any (`en`, `it`).
    chosen: &'a str,
    user: &'a str,
    csrf: &'a str,
    is_admin: bool,
    /// Supervisors and administrators: routing and the knowledge base.
    can_manage: bool,
    /// The navigation's words for those pages.
    a: &'static i18n::Automation,
    j: &'static journeys::JourneyTexts,
    s: &'static segments::SegmentTexts,
    rules: &'static rules::RuleTexts,
    r: &'static reports::ReportTexts,
    w: &'static wallboard::WallboardTexts,
    store: &'static store::StoreTexts,
}

impl<'a> Top<'a> {
    fn of(session: &'a Session, lang: Lang) -> Self {
        Top {
            chosen: session.user.language.as_deref().unwrap_or_default(),
            user: &session.user.name,
            csrf: &session.csrf_token,
            is_admin: session.user.role.allows(Permission::Administer),
            can_manage: session.user.role.allows(Permission::ManageTeams),
            a: lang.automation(),
            j: journeys::texts(lang),
            s: segments::texts(lang),
            rules: rules::texts(lang),
            r: reports::texts(lang),
            w: wallboard::texts(lang),
            store: store::texts(lang),
        }
    }
}

/// The signed-in agent, or a redirect to the sign-in page.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    let session = match session_cookie(headers) {
        Some(cookie) => state.store.session(&hash_token(&cookie)).await.map_err(|e| ApiError::from(e).into_response())?,
        None => None,
    };
    session.ok_or_else(|| Redirect::to("/login").into_response())
}

/// One row of the inbox.
struct Row {
    id: ConversationId,
    contact: String,
    channel: &'static str,
    channel_code: &'static str,
    preview: String,
    waiting: Option<String>,
    ago: String,
    priority: &'static str,
    priority_code: &'static str,
    assignee: Option<String>,
    status: &'static str,
    /// The most pressing SLA clock, when one is close or missed.
    sla: Option<automation::SlaBadge>,
    /// The bot is answering it.
    with_bot: bool,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    top: Top<'a>,
    rows: Vec<Row>,
    status: &'a str,
    assignee: &'a str,
    priorities: Vec<Choice>,
    channels: Vec<Choice>,
    inboxes: Vec<Choice>,
    teams: Vec<Choice>,
    label: &'a str,
    q: &'a str,
    views: Vec<ViewLink>,
    /// The filters shown now are not one of the user's saved views.
    unsaved: bool,
    /// No filter is chosen: the default view.
    plain: bool,
    /// Open tasks for this person (from journeys).
    tasks: Vec<journeys::TaskRow>,
    j: &'static journeys::JourneyTexts,
}

/// One of the agent's saved inbox views.
struct ViewLink {
    id: threadline_domain::ids::SavedViewId,
    name: String,
    query: String,
    current: bool,
}

#[derive(Deserialize, Default)]
struct InboxFilters {
    status: Option<String>,
    assignee: Option<String>,
    priority: Option<String>,
    inbox: Option<String>,
    team: Option<String>,
    label: Option<String>,
    q: Option<String>,
    channel: Option<String>,
}

/// "Any" first, then `items`, the one matching `current` selected.
fn choices(any: &str, current: Option<&str>, items: impl Iterator<Item = (String, String)>) -> Vec<Choice> {
    let current = current.filter(|c| !c.is_empty());
    let mut out = vec![Choice { value: String::new(), name: any.to_owned(), selected: current.is_none() }];
    out.extend(items.map(|(value, name)| Choice { selected: current == Some(value.as_str()), value, name }));
    out
}

async fn inbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filters): Query<InboxFilters>,
    RawQuery(raw_query): RawQuery,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let lang = user_lang(&session, &headers);
    // A search looks through every status unless one is chosen.
    let searching = filters.q.as_deref().is_some_and(|q| !q.trim().is_empty());
    let status = filters.status.as_deref().unwrap_or(if searching { "all" } else { "open" });
    let assignee = filters.assignee.as_deref().unwrap_or("all");
    let query = ConversationQuery {
        status: if status == "all" { None } else { Some(ConversationStatus::parse(status).unwrap_or(ConversationStatus::Open)) },
        assignee: match assignee {
            "mine" => Some(AssigneeFilter::User(session.user.id)),
            "unassigned" => Some(AssigneeFilter::Unassigned),
            _ => None,
        },
        mentioning: (assignee == "mentions").then_some(session.user.id),
        channel: filters.channel.as_deref().and_then(|c| c.parse().ok()),
        priority: filters.priority.as_deref().and_then(Priority::parse),
        inbox_id: filters.inbox.as_deref().and_then(|i| i.parse().ok()),
        team_id: filters.team.as_deref().and_then(|t| t.parse().ok()),
        label: filters.label.as_deref().map(str::trim).filter(|l| !l.is_empty()).map(str::to_lowercase),
        search: filters.q.clone().filter(|q| !q.trim().is_empty()),
        limit: 50,
        ..Default::default()
    };
    let account_id = session.user.account_id;
    let loaded = async {
        let conversations = state.store.conversations(account_id, &query).await?;
        let ids: Vec<ConversationId> = conversations.iter().map(|c| c.id).collect();
        let summaries = state.store.conversation_summaries(account_id, &ids).await?;
        let users = state.store.users(account_id).await?;
        let inboxes = state.store.inboxes(account_id).await?;
        let teams = state.store.teams(account_id).await?;
        let views = state.store.saved_views(account_id, session.user.id).await?;
        let policies = state.store.sla_policies(account_id).await?;
        let handoffs = if policies.is_empty() { HashMap::new() } else { state.store.handoff_times(account_id, &ids).await? };
        Ok::<_, threadline_store::StoreError>((conversations, summaries, users, inboxes, teams, views, policies, handoffs))
    }
    .await;
    let (conversations, mut summaries, users, inboxes, teams, views, policies, handoffs) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let names: HashMap<UserId, String> = users.into_iter().map(|u| (u.id, u.name)).collect();
    let now = threadline_store::now();
    let rows = conversations
        .iter()
        .map(|c| {
            let sla = automation::most_pressing(lang, &policies, &teams, c, handoffs.get(&c.id).copied(), now);
            row(lang, c, summaries.remove(&c.id).unwrap_or_default(), &names, now, sla)
        })
        .collect();
    let tasks = match journeys::inbox_tasks(&state, &session, lang).await {
        Ok(tasks) => tasks,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let shown = crate::api::views::normalize_query(raw_query.as_deref().unwrap_or_default()).unwrap_or_default();
    let views: Vec<ViewLink> =
        views.into_iter().map(|v| ViewLink { id: v.id, current: v.query == shown, name: v.name, query: v.query }).collect();
    page(&InboxPage {
        tasks,
        j: journeys::texts(lang),
        unsaved: !shown.is_empty() && !views.iter().any(|v| v.current),
        plain: shown.is_empty(),
        views,
        t: lang.texts(),
        lang: lang.code(),
        top: Top::of(&session, lang),
        rows,
        status: if ["open", "pending", "snoozed", "resolved", "all"].contains(&status) { status } else { "open" },
        assignee,
        priorities: choices(
            lang.texts().all,
            filters.priority.as_deref(),
            [Priority::Urgent, Priority::High, Priority::Normal, Priority::Low]
                .into_iter()
                .map(|p| (p.as_str().to_owned(), lang.priority(p).to_owned())),
        ),
        channels: choices(
            lang.texts().all,
            filters.channel.as_deref(),
            threadline_domain::channel::Channel::ALL.into_iter().map(|c| (c.as_str().to_owned(), lang.channel(c).to_owned())),
        ),
        inboxes: choices(
            lang.texts().all,
            filters.inbox.as_deref(),
            inboxes.iter().map(|i| (i.id.to_string(), format!("{} · {}", i.name, lang.channel(i.channel)))),
        ),
        teams: choices(lang.texts().all, filters.team.as_deref(), teams.iter().map(|t| (t.id.to_string(), t.name.clone()))),
        label: filters.label.as_deref().unwrap_or_default(),
        q: filters.q.as_deref().unwrap_or_default(),
    })
}

fn row(
    lang: Lang,
    c: &Conversation,
    summary: ConversationSummary,
    names: &HashMap<UserId, String>,
    now: time::OffsetDateTime,
    sla: Option<automation::SlaBadge>,
) -> Row {
    let channel = summary.last_channel.unwrap_or(threadline_domain::channel::Channel::Api);
    let preview: String = summary.last_text.unwrap_or_default().chars().take(140).collect();
    Row {
        id: c.id,
        contact: summary.contact_name.unwrap_or_else(|| lang.texts().unknown_contact.to_owned()),
        channel: lang.channel(channel),
        channel_code: channel.as_str(),
        preview,
        // Waiting for a person: since their oldest unanswered message (a
        // bot's answers do not count); none while a bot has the conversation.
        waiting: c
            .awaiting_since
            .or(summary.waiting_since)
            .filter(|_| c.status != ConversationStatus::Resolved && c.handler == threadline_domain::conversation::Handler::Human)
            .map(|at| lang.ago(at, now)),
        ago: lang.ago(c.last_activity_at, now),
        priority: lang.priority(c.priority),
        priority_code: c.priority.as_str(),
        assignee: c.assignee_id.and_then(|id| names.get(&id).cloned()),
        status: lang.status(c.status),
        sla,
        with_bot: c.handler == threadline_domain::conversation::Handler::Bot,
    }
}

/// One message, or another interaction, in the timeline.
struct Entry {
    /// A call, an order, a page view… rather than a message.
    interaction: bool,
    inbound: bool,
    note: bool,
    channel: &'static str,
    channel_code: &'static str,
    author: String,
    /// In UTC and the page's language; the browser shows it in its own time zone.
    when: String,
    /// RFC 3339, for the browser.
    at: String,
    subject: Option<String>,
    text: String,
    /// Sanitised when stored (`threadline_domain::html::sanitize`).
    html: Option<String>,
    quoted: Option<String>,
    automated: Option<String>,
    problems: Vec<String>,
    /// File name and download link of each attachment not shown inline.
    attachments: Vec<(String, String)>,
    failed: Option<String>,
    /// Why triage read it as it did: (what, value, why).
    reasons: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "conversation.html")]
struct ConversationPage<'a> {
    t: &'a Texts,
    /// The after-sales words, the request this conversation handles (if
    /// any), and the customer's orders a new request may name.
    x: &'static after_sales::AfterSalesTexts,
    request: Option<after_sales::RequestBox>,
    order_choices: Vec<(String, String)>,
    /// Click-to-call, when there is a line to call through.
    call: Option<voice::CallBox>,
    a: &'a i18n::Automation,
    /// The bot is answering it now.
    with_bot: bool,
    /// What the bot left for the agent when it handed over.
    handoff: Option<automation::HandoffNote>,
    sla: Vec<automation::SlaBadge>,
    /// Routing's decisions, oldest first: (when, what it did and why).
    routing: Vec<(String, String)>,
    /// The customer's latest messages' sentiment, oldest first:
    /// (negative / neutral / positive, the score, when).
    feeling: Vec<(&'static str, String, String)>,
    lang: &'a str,
    top: Top<'a>,
    id: ConversationId,
    contact_id: threadline_domain::ids::ContactId,
    contact: String,
    status: &'static str,
    resolved: bool,
    priority: &'static str,
    /// The contact's name as stored, empty when unknown (the form edits it).
    contact_name: String,
    identities: Vec<(String, String)>,
    attributes: Vec<Attribute>,
    duplicates: Vec<Duplicate>,
    /// Supervisors and administrators merge contacts.
    can_merge: bool,
    /// Administrators may erase the customer (GDPR erasure).
    can_erase: bool,
    consents: Vec<(String, String, bool)>,
    past: Vec<Past>,
    activity: Vec<(String, String, String)>,
    /// Tracked pages (page, when) and the open cart (product, when).
    site_pages: Vec<(String, String)>,
    cart: Vec<(String, String)>,
    /// The segments the customer is in now.
    segments: Vec<String>,
    /// The latest orders: from the shop, then any only tracked on the site.
    orders: Vec<OrderLine>,
    entries: Vec<Entry>,
    options: Vec<ChannelChoice>,
    assignees: Vec<Choice>,
    teams: Vec<Choice>,
    priorities: Vec<Choice>,
    labels: String,
    templates: Vec<TemplateChoice>,
    /// Canned responses, filled in for this conversation: (title, shortcut, text).
    canned: Vec<(String, String, String)>,
}

/// One of the contact's attributes, edited in place.
struct Attribute {
    /// `attributes` (standard) or `custom_attributes`.
    scope: &'static str,
    key: String,
    value: String,
    /// The value is a number, true/false or structured JSON, not text.
    json: bool,
}

/// Another contact that is probably this customer.
struct Duplicate {
    id: threadline_domain::ids::ContactId,
    name: String,
    identities: String,
    reason: String,
}

struct Choice {
    value: String,
    name: String,
    selected: bool,
}

/// Another conversation of the same customer.
struct Past {
    id: ConversationId,
    status: &'static str,
    when: String,
    preview: String,
}

struct ChannelChoice {
    code: &'static str,
    name: &'static str,
    allowed: bool,
    /// Only an approved template may go out now (WhatsApp after 24 hours).
    template_only: bool,
    default: bool,
    reason: Option<String>,
}

/// An approved template the reply box offers where only templates may go.
struct TemplateChoice {
    id: String,
    channel: &'static str,
    label: String,
    body: String,
    variables: i64,
}

async fn conversation(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<ConversationId>) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let lang = user_lang(&session, &headers);
    let account_id = session.user.account_id;
    let ConversationData {
        conversation,
        contact,
        messages,
        users,
        teams,
        history,
        others,
        mut summaries,
        templates,
        canned,
        presences,
        duplicates,
        bot,
        decisions,
        policies,
        sentiment,
        site,
        segments,
        shop_orders,
        request,
    } = match ConversationData::load(&state, account_id, id).await {
        Ok(data) => data,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let (options, call): (Vec<ReplyOption>, _) = match crate::channels::reply::ReplyContext::load(&state, account_id, id).await {
        Ok(context) => (context.options(state.clock.now()), voice::call_box(lang, &context.inboxes, &contact, &session.user)),
        Err(e) => return e.into_response(),
    };
    let now = threadline_store::now();
    let contact_name = contact.name.clone().unwrap_or_else(|| lang.texts().unknown_contact.to_owned());
    let names: HashMap<String, String> = users.iter().map(|u| (u.id.to_string(), u.name.clone())).collect();
    // Messages, and the customer's other interactions in their place: those
    // tied to this conversation or since it began.
    let interactions: Vec<&threadline_domain::interaction::Interaction> = history
        .entries
        .iter()
        .filter_map(|e| match e {
            threadline_domain::timeline::TimelineEntry::Interaction(i) => Some(i),
            _ => None,
        })
        .collect();
    let mut timed: Vec<(time::OffsetDateTime, Entry)> =
        messages.iter().map(|m| (m.created_at, entry(lang, m, &contact_name, &names))).collect();
    for i in interactions.iter().filter(|i| i.conversation_id == Some(id) || i.occurred_at >= conversation.created_at) {
        timed.push((i.occurred_at, interaction_entry(lang, i)));
    }
    timed.sort_by_key(|(at, _)| *at);
    let choice = |value: String, name: String, selected: bool| Choice { value, name, selected };
    let mut assignees = vec![choice(String::new(), lang.texts().unassigned.to_owned(), conversation.assignee_id.is_none())];
    // Whom to hand it to: each colleague with their availability.
    assignees.extend(users.iter().map(|u| {
        let presence = lang.presence(presences.get(&u.id).map_or("offline", String::as_str));
        choice(u.id.to_string(), format!("{} · {presence}", u.name), conversation.assignee_id == Some(u.id))
    }));
    let mut team_choices = vec![choice(String::new(), lang.texts().no_team.to_owned(), conversation.team_id.is_none())];
    team_choices.extend(teams.iter().map(|t| choice(t.id.to_string(), t.name.clone(), conversation.team_id == Some(t.id))));
    let priorities = [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent]
        .into_iter()
        .map(|p| choice(p.as_str().to_owned(), lang.priority(p).to_owned(), conversation.priority == p))
        .collect();
    let attribute = |scope: &'static str, (key, value): (&String, &serde_json::Value)| Attribute {
        scope,
        key: key.clone(),
        value: match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        json: !value.is_string(),
    };
    let sla = match crate::sla::policy_for(&policies, &teams, &conversation) {
        Some(policy) if conversation.status != ConversationStatus::Resolved => {
            let started = bot.as_ref().filter(|b| b.status == "handed_off").and_then(|b| b.ended_at).unwrap_or(conversation.created_at);
            automation::sla_badges(lang, &crate::sla::conversation_clocks(&policy.policy, &conversation, started, now), now)
        }
        _ => Vec::new(),
    };
    page(&ConversationPage {
        call,
        x: after_sales::texts(lang),
        request: request.as_ref().map(|r| after_sales::request_box(r, lang)),
        order_choices: shop_orders
            .iter()
            .map(|o| (o.id.to_string(), format!("{} · {}", o.facts.number, lang.ago(o.facts.placed_at, now))))
            .collect(),
        a: lang.automation(),
        with_bot: conversation.handler == threadline_domain::conversation::Handler::Bot,
        handoff: bot.as_ref().and_then(|b| automation::handoff_note(lang, b)),
        sla,
        routing: decisions.iter().map(|d| (lang.datetime(d.created_at), d.reason.clone())).collect(),
        feeling: sentiment
            .iter()
            .rev()
            .map(|(at, score)| {
                let label = threadline_domain::triage::sentiment::Sentiment { score: *score, evidence: Vec::new() }.label();
                (label, lang.decimal(*score), lang.ago(*at, now))
            })
            .collect(),
        t: lang.texts(),
        lang: lang.code(),
        top: Top::of(&session, lang),
        id,
        contact_id: contact.id,
        contact: contact_name,
        status: lang.status(conversation.status),
        resolved: conversation.status == ConversationStatus::Resolved,
        priority: lang.priority(conversation.priority),
        contact_name: contact.name.clone().unwrap_or_default(),
        identities: contact.identities.iter().map(|i| (i.kind.as_str().to_owned(), i.value.clone())).collect(),
        attributes: contact
            .attributes
            .iter()
            .map(|a| attribute("attributes", a))
            .chain(contact.custom_attributes.iter().map(|a| attribute("custom_attributes", a)))
            .collect(),
        duplicates: duplicates
            .iter()
            .map(|(other, reason)| Duplicate {
                id: other.id,
                name: other.name.clone().unwrap_or_else(|| lang.texts().unknown_contact.to_owned()),
                identities: other.identities.iter().map(|i| i.value.as_str()).collect::<Vec<_>>().join(", "),
                reason: reason.clone(),
            })
            .collect(),
        can_merge: session.user.role.allows(Permission::SuperviseContacts),
        can_erase: session.user.role.allows(Permission::Administer),
        consents: contact.consents.iter().map(|c| (lang.channel(c.channel).to_owned(), c.purpose.clone(), c.granted)).collect(),
        past: others
            .iter()
            .filter(|c| c.id != id)
            .take(10)
            .map(|c| Past {
                id: c.id,
                status: lang.status(c.status),
                when: lang.ago(c.last_activity_at, now),
                preview: summaries.remove(&c.id).and_then(|s| s.last_text).unwrap_or_default().chars().take(80).collect(),
            })
            .collect(),
        activity: interactions
            .iter()
            .take(5)
            .map(|i| (lang.interaction(i.kind).to_owned(), i.summary.clone().unwrap_or_default(), lang.ago(i.occurred_at, now)))
            .collect(),
        site_pages: site.pages.iter().map(|(page, at)| (page.clone(), lang.ago(*at, now))).collect(),
        cart: site.cart.iter().map(|(product, at)| (product.clone(), lang.ago(*at, now))).collect(),
        segments,
        orders: order_lines(lang, &shop_orders, &site.orders, now),
        entries: timed.into_iter().map(|(_, e)| e).collect(),
        options: options
            .iter()
            .map(|o| ChannelChoice {
                code: o.channel.as_str(),
                name: lang.channel(o.channel),
                allowed: o.allowed,
                template_only: !o.allowed && o.template_allowed,
                default: o.default,
                reason: o.reason.clone(),
            })
            .collect(),
        templates: templates
            .iter()
            .map(|t| TemplateChoice {
                id: t.id.to_string(),
                channel: t.channel.as_str(),
                label: format!("{} ({})", t.name, t.language),
                body: t.body.clone(),
                variables: t.variables,
            })
            .collect(),
        canned: canned
            .iter()
            .map(|c| {
                // In the customer's language, when the response has it.
                let language = contact.language.as_deref().or(conversation.language.as_deref());
                let values = threadline_domain::canned::Values {
                    contact_name: contact.name.as_deref(),
                    agent_name: &session.user.name,
                    order: shop_orders.first().map(|o| &o.facts),
                    language,
                };
                let (_, body) = threadline_domain::canned::variant(&c.body, &c.translations, language);
                (c.title.clone(), c.shortcut.clone(), threadline_domain::canned::fill(body, &values))
            })
            .collect(),
        assignees,
        teams: team_choices,
        priorities,
        labels: conversation.labels.join(", "),
    })
}

/// An email's inline images (`cid:…` in its sanitised HTML) pointed at the
/// attachments that carry them. Only the exact `cid:` values the sanitiser
/// kept are replaced, and only by Threadline's own attachment URLs.
fn inline_images(html: &str, m: &Message) -> String {
    let mut out = html.to_owned();
    for a in &m.attachments {
        if let Some(cid) = a.content_id.as_deref().filter(|c| !c.is_empty()) {
            out = out.replace(&format!("\"cid:{cid}\""), &format!("\"/api/v1/attachments/{}\"", a.id));
        }
    }
    out
}

/// Everything the conversation page shows, read from the store.
struct ConversationData {
    conversation: Conversation,
    contact: threadline_domain::contact::Contact,
    messages: Vec<Message>,
    users: Vec<threadline_store::User>,
    teams: Vec<threadline_store::Team>,
    history: threadline_store::TimelinePage,
    /// The customer's latest conversations, this one included.
    others: Vec<Conversation>,
    summaries: HashMap<ConversationId, ConversationSummary>,
    templates: Vec<threadline_store::MessageTemplate>,
    canned: Vec<threadline_store::CannedResponse>,
    presences: HashMap<UserId, String>,
    /// Contacts that are probably this customer, and why.
    duplicates: Vec<(threadline_domain::contact::Contact, String)>,
    bot: Option<threadline_store::BotSession>,
    decisions: Vec<threadline_store::RoutingDecision>,
    sentiment: Vec<(time::OffsetDateTime, f32)>,
    policies: Vec<threadline_store::StoredSlaPolicy>,
    /// What the customer did on the site or in the app.
    site: threadline_domain::tracking::ActivitySummary,
    /// The names of the segments the customer is in.
    segments: Vec<String>,
    /// Their latest orders from the shop.
    shop_orders: Vec<threadline_store::Order>,
    /// The return, exchange or warranty claim this conversation handles.
    request: Option<threadline_store::AfterSalesRequest>,
}

impl ConversationData {
    async fn load(
        state: &AppState,
        account_id: threadline_domain::ids::AccountId,
        id: ConversationId,
    ) -> Result<Self, threadline_store::StoreError> {
        let store = &state.store;
        let conversation = store.conversation(account_id, id).await?;
        let contact = store.contact(account_id, conversation.contact_id).await?;
        let others =
            store.conversations(account_id, &ConversationQuery { contact_id: Some(contact.id), limit: 11, ..Default::default() }).await?;
        let other_ids: Vec<ConversationId> = others.iter().map(|c| c.id).filter(|c| *c != id).collect();
        Ok(ConversationData {
            messages: store.conversation_messages(account_id, id, None, 200).await?,
            users: store.users(account_id).await?,
            teams: store.teams(account_id).await?,
            // The site's activity has its own summary in the panel.
            history: store.timeline(account_id, contact.id, None, 100, &TimelineFilter { events: false, ..Default::default() }).await?,
            summaries: store.conversation_summaries(account_id, &other_ids).await?,
            templates: store.templates(account_id, None).await?,
            canned: store.canned_responses(account_id).await?,
            presences: store.presences(account_id).await?,
            duplicates: store.duplicates_of(account_id, contact.id).await?,
            bot: store.bot_session(account_id, id).await?,
            sentiment: store.sentiment_trend(account_id, contact.id, 8).await?,
            decisions: store.routing_decisions(account_id, id).await?,
            policies: store.sla_policies(account_id).await?,
            segments: {
                let member_of = store.contact_segments(account_id, contact.id).await?;
                store.segments(account_id).await?.into_iter().filter(|s| member_of.contains(&s.id)).map(|s| s.name).collect()
            },
            site: threadline_domain::tracking::summarize(
                &store.customer_events(account_id, contact.id, &threadline_store::EventQuery { limit: 200, ..Default::default() }).await?,
                5,
            ),
            shop_orders: store.contact_orders(account_id, contact.id, 5).await?,
            request: store.after_sales_for_conversation(account_id, id).await?,
            conversation,
            contact,
            others,
        })
    }
}

/// An order in the customer panel.
struct OrderLine {
    number: String,
    total: String,
    /// The status as the customer would read it (empty for an order only
    /// tracked on the site), with what was refunded of it.
    status: String,
    /// The carrier and tracking number, and where to follow the parcel.
    tracking: Option<(String, Option<String>)>,
    ago: String,
}

/// The panel's orders: the shop's (with status and parcel), then orders
/// only tracked on the site (`Order Completed` calls) that the shop did
/// not report, at most five in all.
fn order_lines(
    lang: Lang,
    shop: &[threadline_store::Order],
    tracked: &[(String, String, time::OffsetDateTime)],
    now: time::OffsetDateTime,
) -> Vec<OrderLine> {
    let mut lines: Vec<OrderLine> = shop
        .iter()
        .map(|o| {
            let f = &o.facts;
            let parcel = f.shipments.last().and_then(|s| {
                let label = [s.carrier.as_deref(), s.tracking_number.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
                match (label.is_empty(), &s.tracking_url) {
                    (true, None) => None,
                    (true, Some(url)) => Some((lang.texts().track_parcel.to_owned(), Some(url.clone()))),
                    (false, url) => Some((label, url.clone())),
                }
            });
            OrderLine {
                number: f.number.clone(),
                total: format!("{} {}", f.total, f.currency),
                status: {
                    use threadline_domain::order::{OrderStatus, status_label};
                    let label = status_label(f.status, lang.code());
                    match f.refunded().filter(|_| f.status != OrderStatus::Refunded) {
                        Some(amount) => format!("{label} · {} {amount} {}", status_label(OrderStatus::Refunded, lang.code()), f.currency),
                        None => label.to_owned(),
                    }
                },
                tracking: parcel,
                ago: lang.ago(f.placed_at, now),
            }
        })
        .collect();
    for (id, total, at) in tracked {
        if lines.len() >= 5 {
            break;
        }
        if shop.iter().any(|o| &o.facts.external_id == id) {
            continue;
        }
        lines.push(OrderLine { number: id.clone(), total: total.clone(), status: String::new(), tracking: None, ago: lang.ago(*at, now) });
    }
    lines
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn interaction_entry(lang: Lang, i: &threadline_domain::interaction::Interaction) -> Entry {
    Entry {
        interaction: true,
        inbound: true,
        note: false,
        channel: lang.interaction(i.kind),
        channel_code: i.kind.as_str(),
        author: String::new(),
        when: lang.datetime(i.occurred_at),
        at: rfc3339(i.occurred_at),
        subject: None,
        text: i.summary.clone().unwrap_or_default(),
        html: None,
        quoted: None,
        automated: None,
        problems: Vec::new(),
        attachments: Vec::new(),
        failed: None,
        reasons: Vec::new(),
    }
}

fn entry(lang: Lang, m: &Message, contact: &str, users: &HashMap<String, String>) -> Entry {
    let author = match m.direction {
        Direction::Inbound => contact.to_owned(),
        Direction::Outbound if m.sender_kind == threadline_domain::message::SenderKind::Bot => lang.automation().bot.to_owned(),
        Direction::Outbound => m.sender_id.as_ref().and_then(|id| users.get(id).cloned()).unwrap_or_else(|| "Threadline".to_owned()),
    };
    Entry {
        interaction: false,
        inbound: m.direction == Direction::Inbound,
        note: m.kind == MessageKind::Note,
        channel: lang.channel(m.channel),
        channel_code: m.channel.as_str(),
        author,
        when: lang.datetime(m.created_at),
        at: rfc3339(m.created_at),
        subject: m.subject.clone(),
        text: m.text.clone(),
        html: m.html.as_deref().map(|html| inline_images(html, m)),
        quoted: m.quoted_text.clone(),
        automated: m.automated.clone(),
        problems: m.problems.clone(),
        attachments: m
            .attachments
            .iter()
            .filter(|a| a.content_id.is_none())
            .map(|a| (a.filename.clone(), format!("/api/v1/attachments/{}", a.id)))
            .collect(),
        failed: (m.delivery_status == DeliveryStatus::Failed).then(|| m.delivery_error.clone().unwrap_or_default()),
        reasons: m.triage.as_ref().map(|t| automation::reasons(lang, t)).unwrap_or_default(),
    }
}

/// One inbox on the administration page.
struct InboxLine {
    id: threadline_domain::ids::InboxId,
    name: String,
    channel: &'static str,
    address: String,
    connected: bool,
    webhook_url: Option<String>,
    mailbox: Option<String>,
    /// An email address's proof: `verified`, `pending` or `unverified`.
    proof: Option<&'static str>,
    /// The inbox's settings as pretty JSON, to edit.
    settings: String,
    /// A voice inbox: its phone menu has a builder.
    voice: bool,
}

struct UserLine {
    id: UserId,
    name: String,
    email: String,
    role: &'static str,
    /// The administrator looking at the page: no role change or removal.
    me: bool,
}

struct TeamLine {
    id: threadline_domain::ids::TeamId,
    name: String,
    members: Vec<(UserId, String)>,
    /// Users not in the team yet, to add.
    others: Vec<(UserId, String)>,
}

struct TokenLine {
    id: threadline_domain::ids::ApiTokenId,
    name: String,
    prefix: String,
    owner: String,
    /// What it may do, e.g. "api, integration".
    scopes: String,
    used: String,
    /// When it was last used (RFC 3339), for the browser to show in its time zone.
    used_at: Option<String>,
}

struct WebhookLine {
    id: threadline_domain::ids::WebhookId,
    url: String,
    events: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage<'a> {
    t: &'a Texts,
    lang: &'a str,
    top: Top<'a>,
    inboxes: Vec<InboxLine>,
    channels: Vec<(&'static str, &'static str)>,
    roles: Vec<&'static str>,
    users: Vec<UserLine>,
    teams: Vec<TeamLine>,
    tokens: Vec<TokenLine>,
    webhooks: Vec<WebhookLine>,
    canned: Vec<threadline_store::CannedResponse>,
    shops: Vec<ShopLine>,
}

/// A connected shop on the admin page.
struct ShopLine {
    id: threadline_domain::ids::OrderSourceId,
    name: String,
    kind: &'static str,
    webhook_url: String,
    used: String,
    used_at: Option<String>,
}

/// What an account is made of, and the forms that change it: inboxes and
/// how they are connected, users and their roles, teams and their members,
/// API tokens, webhooks and canned responses. Administrators only; the
/// forms call the same REST API integrations use.
async fn admin(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let lang = user_lang(&session, &headers);
    if !session.user.role.allows(Permission::Administer) {
        return (StatusCode::FORBIDDEN, Html(format!("<!doctype html><meta charset=utf-8><p>{}</p>", lang.texts().admin_only)))
            .into_response();
    }
    let account_id = session.user.account_id;
    let loaded = async {
        Ok::<_, threadline_store::StoreError>((
            state.store.inboxes(account_id).await?,
            state.store.users(account_id).await?,
            state.store.teams(account_id).await?,
            state.store.api_tokens(account_id).await?,
            state.store.webhooks(account_id).await?,
            state.store.canned_responses(account_id).await?,
            state.store.order_sources(account_id).await?,
        ))
    }
    .await;
    let (inboxes, users, teams, tokens, webhooks, canned, shops) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let names: HashMap<UserId, String> = users.iter().map(|u| (u.id, u.name.clone())).collect();
    let mut proofs = HashMap::new();
    for inbox in inboxes.iter().filter(|i| i.channel == threadline_domain::channel::Channel::Email) {
        match crate::email::addresses::proof(&state, account_id, inbox).await {
            Ok(Some(proof)) => {
                proofs.insert(inbox.id, proof.status);
            }
            Ok(None) => {}
            Err(e) => return e.into_response(),
        }
    }
    let mailboxes = state.mailboxes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    let text = |inbox: &threadline_store::Inbox, key: &str| inbox.settings.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    page(&AdminPage {
        t: lang.texts(),
        lang: lang.code(),
        top: Top::of(&session, lang),
        inboxes: inboxes
            .iter()
            .map(|i| {
                let connected = crate::channels::provider_connected(i);
                InboxLine {
                    id: i.id,
                    name: i.name.clone(),
                    channel: lang.channel(i.channel),
                    address: ["address", "from", "phone_number_id", "page_id"].iter().find_map(|k| text(i, k)).unwrap_or_default(),
                    connected,
                    webhook_url: match i.channel {
                        threadline_domain::channel::Channel::Voice => connected.then(|| crate::voice::voice_url(&state, i.id)),
                        _ => (connected && threadline_channels::adapter_for(i.channel).is_some())
                            .then(|| crate::channels::webhook_url(&state.settings, i.id)),
                    },
                    mailbox: mailboxes.get(&i.id).map(|m| match &m.last_error {
                        Some(error) => format!("{}: {error}", m.state),
                        None => m.state.clone(),
                    }),
                    proof: proofs.get(&i.id).copied(),
                    settings: serde_json::to_string_pretty(&i.settings).unwrap_or_default(),
                    voice: i.channel == threadline_domain::channel::Channel::Voice,
                }
            })
            .collect(),
        channels: threadline_domain::channel::Channel::ALL.iter().map(|c| (c.as_str(), lang.channel(*c))).collect(),
        roles: threadline_domain::role::Role::ALL.iter().map(|r| r.as_str()).collect(),
        users: users
            .iter()
            .map(|u| UserLine {
                id: u.id,
                name: u.name.clone(),
                email: u.email.clone(),
                role: u.role.as_str(),
                me: u.id == session.user.id,
            })
            .collect(),
        teams: teams
            .iter()
            .map(|t| TeamLine {
                id: t.id,
                name: t.name.clone(),
                members: t.member_ids.iter().filter_map(|id| names.get(id).map(|n| (*id, n.clone()))).collect(),
                others: users.iter().filter(|u| !t.member_ids.contains(&u.id)).map(|u| (u.id, u.name.clone())).collect(),
            })
            .collect(),
        tokens: tokens
            .iter()
            .map(|t| TokenLine {
                id: t.id,
                name: t.name.clone(),
                prefix: format!("{}…", t.prefix),
                owner: names.get(&t.user_id).cloned().unwrap_or_default(),
                scopes: t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                used: t.last_used_at.map(|at| lang.datetime(at)).unwrap_or_else(|| lang.texts().never.to_owned()),
                used_at: t.last_used_at.map(rfc3339),
            })
            .collect(),
        webhooks: webhooks
            .iter()
            .map(|w| WebhookLine { id: w.id, url: w.url.clone(), events: w.events.join(", "), active: w.active })
            .collect(),
        canned,
        shops: shops
            .iter()
            .filter(|s| s.revoked_at.is_none())
            .map(|s| ShopLine {
                id: s.id,
                name: s.name.clone(),
                kind: if s.kind == "shopify" { "Shopify" } else { "WooCommerce" },
                webhook_url: crate::orders::webhook_url(&state.settings, s.id),
                used: s.last_used_at.map(|at| lang.datetime(at)).unwrap_or_else(|| lang.texts().never.to_owned()),
                used_at: s.last_used_at.map(rfc3339),
            })
            .collect(),
    })
}
