//! "What would this journey do for this customer now?": walks a journey's
//! steps for one customer without doing anything — who would enter, which
//! branch they would take, when each wait would end in their time zone,
//! which channel a send would use (or why it would be skipped), with the
//! texts filled in. A wait for an event is followed down its timeout path
//! (nothing new happens in a dry run).

use serde::Serialize;
use serde_json::Value;
use threadline_domain::ids::{AccountId, ContactId};
use threadline_domain::journey::{self, Action, JourneySpec, Step, fill, may_enter, next_in_window, zone_for};
use time::{Duration, OffsetDateTime};

use super::{SendPlan, facts, plan_send};
use crate::app::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DryRun {
    /// Whether the customer may enter now (audience and re-entry rules).
    pub would_enter: bool,
    /// Why not, when they may not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The customer's time zone the run would use.
    pub time_zone: String,
    pub steps: Vec<DryStep>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DryStep {
    pub step_id: String,
    /// The step's type (`wait`, `send`, `branch`…).
    #[serde(rename = "type")]
    pub kind: String,
    /// What would happen, in words.
    pub outcome: String,
    /// When it would happen.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

pub async fn dry_run(
    state: &AppState,
    account_id: AccountId,
    journey_id: threadline_domain::ids::JourneyId,
    spec: &JourneySpec,
    contact_id: ContactId,
) -> anyhow::Result<DryRun> {
    let contact = state.store.contact(account_id, contact_id).await?;
    let now = state.clock.now();
    let facts = facts(state, account_id, &contact, now).await?;
    let zone_name = contact
        .attributes
        .get("time_zone")
        .and_then(Value::as_str)
        .filter(|z| jiff::tz::TimeZone::get(z).is_ok())
        .map(str::to_owned)
        .or_else(|| spec.time_zone.clone())
        .unwrap_or_else(|| "UTC".into());
    let zone = zone_for(Some(&zone_name), None);
    let mut reason = None;
    if let Some(i) = spec.audience.iter().position(|c| !facts.holds(c, now, None)) {
        reason = Some(format!("audience condition {} does not hold", i + 1));
    }
    let earlier = state.store.contact_runs(account_id, journey_id, contact_id).await?;
    if reason.is_none() && !may_enter(spec.reentry, &earlier, now) {
        reason = Some("the re-entry rule keeps them out (a run is open, or they were in already)".into());
    }
    let mut steps = Vec::new();
    let mut at = now;
    let mut list: Vec<&Step> = spec.steps.iter().collect();
    let mut guard = 0;
    while let Some(step) = list.first().copied() {
        guard += 1;
        if guard > journey::MAX_STEPS {
            break;
        }
        list.remove(0);
        let (kind, outcome) = match &step.action {
            Action::Wait { seconds } => {
                at += Duration::seconds(*seconds as i64);
                ("wait", format!("waits {}", human(*seconds)))
            }
            Action::WaitWindow(window) => {
                at = next_in_window(window, &zone, at);
                ("wait_window", format!("waits for {}–{} {}", window.from, window.to, zone_name))
            }
            Action::WaitForEvent { event, timeout_seconds, timeout, .. } => {
                at += Duration::seconds(*timeout_seconds as i64);
                list.splice(0..0, timeout.iter());
                (
                    "wait_for_event",
                    format!(
                        "waits up to {} for {}; none came, so it takes the timeout path",
                        human(*timeout_seconds),
                        event.name.as_deref().unwrap_or(event.kind.as_str())
                    ),
                )
            }
            Action::Branch { branches, otherwise } => {
                let arm = branches.iter().find(|b| b.when.iter().all(|c| facts.holds(c, at, Some(now))));
                match arm {
                    Some(arm) => {
                        list.splice(0..0, arm.steps.iter());
                        ("branch", format!("takes `{}`", arm.name))
                    }
                    None => {
                        list.splice(0..0, otherwise.iter());
                        ("branch", "takes `otherwise`".to_owned())
                    }
                }
            }
            Action::Send(send) => {
                let outcome = match plan_send(state, account_id, &contact, &facts, send, &zone, at).await? {
                    SendPlan::Send { outbound, .. } => {
                        format!("sends on {}: {}", outbound.channel, outbound.text.chars().take(200).collect::<String>())
                    }
                    SendPlan::Defer(until) => {
                        at = until;
                        "waits for quiet hours to end, then sends".to_owned()
                    }
                    SendPlan::Skip(why) => format!("skips the send: {why}"),
                };
                ("send", outcome)
            }
            Action::Task(task) => ("task", format!("creates a {} task: {}", task.kind, fill(&task.title, &facts.attributes))),
            Action::SetAttribute { key, value } => ("set_attribute", format!("sets {key} to {value}")),
            Action::AddLabel { label } => ("add_label", format!("adds the label {label}")),
            Action::OpenConversation { note, .. } => {
                ("open_conversation", format!("opens a conversation: {}", fill(note, &facts.attributes)))
            }
            Action::Webhook { url } => ("webhook", format!("calls {url}")),
            Action::Exit => {
                steps.push(DryStep { step_id: step.id.clone(), kind: "exit".into(), outcome: "ends the run".into(), at });
                break;
            }
        };
        steps.push(DryStep { step_id: step.id.clone(), kind: kind.into(), outcome, at });
    }
    Ok(DryRun { would_enter: reason.is_none(), reason, time_zone: zone_name, steps })
}

fn human(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
