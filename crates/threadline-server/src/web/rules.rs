//! The workspace's automation rule pages: the list in the order rules run,
//! each in words (when, if, then) with how often it fired, a new rule from
//! a starter; one rule's page with its definition to edit, a switch to
//! pause it, and what it did lately.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use threadline_domain::automation::{RuleAction, RuleSpec, RuleTrigger};
use threadline_domain::ids::AutomationRuleId;
use threadline_domain::role::Permission;
use threadline_domain::segment::Matching;
use threadline_store::{AutomationRule, RuleRun, Team};

use super::i18n::{Lang, Texts};
use super::{Top, page, signed_in, user_lang};
use crate::app::AppState;
use crate::error::ApiError;

/// The words of the rule pages.
pub struct RuleTexts {
    pub rules: &'static str,
    pub new_rule: &'static str,
    pub start_from: &'static str,
    pub when: &'static str,
    pub conditions: &'static str,
    pub actions: &'static str,
    pub always: &'static str,
    pub all_of: &'static str,
    pub any_of: &'static str,
    pub fired: &'static str,
    pub enabled: &'static str,
    pub paused: &'static str,
    pub pause: &'static str,
    pub resume: &'static str,
    pub none_yet: &'static str,
    pub definition: &'static str,
    pub definition_hint: &'static str,
    pub save: &'static str,
    pub delete: &'static str,
    pub delete_confirm: &'static str,
    pub recent: &'static str,
    pub never_fired: &'static str,
    pub conversation: &'static str,
    pub outcome: &'static str,
    pub at: &'static str,
    pub triggers: [(RuleTrigger, &'static str); 6],
    pub starter_names: [(&'static str, &'static str); 4],
    // Actions in words.
    pub assign: &'static str,
    pub add_label: &'static str,
    pub remove_label: &'static str,
    pub priority: &'static str,
    pub reply: &'static str,
    pub canned: &'static str,
    pub template: &'static str,
    pub note: &'static str,
    pub survey: &'static str,
    pub snooze: &'static str,
    pub resolve: &'static str,
    pub resolve_if_pending: &'static str,
    pub notify: &'static str,
}

const EN: RuleTexts = RuleTexts {
    rules: "Rules",
    new_rule: "New rule",
    start_from: "Start from",
    when: "When",
    conditions: "If",
    actions: "Then",
    always: "always",
    all_of: "all of these",
    any_of: "any of these",
    fired: "Fired",
    enabled: "On",
    paused: "Paused",
    pause: "Pause",
    resume: "Turn on",
    none_yet: "No rules yet. Rules act on conversations for you: route, label, answer, follow up.",
    definition: "Definition",
    definition_hint: "The rule as JSON: when, matching, conditions (field, op, value), actions (type…). Fields: conversation.*, contact.*, message.*, survey.*, sla.*.",
    save: "Save",
    delete: "Delete",
    delete_confirm: "Delete this rule?",
    recent: "What it did lately",
    never_fired: "It has not fired yet.",
    conversation: "Conversation",
    outcome: "Outcome",
    at: "When",
    triggers: [
        (RuleTrigger::ConversationCreated, "a conversation is created"),
        (RuleTrigger::ConversationUpdated, "a conversation changes"),
        (RuleTrigger::ConversationResolved, "a conversation is resolved"),
        (RuleTrigger::MessageReceived, "a customer writes"),
        (RuleTrigger::SlaMissed, "an SLA target is missed"),
        (RuleTrigger::SurveyAnswered, "a survey is answered"),
    ],
    starter_names: [
        ("refunds", "Refund requests are urgent and labelled"),
        ("vip", "VIP customers' conversations are high priority"),
        ("pending", "Resolve pending conversations after 3 quiet days"),
        ("detractors", "Low scores reopen with a note"),
    ],
    assign: "assign to",
    add_label: "add label",
    remove_label: "remove label",
    priority: "priority",
    reply: "reply",
    canned: "canned response",
    template: "template",
    note: "note",
    survey: "send survey",
    snooze: "snooze for {n} h",
    resolve: "resolve",
    resolve_if_pending: "resolve if still pending after {n} days",
    notify: "remind",
};

const IT: RuleTexts = RuleTexts {
    rules: "Regole",
    new_rule: "Nuova regola",
    start_from: "Parti da",
    when: "Quando",
    conditions: "Se",
    actions: "Allora",
    always: "sempre",
    all_of: "tutte queste",
    any_of: "almeno una di queste",
    fired: "Eseguita",
    enabled: "Attiva",
    paused: "In pausa",
    pause: "Metti in pausa",
    resume: "Attiva",
    none_yet: "Ancora nessuna regola. Le regole agiscono sulle conversazioni per voi: assegnano, etichettano, rispondono, ricordano.",
    definition: "Definizione",
    definition_hint: "La regola in JSON: when, matching, conditions (field, op, value), actions (type…). Campi: conversation.*, contact.*, message.*, survey.*, sla.*.",
    save: "Salva",
    delete: "Elimina",
    delete_confirm: "Eliminare questa regola?",
    recent: "Cosa ha fatto di recente",
    never_fired: "Non è ancora stata eseguita.",
    conversation: "Conversazione",
    outcome: "Esito",
    at: "Quando",
    triggers: [
        (RuleTrigger::ConversationCreated, "si apre una conversazione"),
        (RuleTrigger::ConversationUpdated, "una conversazione cambia"),
        (RuleTrigger::ConversationResolved, "una conversazione è risolta"),
        (RuleTrigger::MessageReceived, "un cliente scrive"),
        (RuleTrigger::SlaMissed, "un obiettivo SLA è mancato"),
        (RuleTrigger::SurveyAnswered, "un sondaggio riceve risposta"),
    ],
    starter_names: [
        ("refunds", "Le richieste di rimborso sono urgenti ed etichettate"),
        ("vip", "Le conversazioni dei clienti VIP hanno priorità alta"),
        ("pending", "Risolvi le conversazioni in attesa dopo 3 giorni di silenzio"),
        ("detractors", "I voti bassi riaprono con una nota"),
    ],
    assign: "assegna a",
    add_label: "aggiungi etichetta",
    remove_label: "togli etichetta",
    priority: "priorità",
    reply: "rispondi",
    canned: "risposta pronta",
    template: "modello",
    note: "nota",
    survey: "invia sondaggio",
    snooze: "posticipa di {n} h",
    resolve: "risolvi",
    resolve_if_pending: "risolvi se ancora in attesa dopo {n} giorni",
    notify: "promemoria",
};

pub fn texts(lang: Lang) -> &'static RuleTexts {
    match lang {
        Lang::En => &EN,
        Lang::It => &IT,
    }
}

/// Rules a new one may start from.
pub fn starters() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "refunds",
            serde_json::json!({ "when": "message_received",
                "conditions": [ { "field": "message.text", "op": "contains", "value": "refund" } ],
                "actions": [ { "type": "add_label", "label": "refund" }, { "type": "set_priority", "priority": "urgent" } ] }),
        ),
        (
            "vip",
            serde_json::json!({ "when": "conversation_created",
                "conditions": [ { "field": "contact.vip", "op": "equals", "value": true } ],
                "actions": [ { "type": "set_priority", "priority": "high" } ] }),
        ),
        (
            "pending",
            serde_json::json!({ "when": "conversation_updated",
                "conditions": [ { "field": "conversation.status", "op": "equals", "value": "pending" } ],
                "actions": [ { "type": "resolve_if_pending", "days": 3 } ] }),
        ),
        (
            "detractors",
            serde_json::json!({ "when": "survey_answered",
                "conditions": [ { "field": "survey.sentiment", "op": "equals", "value": "detractor" } ],
                "actions": [ { "type": "note", "text": "Low score: call the customer back." }, { "type": "set_priority", "priority": "high" } ] }),
        ),
    ]
}

fn trigger_name(s: &RuleTexts, on: RuleTrigger) -> &'static str {
    s.triggers.iter().find(|(t, _)| *t == on).map_or("", |(_, name)| *name)
}

fn team_name(teams: &[Team], id: threadline_domain::ids::TeamId) -> String {
    teams.iter().find(|t| t.id == id).map_or_else(|| id.to_string(), |t| t.name.clone())
}

/// An action in the reader's language.
fn describe_action(s: &RuleTexts, action: &RuleAction, teams: &[Team]) -> String {
    match action {
        RuleAction::Assign { team_id, assignee_id } => {
            let mut to = Vec::new();
            if let Some(team) = team_id {
                to.push(team_name(teams, *team));
            }
            if let Some(user) = assignee_id {
                to.push(user.to_string());
            }
            format!("{} {}", s.assign, to.join(" · "))
        }
        RuleAction::AddLabel { label } => format!("{} “{label}”", s.add_label),
        RuleAction::RemoveLabel { label } => format!("{} “{label}”", s.remove_label),
        RuleAction::SetPriority { priority } => format!("{}: {priority}", s.priority),
        RuleAction::Reply { text: Some(text), .. } => format!("{}: “{}”", s.reply, text.chars().take(80).collect::<String>()),
        RuleAction::Reply { template: Some(name), .. } => format!("{} ({} {name})", s.reply, s.template),
        RuleAction::Reply { .. } => format!("{} ({})", s.reply, s.canned),
        RuleAction::Note { text } => format!("{}: “{}”", s.note, text.chars().take(80).collect::<String>()),
        RuleAction::SendSurvey { .. } => s.survey.to_owned(),
        RuleAction::Snooze { hours } => s.snooze.replace("{n}", &hours.to_string()),
        RuleAction::Resolve => s.resolve.to_owned(),
        RuleAction::ResolveIfPending { days } => s.resolve_if_pending.replace("{n}", &days.to_string()),
        RuleAction::Notify { team_id, title, .. } => {
            let team = team_id.map(|t| format!(" {}", team_name(teams, t))).unwrap_or_default();
            format!("{}{team}: “{title}”", s.notify)
        }
    }
}

fn describe_condition(c: &threadline_domain::automation::RuleCondition) -> String {
    let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
    format!("{} {} {value}", c.field, c.op).trim_end().to_owned()
}

struct Row {
    id: AutomationRuleId,
    name: String,
    enabled: bool,
    when: &'static str,
    matching: &'static str,
    conditions: Vec<String>,
    actions: Vec<String>,
    /// Times it fired, and when last ("" if never).
    fired: i64,
    last: String,
}

fn row(s: &'static RuleTexts, rule: &AutomationRule, teams: &[Team], counts: &Counts) -> Row {
    let (fired, last) = counts.get(&rule.id).map_or((0, String::new()), |(n, at)| (*n, super::segments::utc_minute(*at)));
    let spec: &RuleSpec = &rule.spec;
    Row {
        id: rule.id,
        name: rule.name.clone(),
        enabled: rule.enabled,
        when: trigger_name(s, spec.when),
        matching: if spec.conditions.is_empty() {
            s.always
        } else if spec.matching == Matching::Any {
            s.any_of
        } else {
            s.all_of
        },
        conditions: spec.conditions.iter().map(describe_condition).collect(),
        actions: spec.actions.iter().map(|a| describe_action(s, a, teams)).collect(),
        fired,
        last,
    }
}

type Counts = std::collections::HashMap<AutomationRuleId, (i64, time::OffsetDateTime)>;

#[derive(Template)]
#[template(path = "rules.html")]
struct ListPage<'a> {
    t: &'a Texts,
    s: &'static RuleTexts,
    lang: &'a str,
    top: Top<'a>,
    rows: Vec<Row>,
    starters: Vec<(String, &'static str)>,
}

async fn supervisor(state: &AppState, headers: &HeaderMap) -> Result<threadline_store::Session, Response> {
    let session = signed_in(state, headers).await?;
    if !session.user.role.allows(Permission::SuperviseContacts) {
        return Err(ApiError::Forbidden("rules are for supervisors and administrators".into()).into_response());
    }
    Ok(session)
}

pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = match supervisor(&state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let lang = user_lang(&session, &headers);
    let s = texts(lang);
    let account_id = session.user.account_id;
    let loaded = async {
        let rules = state.store.rules(account_id).await?;
        let teams = state.store.teams(account_id).await?;
        let counts = state.store.rule_counts(account_id).await?;
        Ok::<_, threadline_store::StoreError>((rules, teams, counts))
    };
    let (rules, teams, counts) = match loaded.await {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let starters = starters()
        .into_iter()
        .map(|(key, spec)| (spec.to_string(), s.starter_names.iter().find(|(k, _)| *k == key).map_or("", |(_, n)| *n)))
        .collect();
    let rows = rules.iter().map(|r| row(s, r, &teams, &counts)).collect();
    page(&ListPage { t: lang.texts(), s, lang: lang.code(), top: Top::of(&session, lang), rows, starters })
}

#[derive(Template)]
#[template(path = "rule.html")]
struct DetailPage<'a> {
    t: &'a Texts,
    s: &'static RuleTexts,
    lang: &'a str,
    top: Top<'a>,
    row: Row,
    spec_json: String,
    runs: Vec<(RuleRun, String)>,
}

pub async fn detail(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<AutomationRuleId>) -> Response {
    let session = match supervisor(&state, &headers).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let lang = user_lang(&session, &headers);
    let s = texts(lang);
    let account_id = session.user.account_id;
    let loaded = async {
        let rule = state.store.rule(account_id, id).await?;
        let teams = state.store.teams(account_id).await?;
        let runs = state.store.rule_runs(account_id, Some(id), None, 50).await?;
        let counts = state.store.rule_counts(account_id).await?;
        Ok::<_, threadline_store::StoreError>((rule, teams, runs, counts))
    };
    let (rule, teams, runs, counts) = match loaded.await {
        Ok(found) => found,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let spec_json = serde_json::to_string_pretty(&rule.spec).unwrap_or_default();
    let runs = runs.into_iter().map(|r| (r.clone(), super::segments::utc_minute(r.executed_at))).collect();
    page(&DetailPage {
        t: lang.texts(),
        s,
        lang: lang.code(),
        top: Top::of(&session, lang),
        row: row(s, &rule, &teams, &counts),
        spec_json,
        runs,
    })
}
