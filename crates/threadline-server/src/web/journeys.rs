//! The workspace's journey pages: the list with each journey's funnel, and
//! the builder — the steps as a vertical flow with their branches, each
//! step's fields editable in place and the customers at each step counted
//! beside it. Saving sends the whole spec to the API as a new version.
//! Also the tasks journeys leave, shown at the top of the inbox.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use threadline_domain::channel::Channel;
use threadline_domain::ids::JourneyId;
use threadline_domain::journey::{Action, ChannelChoice, JourneySpec, Step, Trigger};
use threadline_domain::role::Permission;
use threadline_store::{Funnel, Session, StepFunnel};

use super::i18n::{Lang, Texts};
use super::{Top, page, signed_in, user_lang};
use crate::app::AppState;
use crate::error::ApiError;

/// The words of the journey pages.
pub struct JourneyTexts {
    pub journeys: &'static str,
    pub journey: &'static str,
    pub new_journey: &'static str,
    pub start_from: &'static str,
    pub blank: &'static str,
    pub abandoned_cart: &'static str,
    pub pricing_visits: &'static str,
    pub status: &'static str,
    pub draft: &'static str,
    pub live: &'static str,
    pub paused: &'static str,
    pub archived: &'static str,
    pub go_live: &'static str,
    pub pause: &'static str,
    pub entered: &'static str,
    pub running: &'static str,
    pub converted: &'static str,
    pub completed: &'static str,
    pub exited: &'static str,
    pub version: &'static str,
    pub trigger: &'static str,
    pub goal: &'static str,
    pub exit_when: &'static str,
    pub reached: &'static str,
    pub waiting_here: &'static str,
    pub save_version: &'static str,
    pub add_step: &'static str,
    pub remove_step: &'static str,
    pub when_event: &'static str,
    pub on_timeout: &'static str,
    pub otherwise: &'static str,
    pub if_: &'static str,
    pub none_yet: &'static str,
    pub drop_off: &'static str,
    pub tasks: &'static str,
    pub due: &'static str,
    pub call: &'static str,
    pub ringing: &'static str,
    pub open_customer: &'static str,
    pub done: &'static str,
    pub step_names: [(&'static str, &'static str); 11],
    pub field_names: [(&'static str, &'static str); 10],
}

const EN: JourneyTexts = JourneyTexts {
    journeys: "Journeys",
    journey: "Journey",
    new_journey: "New journey",
    start_from: "Start from",
    blank: "An empty journey",
    abandoned_cart: "Abandoned cart: a message after 1 h, a WhatsApp template after 24 h",
    pricing_visits: "Pricing page 3× in a week: a call task for sales",
    status: "Status",
    draft: "draft",
    live: "live",
    paused: "paused",
    archived: "archived",
    go_live: "Go live",
    pause: "Pause",
    entered: "entered",
    running: "in progress",
    converted: "converted",
    completed: "completed",
    exited: "exited",
    version: "version",
    trigger: "Starts when",
    goal: "Goal",
    exit_when: "Ends early when",
    reached: "reached",
    waiting_here: "here now",
    save_version: "Save as a new version",
    add_step: "Add a step",
    remove_step: "Remove",
    when_event: "If it happens",
    on_timeout: "If not in time",
    otherwise: "Otherwise",
    if_: "If",
    none_yet: "No journeys yet.",
    drop_off: "left here",
    tasks: "Tasks",
    due: "due",
    call: "Call",
    ringing: "Your phone is ringing: answer it, and the customer is called.",
    open_customer: "Open",
    done: "Done",
    step_names: [
        ("wait", "Wait"),
        ("wait_window", "Wait for a time window"),
        ("wait_for_event", "Wait for an event"),
        ("branch", "Branch"),
        ("send", "Send a message"),
        ("task", "Task for the team"),
        ("set_attribute", "Set an attribute"),
        ("add_label", "Add a label"),
        ("open_conversation", "Open a conversation"),
        ("webhook", "Call a webhook"),
        ("exit", "Exit"),
    ],
    field_names: [
        ("hours", "hours"),
        ("text", "text"),
        ("channel", "channel"),
        ("template", "template"),
        ("title", "title"),
        ("label", "label"),
        ("key", "attribute"),
        ("value", "value"),
        ("url", "URL"),
        ("event", "event"),
    ],
};

const IT: JourneyTexts = JourneyTexts {
    journeys: "Percorsi",
    journey: "Percorso",
    new_journey: "Nuovo percorso",
    start_from: "Parti da",
    blank: "Un percorso vuoto",
    abandoned_cart: "Carrello abbandonato: un messaggio dopo 1 h, un modello WhatsApp dopo 24 h",
    pricing_visits: "Pagina prezzi 3 volte in una settimana: una chiamata del commerciale",
    status: "Stato",
    draft: "bozza",
    live: "attivo",
    paused: "in pausa",
    archived: "archiviato",
    go_live: "Attiva",
    pause: "Metti in pausa",
    entered: "entrati",
    running: "in corso",
    converted: "convertiti",
    completed: "completati",
    exited: "usciti",
    version: "versione",
    trigger: "Parte quando",
    goal: "Obiettivo",
    exit_when: "Finisce prima se",
    reached: "arrivati",
    waiting_here: "qui ora",
    save_version: "Salva come nuova versione",
    add_step: "Aggiungi un passo",
    remove_step: "Togli",
    when_event: "Se succede",
    on_timeout: "Se non in tempo",
    otherwise: "Altrimenti",
    if_: "Se",
    none_yet: "Ancora nessun percorso.",
    drop_off: "usciti qui",
    tasks: "Attività",
    due: "entro",
    call: "Chiama",
    ringing: "Squilla il tuo telefono: rispondi e chiamiamo il cliente.",
    open_customer: "Apri",
    done: "Fatto",
    step_names: [
        ("wait", "Attendi"),
        ("wait_window", "Attendi una fascia oraria"),
        ("wait_for_event", "Attendi un evento"),
        ("branch", "Diramazione"),
        ("send", "Invia un messaggio"),
        ("task", "Attività per il team"),
        ("set_attribute", "Imposta un attributo"),
        ("add_label", "Aggiungi un'etichetta"),
        ("open_conversation", "Apri una conversazione"),
        ("webhook", "Chiama un webhook"),
        ("exit", "Esci"),
    ],
    field_names: [
        ("hours", "ore"),
        ("text", "testo"),
        ("channel", "canale"),
        ("template", "modello"),
        ("title", "titolo"),
        ("label", "etichetta"),
        ("key", "attributo"),
        ("value", "valore"),
        ("url", "URL"),
        ("event", "evento"),
    ],
};

pub fn texts(lang: Lang) -> &'static JourneyTexts {
    match lang {
        Lang::En => &EN,
        Lang::It => &IT,
    }
}

impl JourneyTexts {
    fn step_name(&self, kind: &str) -> &'static str {
        self.step_names.iter().find(|(k, _)| *k == kind).map(|(_, n)| *n).unwrap_or("?")
    }
    fn field(&self, name: &str) -> &'static str {
        self.field_names.iter().find(|(k, _)| *k == name).map(|(_, n)| *n).unwrap_or("?")
    }
    fn status(&self, status: &str) -> &'static str {
        match status {
            "live" => self.live,
            "paused" => self.paused,
            "archived" => self.archived,
            _ => self.draft,
        }
    }
}

// ---------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------

struct ListRow {
    id: JourneyId,
    name: String,
    status: &'static str,
    status_code: String,
    version: i64,
    funnel: Funnel,
    /// Converted out of entered, in percent.
    rate: String,
}

#[derive(Template)]
#[template(path = "journeys.html")]
struct ListPage<'a> {
    t: &'a Texts,
    j: &'static JourneyTexts,
    lang: &'a str,
    top: Top<'a>,
    rows: Vec<ListRow>,
    starters: Vec<(String, &'static str)>,
}

/// The journeys the seeds describe, to start from.
pub fn starters() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "abandoned_cart",
            serde_json::json!({
                "trigger": { "type": "event", "name": "Checkout Started" },
                "steps": [
                    { "id": "wait-1h", "type": "wait", "seconds": 3600 },
                    { "id": "email", "type": "send", "channel": "email", "purpose": "service", "subject": "Your cart is waiting",
                      "text": "Hi {{name}}, you left something in your cart. It is still there for you." },
                    { "id": "wait-order", "type": "wait_for_event", "event": { "name": "Order Completed" }, "timeout_seconds": 82800,
                      "then": [],
                      "timeout": [ { "id": "whatsapp", "type": "send", "channel": "whatsapp", "purpose": "service",
                                     "template": "cart_reminder", "variables": ["{{name}}"], "fallback": ["sms"],
                                     "text": "Hi {{name}}, your cart is still waiting for you." } ] }
                ],
                "goal": { "event": { "name": "Order Completed" }, "within_days": 3 },
                "exit_when": [ { "name": "Order Completed" } ]
            }),
        ),
        (
            "pricing_visits",
            serde_json::json!({
                "trigger": { "type": "event", "kind": "page",
                             "properties": [ { "property": "path", "op": "starts_with", "value": "/pricing" } ],
                             "at_least": { "times": 3, "days": 7 } },
                "steps": [
                    { "id": "call", "type": "task", "kind": "call", "title": "Call {{name}}: visited the pricing page 3 times this week",
                      "due_in_seconds": 14400 }
                ],
                "reentry": { "type": "after_days", "days": 30 }
            }),
        ),
        (
            "blank",
            serde_json::json!({ "trigger": { "type": "event", "name": "Signed Up" }, "steps": [ { "id": "wait-1d", "type": "wait", "seconds": 86400 } ] }),
        ),
    ]
}

pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    if !session.user.role.allows(Permission::SuperviseContacts) {
        return ApiError::Forbidden("journeys are for supervisors and administrators".into()).into_response();
    }
    let lang = user_lang(&session, &headers);
    let j = texts(lang);
    let account_id = session.user.account_id;
    let journeys = match state.store.journeys(account_id).await {
        Ok(list) => list,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut rows = Vec::new();
    for journey in journeys {
        let funnel = match state.store.journey_funnel(account_id, journey.id, None).await {
            Ok(f) => f,
            Err(e) => return ApiError::from(e).into_response(),
        };
        let rate =
            if funnel.entered > 0 { format!("{:.0}%", funnel.converted as f64 * 100.0 / funnel.entered as f64) } else { "–".into() };
        rows.push(ListRow {
            id: journey.id,
            name: journey.name,
            status: j.status(&journey.status),
            status_code: journey.status,
            version: journey.version,
            funnel,
            rate,
        });
    }
    let starters = starters()
        .into_iter()
        .map(|(key, spec)| {
            let label = match key {
                "abandoned_cart" => j.abandoned_cart,
                "pricing_visits" => j.pricing_visits,
                _ => j.blank,
            };
            (spec.to_string(), label)
        })
        .collect();
    page(&ListPage { t: lang.texts(), j, lang: lang.code(), top: Top::of(&session, lang), rows, starters })
}

// ---------------------------------------------------------------------------
// The builder
// ---------------------------------------------------------------------------

/// One line of the flow: a step, the head of a branch's lane, or the place
/// to add a step at the end of a list.
enum FlowItem {
    Step(FlowStep),
    Lane { depth: usize, label: String },
    Add { depth: usize, list: String },
}

struct FlowStep {
    depth: usize,
    id: String,
    kind: &'static str,
    name: &'static str,
    summary: String,
    fields: Vec<FlowField>,
    reached: i64,
    waiting: i64,
    outcomes: String,
}

struct FlowField {
    /// The spec field the input edits (`seconds` is shown in hours).
    name: &'static str,
    label: &'static str,
    value: String,
    /// `number`, `hours` or `text`.
    kind: &'static str,
}

#[derive(Template)]
#[template(path = "journey.html")]
struct BuilderPage<'a> {
    t: &'a Texts,
    j: &'static JourneyTexts,
    lang: &'a str,
    top: Top<'a>,
    id: JourneyId,
    name: String,
    status: &'static str,
    status_code: String,
    version: i64,
    live_version: String,
    trigger: String,
    goal: String,
    exits: String,
    funnel: Funnel,
    flow: Vec<FlowItem>,
    /// The spec as JSON, for the script that edits it.
    spec_json: String,
    step_kinds: Vec<(&'static str, &'static str)>,
}

fn hours(seconds: u64) -> String {
    let h = seconds as f64 / 3600.0;
    if h.fract() == 0.0 { format!("{h:.0}") } else { format!("{h:.2}") }
}

/// An event filter in a few words (`page “Pricing” · path starts_with "/pricing"`).
pub(super) fn describe_filter(f: &threadline_domain::journey::EventFilter) -> String {
    let mut out = match &f.name {
        Some(name) => format!("{} “{name}”", f.kind),
        None => f.kind.to_string(),
    };
    for c in &f.properties {
        let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
        out.push_str(&format!(" · {} {} {value}", c.property, c.op));
    }
    out
}

fn describe_trigger(trigger: &Trigger, segments: &[threadline_store::Segment]) -> String {
    match trigger {
        Trigger::Event { filter, at_least } => {
            let mut out = describe_filter(filter);
            if let Some(f) = at_least {
                out.push_str(&format!(" · ≥ {}× / {} d", f.times, f.days));
            }
            out
        }
        Trigger::Conversation { on } => format!("conversation {on}"),
        Trigger::Date { attribute, days_before, at, yearly } => {
            format!("{attribute} − {days_before} d, {at}{}", if *yearly { " ↻" } else { "" })
        }
        Trigger::Segment { segment_id, on } => {
            let name = segments.iter().find(|s| s.id == *segment_id).map_or_else(|| segment_id.to_string(), |s| s.name.clone());
            format!("segment “{name}” {on}")
        }
    }
}

fn flow(j: &JourneyTexts, spec: &JourneySpec, counts: &HashMap<String, StepFunnel>) -> Vec<FlowItem> {
    fn walk(j: &JourneyTexts, steps: &[Step], depth: usize, list: String, counts: &HashMap<String, StepFunnel>, out: &mut Vec<FlowItem>) {
        for step in steps {
            let count = counts.get(&step.id);
            let field = |name: &'static str, value: String, kind: &'static str| FlowField { name, label: j.field(name), value, kind };
            let (kind, summary, fields) = match &step.action {
                Action::Wait { seconds } => ("wait", String::new(), vec![field("hours", hours(*seconds), "hours")]),
                Action::WaitWindow(w) => ("wait_window", format!("{} {}–{}", w.days.join(", "), w.from, w.to), Vec::new()),
                Action::WaitForEvent { event, timeout_seconds, .. } => {
                    ("wait_for_event", describe_filter(event), vec![field("hours", hours(*timeout_seconds), "hours")])
                }
                Action::Branch { branches, .. } => ("branch", format!("{} arms", branches.len()), Vec::new()),
                Action::Send(send) => {
                    let channel = match send.channel {
                        ChannelChoice::Preferred => format!("preferred ({})", send.topic.clone().unwrap_or_default()),
                        ChannelChoice::Channel(c) => c.to_string(),
                    };
                    let mut fields = vec![field("text", send.text.clone().unwrap_or_default(), "text")];
                    if send.template.is_some() {
                        fields.push(field("template", send.template.clone().unwrap_or_default(), "text"));
                    }
                    ("send", format!("{channel} · {}", send.purpose), fields)
                }
                Action::Task(task) => ("task", task.kind.to_string(), vec![field("title", task.title.clone(), "text")]),
                Action::SetAttribute { key, value } => {
                    ("set_attribute", String::new(), vec![field("key", key.clone(), "text"), field("value", value.to_string(), "json")])
                }
                Action::AddLabel { label } => ("add_label", String::new(), vec![field("label", label.clone(), "text")]),
                Action::OpenConversation { note, .. } => ("open_conversation", note.clone(), Vec::new()),
                Action::Webhook { url } => ("webhook", String::new(), vec![field("url", url.clone(), "text")]),
                Action::Exit => ("exit", String::new(), Vec::new()),
            };
            out.push(FlowItem::Step(FlowStep {
                depth,
                id: step.id.clone(),
                kind,
                name: j.step_name(kind),
                summary,
                fields,
                reached: count.map_or(0, |c| c.reached),
                waiting: count.map_or(0, |c| c.waiting),
                outcomes: count
                    .map(|c| {
                        c.outcomes
                            .iter()
                            .map(|(k, v)| format!("{k} {v}"))
                            .chain(c.channels.iter().map(|(k, v)| format!("{k} {v}")))
                            .collect::<Vec<_>>()
                            .join(" · ")
                    })
                    .unwrap_or_default(),
            }));
            match &step.action {
                Action::WaitForEvent { then, timeout, .. } => {
                    out.push(FlowItem::Lane { depth: depth + 1, label: j.when_event.to_owned() });
                    walk(j, then, depth + 1, format!("{}|then", step.id), counts, out);
                    out.push(FlowItem::Lane { depth: depth + 1, label: j.on_timeout.to_owned() });
                    walk(j, timeout, depth + 1, format!("{}|timeout", step.id), counts, out);
                }
                Action::Branch { branches, otherwise } => {
                    for (i, arm) in branches.iter().enumerate() {
                        out.push(FlowItem::Lane { depth: depth + 1, label: format!("{} {}", j.if_, arm.name) });
                        walk(j, &arm.steps, depth + 1, format!("{}|branches.{i}", step.id), counts, out);
                    }
                    out.push(FlowItem::Lane { depth: depth + 1, label: j.otherwise.to_owned() });
                    walk(j, otherwise, depth + 1, format!("{}|otherwise", step.id), counts, out);
                }
                _ => {}
            }
        }
        out.push(FlowItem::Add { depth, list });
    }
    let mut out = Vec::new();
    walk(j, &spec.steps, 0, "top".into(), counts, &mut out);
    out
}

pub async fn builder(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<JourneyId>) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    if !session.user.role.allows(Permission::SuperviseContacts) {
        return ApiError::Forbidden("journeys are for supervisors and administrators".into()).into_response();
    }
    let lang = user_lang(&session, &headers);
    let j = texts(lang);
    let account_id = session.user.account_id;
    let loaded = async {
        let journey = state.store.journey(account_id, id).await?;
        let spec = state.store.journey_spec(account_id, id, None).await?;
        let funnel = state.store.journey_funnel(account_id, id, None).await?;
        let segments = state.store.segments(account_id).await?;
        Ok::<_, threadline_store::StoreError>((journey, spec, funnel, segments))
    }
    .await;
    let (journey, spec, funnel, segments) = match loaded {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let counts: HashMap<String, StepFunnel> = funnel.steps.iter().map(|s| (s.step_id.clone(), s.clone())).collect();
    page(&BuilderPage {
        t: lang.texts(),
        j,
        lang: lang.code(),
        top: Top::of(&session, lang),
        id,
        name: journey.name.clone(),
        status: j.status(&journey.status),
        status_code: journey.status.clone(),
        version: journey.version,
        live_version: journey.live_version.map(|v| v.to_string()).unwrap_or_else(|| "–".into()),
        trigger: describe_trigger(&spec.trigger, &segments),
        goal: spec.goal.as_ref().map(|g| format!("{} ≤ {} d", describe_filter(&g.event), g.within_days)).unwrap_or_else(|| "–".into()),
        exits: spec.exit_when.iter().map(describe_filter).collect::<Vec<_>>().join("; "),
        flow: flow(j, &spec, &counts),
        spec_json: serde_json::to_string(&spec).unwrap_or_default(),
        step_kinds: j.step_names.to_vec(),
        funnel,
    })
}

// ---------------------------------------------------------------------------
// Tasks in the inbox
// ---------------------------------------------------------------------------

/// A task as the inbox shows it.
pub struct TaskRow {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub due: String,
    pub overdue: bool,
    /// A `tel:` link when the task is a call and the customer has a number.
    pub call: Option<String>,
    /// The call is placed through a voice inbox (the agent's phone rings
    /// first) rather than by the `tel:` link.
    pub dial: bool,
    /// The customer's latest conversation.
    pub conversation: Option<String>,
}

/// Open tasks for this person: theirs, their teams', and nobody's.
pub async fn inbox_tasks(state: &AppState, session: &Session, lang: Lang) -> Result<Vec<TaskRow>, threadline_store::StoreError> {
    let account_id = session.user.account_id;
    let tasks = state.store.tasks(account_id, true, None, None, 50).await?;
    let teams = state.store.teams(account_id).await?;
    let mine: Vec<_> = teams.iter().filter(|t| t.member_ids.contains(&session.user.id)).map(|t| t.id).collect();
    let now = state.clock.now();
    let dial = session.user.phone.is_some()
        && tasks.iter().any(|t| t.kind == "call")
        && state.store.inboxes(account_id).await?.iter().any(|i| i.channel == Channel::Voice && crate::channels::provider_connected(i));
    let mut rows = Vec::new();
    for task in tasks {
        let for_me = match (task.assignee_id, task.team_id) {
            (Some(user), _) => user == session.user.id,
            (None, Some(team)) => mine.contains(&team) || session.user.role.allows(Permission::SuperviseContacts),
            (None, None) => true,
        };
        if !for_me {
            continue;
        }
        let contact = match state.store.contact(account_id, task.contact_id).await {
            Ok(c) => c,
            Err(threadline_store::StoreError::NotFound | threadline_store::StoreError::Merged(_)) => continue,
            Err(e) => return Err(e),
        };
        let phone = contact
            .identities
            .iter()
            .find(|i| {
                matches!(i.kind, threadline_domain::identity::IdentityKind::Phone | threadline_domain::identity::IdentityKind::Whatsapp)
            })
            .map(|i| format!("tel:{}", i.value));
        let conversation = state
            .store
            .conversations(
                account_id,
                &threadline_store::ConversationQuery { contact_id: Some(contact.id), limit: 1, ..Default::default() },
            )
            .await?
            .first()
            .map(|c| c.id.to_string());
        rows.push(TaskRow {
            id: task.id.to_string(),
            title: task.title,
            call: if task.kind == "call" { phone } else { None },
            dial,
            kind: task.kind,
            due: if task.due_at > now {
                format!("{} {}", texts(lang).due, lang.duration(task.due_at - now))
            } else {
                lang.ago(task.due_at, now)
            },
            overdue: task.due_at < now,
            conversation,
        });
    }
    Ok(rows)
}
