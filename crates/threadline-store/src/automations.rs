//! Automation rules and their log.
//!
//! A commit whose events a rule could fire on queues one
//! `automation.events` job with what those events carry (see
//! [`rule_job`]), in the same transaction. The server decides which rules
//! hold and applies each one's actions with [`Store::apply_rule`]: one
//! transaction that writes the (rule, event) row in `automation_runs` and
//! the actions' effects, so a rule fires at most once per event. Commits
//! made by rules queue nothing (automation does not trigger automation).

use serde::Serialize;
use threadline_domain::automation::{RuleSpec, RuleTrigger};
use threadline_domain::event::{DomainEvent, EventKind, Payload};
use threadline_domain::ids::{AccountId, AutomationRuleId, ContactId, ConversationId};
use threadline_domain::message::{Direction, MessageKind};
use time::OffsetDateTime;

use crate::actions::{Effect, Target};
use crate::audit::audit;
use crate::{NewJob, Result, Store, StoreError, micros, now, rows};

/// The job kind that runs the rules on a commit's events.
pub const AUTOMATION_JOB: &str = "automation.events";
/// The job kind a `resolve_if_pending` action leaves for later.
pub const RESOLVE_PENDING_JOB: &str = "automation.resolve_pending";

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AutomationRule {
    pub id: AutomationRuleId,
    pub name: String,
    pub enabled: bool,
    /// Rules that fire on the same event run in this order (lowest first).
    pub position: i64,
    pub spec: RuleSpec,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One time a rule fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RuleRun {
    pub rule_id: AutomationRuleId,
    pub event_id: String,
    pub conversation_id: ConversationId,
    /// `done`, or `failed` when an action could not be carried out (the
    /// others still were); `detail` says what happened.
    pub outcome: String,
    pub detail: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub executed_at: OffsetDateTime,
}

const COLUMNS: &str = "id, name, enabled, position, spec, created_at, updated_at";

fn rule(row: &sqlx::any::AnyRow) -> Result<AutomationRule> {
    Ok(AutomationRule {
        id: rows::parse(row, "id")?,
        name: rows::text(row, "name")?,
        enabled: rows::int(row, "enabled")? != 0,
        position: rows::int(row, "position")?,
        spec: rows::json(row, "spec")?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

/// What a rule could fire on in `event`, as one item of the job's payload:
/// the trigger, the conversation, and what the conditions may read of the
/// event (the customer's message, the survey answer, the SLA target).
fn rule_item(event: &DomainEvent) -> Option<serde_json::Value> {
    let on = match event.kind {
        EventKind::ConversationCreated => RuleTrigger::ConversationCreated,
        EventKind::ConversationUpdated => RuleTrigger::ConversationUpdated,
        EventKind::ConversationResolved => RuleTrigger::ConversationResolved,
        EventKind::MessageCreated => RuleTrigger::MessageReceived,
        EventKind::SlaBreached => RuleTrigger::SlaMissed,
        EventKind::SurveyAnswered => RuleTrigger::SurveyAnswered,
        _ => return None,
    };
    let (conversation_id, extra) = match event.payload().ok()? {
        Payload::ConversationCreated(p) | Payload::ConversationUpdated(p) | Payload::ConversationResolved(p) => (p.conversation.id, None),
        Payload::MessageCreated(p) => {
            let message = p.message;
            if message.direction != Direction::Inbound || message.kind != MessageKind::Message {
                return None;
            }
            let summary = serde_json::json!({
                "id": message.id,
                "text": message.text.chars().take(2000).collect::<String>(),
                "channel": message.channel,
                "inbox_id": message.inbox_id,
            });
            (p.conversation.id, Some(("message", summary)))
        }
        Payload::SlaBreached(p) => (p.conversation.id, Some(("sla", serde_json::json!({ "target": p.target })))),
        Payload::SurveyAnswered(p) => {
            let survey = serde_json::json!({
                "kind": p.survey_response.kind,
                "score": p.survey_response.score,
                "sentiment": p.sentiment,
            });
            (p.conversation.id, Some(("survey", survey)))
        }
        _ => return None,
    };
    let mut item = serde_json::json!({
        "event_id": event.id,
        "on": on.as_str(),
        "conversation_id": conversation_id,
    });
    if let Some((key, value)) = extra {
        item[key] = value;
    }
    Some(item)
}

/// The jobs that run the rules on `events` (one per account a rule could
/// fire on; a group commit may hold several accounts' messages).
pub(crate) fn rule_jobs(events: &[DomainEvent]) -> Vec<NewJob> {
    let mut items: std::collections::BTreeMap<AccountId, Vec<serde_json::Value>> = Default::default();
    for event in events {
        if let Some(item) = rule_item(event) {
            items.entry(event.account_id).or_default().push(item);
        }
    }
    items
        .into_iter()
        .map(|(account_id, items)| NewJob {
            lane: None,
            kind: AUTOMATION_JOB,
            account_id: Some(account_id),
            dedup_key: None,
            payload: serde_json::json!({ "items": items }),
            run_at: now(),
        })
        .collect()
}

impl Store {
    /// Reads which optional work commits must queue (segments, surveys,
    /// rules) — at start, and again every so often, so a rule or survey
    /// created through another node is seen here too.
    pub async fn load_features(&self) -> Result<()> {
        self.load_segments_exist().await?;
        self.load_surveys_exist().await?;
        let any: Option<String> =
            sqlx::query_scalar("SELECT id FROM automation_rules WHERE enabled = 1 LIMIT 1").fetch_optional(&self.pool).await?;
        self.rules_exist.store(any.is_some(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    pub async fn create_rule(
        &self,
        account_id: AccountId,
        name: &str,
        spec: &RuleSpec,
        enabled: bool,
        actor: &str,
    ) -> Result<AutomationRule> {
        let at = now();
        let id = AutomationRuleId::new();
        let mut tx = self.begin_write().await?;
        let position: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) + 1 FROM automation_rules WHERE account_id = $1")
            .bind(account_id.to_string())
            .fetch_one(tx.conn())
            .await?;
        sqlx::query(
            "INSERT INTO automation_rules (id, account_id, name, trigger_kind, spec, enabled, position, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(name)
        .bind(spec.when.as_str())
        .bind(serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(i64::from(enabled))
        .bind(position)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        let data = serde_json::json!({ "name": name, "when": spec.when, "enabled": enabled });
        audit(&mut tx, account_id, actor, "automation_rule.create", "automation_rule", &id.to_string(), data, at).await?;
        tx.commit().await?;
        if enabled {
            self.rules_exist.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.rule(account_id, id).await
    }

    /// The account's rules in the order they run.
    pub async fn rules(&self, account_id: AccountId) -> Result<Vec<AutomationRule>> {
        let sql = format!("SELECT {COLUMNS} FROM automation_rules WHERE account_id = $1 ORDER BY position, id");
        let found = sqlx::query(&sql).bind(account_id.to_string()).fetch_all(&self.pool).await?;
        found.iter().map(rule).collect()
    }

    /// The enabled rules that wait for `on`, in the order they run.
    pub async fn rules_for(&self, account_id: AccountId, on: RuleTrigger) -> Result<Vec<AutomationRule>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM automation_rules WHERE account_id = $1 AND trigger_kind = $2 AND enabled = 1 ORDER BY position, id"
        );
        let found = sqlx::query(&sql).bind(account_id.to_string()).bind(on.as_str()).fetch_all(&self.pool).await?;
        found.iter().map(rule).collect()
    }

    pub async fn rule(&self, account_id: AccountId, id: AutomationRuleId) -> Result<AutomationRule> {
        let sql = format!("SELECT {COLUMNS} FROM automation_rules WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        rule(&row)
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn update_rule(
        &self,
        account_id: AccountId,
        id: AutomationRuleId,
        name: &str,
        spec: &RuleSpec,
        enabled: bool,
        position: Option<i64>,
        actor: &str,
    ) -> Result<AutomationRule> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE automation_rules SET name = $3, trigger_kind = $4, spec = $5, enabled = $6, position = COALESCE($7, position), \
             updated_at = $8 WHERE id = $1 AND account_id = $2",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(name)
        .bind(spec.when.as_str())
        .bind(serde_json::to_string(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(i64::from(enabled))
        .bind(position)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        crate::found(&done)?;
        let data = serde_json::json!({ "name": name, "when": spec.when, "enabled": enabled });
        audit(&mut tx, account_id, actor, "automation_rule.update", "automation_rule", &id.to_string(), data, at).await?;
        tx.commit().await?;
        if enabled {
            self.rules_exist.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.rule(account_id, id).await
    }

    /// Deletes a rule (its log stays, for what it did).
    pub async fn delete_rule(&self, account_id: AccountId, id: AutomationRuleId, actor: &str) -> Result<()> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM automation_rules WHERE id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        crate::found(&done)?;
        audit(&mut tx, account_id, actor, "automation_rule.delete", "automation_rule", &id.to_string(), serde_json::json!({}), at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Carries out a rule's effects for one event in one transaction with
    /// its log row; false (and nothing done) if it already fired on it.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_rule(
        &self,
        account_id: AccountId,
        rule_id: AutomationRuleId,
        event_id: &str,
        conversation_id: ConversationId,
        contact_id: ContactId,
        effects: Vec<Effect>,
        failures: &[String],
        at: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        tx.automated = true;
        let (outcome, detail) = if failures.is_empty() { ("done", None) } else { ("failed", Some(failures.join("; "))) };
        let inserted = sqlx::query(
            "INSERT INTO automation_runs (rule_id, event_id, account_id, conversation_id, outcome, detail, executed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (rule_id, event_id) DO NOTHING",
        )
        .bind(rule_id.to_string())
        .bind(event_id)
        .bind(account_id.to_string())
        .bind(conversation_id.to_string())
        .bind(outcome)
        .bind(detail)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let target = Target { contact_id, conversation_id: Some(conversation_id), journey: None };
        let actor = format!("automation:{rule_id}");
        for effect in effects {
            self.apply_effect(&mut tx, account_id, target, effect, &actor, at).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// How many times each of the account's rules fired, and when last.
    pub async fn rule_counts(&self, account_id: AccountId) -> Result<std::collections::HashMap<AutomationRuleId, (i64, OffsetDateTime)>> {
        let found = sqlx::query(
            "SELECT rule_id, COUNT(*) AS n, MAX(executed_at) AS last FROM automation_runs WHERE account_id = $1 GROUP BY rule_id",
        )
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(|row| Ok((rows::parse(row, "rule_id")?, (rows::int(row, "n")?, rows::time(row, "last")?)))).collect()
    }

    /// What rules did, newest first: for one rule, or for one conversation.
    pub async fn rule_runs(
        &self,
        account_id: AccountId,
        rule_id: Option<AutomationRuleId>,
        conversation_id: Option<ConversationId>,
        limit: i64,
    ) -> Result<Vec<RuleRun>> {
        let found = sqlx::query(
            "SELECT rule_id, event_id, conversation_id, outcome, detail, executed_at FROM automation_runs \
             WHERE account_id = $1 AND ($2 IS NULL OR rule_id = $2) AND ($3 IS NULL OR conversation_id = $3) \
             ORDER BY executed_at DESC, event_id DESC LIMIT $4",
        )
        .bind(account_id.to_string())
        .bind(rule_id.map(|r| r.to_string()))
        .bind(conversation_id.map(|c| c.to_string()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        found
            .iter()
            .map(|row| {
                Ok(RuleRun {
                    rule_id: rows::parse(row, "rule_id")?,
                    event_id: rows::text(row, "event_id")?,
                    conversation_id: rows::parse(row, "conversation_id")?,
                    outcome: rows::text(row, "outcome")?,
                    detail: rows::opt_text(row, "detail")?,
                    executed_at: rows::time(row, "executed_at")?,
                })
            })
            .collect()
    }
}
