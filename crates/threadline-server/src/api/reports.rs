//! Reports: the numbers `docs/metrics.md` defines, for a period, with the
//! period before it beside them. Supervisors and administrators read the
//! whole account; an agent reads their own conversations (their personal
//! dashboard). Every table is also CSV (`format=csv`).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use threadline_domain::metrics::{ChannelFlow, Dimension, Summary, VolumeRow, previous_period};
use threadline_domain::role::Permission;
use threadline_domain::survey::SurveyScores;
use threadline_domain::tally::{hour_of_week_rows, volume_rows};
use threadline_store::{Backlog, MetricsFilter, Wanted};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Query;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(volume_report))
        .routes(routes!(channels))
        .routes(routes!(conversations_export))
        .routes(routes!(journeys_report))
        .routes(routes!(workload_report))
        .routes(routes!(costs_report))
        .routes(routes!(get_unit_costs, put_unit_costs))
}

/// The longest period a report covers.
const MAX_DAYS: i64 = 400;

/// The period and filters every report takes.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// Start of the period (RFC 3339; default: 30 days before `to`).
    pub from: Option<String>,
    /// End of the period, excluded (RFC 3339; default: now).
    pub to: Option<String>,
    /// Only conversations that began on this channel.
    pub channel: Option<String>,
    pub inbox_id: Option<String>,
    pub team_id: Option<String>,
    /// Only conversations assigned to this agent (an agent's own, for agents).
    pub agent_id: Option<String>,
    pub category: Option<String>,
    /// For `volume`: what to group by.
    pub by: Option<Dimension>,
    /// For hours of the week: an IANA time zone (default: the default SLA
    /// policy's, else UTC).
    pub tz: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// A period, start included and end excluded.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Period {
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
}

pub(super) struct Request {
    pub(super) period: Period,
    pub(super) filter: MetricsFilter,
    csv: bool,
}

fn parse_time(field: &str, raw: &str) -> ApiResult<OffsetDateTime> {
    OffsetDateTime::parse(raw.trim(), &Rfc3339).map_err(|_| ApiError::invalid(field, "is an RFC 3339 time, e.g. 2026-03-01T00:00:00Z"))
}

pub(super) fn request(state: &AppState, caller: &Caller, p: &ReportParams) -> ApiResult<Request> {
    let to = match &p.to {
        Some(raw) => parse_time("to", raw)?,
        None => state.clock.now(),
    };
    let from = match &p.from {
        Some(raw) => parse_time("from", raw)?,
        None => to - Duration::days(30),
    };
    if from >= to {
        return Err(ApiError::invalid("from", "is before `to`"));
    }
    if to - from > Duration::days(MAX_DAYS) {
        return Err(ApiError::invalid("from", format!("a report covers at most {MAX_DAYS} days")));
    }
    let mut filter = MetricsFilter {
        channel: p.channel.clone(),
        inbox_id: p.inbox_id.clone(),
        team_id: p.team_id.clone(),
        assignee_id: p.agent_id.clone(),
        category: p.category.clone(),
    };
    if !caller.user.role.allows(Permission::SuperviseContacts) {
        let own = caller.user.id.to_string();
        if filter.assignee_id.as_ref().is_some_and(|a| *a != own) {
            return Err(ApiError::Forbidden("agents read their own reports; supervisors read everyone's".into()));
        }
        filter.assignee_id = Some(own);
    }
    let csv = match p.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::invalid("format", "is json or csv")),
    };
    Ok(Request { period: Period { from, to }, filter, csv })
}

fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
        ],
        body,
    )
        .into_response()
}

fn num<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// One period's summary.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PeriodSummary {
    #[serde(flatten)]
    pub period: Period,
    pub summary: Summary,
    /// CSAT, NPS and CES of the surveys sent in the period.
    pub surveys: SurveyScores,
}

/// How far the numbers lag behind what happened.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Freshness {
    /// Conversations changed but not measured yet (all accounts).
    pub waiting: i64,
    pub lag_secs: Option<i64>,
    /// Whole days of the period read from their stored tallies; the rest
    /// was read from the conversations (today, and days changed since).
    pub stored_days: usize,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SummaryReport {
    pub current: PeriodSummary,
    /// The period of the same length just before.
    pub previous: PeriodSummary,
    /// Unresolved conversations now (whatever the period).
    pub backlog: Backlog,
    pub freshness: Freshness,
}

/// The headline numbers of a period and the one before it: first
/// response, reply and resolution times (calendar and business hours),
/// first-contact resolution, reopen rate, bot containment and deflection,
/// SLA attainment, channel switching; and the backlog now.
#[utoipa::path(get, path = "/reports/summary", tag = "reports", params(ReportParams),
    responses((status = 200, body = SummaryReport), (status = 422, body = ErrorBody)))]
async fn summary(State(state): State<AppState>, caller: Caller, Query(p): Query<ReportParams>) -> ApiResult<Response> {
    let r = request(&state, &caller, &p)?;
    let now = state.clock.now();
    let account_id = caller.account_id();
    let (prev_from, prev_to) = previous_period(r.period.from, r.period.to);
    let tallies = state.store.tallies(account_id, r.period.from, r.period.to, &r.filter, now, Wanted::default()).await?;
    let current = tallies.total.summary();
    let previous = state.store.tallies(account_id, prev_from, prev_to, &r.filter, now, Wanted::default()).await?.total.summary();
    let surveys_now = survey_scores(&state, account_id, r.period.from, r.period.to, &r.filter).await?;
    let surveys_before = survey_scores(&state, account_id, prev_from, prev_to, &r.filter).await?;
    let backlog = state.store.backlog(account_id, now).await?;
    let (waiting, lag_secs) = state.store.metrics_lag(now).await?;
    if r.csv {
        let mut body = crate::csv::line(&["metric", "current", "previous"]);
        for (name, a, b) in summary_lines(&current, &previous) {
            body.push_str(&crate::csv::line(&[name.to_owned(), a, b]));
        }
        for (name, a, b) in [
            ("csat_score", surveys_now.csat.score, surveys_before.csat.score),
            ("nps_score", surveys_now.nps.score, surveys_before.nps.score),
            ("ces_score", surveys_now.ces.score, surveys_before.ces.score),
        ] {
            body.push_str(&crate::csv::line(&[name.to_owned(), num(a), num(b)]));
        }
        return Ok(csv_response("summary", body));
    }
    let report = SummaryReport {
        current: PeriodSummary { period: r.period, summary: current, surveys: surveys_now },
        previous: PeriodSummary { period: Period { from: prev_from, to: prev_to }, summary: previous, surveys: surveys_before },
        backlog,
        freshness: Freshness { waiting, lag_secs, stored_days: tallies.stored_days },
    };
    Ok(Json(report).into_response())
}

/// CSAT, NPS and CES of the surveys sent in `from..to`.
pub async fn survey_scores(
    state: &AppState,
    account_id: threadline_domain::ids::AccountId,
    from: OffsetDateTime,
    to: OffsetDateTime,
    filter: &MetricsFilter,
) -> ApiResult<SurveyScores> {
    let sent = state.store.survey_responses(account_id, from, to, filter, i64::MAX).await?;
    Ok(SurveyScores::of(&sent.iter().map(|r| (r.kind, r.score)).collect::<Vec<_>>()))
}

/// The summary as rows of a table: (metric, current, previous).
pub fn summary_lines(a: &Summary, b: &Summary) -> Vec<(&'static str, String, String)> {
    let pair = |f: &dyn Fn(&Summary) -> String| (f(a), f(b));
    let rows: Vec<(&'static str, (String, String))> = vec![
        ("conversations", pair(&|s| s.conversations.to_string())),
        ("customer_messages", pair(&|s| s.customer_messages.to_string())),
        ("agent_messages", pair(&|s| s.agent_messages.to_string())),
        ("first_response_median_secs", pair(&|s| num(s.first_response.median_secs))),
        ("first_response_p90_secs", pair(&|s| num(s.first_response.p90_secs))),
        ("first_response_business_median_secs", pair(&|s| num(s.first_response_business.median_secs))),
        ("reply_mean_secs", pair(&|s| num(s.reply.mean_secs.map(|v| v.round())))),
        ("response_rate", pair(&|s| num(s.response_rate.rate))),
        ("resolved", pair(&|s| s.resolved.to_string())),
        ("resolution_median_secs", pair(&|s| num(s.resolution.median_secs))),
        ("resolution_business_median_secs", pair(&|s| num(s.resolution_business.median_secs))),
        ("first_contact_resolution_rate", pair(&|s| num(s.first_contact_resolution.rate))),
        ("reopen_rate", pair(&|s| num(s.reopen_rate.rate))),
        ("bot_conversations", pair(&|s| s.bot.conversations.to_string())),
        ("bot_containment_rate", pair(&|s| num(s.bot.containment.rate))),
        ("bot_deflection_rate", pair(&|s| num(s.bot.deflection.rate))),
        ("sla_attainment", pair(&|s| num(s.sla_attainment.rate))),
        ("channel_switching_rate", pair(&|s| num(s.channel_switching.rate))),
    ];
    rows.into_iter().map(|(name, (x, y))| (name, x, y)).collect()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VolumeReport {
    #[serde(flatten)]
    pub period: Period,
    pub by: Dimension,
    pub data: Vec<VolumeRow>,
}

/// Conversations created in the period grouped by channel, inbox, team,
/// agent, category or hour of the week (`by`, default channel), with how
/// many were resolved and their first response times.
#[utoipa::path(get, path = "/reports/volume", tag = "reports", params(ReportParams),
    responses((status = 200, body = VolumeReport), (status = 422, body = ErrorBody)))]
async fn volume_report(State(state): State<AppState>, caller: Caller, Query(p): Query<ReportParams>) -> ApiResult<Response> {
    let r = request(&state, &caller, &p)?;
    let by = p.by.unwrap_or(Dimension::Channel);
    let zone = match &p.tz {
        Some(tz) if crate::sla::known_time_zone(tz) => Some(tz.clone()),
        Some(_) => return Err(ApiError::invalid("tz", "is an IANA time zone, e.g. Europe/Rome")),
        None => {
            let policies = state.store.sla_policies(caller.account_id()).await?;
            policies.into_iter().find(|p| p.is_default).and_then(|p| p.policy.business_hours).map(|h| h.time_zone)
        }
    };
    // One offset for the period (its middle): hours of the week are a
    // pattern, and an hour's shift at a DST change does not change it.
    let middle = r.period.from + (r.period.to - r.period.from) / 2;
    let offset = crate::sla::offset_in(zone.as_deref())(middle);
    let wanted = Wanted { groups: Some(by), hours: false };
    let tallies = state.store.tallies(caller.account_id(), r.period.from, r.period.to, &r.filter, state.clock.now(), wanted).await?;
    let data = match by {
        Dimension::HourOfWeek => hour_of_week_rows(&tallies.hours, offset),
        _ => volume_rows(&tallies.groups),
    };
    if r.csv {
        let mut body = crate::csv::line(&["key", "conversations", "resolved", "first_response_median_secs"]);
        for row in &data {
            body.push_str(&crate::csv::line(&[
                row.key.clone().unwrap_or_default(),
                row.conversations.to_string(),
                row.resolved.to_string(),
                num(row.first_response.median_secs),
            ]));
        }
        return Ok(csv_response("volume", body));
    }
    Ok(Json(VolumeReport { period: r.period, by, data }).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelReport {
    #[serde(flatten)]
    pub period: Period,
    #[serde(flatten)]
    pub flow: ChannelFlow,
}

/// How conversations crossed channels: first channel → the channel a
/// person answered on, and the channels customers chose per category.
#[utoipa::path(get, path = "/reports/channels", tag = "reports", params(ReportParams),
    responses((status = 200, body = ChannelReport), (status = 422, body = ErrorBody)))]
async fn channels(State(state): State<AppState>, caller: Caller, Query(p): Query<ReportParams>) -> ApiResult<Response> {
    let r = request(&state, &caller, &p)?;
    let tallies =
        state.store.tallies(caller.account_id(), r.period.from, r.period.to, &r.filter, state.clock.now(), Wanted::default()).await?;
    let flow = tallies.total.flow();
    if r.csv {
        let mut body = crate::csv::line(&["first_channel", "answer_channel", "conversations"]);
        for (a, b, n) in &flow.first_to_answer {
            body.push_str(&crate::csv::line(&[a.clone(), b.clone(), n.to_string()]));
        }
        return Ok(csv_response("channels", body));
    }
    Ok(Json(ChannelReport { period: r.period, flow }).into_response())
}

/// One journey's runs entered in the period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JourneyReportRow {
    pub journey_id: threadline_domain::ids::JourneyId,
    pub name: String,
    pub status: String,
    #[serde(flatten)]
    pub conversion: threadline_domain::metrics::JourneyConversion,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JourneyReport {
    #[serde(flatten)]
    pub period: Period,
    pub journeys: Vec<JourneyReportRow>,
}

/// The journeys' runs that entered in the period (whatever happened to
/// them since): where they are, conversion to the goal, how many reached
/// each step and stopped before it, and conversion by the channel their
/// messages went on. Supervisors and administrators.
pub async fn journey_rows(
    state: &AppState,
    account_id: threadline_domain::ids::AccountId,
    period: Period,
) -> ApiResult<Vec<JourneyReportRow>> {
    let counts = state.store.journey_counts(account_id, period.from, period.to).await?;
    let mut rows = Vec::with_capacity(counts.len());
    for (journey_id, counts) in counts {
        let journey = state.store.journey(account_id, journey_id).await?;
        let spec = state.store.journey_spec(account_id, journey_id, journey.live_version.or(Some(journey.version))).await?;
        let order = threadline_domain::metrics::step_order(&spec);
        let conversion = threadline_domain::metrics::journey_conversion(&counts, &order);
        rows.push(JourneyReportRow { journey_id, name: journey.name, status: journey.status, conversion });
    }
    rows.sort_by(|a, b| b.conversion.entered.cmp(&a.conversion.entered).then_with(|| a.name.cmp(&b.name)));
    Ok(rows)
}

#[utoipa::path(get, path = "/reports/journeys", tag = "reports", params(ReportParams),
    responses((status = 200, body = JourneyReport), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn journeys_report(State(state): State<AppState>, caller: Caller, Query(p): Query<ReportParams>) -> ApiResult<Response> {
    caller.require(Permission::SuperviseContacts)?;
    let r = request(&state, &caller, &p)?;
    let journeys = journey_rows(&state, caller.account_id(), r.period).await?;
    if r.csv {
        let mut body =
            crate::csv::line(&["journey_id", "journey", "step_id", "entered", "reached", "dropped", "converted", "conversion_rate"]);
        for j in &journeys {
            let c = &j.conversion;
            body.push_str(&crate::csv::line(&[
                j.journey_id.to_string(),
                j.name.clone(),
                String::new(),
                c.entered.to_string(),
                String::new(),
                String::new(),
                c.converted.to_string(),
                num(c.conversion.rate),
            ]));
            for step in &c.steps {
                body.push_str(&crate::csv::line(&[
                    j.journey_id.to_string(),
                    j.name.clone(),
                    step.step_id.clone(),
                    c.entered.to_string(),
                    step.reached.to_string(),
                    step.dropped.to_string(),
                    String::new(),
                    String::new(),
                ]));
            }
        }
        return Ok(csv_response("journeys", body));
    }
    Ok(Json(JourneyReport { period: r.period, journeys }).into_response())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkloadReport {
    #[serde(flatten)]
    pub period: Period,
    pub agents: Vec<threadline_domain::workload::AgentWorkload>,
}

/// Each person's replies, notes and conversations in the period, their
/// handle time (per reply: the time since the message before it, at most
/// 15 minutes), time online and occupancy (handle time ÷ time online).
/// An agent reads their own line.
#[utoipa::path(get, path = "/reports/workload", tag = "reports", params(ReportParams),
    responses((status = 200, body = WorkloadReport), (status = 422, body = ErrorBody)))]
async fn workload_report(State(state): State<AppState>, caller: Caller, Query(p): Query<ReportParams>) -> ApiResult<Response> {
    let r = request(&state, &caller, &p)?;
    let agents = workload_rows(&state, caller.account_id(), r.period, r.filter.assignee_id.as_deref()).await?;
    if r.csv {
        let mut body = crate::csv::line(&[
            "agent_id",
            "replies",
            "notes",
            "conversations",
            "handle_secs",
            "handle_per_message_secs",
            "online_secs",
            "occupancy",
        ]);
        for a in &agents {
            body.push_str(&crate::csv::line(&[
                a.agent_id.clone(),
                a.replies.to_string(),
                a.notes.to_string(),
                a.conversations.to_string(),
                a.handle_secs.to_string(),
                num(a.handle_per_message_secs.map(|s| s.round() as i64)),
                a.online_secs.to_string(),
                num(a.occupancy),
            ]));
        }
        return Ok(csv_response("workload", body));
    }
    Ok(Json(WorkloadReport { period: r.period, agents }).into_response())
}

/// The workload lines of a period (one agent's with `agent`).
pub async fn workload_rows(
    state: &AppState,
    account_id: threadline_domain::ids::AccountId,
    period: Period,
    agent: Option<&str>,
) -> ApiResult<Vec<threadline_domain::workload::AgentWorkload>> {
    // An agent's own line counts the same in the whole account's work.
    let (work, _) = state.store.work(account_id, period.from, period.to, state.clock.now()).await?;
    let mut online = state.store.online_secs(account_id, period.from, period.to).await?;
    if let Some(agent) = agent {
        online.retain(|id, _| id == agent);
    }
    let mut rows = work.workload(&online);
    if let Some(agent) = agent {
        rows.retain(|w| w.agent_id == agent);
    }
    Ok(rows)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CostsReport {
    #[serde(flatten)]
    pub period: Period,
    #[serde(flatten)]
    pub costs: threadline_domain::workload::CostReport,
}

/// What service cost in the period at the account's unit prices
/// (`/reports/unit-costs`): every message at its channel's price per
/// message, people's handle time at its price per agent minute; per
/// channel, per customer and per conversation. Supervisors and
/// administrators.
#[utoipa::path(get, path = "/reports/costs", tag = "reports", params(ReportParams),
    responses((status = 200, body = CostsReport), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn costs_report(State(state): State<AppState>, caller: Caller, Query(p): Query<ReportParams>) -> ApiResult<Response> {
    caller.require(Permission::SuperviseContacts)?;
    let r = request(&state, &caller, &p)?;
    let (costs, _) = cost_rows(&state, caller.account_id(), r.period).await?;
    if r.csv {
        let mut body = crate::csv::line(&[
            "channel",
            "messages",
            "handle_secs",
            "messages_cost",
            "agents_cost",
            "total",
            "contacts",
            "per_contact",
            "currency",
        ]);
        for c in &costs.channels {
            body.push_str(&crate::csv::line(&[
                c.channel.clone(),
                c.messages.to_string(),
                c.handle_secs.to_string(),
                format!("{:.4}", c.messages_cost),
                format!("{:.4}", c.agents_cost),
                format!("{:.4}", c.total),
                c.contacts.to_string(),
                c.per_contact.map(|v| format!("{v:.4}")).unwrap_or_default(),
                costs.currency.clone(),
            ]));
        }
        return Ok(csv_response("costs", body));
    }
    Ok(Json(CostsReport { period: r.period, costs }).into_response())
}

/// The cost report of a period, and whether the account has set any prices.
pub async fn cost_rows(
    state: &AppState,
    account_id: threadline_domain::ids::AccountId,
    period: Period,
) -> ApiResult<(threadline_domain::workload::CostReport, bool)> {
    let (work, _) = state.store.work(account_id, period.from, period.to, state.clock.now()).await?;
    let rates = state.store.unit_costs(account_id).await?;
    Ok((work.costs(&rates), !rates.channels.is_empty()))
}

/// The account's unit prices per channel.
#[utoipa::path(get, path = "/reports/unit-costs", tag = "reports",
    responses((status = 200, body = threadline_domain::workload::UnitCosts), (status = 403, body = ErrorBody)))]
async fn get_unit_costs(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<threadline_domain::workload::UnitCosts>> {
    caller.require(Permission::SuperviseContacts)?;
    Ok(Json(state.store.unit_costs(caller.account_id()).await?))
}

/// Sets the unit prices: per channel, `message` (each message either way)
/// and `agent_minute` (a minute of a person's handle time), in `currency`.
/// Administrators.
#[utoipa::path(put, path = "/reports/unit-costs", tag = "reports", request_body = threadline_domain::workload::UnitCosts,
    responses((status = 200, body = threadline_domain::workload::UnitCosts), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_unit_costs(
    State(state): State<AppState>,
    caller: Caller,
    super::Body(costs): super::Body<threadline_domain::workload::UnitCosts>,
) -> ApiResult<Json<threadline_domain::workload::UnitCosts>> {
    caller.require(Permission::Administer)?;
    costs.validate(|c| c.parse::<threadline_domain::Channel>().is_ok())?;
    Ok(Json(state.store.set_unit_costs(caller.account_id(), &costs, &caller.actor).await?))
}

/// The columns of the per-conversation export.
const EXPORT_COLUMNS: [&str; 29] = [
    "conversation_id",
    "created_at",
    "status",
    "priority",
    "first_channel",
    "answer_channel",
    "inbox_id",
    "team_id",
    "agent_id",
    "category",
    "first_response_secs",
    "first_response_business_secs",
    "reply_waits",
    "reply_secs",
    "customer_messages",
    "agent_messages",
    "bot_messages",
    "channel_switches",
    "resolved_at",
    "resolution_secs",
    "resolution_business_secs",
    "first_resolved_at",
    "resolutions",
    "reopens",
    "bot_involved",
    "handed_off",
    "resolved_by_bot",
    "sla_clocks",
    "sla_met",
];

/// Rows read per page of an export.
const EXPORT_PAGE: i64 = 1000;

fn export_line(m: &threadline_domain::metrics::Measured, status: &str, priority: &str) -> String {
    let f = &m.facts;
    let at = |t: Option<OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
    crate::csv::line(&[
        m.conversation_id.clone(),
        at(Some(m.created_at)),
        status.to_owned(),
        priority.to_owned(),
        text(&f.first_channel),
        text(&f.answer_channel),
        text(&m.inbox_id),
        text(&m.team_id),
        text(&m.assignee_id),
        text(&m.category),
        num(f.first_response_secs),
        num(f.first_response_business_secs),
        f.reply_waits.to_string(),
        f.reply_secs.to_string(),
        f.customer_messages.to_string(),
        f.agent_messages.to_string(),
        f.bot_messages.to_string(),
        f.channel_switches.to_string(),
        at(f.resolved_at),
        num(f.resolution_secs),
        num(f.resolution_business_secs),
        at(f.first_resolved_at),
        f.resolutions.to_string(),
        f.reopens.to_string(),
        flag(f.bot_involved),
        flag(f.handed_off),
        flag(f.resolved_by_bot),
        m.sla_clocks.to_string(),
        m.sla_met.to_string(),
    ])
}

/// Every conversation created in the period with its measurements, one
/// CSV row each, oldest first. Streamed page by page: a million rows
/// take no more memory than a thousand.
#[utoipa::path(get, path = "/reports/conversations", tag = "reports", params(ReportParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 422, body = ErrorBody)))]
async fn conversations_export(State(state): State<AppState>, caller: Caller, Query(p): Query<ReportParams>) -> ApiResult<Response> {
    let r = request(&state, &caller, &p)?;
    let account_id = caller.account_id();
    let (from, to, filter) = (r.period.from, r.period.to, r.filter);
    struct Cursor {
        header: Option<String>,
        after: Option<(OffsetDateTime, String)>,
        done: bool,
    }
    let start = Cursor { header: Some(crate::csv::line(&EXPORT_COLUMNS)), after: None, done: false };
    let stream = futures_util::stream::unfold(start, move |mut cursor| {
        let (state, filter) = (state.clone(), filter.clone());
        async move {
            if let Some(header) = cursor.header.take() {
                return Some((Ok::<_, std::io::Error>(header), cursor));
            }
            if cursor.done {
                return None;
            }
            match state.store.measured_page(account_id, from, to, &filter, cursor.after.take(), EXPORT_PAGE).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    cursor.done = (rows.len() as i64) < EXPORT_PAGE;
                    let mut chunk = String::with_capacity(rows.len() * 200);
                    for (m, status, priority) in &rows {
                        chunk.push_str(&export_line(m, status, priority));
                    }
                    cursor.after = rows.last().map(|(m, _, _)| (m.created_at, m.conversation_id.clone()));
                    Some((Ok(chunk), cursor))
                }
                Err(e) => {
                    // The client sees the transfer cut short, never a partial file passed off as whole.
                    tracing::error!(error = %e, "an export stopped");
                    cursor.done = true;
                    Some((Err(std::io::Error::other(e.to_string())), cursor))
                }
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"conversations.csv\"".to_owned()),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
