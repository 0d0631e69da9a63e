//! Phone calls through a voice inbox: a row per call (keyed by the
//! provider's call id, so a redelivered webhook finds it), moved along as
//! the caller goes through the IVR and the queue, and ended once — the
//! first final status wins — with a `call` interaction in the customer's
//! timeline saying how it went.
//!
//! A waiting caller is offered to one agent at a time: the call notes whom
//! (`agent_id`) and the agent's own call (`offer_sid`); an agent who lets
//! it ring out is remembered (`declined`) so the next offer passes them
//! over. A caller who asks to be called back leaves a `call` task.

use threadline_domain::channel::Channel;
use threadline_domain::conversation::ConversationStatus;
use threadline_domain::event::{CallOfferedPayload, DomainEvent, Payload};
use threadline_domain::ids::{AccountId, ContactId, ConversationId, InboxId, InteractionId, TaskId, TeamId, UserId};
use threadline_domain::interaction::{Interaction, InteractionKind};
use threadline_domain::routing::Policy;
pub use threadline_domain::voice::Call;
use threadline_domain::voice::CallAgent;
use time::OffsetDateTime;

use crate::{Result, Store, StoreError, Task, micros, rows};

/// A call arriving.
#[derive(Debug, Clone)]
pub struct NewCall<'a> {
    pub inbox_id: InboxId,
    pub call_sid: &'a str,
    pub contact_id: ContactId,
    pub conversation_id: ConversationId,
    pub direction: &'a str,
    pub from_number: &'a str,
    pub to_number: &'a str,
    pub status: &'a str,
    /// Click-to-call: the agent on it (the call fills their voice capacity).
    pub agent_id: Option<UserId>,
}

/// What a step of the call changed; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CallChanges {
    pub language: Option<String>,
    pub team_id: Option<Option<TeamId>>,
    pub missed: bool,
    pub enqueued_at: Option<OffsetDateTime>,
    pub queue_secs: Option<i64>,
    pub voicemail: bool,
    /// Click-to-call: how long the customer's leg lasted.
    pub talk_secs: Option<i64>,
}

/// A call whose end was never reported (a lost status callback) stops
/// counting against its agent after this long.
const STALE: time::Duration = time::Duration::hours(4);

const COLUMNS: &str = "id, inbox_id, call_sid, contact_id, conversation_id, direction, from_number, to_number, language, team_id, misses, \
                       enqueued_at, queue_secs, voicemail, answered_at, talk_secs, status, duration_secs, agent_id, offer_sid, declined, callback_task_id, \
                       created_at, ended_at";

fn call_row(row: &sqlx::any::AnyRow) -> Result<Call> {
    Ok(Call {
        id: rows::text(row, "id")?,
        inbox_id: rows::parse(row, "inbox_id")?,
        call_sid: rows::text(row, "call_sid")?,
        contact_id: rows::parse(row, "contact_id")?,
        conversation_id: rows::parse(row, "conversation_id")?,
        direction: rows::text(row, "direction")?,
        from_number: rows::text(row, "from_number")?,
        to_number: rows::text(row, "to_number")?,
        language: rows::opt_text(row, "language")?,
        team_id: rows::opt_parse(row, "team_id")?,
        misses: rows::int(row, "misses")?,
        enqueued_at: rows::opt_time(row, "enqueued_at")?,
        queue_secs: rows::opt_int(row, "queue_secs")?,
        voicemail: rows::int(row, "voicemail")? != 0,
        answered_at: rows::opt_time(row, "answered_at")?,
        talk_secs: rows::opt_int(row, "talk_secs")?,
        status: rows::text(row, "status")?,
        duration_secs: rows::opt_int(row, "duration_secs")?,
        agent_id: rows::opt_parse(row, "agent_id")?,
        offer_sid: rows::opt_text(row, "offer_sid")?,
        declined: serde_json::from_str(&rows::text(row, "declined")?).map_err(|e| StoreError::Corrupt(format!("call declined: {e}")))?,
        callback_task_id: rows::opt_parse(row, "callback_task_id")?,
        created_at: rows::time(row, "created_at")?,
        ended_at: rows::opt_time(row, "ended_at")?,
    })
}

/// How a call is summed up in the timeline ("Incoming call, 2:31, 45 s
/// in the queue, 1:40 with Paolo, completed"); `agent`: who answered.
fn summary(call: &Call, agent: Option<&str>) -> String {
    let mut parts = vec![if call.direction == "outbound" { "Outgoing call".to_owned() } else { "Incoming call".to_owned() }];
    if let Some(secs) = call.duration_secs {
        parts.push(format!("{}:{:02}", secs / 60, secs % 60));
    }
    if let Some(queued) = call.queue_secs {
        parts.push(format!("{queued} s in the queue"));
    }
    if let Some(talk) = call.talk_secs {
        let talked = format!("{}:{:02}", talk / 60, talk % 60);
        parts.push(match agent {
            Some(name) if call.answered_at.is_some() => format!("{talked} with {name}"),
            _ => format!("{talked} talking"),
        });
    }
    parts.push(
        match (call.voicemail, call.status.as_str()) {
            _ if call.callback_task_id.is_some() => "callback requested",
            (true, _) => "voicemail",
            (false, "completed") => "completed",
            (false, "busy") => "busy",
            (false, "no-answer") => "not answered",
            (false, "canceled") => "hung up",
            (false, _) => "failed",
        }
        .to_owned(),
    );
    parts.join(", ")
}

impl Store {
    /// Records a call as it arrives; the same call again returns it.
    pub async fn start_call(&self, account_id: AccountId, new: NewCall<'_>, at: OffsetDateTime) -> Result<Call> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO calls (id, account_id, inbox_id, call_sid, contact_id, conversation_id, direction, from_number, to_number, status, \
             created_at, updated_at, agent_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12) \
             ON CONFLICT (inbox_id, call_sid) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(account_id.to_string())
        .bind(new.inbox_id.to_string())
        .bind(new.call_sid)
        .bind(new.contact_id.to_string())
        .bind(new.conversation_id.to_string())
        .bind(new.direction)
        .bind(new.from_number)
        .bind(new.to_number)
        .bind(new.status)
        .bind(micros(at))
        .bind(new.agent_id.map(|a| a.to_string()))
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        self.call_by_sid(account_id, new.inbox_id, new.call_sid).await?.ok_or(StoreError::NotFound)
    }

    pub async fn call_by_sid(&self, account_id: AccountId, inbox_id: InboxId, call_sid: &str) -> Result<Option<Call>> {
        let sql = format!("SELECT {COLUMNS} FROM calls WHERE account_id = $1 AND inbox_id = $2 AND call_sid = $3");
        let row =
            sqlx::query(&sql).bind(account_id.to_string()).bind(inbox_id.to_string()).bind(call_sid).fetch_optional(&self.pool).await?;
        row.map(|r| call_row(&r)).transpose()
    }

    /// A conversation's calls, oldest first.
    pub async fn conversation_calls(&self, account_id: AccountId, conversation_id: ConversationId) -> Result<Vec<Call>> {
        let sql = format!("SELECT {COLUMNS} FROM calls WHERE account_id = $1 AND conversation_id = $2 ORDER BY created_at, id");
        let rows = sqlx::query(&sql).bind(account_id.to_string()).bind(conversation_id.to_string()).fetch_all(&self.pool).await?;
        rows.iter().map(call_row).collect()
    }

    /// Applies a step's changes to a call.
    pub async fn update_call(&self, account_id: AccountId, id: &str, changes: CallChanges, at: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let team = changes.team_id.map(|t| t.map(|t| t.to_string()));
        sqlx::query(
            "UPDATE calls SET language = COALESCE($3, language), team_id = CASE WHEN $4 = 1 THEN $5 ELSE team_id END, \
             misses = misses + $6, enqueued_at = COALESCE(enqueued_at, $7), queue_secs = COALESCE($8, queue_secs), \
             voicemail = CASE WHEN $9 = 1 THEN 1 ELSE voicemail END, talk_secs = COALESCE($11, talk_secs), updated_at = $10 \
             WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(account_id.to_string())
        .bind(changes.language)
        .bind(i64::from(team.is_some()))
        .bind(team.flatten())
        .bind(i64::from(changes.missed))
        .bind(changes.enqueued_at.map(micros))
        .bind(changes.queue_secs)
        .bind(i64::from(changes.voicemail))
        .bind(micros(at))
        .bind(changes.talk_secs)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims an agent for a waiting call before their phone rings: true
    /// when the call is not offered to anyone and the agent has room for
    /// one more call (`capacity`) — so two callers never ring one agent
    /// beyond it, on any node. `declined` replaces the agents passed over.
    pub async fn claim_call_offer(
        &self,
        account_id: AccountId,
        call: &Call,
        agent: UserId,
        capacity: u32,
        declined: &[UserId],
        at: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        if self.backend == crate::Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('call-agent:' || $1))").bind(agent.to_string()).execute(tx.conn()).await?;
        }
        let claimed = sqlx::query(
            "UPDATE calls SET agent_id = $3, offer_sid = NULL, declined = $4, updated_at = $5 \
             WHERE id = $1 AND account_id = $2 AND agent_id IS NULL AND ended_at IS NULL \
             AND (SELECT COUNT(*) FROM calls o WHERE o.account_id = $2 AND o.agent_id = $3 AND o.ended_at IS NULL AND o.created_at > $7) < $6",
        )
        .bind(&call.id)
        .bind(account_id.to_string())
        .bind(agent.to_string())
        .bind(serde_json::to_string(declined).unwrap_or_else(|_| "[]".into()))
        .bind(micros(at))
        .bind(i64::from(capacity))
        .bind(micros(at - STALE))
        .execute(tx.conn())
        .await?;
        if claimed.rows_affected() == 1 {
            // Round robin moves on past them, for calls as for conversations.
            sqlx::query("UPDATE users SET last_assigned_at = $3 WHERE id = $1 AND account_id = $2")
                .bind(agent.to_string())
                .bind(account_id.to_string())
                .bind(micros(at))
                .execute(tx.conn())
                .await?;
        }
        tx.commit().await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// The claimed agent's phone rings (`offer_sid` is their call): noted
    /// on the call, and a `call.offered` event for their workspace. False
    /// when the caller has gone (or left the queue) meanwhile: the agent's
    /// phone should stop.
    pub async fn offer_call(&self, account_id: AccountId, call: &Call, agent: UserId, offer_sid: &str, at: OffsetDateTime) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE calls SET offer_sid = $4, updated_at = $5 WHERE id = $1 AND account_id = $2 AND agent_id = $3 AND ended_at IS NULL",
        )
        .bind(&call.id)
        .bind(account_id.to_string())
        .bind(agent.to_string())
        .bind(offer_sid)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let offered = CallOfferedPayload { call: call.clone(), agent_id: agent, conversation_id: call.conversation_id };
        tx.emit(DomainEvent::new(account_id, Payload::CallOffered(offered), at));
        tx.commit().await?;
        Ok(true)
    }

    /// The caller left the queue (for voicemail, a callback, or gone): the
    /// call is offered to nobody any more. The ringing agent's call, if
    /// any, to stop.
    pub async fn withdraw_offer(&self, account_id: AccountId, call: &Call, at: OffsetDateTime) -> Result<Option<String>> {
        let mut tx = self.begin_write().await?;
        let sql = format!("SELECT {COLUMNS} FROM calls WHERE id = $1 AND account_id = $2");
        let row = sqlx::query(&sql).bind(&call.id).bind(account_id.to_string()).fetch_optional(tx.conn()).await?;
        let Some(current) = row.map(|r| call_row(&r)).transpose()? else {
            tx.rollback().await?;
            return Ok(None);
        };
        if current.answered_at.is_some() || current.agent_id.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        sqlx::query("UPDATE calls SET agent_id = NULL, offer_sid = NULL, updated_at = $3 WHERE id = $1 AND account_id = $2")
            .bind(&call.id)
            .bind(account_id.to_string())
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(current.offer_sid)
    }

    /// The agent answered the call they were offered: it stays theirs
    /// (their talk time counts from now), their own call's end is no
    /// longer a "no answer", and the caller's conversation, if nobody has
    /// it, becomes theirs.
    pub async fn answer_offer(&self, account_id: AccountId, inbox_id: InboxId, call_sid: &str, at: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE calls SET offer_sid = NULL, answered_at = COALESCE(answered_at, $4), updated_at = $4 \
             WHERE account_id = $1 AND inbox_id = $2 AND call_sid = $3",
        )
        .bind(account_id.to_string())
        .bind(inbox_id.to_string())
        .bind(call_sid)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        let sql = format!("SELECT {COLUMNS} FROM calls WHERE account_id = $1 AND inbox_id = $2 AND call_sid = $3");
        let row =
            sqlx::query(&sql).bind(account_id.to_string()).bind(inbox_id.to_string()).bind(call_sid).fetch_optional(tx.conn()).await?;
        if let Some(call) = row.map(|r| call_row(&r)).transpose()?
            && let Some(agent) = call.agent_id
        {
            let conversation = crate::conversations::load_conversation(tx.conn(), account_id, call.conversation_id).await?;
            if conversation.assignee_id.is_none() && conversation.status != ConversationStatus::Resolved {
                let theirs = crate::ConversationChanges { assignee_id: Some(Some(agent)), ..Default::default() };
                crate::conversations::change_conversation(&mut tx, account_id, conversation.id, theirs, &format!("user:{agent}"), at)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// An agent's phone was not answered (`offer`: their call's sid, which
    /// ended busy, unanswered, failed or cancelled — or the waiting call's
    /// own row id, when their phone could not be rung): the waiting call
    /// they were offered is free to offer again, passing them over. `None`
    /// when no waiting call is offered that way (a redelivery, or the
    /// caller gone).
    pub async fn decline_offer(&self, account_id: AccountId, inbox_id: InboxId, offer: &str, at: OffsetDateTime) -> Result<Option<Call>> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM calls WHERE account_id = $1 AND inbox_id = $2 AND (offer_sid = $3 OR (id = $3 AND offer_sid IS NULL)) \
             AND agent_id IS NOT NULL AND ended_at IS NULL"
        );
        let row = sqlx::query(&sql).bind(account_id.to_string()).bind(inbox_id.to_string()).bind(offer).fetch_optional(tx.conn()).await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let mut call = call_row(&row)?;
        let (agent, offered) = (call.agent_id.take(), call.offer_sid.take());
        if let Some(agent) = agent
            && !call.declined.contains(&agent)
        {
            call.declined.push(agent);
        }
        // Only as read: a concurrent status callback (or a new offer made
        // meanwhile) leaves this one with nothing to do.
        let done = sqlx::query(
            "UPDATE calls SET agent_id = NULL, offer_sid = NULL, declined = $3, updated_at = $4 \
             WHERE id = $1 AND account_id = $2 AND agent_id = $5 AND COALESCE(offer_sid, '') = $6",
        )
        .bind(&call.id)
        .bind(account_id.to_string())
        .bind(serde_json::to_string(&call.declined).unwrap_or_else(|_| "[]".into()))
        .bind(micros(at))
        .bind(agent.map(|a| a.to_string()).unwrap_or_default())
        .bind(offered.unwrap_or_default())
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(call))
    }

    /// Who a call of `team`'s queue (none: the inbox's own, any agent) can
    /// be offered to, and how the team routes: its members as routing sees
    /// them — their load on voice being the calls they are on or being
    /// offered — with the phone each answers on.
    pub async fn call_agents(&self, account_id: AccountId, team: Option<TeamId>) -> Result<(Policy, Vec<CallAgent>)> {
        let at = crate::now();
        let mut conn = self.pool.acquire().await?;
        let routing = match team {
            Some(team) => {
                let raw: Option<Option<String>> = sqlx::query_scalar("SELECT routing FROM teams WHERE id = $1 AND account_id = $2")
                    .bind(team.to_string())
                    .bind(account_id.to_string())
                    .fetch_optional(&mut *conn)
                    .await?;
                match raw.flatten() {
                    Some(raw) => serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("team routing: {e}")))?,
                    None => crate::TeamRouting::default(),
                }
            }
            None => crate::TeamRouting::default(),
        };
        let policy = Policy { strategy: routing.strategy, skills: routing.skills };
        let agents = crate::routing::team_agents(&mut conn, account_id, team, at).await?;
        let phones = sqlx::query("SELECT id, phone FROM users WHERE account_id = $1 AND phone IS NOT NULL AND deleted_at IS NULL")
            .bind(account_id.to_string())
            .fetch_all(&mut *conn)
            .await?;
        let calls = sqlx::query(
            "SELECT agent_id, COUNT(*) AS n FROM calls WHERE account_id = $1 AND agent_id IS NOT NULL AND ended_at IS NULL \
             AND created_at > $2 GROUP BY agent_id",
        )
        .bind(account_id.to_string())
        .bind(micros(at - STALE))
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(agents.len());
        for mut agent in agents {
            let mut on_calls = 0;
            for row in &calls {
                if rows::parse::<UserId>(row, "agent_id")? == agent.id {
                    on_calls = rows::int(row, "n")? as u32;
                }
            }
            agent.load.insert(Channel::Voice, on_calls);
            let mut phone = None;
            for row in &phones {
                if rows::parse::<UserId>(row, "id")? == agent.id {
                    phone = rows::opt_text(row, "phone")?;
                }
            }
            out.push(CallAgent { agent, phone });
        }
        Ok((policy, out))
    }

    /// The caller asked to be called back: a `call` task for the call's
    /// team (or anyone), due now, on the caller — once per call.
    pub async fn request_callback(&self, account_id: AccountId, call: &Call, title: &str, at: OffsetDateTime) -> Result<Option<Task>> {
        let mut tx = self.begin_write().await?;
        let task = Task {
            id: TaskId::new(),
            contact_id: call.contact_id,
            kind: "call".into(),
            title: title.to_owned(),
            team_id: call.team_id,
            assignee_id: None,
            due_at: crate::from_micros(micros(at)),
            status: "open".into(),
            journey_id: None,
            run_id: None,
            created_at: crate::from_micros(micros(at)),
            done_at: None,
            done_by: None,
        };
        let claimed = sqlx::query(
            "UPDATE calls SET callback_task_id = $3, updated_at = $4 WHERE id = $1 AND account_id = $2 AND callback_task_id IS NULL",
        )
        .bind(&call.id)
        .bind(account_id.to_string())
        .bind(task.id.to_string())
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        if claimed.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        crate::journeys::insert_task(&mut tx, account_id, &task).await?;
        tx.emit(DomainEvent::task_created(account_id, &task, at));
        tx.commit().await?;
        Ok(Some(task))
    }

    /// The conversation an agent's call to a customer belongs to: the
    /// customer's latest one not yet resolved, or a new voice conversation
    /// of `team`, assigned to the agent.
    pub async fn conversation_for_call(
        &self,
        account_id: AccountId,
        contact_id: ContactId,
        team: Option<TeamId>,
        agent: UserId,
    ) -> Result<ConversationId> {
        let at = crate::now();
        let mut tx = self.begin_write().await?;
        crate::contacts::load_contact(tx.conn(), account_id, contact_id).await?;
        let latest: Option<String> = sqlx::query_scalar(
            "SELECT id FROM conversations WHERE account_id = $1 AND contact_id = $2 AND status <> 'resolved' \
             ORDER BY last_activity_at DESC, id DESC LIMIT 1",
        )
        .bind(account_id.to_string())
        .bind(contact_id.to_string())
        .fetch_optional(tx.conn())
        .await?;
        if let Some(id) = latest {
            tx.rollback().await?;
            return id.parse().map_err(|_| StoreError::Corrupt("conversation id".into()));
        }
        let id = crate::journeys::new_outreach_conversation(
            &mut tx,
            account_id,
            contact_id,
            Some(Channel::Voice),
            ConversationStatus::Open,
            team,
            at,
        )
        .await?;
        let mine = crate::ConversationChanges { assignee_id: Some(Some(agent)), ..Default::default() };
        crate::conversations::change_conversation(&mut tx, account_id, id, mine, &format!("user:{agent}"), at).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Claims a call's recording for storing: true the first time this
    /// recording is reported for the call, false for a redelivery.
    pub async fn claim_call_recording(
        &self,
        account_id: AccountId,
        inbox_id: InboxId,
        call_sid: &str,
        recording_sid: &str,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE calls SET recording_sid = $4 WHERE account_id = $1 AND inbox_id = $2 AND call_sid = $3 AND recording_sid IS NULL",
        )
        .bind(account_id.to_string())
        .bind(inbox_id.to_string())
        .bind(call_sid)
        .bind(recording_sid)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends a call with its final status, once: the first final status
    /// wins and writes the `call` interaction; a later one returns `None`.
    pub async fn end_call(
        &self,
        account_id: AccountId,
        inbox_id: InboxId,
        call_sid: &str,
        status: &str,
        duration_secs: Option<i64>,
        at: OffsetDateTime,
    ) -> Result<Option<Call>> {
        let mut tx = self.begin_write().await?;
        // An answered call: it waited until the agent answered, and they
        // talked from then until it ended (unless the provider said).
        let done = sqlx::query(
            "UPDATE calls SET status = $4, duration_secs = $5, ended_at = $6, updated_at = $6, \
             queue_secs = COALESCE(queue_secs, CASE WHEN answered_at IS NOT NULL AND enqueued_at IS NOT NULL \
                 THEN (answered_at - enqueued_at) / 1000000 END), \
             talk_secs = COALESCE(talk_secs, CASE WHEN answered_at IS NOT NULL THEN ($6 - answered_at) / 1000000 END) \
             WHERE account_id = $1 AND inbox_id = $2 AND call_sid = $3 AND ended_at IS NULL",
        )
        .bind(account_id.to_string())
        .bind(inbox_id.to_string())
        .bind(call_sid)
        .bind(status)
        .bind(duration_secs)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let sql = format!("SELECT {COLUMNS} FROM calls WHERE account_id = $1 AND inbox_id = $2 AND call_sid = $3");
        let row = sqlx::query(&sql).bind(account_id.to_string()).bind(inbox_id.to_string()).bind(call_sid).fetch_one(tx.conn()).await?;
        let call = call_row(&row)?;
        let agent: Option<String> = match call.agent_id.filter(|_| call.answered_at.is_some()) {
            Some(agent) => {
                sqlx::query_scalar("SELECT name FROM users WHERE id = $1 AND account_id = $2")
                    .bind(agent.to_string())
                    .bind(account_id.to_string())
                    .fetch_optional(tx.conn())
                    .await?
            }
            None => None,
        };
        let interaction = Interaction {
            id: InteractionId::new(),
            contact_id: call.contact_id,
            conversation_id: Some(call.conversation_id),
            kind: InteractionKind::Call,
            summary: Some(summary(&call, agent.as_deref())),
            data: serde_json::json!({
                "call_sid": call.call_sid, "direction": call.direction, "from": call.from_number, "to": call.to_number,
                "status": call.status, "duration_secs": call.duration_secs, "queue_secs": call.queue_secs,
                "voicemail": call.voicemail, "language": call.language, "team_id": call.team_id,
                "talk_secs": call.talk_secs, "agent_id": call.agent_id.filter(|_| call.answered_at.is_some()),
                "callback_task_id": call.callback_task_id,
            }),
            occurred_at: call.created_at,
        };
        crate::interactions::insert_interaction(&mut tx, account_id, &interaction, at).await?;
        tx.commit().await?;
        Ok(Some(call))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_summed_up_for_the_timeline() {
        let mut call = Call {
            id: "c".into(),
            inbox_id: InboxId::new(),
            call_sid: "CA1".into(),
            contact_id: ContactId::new(),
            conversation_id: ConversationId::new(),
            direction: "inbound".into(),
            from_number: "+393331234567".into(),
            to_number: "+390212345678".into(),
            language: None,
            team_id: None,
            misses: 0,
            enqueued_at: None,
            queue_secs: Some(45),
            voicemail: true,
            answered_at: None,
            talk_secs: None,
            status: "completed".into(),
            duration_secs: Some(151),
            agent_id: None,
            offer_sid: None,
            declined: Vec::new(),
            callback_task_id: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            ended_at: None,
        };
        assert_eq!(summary(&call, None), "Incoming call, 2:31, 45 s in the queue, voicemail");
        call.voicemail = false;
        call.queue_secs = None;
        call.status = "no-answer".into();
        assert_eq!(summary(&call, None), "Incoming call, 2:31, not answered");
        call.callback_task_id = Some(TaskId::new());
        assert_eq!(summary(&call, None), "Incoming call, 2:31, callback requested");
        call.callback_task_id = None;
        call.status = "completed".into();
        call.queue_secs = Some(30);
        call.answered_at = Some(OffsetDateTime::UNIX_EPOCH);
        call.talk_secs = Some(100);
        assert_eq!(summary(&call, Some("Paolo")), "Incoming call, 2:31, 30 s in the queue, 1:40 with Paolo, completed");
    }
}
