//! Journeys, their versions and runs, the steps runs took, and the tasks
//! they leave for people.
//!
//! Every effect of a step is written in one transaction with the step's
//! row in `journey_steps`, whose key is (run, step): a step that already
//! has its row is not done again, whatever crashed or ran twice. The run's
//! position moves in the same transaction, and only if the run still
//! stands where the caller saw it (so an event and a timeout racing for a
//! `wait_for_event` step take one path, not both).

use std::collections::BTreeMap;

use serde::Serialize;
use threadline_domain::channel::Channel;
use threadline_domain::conversation::{Conversation, ConversationStatus, Handler, Priority};
use threadline_domain::event::{DomainEvent, EventKind, JourneyRunPayload, Payload};
use threadline_domain::ids::{AccountId, ContactId, ConversationId, JourneyId, JourneyRunId, MessageId, TaskId, TeamId, UserId};
pub use threadline_domain::journey::JourneyRun;
use threadline_domain::journey::{JourneySpec, Reentry, SendRules, may_enter};
pub use threadline_domain::task::Task;
use time::OffsetDateTime;

use crate::actions::{Effect, Target};
use crate::audit::audit;
use crate::{Result, Store, StoreError, WriteTx, found, micros, now, rows};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Journey {
    pub id: JourneyId,
    pub name: String,
    /// `draft`, `live`, `paused` or `archived`.
    pub status: String,
    /// The latest version.
    pub version: i64,
    /// The version new runs start on (set when the journey goes live).
    pub live_version: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

pub const JOURNEY_STATUSES: [&str; 4] = ["draft", "live", "paused", "archived"];

/// A step a run took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StepRecord {
    pub step_id: String,
    /// `done`, `sent`, `skipped`, `event`, `timeout`, `failed`…
    pub outcome: String,
    pub channel: Option<Channel>,
    /// Why (a send skipped for want of consent, a branch taken…).
    pub detail: Option<String>,
    pub message_id: Option<MessageId>,
    #[serde(with = "time::serde::rfc3339")]
    pub executed_at: OffsetDateTime,
}

/// A task a person sets.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub contact_id: ContactId,
    /// `reminder`, `call`, `reply` or `follow_up`.
    pub kind: String,
    pub title: String,
    pub team_id: Option<TeamId>,
    pub assignee_id: Option<UserId>,
    pub due_at: OffsetDateTime,
}

/// Where the run goes after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// On to this step, now.
    Step(String),
    /// The journey is done.
    Complete,
    /// End it with this status (`exited`, `failed`) and reason.
    End { status: &'static str, outcome: String },
}

/// How a journey is doing: runs by status, and what happened at each step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Funnel {
    pub entered: i64,
    /// Still running (active or waiting).
    pub running: i64,
    pub completed: i64,
    /// Reached the goal.
    pub converted: i64,
    pub exited: i64,
    pub failed: i64,
    pub steps: Vec<StepFunnel>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StepFunnel {
    pub step_id: String,
    /// Runs that took the step.
    pub reached: i64,
    /// Runs waiting at it now.
    pub waiting: i64,
    /// Outcome → runs (`sent`, `skipped`, `event`, `timeout`…).
    pub outcomes: BTreeMap<String, i64>,
    /// For sends: channel → runs.
    pub channels: BTreeMap<String, i64>,
}

const JOURNEY_COLUMNS: &str = "id, name, status, version, live_version, created_at, updated_at";
const RUN_COLUMNS: &str = "id, journey_id, version, contact_id, status, step_id, wake_at, entered_at, ended_at, outcome, trigger_event_id";
const TASK_COLUMNS: &str =
    "id, contact_id, kind, title, team_id, assignee_id, due_at, status, journey_id, run_id, created_at, done_at, done_by";

fn journey_row(row: &sqlx::any::AnyRow) -> Result<Journey> {
    Ok(Journey {
        id: rows::parse(row, "id")?,
        name: rows::text(row, "name")?,
        status: rows::text(row, "status")?,
        version: rows::int(row, "version")?,
        live_version: rows::opt_int(row, "live_version")?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

pub(crate) fn run_row(row: &sqlx::any::AnyRow) -> Result<JourneyRun> {
    Ok(JourneyRun {
        id: rows::parse(row, "id")?,
        journey_id: rows::parse(row, "journey_id")?,
        version: rows::int(row, "version")?,
        contact_id: rows::parse(row, "contact_id")?,
        status: rows::text(row, "status")?,
        step_id: rows::opt_text(row, "step_id")?,
        wake_at: rows::opt_time(row, "wake_at")?,
        entered_at: rows::time(row, "entered_at")?,
        ended_at: rows::opt_time(row, "ended_at")?,
        outcome: rows::opt_text(row, "outcome")?,
        trigger_event_id: rows::opt_text(row, "trigger_event_id")?,
    })
}

fn task_row(row: &sqlx::any::AnyRow) -> Result<Task> {
    Ok(Task {
        id: rows::parse(row, "id")?,
        contact_id: rows::parse(row, "contact_id")?,
        kind: rows::text(row, "kind")?,
        title: rows::text(row, "title")?,
        team_id: rows::opt_parse(row, "team_id")?,
        assignee_id: rows::opt_parse(row, "assignee_id")?,
        due_at: rows::time(row, "due_at")?,
        status: rows::text(row, "status")?,
        journey_id: rows::opt_parse(row, "journey_id")?,
        run_id: rows::opt_parse(row, "run_id")?,
        created_at: rows::time(row, "created_at")?,
        done_at: rows::opt_time(row, "done_at")?,
        done_by: rows::opt_text(row, "done_by")?,
    })
}

fn run_job(account_id: AccountId, run_id: JourneyRunId, at: OffsetDateTime) -> crate::NewJob {
    crate::NewJob {
        lane: None,
        kind: RUN_JOB,
        account_id: Some(account_id),
        dedup_key: Some(format!("journey-run:{run_id}")),
        payload: serde_json::json!({ "run_id": run_id }),
        run_at: at,
    }
}

/// The job kind that moves a run on.
pub const RUN_JOB: &str = "journey.run";
/// The job kind that hands a conversation event to journeys.
pub const CONVERSATION_JOB: &str = "journey.conversation";
/// The job kind that looks for customers whose date starts a live journey.
pub const DATES_JOB: &str = "journey.dates";

fn dates_job(account_id: AccountId, id: JourneyId, at: OffsetDateTime) -> crate::NewJob {
    crate::NewJob {
        lane: None,
        kind: DATES_JOB,
        account_id: Some(account_id),
        dedup_key: Some(format!("journey-dates:{id}")),
        payload: serde_json::json!({ "journey_id": id }),
        run_at: at,
    }
}

/// The job for a conversation event journeys may start on (resolved, SLA
/// missed), if it is one.
pub(crate) fn conversation_trigger_job(event: &DomainEvent) -> Option<crate::NewJob> {
    let on = match event.kind {
        EventKind::ConversationResolved => "resolved",
        EventKind::SlaBreached => "sla_missed",
        EventKind::SurveyAnswered => "survey_answered",
        _ => return None,
    };
    let about = event.about();
    Some(crate::NewJob {
        lane: None,
        kind: CONVERSATION_JOB,
        account_id: Some(event.account_id),
        dedup_key: None,
        payload: serde_json::json!({
            "event_id": event.id,
            "on": on,
            "contact_id": about.contact_id?,
            "conversation_id": about.conversation_id?,
        }),
        run_at: event.occurred_at,
    })
}

impl Store {
    pub async fn create_journey(&self, account_id: AccountId, name: &str, spec: &JourneySpec, actor: &str) -> Result<Journey> {
        let at = now();
        let journey = Journey {
            id: JourneyId::new(),
            name: name.to_owned(),
            status: "draft".into(),
            version: 1,
            live_version: None,
            created_at: at,
            updated_at: at,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO journeys (id, account_id, name, status, version, live_version, created_at, updated_at) \
             VALUES ($1, $2, $3, 'draft', 1, NULL, $4, $4)",
        )
        .bind(journey.id.to_string())
        .bind(account_id.to_string())
        .bind(name)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        insert_version(&mut tx, journey.id, 1, spec, actor, at).await?;
        audit(&mut tx, account_id, actor, "journey.create", "journey", &journey.id.to_string(), serde_json::json!({ "name": name }), at)
            .await?;
        tx.commit().await?;
        Ok(journey)
    }

    pub async fn journeys(&self, account_id: AccountId) -> Result<Vec<Journey>> {
        let sql = format!("SELECT {JOURNEY_COLUMNS} FROM journeys WHERE account_id = $1 AND status <> 'archived' ORDER BY created_at, id");
        let rows = sqlx::query(&sql).bind(account_id.to_string()).fetch_all(&self.pool).await?;
        rows.iter().map(journey_row).collect()
    }

    pub async fn journey(&self, account_id: AccountId, id: JourneyId) -> Result<Journey> {
        let sql = format!("SELECT {JOURNEY_COLUMNS} FROM journeys WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        journey_row(&row)
    }

    /// A version's spec (`None`: the latest).
    pub async fn journey_spec(&self, account_id: AccountId, id: JourneyId, version: Option<i64>) -> Result<JourneySpec> {
        let journey = self.journey(account_id, id).await?;
        let spec: String = sqlx::query_scalar("SELECT spec FROM journey_versions WHERE journey_id = $1 AND version = $2")
            .bind(id.to_string())
            .bind(version.unwrap_or(journey.version))
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        serde_json::from_str(&spec).map_err(|e| StoreError::Corrupt(format!("journey {id}: {e}")))
    }

    /// Renames and/or changes the steps. A new spec is a new version; when
    /// the journey is live, new runs start on it and running ones finish on
    /// theirs.
    pub async fn update_journey(
        &self,
        account_id: AccountId,
        id: JourneyId,
        name: Option<&str>,
        spec: Option<&JourneySpec>,
        actor: &str,
    ) -> Result<Journey> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {JOURNEY_COLUMNS} FROM journeys WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(&sql).bind(id.to_string()).bind(account_id.to_string()).fetch_optional(tx.conn()).await?;
        let mut journey = journey_row(&row.ok_or(StoreError::NotFound)?)?;
        if let Some(name) = name {
            journey.name = name.to_owned();
        }
        if let Some(spec) = spec {
            journey.version += 1;
            insert_version(&mut tx, id, journey.version, spec, actor, at).await?;
            if journey.status == "live" {
                journey.live_version = Some(journey.version);
            }
        }
        journey.updated_at = at;
        write_journey(&mut tx, account_id, &journey).await?;
        if journey.status == "live" {
            // The trigger may be a date now.
            crate::jobs::enqueue(&mut tx, &dates_job(account_id, id, at), at).await?;
        }
        let data = serde_json::json!({ "name": journey.name, "version": journey.version });
        audit(&mut tx, account_id, actor, "journey.update", "journey", &id.to_string(), data, at).await?;
        tx.commit().await?;
        Ok(journey)
    }

    /// `live` (new runs start on the latest version), `paused` (no new
    /// runs; running ones wait), `draft` or `archived` (running ones exit).
    pub async fn set_journey_status(&self, account_id: AccountId, id: JourneyId, status: &str, actor: &str) -> Result<Journey> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {JOURNEY_COLUMNS} FROM journeys WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(&sql).bind(id.to_string()).bind(account_id.to_string()).fetch_optional(tx.conn()).await?;
        let mut journey = journey_row(&row.ok_or(StoreError::NotFound)?)?;
        journey.status = status.to_owned();
        if status == "live" {
            journey.live_version = Some(journey.version);
        }
        journey.updated_at = at;
        write_journey(&mut tx, account_id, &journey).await?;
        if matches!(status, "draft" | "archived") {
            let open = sqlx::query_scalar::<_, String>("SELECT id FROM journey_runs WHERE journey_id = $1 AND ended_at IS NULL")
                .bind(id.to_string())
                .fetch_all(tx.conn())
                .await?;
            for run in open {
                end_in(
                    &mut tx,
                    account_id,
                    run.parse().map_err(|_| StoreError::Corrupt(run.clone()))?,
                    "exited",
                    "the journey was stopped",
                    at,
                )
                .await?;
            }
        }
        if status == "live" {
            // Dates are looked at from now on (none missed while it was
            // not live starts a late run).
            sqlx::query("UPDATE journeys SET dates_scanned_until = NULL WHERE id = $1").bind(id.to_string()).execute(tx.conn()).await?;
            crate::jobs::enqueue(&mut tx, &dates_job(account_id, id, at), at).await?;
            // Paused runs move on again.
            let waiting = sqlx::query_scalar::<_, String>("SELECT id FROM journey_runs WHERE journey_id = $1 AND ended_at IS NULL")
                .bind(id.to_string())
                .fetch_all(tx.conn())
                .await?;
            for run in waiting {
                let run_id: JourneyRunId = run.parse().map_err(|_| StoreError::Corrupt(run.clone()))?;
                crate::jobs::enqueue(&mut tx, &run_job(account_id, run_id, at), at).await?;
            }
        }
        audit(&mut tx, account_id, actor, "journey.status", "journey", &id.to_string(), serde_json::json!({ "status": status }), at)
            .await?;
        tx.commit().await?;
        Ok(journey)
    }

    /// Whether tracked events of the account have anything to act on: a
    /// journey that is live or paused (only those have runs that events can
    /// start or move), or a segment (whose members they may change).
    pub async fn engagement_active(&self, account_id: AccountId) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT id FROM journeys WHERE account_id = $1 AND status IN ('live', 'paused')              UNION ALL SELECT id FROM segments WHERE account_id = $1 LIMIT 1",
        )
        .bind(account_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Up to when a date-triggered journey has looked at customers' dates.
    pub async fn journey_dates_scanned(&self, account_id: AccountId, id: JourneyId) -> Result<Option<OffsetDateTime>> {
        let value: Option<Option<i64>> = sqlx::query_scalar("SELECT dates_scanned_until FROM journeys WHERE id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(value.flatten().map(crate::from_micros))
    }

    pub async fn set_journey_dates_scanned(&self, account_id: AccountId, id: JourneyId, until: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE journeys SET dates_scanned_until = $1 WHERE id = $2 AND account_id = $3")
            .bind(micros(until))
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every live journey of the account with the spec new runs start on.
    pub async fn live_journeys(&self, account_id: AccountId) -> Result<Vec<(Journey, JourneySpec)>> {
        let sql = "SELECT j.id, j.name, j.status, j.version, j.live_version, j.created_at, j.updated_at, v.spec \
                   FROM journeys j JOIN journey_versions v ON v.journey_id = j.id AND v.version = j.live_version \
                   WHERE j.account_id = $1 AND j.status = 'live' ORDER BY j.created_at, j.id";
        let rows = sqlx::query(sql).bind(account_id.to_string()).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let spec: JourneySpec =
                    serde_json::from_str(&rows::text(row, "spec")?).map_err(|e| StoreError::Corrupt(format!("journey spec: {e}")))?;
                Ok((journey_row(row)?, spec))
            })
            .collect()
    }

    /// Starts a run for a customer if the journey's re-entry rule lets them
    /// in (checked under a lock on the pair, so two triggers at once start
    /// one run); its first step is due at once.
    #[allow(clippy::too_many_arguments)]
    pub async fn start_run(
        &self,
        account_id: AccountId,
        journey: &Journey,
        reentry: Reentry,
        first_step: &str,
        contact_id: ContactId,
        trigger_event_id: Option<String>,
        at: OffsetDateTime,
    ) -> Result<Option<JourneyRun>> {
        let Some(version) = journey.live_version else { return Ok(None) };
        let mut tx = self.begin_write().await?;
        tx.lock_keys(account_id, &[format!("journey:{}:{contact_id}", journey.id)]).await?;
        let earlier = sqlx::query("SELECT entered_at, ended_at FROM journey_runs WHERE journey_id = $1 AND contact_id = $2")
            .bind(journey.id.to_string())
            .bind(contact_id.to_string())
            .fetch_all(tx.conn())
            .await?
            .iter()
            .map(|r| Ok((rows::time(r, "entered_at")?, rows::opt_time(r, "ended_at")?)))
            .collect::<Result<Vec<_>>>()?;
        if !may_enter(reentry, &earlier, at) {
            return Ok(None);
        }
        let run = JourneyRun {
            id: JourneyRunId::new(),
            journey_id: journey.id,
            version,
            contact_id,
            status: "active".into(),
            step_id: Some(first_step.to_owned()),
            wake_at: None,
            entered_at: at,
            ended_at: None,
            outcome: None,
            trigger_event_id: trigger_event_id.clone(),
        };
        let inserted = sqlx::query(
            "INSERT INTO journey_runs (id, account_id, journey_id, version, contact_id, status, step_id, entered_at, trigger_event_id) \
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8) ON CONFLICT (journey_id, trigger_event_id) DO NOTHING",
        )
        .bind(run.id.to_string())
        .bind(account_id.to_string())
        .bind(journey.id.to_string())
        .bind(version)
        .bind(contact_id.to_string())
        .bind(first_step)
        .bind(micros(at))
        .bind(trigger_event_id)
        .execute(tx.conn())
        .await?;
        if inserted.rows_affected() == 0 {
            // This event started a run already.
            return Ok(None);
        }
        crate::jobs::enqueue(&mut tx, &run_job(account_id, run.id, at), at).await?;
        tx.emit(DomainEvent::new(account_id, Payload::JourneyEntered(JourneyRunPayload { run: run.clone() }), at));
        tx.commit().await?;
        Ok(Some(run))
    }

    /// A customer's runs of a journey: (entered, ended).
    pub async fn contact_runs(
        &self,
        account_id: AccountId,
        journey_id: JourneyId,
        contact_id: ContactId,
    ) -> Result<Vec<(OffsetDateTime, Option<OffsetDateTime>)>> {
        sqlx::query("SELECT entered_at, ended_at FROM journey_runs WHERE account_id = $1 AND journey_id = $2 AND contact_id = $3")
            .bind(account_id.to_string())
            .bind(journey_id.to_string())
            .bind(contact_id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((rows::time(r, "entered_at")?, rows::opt_time(r, "ended_at")?)))
            .collect()
    }

    pub async fn journey_run(&self, account_id: AccountId, id: JourneyRunId) -> Result<JourneyRun> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM journey_runs WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        run_row(&row)
    }

    /// A customer's runs that have not ended.
    pub async fn open_runs(&self, account_id: AccountId, contact_id: ContactId) -> Result<Vec<JourneyRun>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM journey_runs WHERE account_id = $1 AND contact_id = $2 AND ended_at IS NULL ORDER BY entered_at, id"
        );
        let rows = sqlx::query(&sql).bind(account_id.to_string()).bind(contact_id.to_string()).fetch_all(&self.pool).await?;
        rows.iter().map(run_row).collect()
    }

    /// A journey's runs, newest first (optionally only those with `status`).
    pub async fn journey_runs(
        &self,
        account_id: AccountId,
        journey_id: JourneyId,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JourneyRun>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM journey_runs WHERE account_id = $1 AND journey_id = $2 AND ($3 IS NULL OR status = $3) \
             ORDER BY entered_at DESC, id DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id.to_string())
            .bind(journey_id.to_string())
            .bind(status)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_row).collect()
    }

    /// The steps a run took, in order.
    pub async fn run_steps(&self, account_id: AccountId, run_id: JourneyRunId) -> Result<Vec<StepRecord>> {
        let rows = sqlx::query(
            "SELECT step_id, outcome, channel, detail, message_id, executed_at FROM journey_steps \
             WHERE run_id = $1 AND account_id = $2 ORDER BY executed_at, step_id",
        )
        .bind(run_id.to_string())
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StepRecord {
                    step_id: rows::text(r, "step_id")?,
                    outcome: rows::text(r, "outcome")?,
                    channel: rows::opt_parse(r, "channel")?,
                    detail: rows::opt_text(r, "detail")?,
                    message_id: rows::opt_parse(r, "message_id")?,
                    executed_at: rows::time(r, "executed_at")?,
                })
            })
            .collect()
    }

    /// Makes a run wait at `step_id` until `until` (if it still stands
    /// there); the worker holding the run's job reschedules it.
    pub async fn park_run(&self, account_id: AccountId, run: &JourneyRun, step_id: &str, until: OffsetDateTime) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE journey_runs SET status = 'waiting', step_id = $3, wake_at = $4 \
             WHERE id = $1 AND account_id = $2 AND ended_at IS NULL AND step_id = $5",
        )
        .bind(run.id.to_string())
        .bind(account_id.to_string())
        .bind(step_id)
        .bind(micros(until))
        .bind(run.step_id.clone())
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Does `step_id` of a run standing at it: writes its row (with the
    /// channel a send went out on: the effect's, else `channel`) and its
    /// effect, and moves the run to `next` — all or nothing. False (and
    /// nothing written) when the step was already done or the run has
    /// moved or ended.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_step(
        &self,
        account_id: AccountId,
        run: &JourneyRun,
        step_id: &str,
        outcome: &str,
        detail: Option<&str>,
        channel: Option<Channel>,
        effect: Effect,
        next: Next,
        at: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let is_send = matches!(effect, Effect::Send { .. });
        let inserted = sqlx::query(
            "INSERT INTO journey_steps (run_id, step_id, account_id, journey_id, outcome, channel, detail, executed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (run_id, step_id) DO NOTHING",
        )
        .bind(run.id.to_string())
        .bind(step_id)
        .bind(account_id.to_string())
        .bind(run.journey_id.to_string())
        .bind(outcome)
        .bind(match &effect {
            Effect::Send { outbound } => Some(outbound.channel.as_str()),
            _ => channel.map(|c| c.as_str()),
        })
        .bind(detail)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        // The run must still stand at this step.
        let (status, step, wake, ended, end_outcome): (&str, Option<&str>, Option<i64>, Option<i64>, Option<String>) = match &next {
            Next::Step(s) => ("active", Some(s.as_str()), None, None, None),
            Next::Complete => ("completed", None, None, Some(micros(at)), Some("completed its steps".to_owned())),
            Next::End { status, outcome } => (*status, None, None, Some(micros(at)), Some(outcome.clone())),
        };
        let moved = sqlx::query(
            "UPDATE journey_runs SET status = $3, step_id = $4, wake_at = $5, ended_at = $6, outcome = $7 \
             WHERE id = $1 AND account_id = $2 AND ended_at IS NULL AND step_id = $8",
        )
        .bind(run.id.to_string())
        .bind(account_id.to_string())
        .bind(status)
        .bind(step)
        .bind(wake)
        .bind(ended)
        .bind(end_outcome)
        .bind(step_id)
        .execute(tx.conn())
        .await?;
        if moved.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let target = Target { contact_id: run.contact_id, conversation_id: None, journey: Some((run.journey_id, run.id)) };
        let applied = self.apply_effect(&mut tx, account_id, target, effect, &format!("journey:{}", run.journey_id), at).await?;
        if let (true, Some(message_id)) = (is_send, applied.message_id) {
            sqlx::query("UPDATE journey_steps SET message_id = $3 WHERE run_id = $1 AND step_id = $2")
                .bind(run.id.to_string())
                .bind(step_id)
                .bind(message_id.to_string())
                .execute(tx.conn())
                .await?;
        }
        match &next {
            Next::Step(_) => {}
            Next::Complete | Next::End { .. } => {
                let ended = self_run_after(&mut tx, run.id).await?;
                tx.emit(DomainEvent::new(account_id, Payload::JourneyEnded(JourneyRunPayload { run: ended }), at));
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Whether the customer has a conversation that is not resolved.
    pub async fn has_open_conversation(&self, account_id: AccountId, contact_id: ContactId) -> Result<bool> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM conversations WHERE account_id = $1 AND contact_id = $2 AND status <> 'resolved' LIMIT 1")
                .bind(account_id.to_string())
                .bind(contact_id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// Makes a run's job due now (an event may have met its goal, an exit
    /// rule or the event it waits for).
    pub async fn wake_run(&self, account_id: AccountId, run_id: JourneyRunId, at: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        crate::jobs::enqueue(&mut tx, &run_job(account_id, run_id, at), at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends a run that has not ended (`converted` when its goal happened,
    /// `exited` by an exit rule); its journey messages not yet claimed by
    /// the outbox are cancelled. False when it had already ended.
    pub async fn end_run(&self, account_id: AccountId, run_id: JourneyRunId, status: &str, outcome: &str) -> Result<bool> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let ended = end_in(&mut tx, account_id, run_id, status, outcome, at).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Journey messages sent to a customer since `since`, by channel (for
    /// frequency caps).
    pub async fn journey_sends_since(
        &self,
        account_id: AccountId,
        contact_id: ContactId,
        since: OffsetDateTime,
    ) -> Result<BTreeMap<Channel, u32>> {
        let rows = sqlx::query(
            "SELECT s.channel, COUNT(*) AS n FROM journey_steps s JOIN journey_runs r ON r.id = s.run_id \
             WHERE r.account_id = $1 AND r.contact_id = $2 AND s.outcome = 'sent' AND s.executed_at >= $3 GROUP BY s.channel",
        )
        .bind(account_id.to_string())
        .bind(contact_id.to_string())
        .bind(micros(since))
        .fetch_all(&self.pool)
        .await?;
        let mut out = BTreeMap::new();
        for row in &rows {
            if let Some(channel) = rows::opt_parse::<Channel>(row, "channel")? {
                out.insert(channel, rows::int(row, "n")? as u32);
            }
        }
        Ok(out)
    }

    /// Runs by status and what happened at each step (`version`: one
    /// version's runs only).
    pub async fn journey_funnel(&self, account_id: AccountId, journey_id: JourneyId, version: Option<i64>) -> Result<Funnel> {
        let mut funnel = Funnel::default();
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM journey_runs WHERE account_id = $1 AND journey_id = $2 AND ($3 IS NULL OR version = $3) \
             GROUP BY status",
        )
        .bind(account_id.to_string())
        .bind(journey_id.to_string())
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let n = rows::int(row, "n")?;
            funnel.entered += n;
            match rows::text(row, "status")?.as_str() {
                "active" | "waiting" => funnel.running += n,
                "completed" => funnel.completed += n,
                "converted" => funnel.converted += n,
                "exited" => funnel.exited += n,
                _ => funnel.failed += n,
            }
        }
        let rows = sqlx::query(
            "SELECT s.step_id, s.outcome, s.channel, COUNT(*) AS n FROM journey_steps s JOIN journey_runs r ON r.id = s.run_id \
             WHERE s.account_id = $1 AND s.journey_id = $2 AND ($3 IS NULL OR r.version = $3) GROUP BY s.step_id, s.outcome, s.channel",
        )
        .bind(account_id.to_string())
        .bind(journey_id.to_string())
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        let mut steps: BTreeMap<String, StepFunnel> = BTreeMap::new();
        for row in &rows {
            let step_id = rows::text(row, "step_id")?;
            let n = rows::int(row, "n")?;
            let entry = steps.entry(step_id.clone()).or_insert_with(|| StepFunnel { step_id, ..Default::default() });
            entry.reached += n;
            *entry.outcomes.entry(rows::text(row, "outcome")?).or_default() += n;
            if let Some(channel) = rows::opt_text(row, "channel")? {
                *entry.channels.entry(channel).or_default() += n;
            }
        }
        let rows = sqlx::query(
            "SELECT step_id, COUNT(*) AS n FROM journey_runs WHERE account_id = $1 AND journey_id = $2 AND ended_at IS NULL \
             AND ($3 IS NULL OR version = $3) AND step_id IS NOT NULL GROUP BY step_id",
        )
        .bind(account_id.to_string())
        .bind(journey_id.to_string())
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let step_id = rows::text(row, "step_id")?;
            let entry = steps.entry(step_id.clone()).or_insert_with(|| StepFunnel { step_id, ..Default::default() });
            entry.waiting += rows::int(row, "n")?;
        }
        funnel.steps = steps.into_values().collect();
        Ok(funnel)
    }

    /// One task of the account.
    pub async fn task(&self, account_id: AccountId, id: TaskId) -> Result<Task> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(&sql).bind(id.to_string()).bind(account_id.to_string()).fetch_optional(&self.pool).await?;
        task_row(&row.ok_or(StoreError::NotFound)?)
    }

    /// Open tasks (or all), soonest due first; optionally one person's or one customer's.
    pub async fn tasks(
        &self,
        account_id: AccountId,
        open_only: bool,
        assignee: Option<UserId>,
        contact: Option<ContactId>,
        limit: i64,
    ) -> Result<Vec<Task>> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE account_id = $1 AND ($2 = 0 OR status = 'open') \
             AND ($3 IS NULL OR assignee_id = $3) AND ($4 IS NULL OR contact_id = $4) ORDER BY due_at, id LIMIT $5"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id.to_string())
            .bind(i64::from(open_only))
            .bind(assignee.map(|a| a.to_string()))
            .bind(contact.map(|c| c.to_string()))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(task_row).collect()
    }

    /// A task a person sets (a reminder to themselves, a call for a
    /// colleague or a team), on one of the account's customers.
    pub async fn create_task(&self, account_id: AccountId, new: &NewTask, actor: &str) -> Result<Task> {
        let at = now();
        let mut tx = self.begin_write().await?;
        crate::contacts::load_contact(tx.conn(), account_id, new.contact_id).await?;
        if let Some(user) = new.assignee_id {
            let found: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL")
                .bind(user.to_string())
                .bind(account_id.to_string())
                .fetch_optional(tx.conn())
                .await?;
            if found.is_none() {
                return Err(threadline_domain::ValidationErrors::single("assignee_id", "no such user in this account").into());
            }
        }
        if let Some(team) = new.team_id {
            let found: Option<String> = sqlx::query_scalar("SELECT id FROM teams WHERE id = $1 AND account_id = $2")
                .bind(team.to_string())
                .bind(account_id.to_string())
                .fetch_optional(tx.conn())
                .await?;
            if found.is_none() {
                return Err(threadline_domain::ValidationErrors::single("team_id", "no such team in this account").into());
            }
        }
        let task = Task {
            id: TaskId::new(),
            contact_id: new.contact_id,
            kind: new.kind.clone(),
            title: new.title.clone(),
            team_id: new.team_id,
            assignee_id: new.assignee_id,
            // As it reads back: UTC, to the microsecond.
            due_at: crate::from_micros(micros(new.due_at)),
            status: "open".into(),
            journey_id: None,
            run_id: None,
            created_at: at,
            done_at: None,
            done_by: None,
        };
        insert_task(&mut tx, account_id, &task).await?;
        tx.emit(DomainEvent::task_created(account_id, &task, at));
        audit(&mut tx, account_id, actor, "task.create", "task", &task.id.to_string(), serde_json::json!({ "kind": task.kind }), at)
            .await?;
        tx.commit().await?;
        Ok(task)
    }

    /// Marks a task done (or open again).
    pub async fn set_task_done(&self, account_id: AccountId, id: TaskId, done: bool, actor: &str) -> Result<Task> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("UPDATE tasks SET status = $3, done_at = $4, done_by = $5 WHERE id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(if done { "done" } else { "open" })
            .bind(done.then(|| micros(at)))
            .bind(done.then(|| actor.to_owned()))
            .execute(tx.conn())
            .await?;
        found(&result)?;
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1");
        let task = task_row(&sqlx::query(&sql).bind(id.to_string()).fetch_one(tx.conn()).await?)?;
        tx.emit(DomainEvent::task_updated(account_id, &task, at));
        tx.commit().await?;
        Ok(task)
    }

    /// The account's rules for journey sends (quiet hours, caps).
    pub async fn journey_send_rules(&self, account_id: AccountId) -> Result<SendRules> {
        let raw: Option<String> = sqlx::query_scalar("SELECT rules FROM journey_settings WHERE account_id = $1")
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        match raw {
            None => Ok(SendRules::default()),
            Some(raw) => serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("journey settings: {e}"))),
        }
    }

    pub async fn set_journey_send_rules(&self, account_id: AccountId, rules: &SendRules, actor: &str) -> Result<()> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let value = serde_json::to_value(rules).unwrap_or_default();
        sqlx::query(
            "INSERT INTO journey_settings (account_id, rules, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at",
        )
        .bind(account_id.to_string())
        .bind(value.to_string())
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        audit(&mut tx, account_id, actor, "journey.send_rules", "account", &account_id.to_string(), value, at).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_version(tx: &mut WriteTx, id: JourneyId, version: i64, spec: &JourneySpec, actor: &str, at: OffsetDateTime) -> Result<()> {
    let spec = serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query("INSERT INTO journey_versions (journey_id, version, spec, created_by, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id.to_string())
        .bind(version)
        .bind(spec)
        .bind(actor)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
    Ok(())
}

async fn write_journey(tx: &mut WriteTx, account_id: AccountId, journey: &Journey) -> Result<()> {
    sqlx::query(
        "UPDATE journeys SET name = $3, status = $4, version = $5, live_version = $6, updated_at = $7 WHERE id = $1 AND account_id = $2",
    )
    .bind(journey.id.to_string())
    .bind(account_id.to_string())
    .bind(&journey.name)
    .bind(&journey.status)
    .bind(journey.version)
    .bind(journey.live_version)
    .bind(micros(journey.updated_at))
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn insert_task(tx: &mut WriteTx, account_id: AccountId, task: &Task) -> Result<()> {
    sqlx::query(
        "INSERT INTO tasks (id, account_id, contact_id, kind, title, team_id, assignee_id, due_at, status, journey_id, run_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11)",
    )
    .bind(task.id.to_string())
    .bind(account_id.to_string())
    .bind(task.contact_id.to_string())
    .bind(&task.kind)
    .bind(&task.title)
    .bind(task.team_id.map(|t| t.to_string()))
    .bind(task.assignee_id.map(|u| u.to_string()))
    .bind(micros(task.due_at))
    .bind(task.journey_id.map(|j| j.to_string()))
    .bind(task.run_id.map(|r| r.to_string()))
    .bind(micros(task.created_at))
    .execute(tx.conn())
    .await?;
    Ok(())
}

async fn self_run_after(tx: &mut WriteTx, run_id: JourneyRunId) -> Result<JourneyRun> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM journey_runs WHERE id = $1");
    run_row(&sqlx::query(&sql).bind(run_id.to_string()).fetch_one(tx.conn()).await?)
}

/// Ends a run in `tx`, cancelling its journey messages the outbox has not
/// claimed yet. False if it had already ended.
async fn end_in(
    tx: &mut WriteTx,
    account_id: AccountId,
    run_id: JourneyRunId,
    status: &str,
    outcome: &str,
    at: OffsetDateTime,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE journey_runs SET status = $3, ended_at = $4, outcome = $5, wake_at = NULL WHERE id = $1 AND account_id = $2 AND ended_at IS NULL",
    )
    .bind(run_id.to_string())
    .bind(account_id.to_string())
    .bind(status)
    .bind(micros(at))
    .bind(outcome)
    .execute(tx.conn())
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let queued: Vec<String> = sqlx::query_scalar(
        "SELECT j.message_id FROM outbound_jobs j JOIN journey_steps s ON s.message_id = j.message_id \
         WHERE s.run_id = $1 AND j.status = 'queued'",
    )
    .bind(run_id.to_string())
    .fetch_all(tx.conn())
    .await?;
    for message_id in queued {
        let message_id: MessageId = message_id.parse().map_err(|_| StoreError::Corrupt(message_id.clone()))?;
        let reason = format!("not sent: the journey ended first ({outcome})");
        let message = crate::outbox::cancel_queued(tx, account_id, message_id, &reason, at).await?;
        tx.emit(DomainEvent::message_updated(account_id, &message, at));
    }
    let run = self_run_after(tx, run_id).await?;
    tx.emit(DomainEvent::new(account_id, Payload::JourneyEnded(JourneyRunPayload { run }), at));
    Ok(true)
}

/// The conversation a journey writes in: the customer's latest one if it
/// is not resolved, else a new one, pending (it waits on the customer, and
/// does not enter a queue until they answer).
pub(crate) async fn conversation_for_outreach(
    tx: &mut WriteTx,
    account_id: AccountId,
    contact_id: ContactId,
    channel: Channel,
    at: OffsetDateTime,
) -> Result<ConversationId> {
    let latest = sqlx::query(
        "SELECT id, status FROM conversations WHERE account_id = $1 AND contact_id = $2 ORDER BY last_activity_at DESC, id DESC LIMIT 1",
    )
    .bind(account_id.to_string())
    .bind(contact_id.to_string())
    .fetch_optional(tx.conn())
    .await?;
    if let Some(row) = latest
        && rows::text(&row, "status")? != ConversationStatus::Resolved.as_str()
    {
        return rows::parse(&row, "id");
    }
    new_outreach_conversation(tx, account_id, contact_id, Some(channel), ConversationStatus::Pending, None, at).await
}

pub(crate) async fn new_outreach_conversation(
    tx: &mut WriteTx,
    account_id: AccountId,
    contact_id: ContactId,
    channel: Option<Channel>,
    status: ConversationStatus,
    team_id: Option<TeamId>,
    at: OffsetDateTime,
) -> Result<ConversationId> {
    let open = status == ConversationStatus::Open;
    let conversation = Conversation {
        id: ConversationId::new(),
        contact_id,
        status,
        priority: Priority::Normal,
        assignee_id: None,
        team_id,
        labels: Vec::new(),
        category: None,
        snoozed_until: None,
        channel,
        language: None,
        handler: Handler::Human,
        queued_at: open.then_some(at),
        first_response_at: None,
        awaiting_since: None,
        resolved_at: None,
        last_activity_at: at,
        created_at: at,
        updated_at: at,
    };
    crate::messages::insert_conversations(tx, account_id, &[&conversation]).await?;
    tx.emit(crate::conversations::conversation_event(account_id, Payload::ConversationCreated, &conversation, at));
    Ok(conversation.id)
}

impl Store {
    /// For each journey with runs that entered in `from..to`: their
    /// statuses, the steps they took and the channels their sends went on
    /// (with how many of those runs converted).
    pub async fn journey_counts(
        &self,
        account_id: AccountId,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<BTreeMap<JourneyId, threadline_domain::metrics::JourneyCounts>> {
        let mut out: BTreeMap<JourneyId, threadline_domain::metrics::JourneyCounts> = BTreeMap::new();
        let (a, f, t) = (account_id.to_string(), micros(from), micros(to));
        let rows = sqlx::query(
            "SELECT journey_id, status, COUNT(*) AS n FROM journey_runs \
             WHERE account_id = $1 AND entered_at >= $2 AND entered_at < $3 GROUP BY journey_id, status",
        )
        .bind(&a)
        .bind(f)
        .bind(t)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            out.entry(rows::parse(row, "journey_id")?).or_default().statuses.insert(rows::text(row, "status")?, rows::int(row, "n")?);
        }
        let rows = sqlx::query(
            "SELECT r.journey_id, s.step_id, COUNT(*) AS n FROM journey_steps s JOIN journey_runs r ON r.id = s.run_id \
             WHERE r.account_id = $1 AND r.entered_at >= $2 AND r.entered_at < $3 GROUP BY r.journey_id, s.step_id",
        )
        .bind(&a)
        .bind(f)
        .bind(t)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            out.entry(rows::parse(row, "journey_id")?).or_default().reached.insert(rows::text(row, "step_id")?, rows::int(row, "n")?);
        }
        let rows = sqlx::query(
            "SELECT r.journey_id, s.channel, COUNT(DISTINCT r.id) AS runs, \
             COUNT(DISTINCT CASE WHEN r.status = 'converted' THEN r.id END) AS converted \
             FROM journey_steps s JOIN journey_runs r ON r.id = s.run_id \
             WHERE r.account_id = $1 AND r.entered_at >= $2 AND r.entered_at < $3 AND s.outcome = 'sent' AND s.channel IS NOT NULL \
             GROUP BY r.journey_id, s.channel",
        )
        .bind(&a)
        .bind(f)
        .bind(t)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            out.entry(rows::parse(row, "journey_id")?)
                .or_default()
                .channels
                .insert(rows::text(row, "channel")?, (rows::int(row, "runs")?, rows::int(row, "converted")?));
        }
        Ok(out)
    }
}
