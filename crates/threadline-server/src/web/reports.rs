//! The workspace's report pages: overview, channels, teams, agents and
//! bot, for a period with the period before beside each number, filtered
//! by channel and team. An agent sees their own conversations (their
//! personal dashboard). Numbers follow docs/metrics.md; charts are SVG
//! drawn by the template from [`super::charts`], each with its table and
//! a CSV download.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use threadline_domain::metrics::{Dimension, Durations, Rate, SettledRate, Summary, previous_period};
use threadline_domain::role::Permission;
use threadline_domain::survey::SurveyScores;
use threadline_domain::tally::{days_of, hour_of_week_rows, volume_rows};
use threadline_store::{Backlog, MetricsFilter, Wanted};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::charts::{self, Bars, Cell, Flow, Series};
use super::i18n::{Lang, Texts};
use super::{Top, page, signed_in, user_lang};
use crate::app::AppState;
use crate::error::ApiError;

/// The words of the report pages.
pub struct ReportTexts {
    pub reports: &'static str,
    pub views: [(&'static str, &'static str); 7],
    pub from: &'static str,
    pub to: &'static str,
    pub channel: &'static str,
    pub team: &'static str,
    pub all: &'static str,
    pub show: &'static str,
    pub previous: &'static str,
    pub own_only: &'static str,
    pub conversations: &'static str,
    pub first_response: &'static str,
    pub first_response_business: &'static str,
    pub reply_time: &'static str,
    pub resolution: &'static str,
    pub resolved: &'static str,
    pub fcr: &'static str,
    pub reopen_rate: &'static str,
    pub response_rate: &'static str,
    pub sla: &'static str,
    pub switching: &'static str,
    pub bot_conversations: &'static str,
    pub containment: &'static str,
    pub deflection: &'static str,
    pub pending_note: &'static str,
    pub per_day: &'static str,
    pub created_legend: &'static str,
    pub resolved_legend: &'static str,
    pub backlog: &'static str,
    pub open: &'static str,
    pub pending: &'static str,
    pub snoozed: &'static str,
    pub oldest: &'static str,
    pub by_channel: &'static str,
    pub flow: &'static str,
    pub flow_hint: &'static str,
    pub first_channel: &'static str,
    pub answer_channel: &'static str,
    pub by_category: &'static str,
    pub category: &'static str,
    pub hours: &'static str,
    pub days: [&'static str; 7],
    pub by_team: &'static str,
    pub by_agent: &'static str,
    pub name: &'static str,
    pub median_first_response: &'static str,
    pub table: &'static str,
    pub csv: &'static str,
    pub none: &'static str,
    pub nobody: &'static str,
    pub unassigned: &'static str,
    pub bad_period: &'static str,
    pub freshness: &'static str,
    pub metric: &'static str,
    pub now: &'static str,
    pub csat: &'static str,
    pub nps: &'static str,
    pub ces: &'static str,
    pub answered_of: &'static str,
    pub latest_answers: &'static str,
    pub sent_at: &'static str,
    pub survey: &'static str,
    pub score: &'static str,
    pub conversation: &'static str,
    pub no_answer: &'static str,
    pub entered: &'static str,
    pub converted: &'static str,
    pub conversion: &'static str,
    pub exited: &'static str,
    pub running: &'static str,
    pub dropped: &'static str,
    pub send_channel: &'static str,
    pub runs: &'static str,
    pub no_journeys: &'static str,
    pub step: &'static str,
    pub workload: &'static str,
    pub replies: &'static str,
    pub notes: &'static str,
    pub handle_time: &'static str,
    pub per_message: &'static str,
    pub online: &'static str,
    pub occupancy: &'static str,
    pub costs: &'static str,
    pub messages: &'static str,
    pub total: &'static str,
    pub per_contact: &'static str,
    pub per_conversation: &'static str,
    pub no_prices: &'static str,
}

const EN: ReportTexts = ReportTexts {
    reports: "Reports",
    views: [
        ("overview", "Overview"),
        ("channels", "Channels"),
        ("teams", "Teams"),
        ("agents", "Agents"),
        ("surveys", "Surveys"),
        ("bot", "Bot"),
        ("journeys", "Journeys"),
    ],
    from: "From",
    to: "To",
    channel: "Channel",
    team: "Team",
    all: "All",
    show: "Show",
    previous: "previous period",
    own_only: "Your conversations",
    conversations: "Conversations",
    first_response: "First response (median)",
    first_response_business: "First response, business hours (median)",
    reply_time: "Reply time (mean)",
    resolution: "Resolution time (median)",
    resolved: "Resolved",
    fcr: "First-contact resolution",
    reopen_rate: "Reopened",
    response_rate: "Answered by a person",
    sla: "SLA attainment",
    switching: "Changed channel",
    bot_conversations: "Bot conversations",
    containment: "Bot containment",
    deflection: "Bot deflection",
    pending_note: "still in their window",
    per_day: "Conversations per day",
    created_legend: "created (columns)",
    resolved_legend: "resolved (line)",
    backlog: "Backlog now",
    open: "Open",
    pending: "Pending",
    snoozed: "Snoozed",
    oldest: "Oldest",
    by_channel: "Conversations by first channel",
    flow: "From the channel customers wrote on to the one a person answered on",
    flow_hint: "Left: first channel. Right: answering channel.",
    first_channel: "First channel",
    answer_channel: "Answered on",
    by_category: "Channels chosen per category",
    category: "Category",
    hours: "Conversations by hour of the week",
    days: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    by_team: "Conversations by team",
    by_agent: "Conversations by agent",
    name: "Name",
    median_first_response: "First response (median)",
    table: "Table",
    csv: "CSV",
    none: "—",
    nobody: "Nothing in this period.",
    unassigned: "(none)",
    bad_period: "That period could not be read; showing the last 30 days.",
    freshness: "conversations wait to be measured",
    metric: "Metric",
    now: "now",
    csat: "CSAT (satisfied)",
    nps: "NPS",
    ces: "CES (mean, 1–7)",
    answered_of: "answered of",
    latest_answers: "Latest surveys",
    sent_at: "Sent",
    survey: "Survey",
    score: "Score",
    conversation: "Conversation",
    no_answer: "no answer",
    entered: "Entered",
    converted: "Converted",
    conversion: "Conversion",
    exited: "Exited",
    running: "Still running",
    dropped: "Stopped before",
    send_channel: "Channel of its messages",
    runs: "Runs",
    no_journeys: "No customer entered a journey in this period.",
    step: "Step",
    workload: "Workload",
    replies: "Replies",
    notes: "Notes",
    handle_time: "Handle time",
    per_message: "Per reply or note",
    online: "Online",
    occupancy: "Occupancy",
    costs: "Cost",
    messages: "Messages",
    total: "Total",
    per_contact: "Per customer",
    per_conversation: "Per conversation",
    no_prices: "No unit prices are set: PUT /api/v1/reports/unit-costs with each channel's price per message and per agent minute.",
};

const IT: ReportTexts = ReportTexts {
    reports: "Report",
    views: [
        ("overview", "Panoramica"),
        ("channels", "Canali"),
        ("teams", "Team"),
        ("agents", "Agenti"),
        ("surveys", "Sondaggi"),
        ("bot", "Bot"),
        ("journeys", "Percorsi"),
    ],
    from: "Dal",
    to: "Al",
    channel: "Canale",
    team: "Team",
    all: "Tutti",
    show: "Mostra",
    previous: "periodo precedente",
    own_only: "Le tue conversazioni",
    conversations: "Conversazioni",
    first_response: "Prima risposta (mediana)",
    first_response_business: "Prima risposta, orario lavorativo (mediana)",
    reply_time: "Tempo di risposta (media)",
    resolution: "Tempo di risoluzione (mediana)",
    resolved: "Risolte",
    fcr: "Risolte al primo contatto",
    reopen_rate: "Riaperte",
    response_rate: "Con risposta di una persona",
    sla: "SLA rispettati",
    switching: "Cambio di canale",
    bot_conversations: "Conversazioni con il bot",
    containment: "Contenute dal bot",
    deflection: "Risolte dal bot",
    pending_note: "ancora nella loro finestra",
    per_day: "Conversazioni al giorno",
    created_legend: "aperte (colonne)",
    resolved_legend: "risolte (linea)",
    backlog: "Arretrato ora",
    open: "Aperte",
    pending: "In attesa",
    snoozed: "Posticipate",
    oldest: "La più vecchia",
    by_channel: "Conversazioni per primo canale",
    flow: "Dal canale su cui ha scritto il cliente a quello su cui ha risposto una persona",
    flow_hint: "A sinistra: primo canale. A destra: canale della risposta.",
    first_channel: "Primo canale",
    answer_channel: "Risposta su",
    by_category: "Canali scelti per categoria",
    category: "Categoria",
    hours: "Conversazioni per ora della settimana",
    days: ["Lun", "Mar", "Mer", "Gio", "Ven", "Sab", "Dom"],
    by_team: "Conversazioni per team",
    by_agent: "Conversazioni per agente",
    name: "Nome",
    median_first_response: "Prima risposta (mediana)",
    table: "Tabella",
    csv: "CSV",
    none: "—",
    nobody: "Niente in questo periodo.",
    unassigned: "(nessuno)",
    bad_period: "Il periodo non è leggibile: mostro gli ultimi 30 giorni.",
    freshness: "conversazioni in attesa di essere misurate",
    metric: "Misura",
    now: "ora",
    csat: "CSAT (soddisfatti)",
    nps: "NPS",
    ces: "CES (media, 1–7)",
    answered_of: "risposte su",
    latest_answers: "Ultimi sondaggi",
    sent_at: "Inviato",
    survey: "Sondaggio",
    score: "Voto",
    conversation: "Conversazione",
    no_answer: "nessuna risposta",
    entered: "Entrati",
    converted: "Convertiti",
    conversion: "Conversione",
    exited: "Usciti",
    running: "Ancora in corso",
    dropped: "Fermati prima",
    send_channel: "Canale dei suoi messaggi",
    runs: "Percorsi avviati",
    no_journeys: "Nessun cliente è entrato in un percorso in questo periodo.",
    step: "Passo",
    workload: "Carico di lavoro",
    replies: "Risposte",
    notes: "Note",
    handle_time: "Tempo di gestione",
    per_message: "Per risposta o nota",
    online: "Online",
    occupancy: "Occupazione",
    costs: "Costi",
    messages: "Messaggi",
    total: "Totale",
    per_contact: "Per cliente",
    per_conversation: "Per conversazione",
    no_prices: "Nessun prezzo unitario impostato: PUT /api/v1/reports/unit-costs con il prezzo di ogni canale per messaggio e per minuto di un operatore.",
};

pub fn texts(lang: Lang) -> &'static ReportTexts {
    match lang {
        Lang::En => &EN,
        Lang::It => &IT,
    }
}

/// A duration as a person reads it.
fn duration(secs: Option<f64>, lang: Lang) -> String {
    let Some(secs) = secs else { return "—".into() };
    let (value, unit) = if secs < 90.0 {
        (secs, "s")
    } else if secs < 90.0 * 60.0 {
        (secs / 60.0, "min")
    } else if secs < 48.0 * 3600.0 {
        (secs / 3600.0, "h")
    } else {
        (secs / 86_400.0, if lang == Lang::It { "g" } else { "d" })
    };
    let text = if value < 10.0 && unit != "s" { format!("{value:.1}") } else { format!("{value:.0}") };
    let text = if lang == Lang::It { text.replace('.', ",") } else { text };
    format!("{text} {unit}")
}

fn percent(rate: Option<f64>, lang: Lang) -> String {
    match rate {
        Some(r) => {
            let text = format!("{:.1}", r * 100.0);
            format!("{} %", if lang == Lang::It { text.replace('.', ",") } else { text })
        }
        None => "—".into(),
    }
}

/// One headline number with the previous period's.
pub struct Kpi {
    pub label: &'static str,
    pub value: String,
    pub previous: String,
    /// `up`, `down` or `same`, and whether that is good (`good`, `bad`, ``).
    pub trend: &'static str,
    pub verdict: &'static str,
    pub note: String,
}

fn kpi(label: &'static str, now: Option<f64>, before: Option<f64>, higher_is_better: bool, show: impl Fn(Option<f64>) -> String) -> Kpi {
    let (trend, verdict) = match (now, before) {
        (Some(a), Some(b)) if (a - b).abs() > f64::EPSILON * a.abs().max(1.0) => {
            let up = a > b;
            (if up { "up" } else { "down" }, if up == higher_is_better { "good" } else { "bad" })
        }
        (Some(_), Some(_)) => ("same", ""),
        _ => ("", ""),
    };
    Kpi { label, value: show(now), previous: show(before), trend, verdict, note: String::new() }
}

fn median(d: &Durations) -> Option<f64> {
    d.median_secs.map(|v| v as f64)
}

fn count(n: i64) -> Option<f64> {
    Some(n as f64)
}

fn kpis(s: &ReportTexts, lang: Lang, a: &Summary, b: &Summary, bot_only: bool) -> Vec<Kpi> {
    let d = |v: Option<f64>| duration(v, lang);
    let p = |v: Option<f64>| percent(v, lang);
    let n = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.0}"));
    let settled = |r: &SettledRate| r.rate;
    let rate = |r: &Rate| r.rate;
    if bot_only {
        let mut deflection = kpi(s.deflection, settled(&a.bot.deflection), settled(&b.bot.deflection), true, p);
        if a.bot.deflection.pending > 0 {
            deflection.note = format!("{} {}", a.bot.deflection.pending, s.pending_note);
        }
        return vec![
            kpi(s.bot_conversations, count(a.bot.conversations), count(b.bot.conversations), true, n),
            kpi(s.containment, rate(&a.bot.containment), rate(&b.bot.containment), true, p),
            deflection,
        ];
    }
    let mut fcr = kpi(s.fcr, settled(&a.first_contact_resolution), settled(&b.first_contact_resolution), true, p);
    if a.first_contact_resolution.pending > 0 {
        fcr.note = format!("{} {}", a.first_contact_resolution.pending, s.pending_note);
    }
    vec![
        kpi(s.conversations, count(a.conversations), count(b.conversations), true, n),
        kpi(s.first_response, median(&a.first_response), median(&b.first_response), false, d),
        kpi(s.first_response_business, median(&a.first_response_business), median(&b.first_response_business), false, d),
        kpi(s.reply_time, a.reply.mean_secs, b.reply.mean_secs, false, d),
        kpi(s.resolved, count(a.resolved), count(b.resolved), true, n),
        kpi(s.resolution, median(&a.resolution), median(&b.resolution), false, d),
        fcr,
        kpi(s.reopen_rate, rate(&a.reopen_rate), rate(&b.reopen_rate), false, p),
        kpi(s.response_rate, rate(&a.response_rate), rate(&b.response_rate), true, p),
        kpi(s.sla, rate(&a.sla_attainment), rate(&b.sla_attainment), true, p),
        kpi(s.switching, rate(&a.channel_switching), rate(&b.channel_switching), false, p),
        kpi(s.deflection, settled(&a.bot.deflection), settled(&b.bot.deflection), true, p),
    ]
}

/// A volume table row with its chart bar's label.
pub struct VolumeLine {
    pub label: String,
    pub conversations: i64,
    pub resolved: i64,
    pub first_response: String,
}

/// (name, replies, notes, conversations, handle time, per message, online, occupancy)
type WorkloadLine = (String, i64, i64, i64, String, String, String, String);

/// One journey in the journeys view.
struct JourneyCard {
    id: String,
    name: String,
    entered: i64,
    converted: i64,
    conversion: String,
    exited: i64,
    running: i64,
    funnel: charts::Bars,
    /// (step, reached, share of entered, dropped)
    steps: Vec<(String, i64, String, i64)>,
    /// (channel, runs, converted, rate)
    channels: Vec<(String, i64, i64, String)>,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage<'a> {
    journeys: Vec<JourneyCard>,
    workload: Vec<WorkloadLine>,
    /// (channel, messages, handle time, messages cost, agents cost, total, per customer), totals, whether prices are set
    costs: Vec<(String, i64, String, String, String, String, String)>,
    cost_totals: Option<(String, String, String, bool)>,
    t: &'a Texts,
    r: &'static ReportTexts,
    lang: &'a str,
    top: Top<'a>,
    view: &'static str,
    from: String,
    to: String,
    channel: String,
    team_id: String,
    channels: Vec<String>,
    teams: Vec<(String, String)>,
    own_only: bool,
    problem: Option<&'static str>,
    /// The query string of this page's period and filters, for links.
    query: String,
    /// The same for the API's CSV downloads.
    api_query: String,
    kpis: Vec<Kpi>,
    waiting: i64,
    series: Option<Series>,
    days: Vec<(String, i64, i64)>,
    backlog: Option<(Backlog, String, Bars)>,
    volume: Vec<VolumeLine>,
    volume_bars: Option<Bars>,
    volume_title: &'static str,
    volume_dimension: &'static str,
    flow: Option<Flow>,
    flow_rows: Vec<(String, String, i64)>,
    categories: Vec<(String, String, i64)>,
    heat: Vec<Cell>,
    /// The surveys view's latest surveys: (sent, kind, score, channel, conversation id).
    answers: Vec<(String, String, String, String, String)>,
    hour_labels: Vec<(u32, String)>,
    day_labels: Vec<(u32, &'static str)>,
    bar_label: u32,
    bar_width: u32,
    series_width: u32,
    series_height: u32,
    cell: u32,
    flow_width: u32,
}

fn parse_date(raw: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(raw.trim(), &format).ok()
}

fn local_midnight(date: Date, offset_at: &dyn Fn(OffsetDateTime) -> UtcOffset) -> OffsetDateTime {
    let naive = PrimitiveDateTime::new(date, Time::MIDNIGHT);
    let guess = naive.assume_utc();
    naive.assume_offset(offset_at(guess))
}

fn date_text(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), date.month() as u8, date.day())
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn encode(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.append_pair(k, v);
    }
    out.finish()
}

pub async fn reports(State(state): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let lang = user_lang(&session, &headers);
    let r = texts(lang);
    let params: BTreeMap<String, String> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
    let get = |k: &str| params.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let view = EN.views.iter().map(|(key, _)| *key).find(|key| *key == get("view")).unwrap_or("overview");
    let account_id = session.user.account_id;
    let supervisor = session.user.role.allows(Permission::SuperviseContacts);

    let loaded = async {
        let policies = state.store.sla_policies(account_id).await?;
        let teams = state.store.teams(account_id).await?;
        let users = state.store.users(account_id).await?;
        Ok::<_, threadline_store::StoreError>((policies, teams, users))
    }
    .await;
    let (policies, teams, users) = match loaded {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let zone = policies.iter().find(|p| p.is_default).and_then(|p| p.policy.business_hours.as_ref()).map(|h| h.time_zone.clone());
    let offset_at = crate::sla::offset_in(zone.as_deref());
    let now = state.clock.now();
    let today = now.to_offset(offset_at(now)).date();

    // The period: whole local days, `to` included; 30 days by default.
    let mut problem = None;
    let (mut first, mut last) = (today - Duration::days(29), today);
    if !get("from").is_empty() || !get("to").is_empty() {
        match (parse_date(&get("from")), parse_date(&get("to"))) {
            (Some(a), Some(b)) if a <= b && (b - a).whole_days() < 400 => (first, last) = (a, b),
            _ => problem = Some(r.bad_period),
        }
    }
    let from = local_midnight(first, &offset_at);
    let to = local_midnight(last.next_day().unwrap_or(last), &offset_at);

    let mut filter = MetricsFilter { channel: Some(get("channel")).filter(|c| !c.is_empty()), ..Default::default() };
    filter.team_id = Some(get("team_id")).filter(|t| teams.iter().any(|team| team.id.to_string() == *t));
    if !supervisor {
        filter.assignee_id = Some(session.user.id.to_string());
    }
    let (prev_from, prev_to) = previous_period(from, to);
    // What the view shows beside the headline numbers.
    let wanted = match view {
        "overview" => Wanted { groups: None, hours: true },
        "channels" => Wanted { groups: Some(Dimension::Channel), hours: true },
        "teams" => Wanted { groups: Some(Dimension::Team), hours: false },
        "agents" => Wanted { groups: Some(Dimension::Agent), hours: false },
        _ => Wanted::default(),
    };
    let loaded = async {
        let tallies = state.store.tallies(account_id, from, to, &filter, now, wanted).await?;
        let before = state.store.tallies(account_id, prev_from, prev_to, &filter, now, Wanted::default()).await?;
        // The backlog (every open conversation counted by age) is the
        // overview's alone: the other views do not pay for it.
        let backlog = if view == "overview" { Some(state.store.backlog(account_id, now).await?) } else { None };
        let (waiting, _) = state.store.metrics_lag(now).await?;
        Ok::<_, threadline_store::StoreError>((tallies, before, backlog, waiting))
    }
    .await;
    let (tallies, before, backlog, waiting) = match loaded {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let current = tallies.total.summary();
    let previous = before.total.summary();
    let middle_offset = offset_at(from + (to - from) / 2);

    let query = encode(&[
        ("from", &date_text(first)),
        ("to", &date_text(last)),
        ("channel", filter.channel.as_deref().unwrap_or("")),
        ("team_id", filter.team_id.as_deref().unwrap_or("")),
    ]);
    let api_query = encode(&[
        ("from", &rfc3339(from)),
        ("to", &rfc3339(to)),
        ("channel", filter.channel.as_deref().unwrap_or("")),
        ("team_id", filter.team_id.as_deref().unwrap_or("")),
        ("tz", zone.as_deref().unwrap_or("")),
    ]);

    let mut p = ReportsPage {
        journeys: Vec::new(),
        workload: Vec::new(),
        costs: Vec::new(),
        cost_totals: None,
        t: lang.texts(),
        r,
        lang: lang.code(),
        top: Top::of(&session, lang),
        view,
        from: date_text(first),
        to: date_text(last),
        channel: filter.channel.clone().unwrap_or_default(),
        team_id: filter.team_id.clone().unwrap_or_default(),
        channels: threadline_domain::Channel::ALL.iter().map(|c| c.as_str().to_owned()).collect(),
        teams: teams.iter().map(|t| (t.id.to_string(), t.name.clone())).collect(),
        own_only: !supervisor,
        problem,
        query,
        api_query,
        kpis: kpis(r, lang, &current, &previous, view == "bot"),
        waiting,
        series: None,
        days: Vec::new(),
        backlog: None,
        volume: Vec::new(),
        volume_bars: None,
        volume_title: r.by_channel,
        volume_dimension: "channel",
        flow: None,
        flow_rows: Vec::new(),
        categories: Vec::new(),
        heat: Vec::new(),
        answers: Vec::new(),
        hour_labels: (0..24).step_by(3).map(|h| (h * charts::CELL, format!("{h:02}"))).collect(),
        day_labels: r.days.iter().enumerate().map(|(i, d)| (i as u32 * charts::CELL, *d)).collect(),
        bar_label: charts::BAR_LABEL,
        bar_width: charts::BAR_LABEL + charts::BAR_ROOM + 60,
        series_width: charts::SERIES_WIDTH,
        series_height: charts::SERIES_HEIGHT,
        cell: charts::CELL,
        flow_width: charts::FLOW_WIDTH,
    };
    let conversations_word = r.conversations.to_lowercase();
    let team_name = |id: &str| teams.iter().find(|t| t.id.to_string() == id).map(|t| t.name.clone());
    let user_name = |id: &str| users.iter().find(|u| u.id.to_string() == id).map(|u| u.name.clone());
    let volume_of = |name: &dyn Fn(&str) -> Option<String>| {
        volume_rows(&tallies.groups)
            .into_iter()
            .map(|v| VolumeLine {
                label: match &v.key {
                    Some(key) => name(key).unwrap_or_else(|| key.clone()),
                    None => r.unassigned.to_owned(),
                },
                conversations: v.conversations,
                resolved: v.resolved,
                first_response: duration(v.first_response.median_secs.map(|s| s as f64), lang),
            })
            .collect::<Vec<_>>()
    };
    match view {
        "overview" => {
            p.days = days_of(&tallies.hours, from, to, middle_offset).into_iter().map(|d| (d.date, d.created, d.resolved)).collect();
            let (created, resolved) = (r.created_legend, r.resolved_legend);
            p.series = Some(charts::series(&p.days, |date, a, b| format!("{date}: {a} {created}, {b} {resolved}")));
            if let Some(backlog) = backlog {
                let ages: Vec<(String, i64)> = backlog.by_age.clone();
                let oldest = duration(backlog.oldest_age_secs.map(|s| s as f64), lang);
                let word = conversations_word.clone();
                p.backlog = Some((backlog, oldest, charts::bars(&ages, |l, v| format!("{l}: {v} {word}"))));
            }
        }
        "channels" => {
            if supervisor {
                let period = crate::api::reports::Period { from, to };
                let (costs, priced) = match crate::api::reports::cost_rows(&state, account_id, period).await {
                    Ok(found) => found,
                    Err(e) => return e.into_response(),
                };
                let money = |v: f64| {
                    let text = format!("{v:.2} {}", costs.currency);
                    if lang == Lang::It { text.replace('.', ",") } else { text }
                };
                p.costs = costs
                    .channels
                    .iter()
                    .map(|c| {
                        (
                            c.channel.clone(),
                            c.messages,
                            duration(Some(c.handle_secs as f64), lang),
                            money(c.messages_cost),
                            money(c.agents_cost),
                            money(c.total),
                            c.per_contact.map_or("—".into(), money),
                        )
                    })
                    .collect();
                p.cost_totals = Some((
                    money(costs.total),
                    costs.per_contact.map_or("—".into(), money),
                    costs.per_conversation.map_or("—".into(), money),
                    priced,
                ));
            }
            p.volume = volume_of(&|_| None);
            let flow = tallies.total.flow();
            p.flow = Some(charts::flow(&flow.first_to_answer, |a, b, n| format!("{a} → {b}: {n}")));
            p.flow_rows = flow.first_to_answer;
            p.categories = flow.channel_by_category;
            let mut counts = [0i64; 168];
            for v in hour_of_week_rows(&tallies.hours, middle_offset) {
                if let Some(h) = v.key.as_deref().and_then(|k| k.parse::<usize>().ok()).filter(|h| *h < 168) {
                    counts[h] = v.conversations;
                }
            }
            let days = r.days;
            let word = conversations_word.clone();
            p.heat = charts::heat_map(&counts, |d, h, v| format!("{} {h:02}:00–{h:02}:59: {v} {word}", days[d]));
        }
        "teams" => {
            p.volume = volume_of(&team_name);
            p.volume_title = r.by_team;
            p.volume_dimension = "team";
        }
        "surveys" => {
            let load = async {
                let now_sent = state.store.survey_responses(account_id, from, to, &filter, i64::MAX).await?;
                let before = state.store.survey_responses(account_id, prev_from, prev_to, &filter, i64::MAX).await?;
                Ok::<_, threadline_store::StoreError>((now_sent, before))
            };
            let (now_sent, before) = match load.await {
                Ok(found) => found,
                Err(e) => return ApiError::from(e).into_response(),
            };
            let scores =
                |list: &[threadline_store::SurveyResponse]| SurveyScores::of(&list.iter().map(|x| (x.kind, x.score)).collect::<Vec<_>>());
            let (a, b) = (scores(&now_sent), scores(&before));
            let p1 = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.0}"));
            let ces = |v: Option<f64>| {
                v.map_or("—".into(), |v| if lang == Lang::It { format!("{v:.1}").replace('.', ",") } else { format!("{v:.1}") })
            };
            let mut tiles = vec![
                kpi(r.csat, a.csat.score, b.csat.score, true, |v| v.map_or("—".into(), |v| percent(Some(v / 100.0), lang))),
                kpi(r.nps, a.nps.score, b.nps.score, true, p1),
                kpi(r.ces, a.ces.score, b.ces.score, true, ces),
            ];
            for (tile, k) in tiles.iter_mut().zip([a.csat, a.nps, a.ces]) {
                tile.note = format!("{} {} {}", k.answered, r.answered_of, k.sent);
            }
            p.kpis = tiles;
            p.answers = now_sent
                .iter()
                .take(50)
                .map(|x| {
                    let at = x.sent_at.to_offset(middle_offset);
                    (
                        format!("{:04}-{:02}-{:02} {:02}:{:02}", at.year(), at.month() as u8, at.day(), at.hour(), at.minute()),
                        x.kind.as_str().to_uppercase(),
                        x.score.map_or_else(|| r.no_answer.to_owned(), |s| s.to_string()),
                        x.channel.clone(),
                        x.conversation_id.to_string(),
                    )
                })
                .collect();
        }
        "journeys" if supervisor => {
            let period = crate::api::reports::Period { from, to };
            let found = match crate::api::reports::journey_rows(&state, account_id, period).await {
                Ok(found) => found,
                Err(e) => return e.into_response(),
            };
            let runs_word = r.runs.to_lowercase();
            p.journeys = found
                .into_iter()
                .map(|j| {
                    let c = j.conversion;
                    let mut reached = vec![(r.entered.to_owned(), c.entered)];
                    reached.extend(c.steps.iter().map(|s| (s.step_id.clone(), s.reached)));
                    let word = runs_word.clone();
                    JourneyCard {
                        id: j.journey_id.to_string(),
                        name: j.name,
                        entered: c.entered,
                        converted: c.converted,
                        conversion: percent(c.conversion.rate, lang),
                        exited: c.exited,
                        running: c.running,
                        funnel: charts::bars(&reached, |l, v| format!("{l}: {v} {word}")),
                        steps: c
                            .steps
                            .iter()
                            .map(|s| (s.step_id.clone(), s.reached, percent(s.of_entered.rate, lang), s.dropped))
                            .collect(),
                        channels: c
                            .channels
                            .iter()
                            .map(|ch| (ch.channel.clone(), ch.runs, ch.converted.part, percent(ch.converted.rate, lang)))
                            .collect(),
                    }
                })
                .collect();
        }
        "agents" => {
            let period = crate::api::reports::Period { from, to };
            let own = (!supervisor).then(|| session.user.id.to_string());
            let lines = match crate::api::reports::workload_rows(&state, account_id, period, own.as_deref()).await {
                Ok(lines) => lines,
                Err(e) => return e.into_response(),
            };
            p.workload = lines
                .into_iter()
                .map(|w| {
                    (
                        user_name(&w.agent_id).unwrap_or_else(|| w.agent_id.clone()),
                        w.replies,
                        w.notes,
                        w.conversations,
                        duration(Some(w.handle_secs as f64), lang),
                        duration(w.handle_per_message_secs, lang),
                        duration(Some(w.online_secs as f64), lang),
                        percent(w.occupancy, lang),
                    )
                })
                .collect();
            p.volume = volume_of(&user_name);
            p.volume_title = r.by_agent;
            p.volume_dimension = "agent";
        }
        _ => {}
    }
    if !p.volume.is_empty() {
        let pairs: Vec<(String, i64)> = p.volume.iter().map(|v| (v.label.clone(), v.conversations)).collect();
        let word = conversations_word;
        p.volume_bars = Some(charts::bars(&pairs, |l, v| format!("{l}: {v} {word}")));
    }
    page(&p)
}
