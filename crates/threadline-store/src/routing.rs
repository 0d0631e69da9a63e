//! Routing's side of the store: teams' and agents' routing settings, the
//! rules that pick a conversation's team, the routing pass that assigns a
//! team's queue (the decisions themselves are `threadline_domain::routing`),
//! putting conversations back in the queue, and the record of every
//! decision with its reason.
//!
//! A routing pass holds the team for its whole transaction — SQLite's
//! single writer, or a PostgreSQL advisory lock on the team that other
//! nodes skip rather than wait for — and an assignment is written only if
//! the conversation is still open and unassigned, so a conversation is
//! never given twice and no agent gets more than their capacity, however
//! many nodes and arrivals race.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use threadline_domain::channel::Channel;
use threadline_domain::conversation::{Conversation, Priority};
use threadline_domain::event::{ConversationPayload, DomainEvent, Payload, RoutingNote};
use threadline_domain::ids::{AccountId, ConversationId, InboxId, RoutingDecisionId, RoutingRuleId, SlaPolicyId, TeamId, UserId};
use threadline_domain::routing::{Agent, ConversationFacts, Decision, Policy, Presence, SkillsPolicy, Strategy, Waiting, route_queue};
use time::OffsetDateTime;

use crate::conversations::{conversation_event, load_conversation};
use crate::{Backend, PRESENCE_TTL, Result, Store, StoreError, WriteTx, found, micros, now, rows};

/// A team's routing settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamRouting {
    /// Assign the team's queue automatically; off, agents take
    /// conversations from it themselves.
    #[serde(default)]
    pub auto_assign: bool,
    #[serde(default = "least_busy")]
    #[schema(value_type = String)]
    pub strategy: Strategy,
    #[serde(default)]
    pub skills: SkillsPolicy,
    /// Put an offline agent's open conversations back in the queue after
    /// this long (only with `auto_assign`); none keeps them.
    #[serde(default = "five_minutes")]
    pub reassign_offline_after_secs: Option<u64>,
    /// The SLA policy for the team's conversations; none: the account's default.
    #[serde(default)]
    pub sla_policy_id: Option<SlaPolicyId>,
}

fn least_busy() -> Strategy {
    Strategy::LeastBusy
}
fn five_minutes() -> Option<u64> {
    Some(300)
}

impl Default for TeamRouting {
    fn default() -> Self {
        TeamRouting {
            auto_assign: false,
            strategy: Strategy::LeastBusy,
            skills: SkillsPolicy::default(),
            reassign_offline_after_secs: five_minutes(),
            sla_policy_id: None,
        }
    }
}

/// An agent's routing settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRouting {
    /// Skill name (`language:it`, `category:billing`, `tier:gold`…) → level 1–5.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Conversations at once per channel; unnamed channels take the default
    /// (1 call, 3 chats, 10 emails…).
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, u32>)]
    pub capacity: BTreeMap<Channel, u32>,
}

/// When a routing rule applies: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConditions {
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub inbox_id: Option<InboxId>,
    /// The message is at least this urgent.
    #[serde(default)]
    pub min_urgency: Option<Priority>,
}

/// Sends matching conversations to a team, and may raise their priority.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoutingRule {
    pub id: RoutingRuleId,
    /// Rules are tried in this order; the first that matches decides.
    pub position: i64,
    pub name: String,
    pub conditions: RuleConditions,
    pub team_id: TeamId,
    pub priority: Option<Priority>,
}

impl RoutingRule {
    /// Whether the rule applies to a message in `inbox` on `channel` with
    /// this triage.
    pub fn matches(&self, inbox: InboxId, channel: Channel, triage: Option<&threadline_domain::triage::Triage>) -> bool {
        let c = &self.conditions;
        let category = triage.and_then(|t| t.category.as_deref());
        let language = triage.and_then(|t| t.language.as_deref());
        let urgency = triage.map(|t| t.urgency).unwrap_or(Priority::Normal);
        c.inbox_id.is_none_or(|i| i == inbox)
            && c.channel.is_none_or(|ch| ch == channel)
            && c.category.as_deref().is_none_or(|want| category == Some(want))
            && c.language.as_deref().is_none_or(|want| language == Some(want))
            && c.min_urgency.is_none_or(|min| threadline_domain::triage::rank(urgency) >= threadline_domain::triage::rank(min))
    }

    /// In words, for the record.
    pub fn describe(&self) -> String {
        let c = &self.conditions;
        let mut parts = Vec::new();
        if let Some(v) = &c.category {
            parts.push(format!("category {v}"));
        }
        if let Some(v) = &c.language {
            parts.push(format!("language {v}"));
        }
        if let Some(v) = c.channel {
            parts.push(format!("channel {v}"));
        }
        if c.inbox_id.is_some() {
            parts.push("its inbox".to_owned());
        }
        if let Some(v) = c.min_urgency {
            parts.push(format!("urgency {v} or more"));
        }
        if parts.is_empty() {
            format!("rule “{}” (matches everything)", self.name)
        } else {
            format!("rule “{}”: {}", self.name, parts.join(", "))
        }
    }
}

/// A routing rule as written (without id and position).
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
pub struct NewRoutingRule {
    pub name: String,
    #[serde(default)]
    pub conditions: RuleConditions,
    pub team_id: TeamId,
    #[serde(default)]
    pub priority: Option<Priority>,
}

/// One routing decision, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RoutingDecision {
    pub id: RoutingDecisionId,
    pub conversation_id: ConversationId,
    pub team_id: Option<TeamId>,
    pub user_id: Option<UserId>,
    /// `assigned` or `requeued`.
    pub kind: String,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A team's queue now.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    pub team_id: TeamId,
    pub waiting: i64,
    /// When the longest-waiting conversation joined the queue.
    #[serde(with = "time::serde::rfc3339::option")]
    pub oldest_queued_at: Option<OffsetDateTime>,
}

/// What a routing pass did.
#[derive(Debug, Clone, Default)]
pub struct RoutingPass {
    pub assigned: Vec<(ConversationId, UserId, String)>,
    /// Conversations that stay in the queue, and why (the first few).
    pub waiting: Vec<(ConversationId, String)>,
    /// Another node was routing this team: nothing was done.
    pub skipped: bool,
}

/// How many waiting conversations one pass looks at.
pub const PASS_LIMIT: i64 = 200;

/// A decision to record: an assignment, or a conversation put back in a queue.
struct Decided<'a> {
    conversation_id: ConversationId,
    team_id: Option<TeamId>,
    user_id: Option<UserId>,
    /// `assigned` or `requeued`.
    kind: &'a str,
    reason: &'a str,
}

async fn record_decision(tx: &mut WriteTx, account_id: AccountId, d: Decided<'_>, at: OffsetDateTime) -> Result<()> {
    let Decided { conversation_id, team_id, user_id, kind, reason } = d;
    sqlx::query(
        "INSERT INTO routing_decisions (id, account_id, conversation_id, team_id, user_id, kind, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(RoutingDecisionId::new().to_string())
    .bind(account_id.to_string())
    .bind(conversation_id.to_string())
    .bind(team_id.map(|t| t.to_string()))
    .bind(user_id.map(|u| u.to_string()))
    .bind(kind)
    .bind(reason)
    .bind(micros(at))
    .execute(tx.conn())
    .await?;
    Ok(())
}

fn presence_now(status: Option<String>, updated_at: Option<i64>, at: OffsetDateTime) -> Presence {
    match (status.as_deref().and_then(Presence::parse), updated_at) {
        (Some(p), Some(when)) if when > micros(at - PRESENCE_TTL) => p,
        _ => Presence::Offline,
    }
}

impl Store {
    /// Resolves when a commit in this process may have put a conversation
    /// in a queue.
    pub async fn routing_needed(&self) {
        self.routing_needed.notified().await;
    }

    pub async fn set_team_routing(
        &self,
        account_id: AccountId,
        team_id: TeamId,
        routing: &TeamRouting,
        actor: &str,
    ) -> Result<crate::Team> {
        let mut tx = self.begin_write().await?;
        if let Some(policy) = routing.sla_policy_id {
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM sla_policies WHERE id = $1 AND account_id = $2")
                .bind(policy.to_string())
                .bind(account_id.to_string())
                .fetch_optional(tx.conn())
                .await?;
            if exists.is_none() {
                return Err(threadline_domain::ValidationErrors::single("sla_policy_id", "no such SLA policy in this account").into());
            }
        }
        let done = sqlx::query("UPDATE teams SET routing = $3 WHERE id = $1 AND account_id = $2")
            .bind(team_id.to_string())
            .bind(account_id.to_string())
            .bind(serde_json::to_string(routing).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .execute(tx.conn())
            .await?;
        found(&done)?;
        tx.routing_needed = true;
        crate::audit::audit(
            &mut tx,
            account_id,
            actor,
            "team.routing",
            "team",
            &team_id.to_string(),
            serde_json::to_value(routing).unwrap_or_default(),
            now(),
        )
        .await?;
        tx.commit().await?;
        self.team(account_id, team_id).await
    }

    pub async fn set_agent_routing(&self, account_id: AccountId, user_id: UserId, routing: &AgentRouting) -> Result<crate::User> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE users SET routing = $3 WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL")
            .bind(user_id.to_string())
            .bind(account_id.to_string())
            .bind(serde_json::to_string(routing).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .execute(tx.conn())
            .await?;
        found(&done)?;
        tx.routing_needed = true;
        tx.commit().await?;
        self.user(account_id, user_id).await
    }

    // --- routing rules ----------------------------------------------------

    pub async fn routing_rules(&self, account_id: AccountId) -> Result<Vec<RoutingRule>> {
        let found = sqlx::query(
            "SELECT r.id, r.position, r.name, r.conditions, r.team_id, r.priority FROM routing_rules r WHERE r.account_id = $1 ORDER BY r.position, r.id",
        )
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        found
            .iter()
            .map(|r| {
                Ok(RoutingRule {
                    id: rows::parse(r, "id")?,
                    position: rows::int(r, "position")?,
                    name: rows::text(r, "name")?,
                    conditions: rows::json(r, "conditions")?,
                    team_id: rows::parse(r, "team_id")?,
                    priority: rows::opt_text(r, "priority")?.and_then(|p| Priority::parse(&p)),
                })
            })
            .collect()
    }

    async fn check_team(tx: &mut WriteTx, account_id: AccountId, team_id: TeamId) -> Result<()> {
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM teams WHERE id = $1 AND account_id = $2")
            .bind(team_id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(tx.conn())
            .await?;
        match exists {
            Some(_) => Ok(()),
            None => Err(threadline_domain::ValidationErrors::single("team_id", "no such team in this account").into()),
        }
    }

    /// Adds a rule after the others (or at `position`).
    pub async fn create_routing_rule(
        &self,
        account_id: AccountId,
        rule: &NewRoutingRule,
        position: Option<i64>,
        actor: &str,
    ) -> Result<RoutingRule> {
        let at = micros(now());
        let mut tx = self.begin_write().await?;
        Self::check_team(&mut tx, account_id, rule.team_id).await?;
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(position) FROM routing_rules WHERE account_id = $1")
            .bind(account_id.to_string())
            .fetch_one(tx.conn())
            .await?;
        let created = RoutingRule {
            id: RoutingRuleId::new(),
            // Saturating: after the last, even if an old rule sits at the end of the range.
            position: position.unwrap_or(last.unwrap_or(0).saturating_add(10)),
            name: rule.name.clone(),
            conditions: rule.conditions.clone(),
            team_id: rule.team_id,
            priority: rule.priority,
        };
        sqlx::query(
            "INSERT INTO routing_rules (id, account_id, position, name, conditions, team_id, priority, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(created.id.to_string())
        .bind(account_id.to_string())
        .bind(created.position)
        .bind(&created.name)
        .bind(serde_json::to_string(&created.conditions).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(created.team_id.to_string())
        .bind(created.priority.map(|p| p.as_str().to_owned()))
        .bind(at)
        .execute(tx.conn())
        .await?;
        crate::audit::audit(
            &mut tx,
            account_id,
            actor,
            "routing_rule.create",
            "routing_rule",
            &created.id.to_string(),
            serde_json::to_value(&created).unwrap_or_default(),
            now(),
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn update_routing_rule(
        &self,
        account_id: AccountId,
        id: RoutingRuleId,
        rule: &NewRoutingRule,
        position: Option<i64>,
        actor: &str,
    ) -> Result<RoutingRule> {
        let mut tx = self.begin_write().await?;
        Self::check_team(&mut tx, account_id, rule.team_id).await?;
        let done = sqlx::query(
            "UPDATE routing_rules SET name = $3, conditions = $4, team_id = $5, priority = $6, position = COALESCE($7, position), updated_at = $8 \
             WHERE id = $1 AND account_id = $2",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(&rule.name)
        .bind(serde_json::to_string(&rule.conditions).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        .bind(rule.team_id.to_string())
        .bind(rule.priority.map(|p| p.as_str().to_owned()))
        .bind(position)
        .bind(micros(now()))
        .execute(tx.conn())
        .await?;
        found(&done)?;
        crate::audit::audit(&mut tx, account_id, actor, "routing_rule.update", "routing_rule", &id.to_string(), serde_json::json!({ "name": rule.name, "conditions": rule.conditions, "team_id": rule.team_id, "priority": rule.priority, "position": position }), now()).await?;
        tx.commit().await?;
        self.routing_rules(account_id).await?.into_iter().find(|r| r.id == id).ok_or(StoreError::NotFound)
    }

    pub async fn delete_routing_rule(&self, account_id: AccountId, id: RoutingRuleId, actor: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM routing_rules WHERE id = $1 AND account_id = $2")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        found(&done)?;
        crate::audit::audit(
            &mut tx,
            account_id,
            actor,
            "routing_rule.delete",
            "routing_rule",
            &id.to_string(),
            serde_json::json!({}),
            now(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // --- the routing pass ---------------------------------------------------

    /// Teams whose queues are routed automatically and hold a conversation now.
    pub async fn teams_to_route(&self) -> Result<Vec<(AccountId, TeamId)>> {
        let found = sqlx::query("SELECT account_id, id, routing FROM teams WHERE routing IS NOT NULL").fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for row in &found {
            let routing: TeamRouting = rows::json(row, "routing")?;
            if !routing.auto_assign {
                continue;
            }
            let (account_id, team_id): (AccountId, TeamId) = (rows::parse(row, "account_id")?, rows::parse(row, "id")?);
            let waiting: Option<String> = sqlx::query_scalar(
                "SELECT id FROM conversations WHERE account_id = $1 AND team_id = $2 AND status = 'open' AND assignee_id IS NULL AND handler = 'human' LIMIT 1",
            )
            .bind(account_id.to_string())
            .bind(team_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
            if waiting.is_some() {
                out.push((account_id, team_id));
            }
        }
        Ok(out)
    }

    /// Routes a team's queue once: up to [`PASS_LIMIT`] waiting
    /// conversations, each to an agent chosen by the team's strategy, or
    /// left waiting with the reason.
    #[tracing::instrument(skip_all, fields(account = %account_id, team = %team_id))]
    pub async fn route_team(&self, account_id: AccountId, team_id: TeamId) -> Result<RoutingPass> {
        let at = now();
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('routing:' || $1 || ':' || $2))")
                .bind(account_id.to_string())
                .bind(team_id.to_string())
                .fetch_one(tx.conn())
                .await?;
            if !got {
                tx.rollback().await?;
                return Ok(RoutingPass { skipped: true, ..Default::default() });
            }
        }
        let team = sqlx::query("SELECT routing FROM teams WHERE id = $1 AND account_id = $2")
            .bind(team_id.to_string())
            .bind(account_id.to_string())
            .fetch_optional(tx.conn())
            .await?
            .ok_or(StoreError::NotFound)?;
        let routing: TeamRouting = match rows::opt_text(&team, "routing")? {
            Some(raw) => serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("team routing: {e}")))?,
            None => TeamRouting::default(),
        };
        if !routing.auto_assign {
            tx.rollback().await?;
            return Ok(RoutingPass::default());
        }
        let mut agents = team_agents(tx.conn(), account_id, Some(team_id), at).await?;

        let found = sqlx::query(
            "SELECT c.id, c.channel, c.priority, c.queued_at, c.created_at, c.language, c.category, k.attributes FROM conversations c \
             JOIN contacts k ON k.id = c.contact_id WHERE c.account_id = $1 AND c.team_id = $2 AND c.status = 'open' AND c.assignee_id IS NULL \
             AND c.handler = 'human' ORDER BY CASE c.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, c.queued_at, c.id LIMIT $3",
        )
        .bind(account_id.to_string())
        .bind(team_id.to_string())
        .bind(PASS_LIMIT)
        .fetch_all(tx.conn())
        .await?;
        let mut waiting = Vec::with_capacity(found.len());
        for row in &found {
            let attributes: serde_json::Map<String, serde_json::Value> = rows::json(row, "attributes")?;
            let language = rows::opt_text(row, "language")?;
            let category = rows::opt_text(row, "category")?;
            let channel: Option<Channel> = rows::opt_parse(row, "channel")?;
            let facts =
                ConversationFacts { language: language.as_deref(), category: category.as_deref(), channel, attributes: Some(&attributes) };
            let requirements = if routing.strategy == Strategy::Skills { routing.skills.requirements(&facts) } else { Vec::new() };
            waiting.push(Waiting {
                id: rows::parse(row, "id")?,
                channel: channel.unwrap_or(Channel::Api),
                priority: rows::enum_of(row, "priority", Priority::parse)?,
                queued_at: match rows::opt_time(row, "queued_at")? {
                    Some(t) => t,
                    None => rows::time(row, "created_at")?,
                },
                requirements,
            });
        }
        let policy = Policy { strategy: routing.strategy, skills: routing.skills.clone() };
        let decisions = route_queue(&policy, &mut agents, &mut waiting, at);
        let mut pass = RoutingPass::default();
        for (conversation_id, decision) in decisions {
            match decision {
                Decision::Wait { reason } => {
                    if pass.waiting.len() < 20 {
                        pass.waiting.push((conversation_id, reason));
                    }
                }
                Decision::Assign { agent, reason } => {
                    let done = sqlx::query(
                        "UPDATE conversations SET assignee_id = $3, updated_at = $4 WHERE id = $1 AND account_id = $2 \
                         AND assignee_id IS NULL AND status = 'open'",
                    )
                    .bind(conversation_id.to_string())
                    .bind(account_id.to_string())
                    .bind(agent.to_string())
                    .bind(micros(at))
                    .execute(tx.conn())
                    .await?;
                    if done.rows_affected() == 0 {
                        continue;
                    }
                    sqlx::query("UPDATE users SET last_assigned_at = $2 WHERE id = $1")
                        .bind(agent.to_string())
                        .bind(micros(at))
                        .execute(tx.conn())
                        .await?;
                    let decided =
                        Decided { conversation_id, team_id: Some(team_id), user_id: Some(agent), kind: "assigned", reason: &reason };
                    record_decision(&mut tx, account_id, decided, at).await?;
                    let c = load_conversation(tx.conn(), account_id, conversation_id).await?;
                    tx.emit(conversation_event(account_id, Payload::ConversationUpdated, &c, at));
                    let note = RoutingNote { strategy: routing.strategy, reason: reason.clone() };
                    let assigned = ConversationPayload { routing: Some(note), ..ConversationPayload::of(&c) };
                    tx.emit(DomainEvent::new(account_id, Payload::ConversationAssigned(assigned), at));
                    pass.assigned.push((conversation_id, agent, reason));
                }
            }
        }
        tx.commit().await?;
        Ok(pass)
    }

    /// Puts a conversation back in a queue (its own team's, or `team`'s),
    /// recording why: an agent went offline, an SLA escalation.
    pub async fn requeue(
        &self,
        account_id: AccountId,
        conversation_id: ConversationId,
        team: Option<TeamId>,
        reason: &str,
    ) -> Result<Conversation> {
        let at = now();
        let mut tx = self.begin_write().await?;
        if let Some(team) = team {
            Self::check_team(&mut tx, account_id, team).await?;
        }
        let mut c = load_conversation(tx.conn(), account_id, conversation_id).await?;
        let previous = c.assignee_id;
        c.assignee_id = None;
        c.team_id = team.or(c.team_id);
        c.queued_at = Some(at);
        c.updated_at = at;
        sqlx::query(
            "UPDATE conversations SET assignee_id = NULL, team_id = $3, queued_at = $4, updated_at = $4 WHERE id = $1 AND account_id = $2",
        )
        .bind(c.id.to_string())
        .bind(account_id.to_string())
        .bind(c.team_id.map(|t| t.to_string()))
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        let decided = Decided { conversation_id: c.id, team_id: c.team_id, user_id: previous, kind: "requeued", reason };
        record_decision(&mut tx, account_id, decided, at).await?;
        tx.emit(conversation_event(account_id, Payload::ConversationUpdated, &c, at));
        tx.emit(conversation_event(account_id, Payload::ConversationAssigned, &c, at));
        tx.routing_needed = true;
        tx.commit().await?;
        Ok(c)
    }

    /// Open conversations of auto-assigned teams whose agent has been
    /// offline longer than the team allows: what the router puts back in
    /// the queue.
    pub async fn stranded_conversations(&self, limit: i64) -> Result<Vec<(AccountId, ConversationId, String)>> {
        let at = now();
        let teams = sqlx::query("SELECT account_id, id, routing FROM teams WHERE routing IS NOT NULL").fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for row in &teams {
            let routing: TeamRouting = rows::json(row, "routing")?;
            let (true, Some(grace)) = (routing.auto_assign, routing.reassign_offline_after_secs) else { continue };
            let cutoff = at - time::Duration::seconds(grace as i64);
            // Offline since before the cutoff: set offline then, or last
            // seen online before cutoff − presence lifetime, or never seen.
            let found = sqlx::query(
                "SELECT c.id, u.name FROM conversations c JOIN users u ON u.id = c.assignee_id LEFT JOIN agent_presence p ON p.user_id = c.assignee_id \
                 WHERE c.account_id = $1 AND c.team_id = $2 AND c.status = 'open' AND c.assignee_id IS NOT NULL \
                 AND (p.user_id IS NULL OR (p.status = 'offline' AND p.updated_at < $3) OR p.updated_at < $4) LIMIT $5",
            )
            .bind(rows::text(row, "account_id")?)
            .bind(rows::text(row, "id")?)
            .bind(micros(cutoff))
            .bind(micros(cutoff - PRESENCE_TTL))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            for c in &found {
                let reason = format!("{} has been offline for more than {} minutes", rows::text(c, "name")?, grace.div_ceil(60));
                out.push((rows::parse(row, "account_id")?, rows::parse(c, "id")?, reason));
            }
        }
        Ok(out)
    }

    /// Every routing decision about a conversation, oldest first.
    pub async fn routing_decisions(&self, account_id: AccountId, conversation_id: ConversationId) -> Result<Vec<RoutingDecision>> {
        let found = sqlx::query(
            "SELECT id, conversation_id, team_id, user_id, kind, reason, created_at FROM routing_decisions \
             WHERE conversation_id = $1 AND account_id = $2 ORDER BY created_at, id",
        )
        .bind(conversation_id.to_string())
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        found
            .iter()
            .map(|r| {
                Ok(RoutingDecision {
                    id: rows::parse(r, "id")?,
                    conversation_id: rows::parse(r, "conversation_id")?,
                    team_id: rows::opt_parse(r, "team_id")?,
                    user_id: rows::opt_parse(r, "user_id")?,
                    kind: rows::text(r, "kind")?,
                    reason: rows::text(r, "reason")?,
                    created_at: rows::time(r, "created_at")?,
                })
            })
            .collect()
    }

    /// Each team's queue: how many wait and since when.
    pub async fn queue_stats(&self, account_id: AccountId) -> Result<Vec<QueueStats>> {
        let found = sqlx::query(
            "SELECT team_id, COUNT(*) AS n, MIN(queued_at) AS oldest FROM conversations WHERE account_id = $1 AND team_id IS NOT NULL \
             AND status = 'open' AND assignee_id IS NULL AND handler = 'human' GROUP BY team_id",
        )
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        found
            .iter()
            .map(|r| {
                Ok(QueueStats {
                    team_id: rows::parse(r, "team_id")?,
                    waiting: rows::int(r, "n")?,
                    oldest_queued_at: rows::opt_time(r, "oldest")?,
                })
            })
            .collect()
    }
}

/// The team's members (no team: the account's users) as routing sees
/// them: presence, skills, capacity, and their load across all their open
/// conversations.
pub(crate) async fn team_agents(
    conn: &mut sqlx::AnyConnection,
    account_id: AccountId,
    team_id: Option<TeamId>,
    at: OffsetDateTime,
) -> Result<Vec<Agent>> {
    let found = sqlx::query(
        "SELECT u.id, u.name, u.routing, u.last_assigned_at, p.status, p.updated_at FROM users u \
         LEFT JOIN agent_presence p ON p.user_id = u.id WHERE u.account_id = $2 AND u.deleted_at IS NULL \
         AND ($1 = '' OR u.id IN (SELECT user_id FROM team_members WHERE team_id = $1)) ORDER BY u.id",
    )
    .bind(team_id.map(|t| t.to_string()).unwrap_or_default())
    .bind(account_id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut agents = Vec::with_capacity(found.len());
    for row in &found {
        let routing: AgentRouting = match rows::opt_text(row, "routing")? {
            Some(raw) => serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("user routing: {e}")))?,
            None => AgentRouting::default(),
        };
        agents.push(Agent {
            id: rows::parse(row, "id")?,
            name: rows::text(row, "name")?,
            presence: presence_now(rows::opt_text(row, "status")?, rows::opt_int(row, "updated_at")?, at),
            skills: routing.skills,
            capacity: routing.capacity,
            load: BTreeMap::new(),
            last_assigned_at: rows::opt_time(row, "last_assigned_at")?,
        });
    }
    if agents.is_empty() {
        return Ok(agents);
    }
    let ids: Vec<String> = agents.iter().map(|a| a.id.to_string()).collect();
    for chunk in ids.chunks(256) {
        let padded = rows::padded(chunk);
        let sql = format!(
            "SELECT assignee_id, channel, COUNT(*) AS n FROM conversations WHERE account_id = $1 AND status IN ('open', 'pending') \
             AND assignee_id IN ({}) GROUP BY assignee_id, channel",
            rows::list(2, padded.len())
        );
        let mut query = sqlx::query(&sql).bind(account_id.to_string());
        for id in &padded {
            query = query.bind(id.clone());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let who: UserId = rows::parse(&row, "assignee_id")?;
            let channel: Channel = rows::opt_parse(&row, "channel")?.unwrap_or(Channel::Api);
            if let Some(agent) = agents.iter_mut().find(|a| a.id == who) {
                *agent.load.entry(channel).or_default() += rows::int(&row, "n")? as u32;
            }
        }
    }
    Ok(agents)
}
