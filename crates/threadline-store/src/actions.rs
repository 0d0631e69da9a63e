//! The one executor of actions, shared by journeys and automation rules:
//! each action is an [`Effect`] written inside the caller's transaction,
//! next to the row that says it was done (a journey's `journey_steps`, a
//! rule's `automation_runs`), so an action done once is never done again
//! whatever crashed or ran twice. Messages go through the transactional
//! outbox like every other reply.

use threadline_domain::channel::Channel;
use threadline_domain::conversation::ConversationStatus;
use threadline_domain::event::DomainEvent;
use threadline_domain::ids::{AccountId, ContactId, ConversationId, JourneyId, JourneyRunId, MessageId, TaskId, TeamId, UserId};
use threadline_domain::journey::TaskKind;
use threadline_domain::message::MessageKind;
use time::OffsetDateTime;

use crate::journeys::{conversation_for_outreach, insert_task, new_outreach_conversation};
use crate::{ConversationChanges, NewJob, OutboundMessage, Result, Store, Task, WriteTx, now};

/// What an action does to Threadline's records.
#[derive(Debug, Clone)]
pub enum Effect {
    None,
    /// A message to the customer: in the target conversation if there is
    /// one, else in the customer's latest open conversation, or a new one.
    Send {
        outbound: Box<OutboundMessage>,
    },
    /// A task for a team or an agent about the customer.
    Task {
        kind: TaskKind,
        title: String,
        team_id: Option<TeamId>,
        assignee_id: Option<UserId>,
        due_at: OffsetDateTime,
    },
    /// Set (or, with `null`, remove) a custom attribute of the customer.
    SetAttribute {
        key: String,
        value: serde_json::Value,
    },
    /// A label on the customer (a custom attribute `labels`).
    AddLabel {
        label: String,
    },
    /// A new conversation for the team, with a note saying why.
    OpenConversation {
        team_id: Option<TeamId>,
        note: String,
    },
    /// Changes to the target conversation; labels are added and removed
    /// against the conversation as it stands in the transaction.
    Change {
        changes: Box<ConversationChanges>,
        add_labels: Vec<String>,
        remove_labels: Vec<String>,
    },
    /// An internal note in the target conversation, signed by `author`.
    Note {
        text: String,
        author: String,
    },
    /// Work for later (a job on the job table).
    Later {
        job: NewJob,
    },
}

/// Whom an effect is about.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub contact_id: ContactId,
    pub conversation_id: Option<ConversationId>,
    /// The run that did it, for tasks and their links back.
    pub journey: Option<(JourneyId, JourneyRunId)>,
}

/// What applying an effect left behind.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// The message written (a send, a note).
    pub message_id: Option<MessageId>,
}

impl Store {
    /// Writes `effect` in `tx`. `actor` is who the audit log and the
    /// conversation's history name (`journey:…`, `automation:…`).
    pub(crate) async fn apply_effect(
        &self,
        tx: &mut WriteTx,
        account_id: AccountId,
        target: Target,
        effect: Effect,
        actor: &str,
        at: OffsetDateTime,
    ) -> Result<Applied> {
        // Messages and their send jobs go by the wall clock (the outbox's),
        // whatever time the caller was told it is.
        let wall = now();
        let mut applied = Applied::default();
        match effect {
            Effect::None => {}
            Effect::Send { outbound } => {
                let conversation = match target.conversation_id {
                    Some(id) => id,
                    None => conversation_for_outreach(tx, account_id, target.contact_id, outbound.channel, wall).await?,
                };
                let message = self.write_outbound(tx, account_id, conversation, &outbound, wall).await?;
                applied = Applied { message_id: Some(message.id) };
            }
            Effect::Task { kind, title, team_id, assignee_id, due_at } => {
                let task = Task {
                    id: TaskId::new(),
                    contact_id: target.contact_id,
                    kind: kind.as_str().to_owned(),
                    title,
                    team_id,
                    assignee_id,
                    due_at,
                    status: "open".into(),
                    journey_id: target.journey.map(|(j, _)| j),
                    run_id: target.journey.map(|(_, r)| r),
                    created_at: at,
                    done_at: None,
                    done_by: None,
                };
                insert_task(tx, account_id, &task).await?;
                tx.emit(DomainEvent::task_created(account_id, &task, at));
            }
            Effect::SetAttribute { key, value } => {
                let mut contact = crate::contacts::load_contact(tx.conn(), account_id, target.contact_id).await?;
                if value.is_null() {
                    contact.custom_attributes.remove(&key);
                } else {
                    contact.custom_attributes.insert(key, value);
                }
                contact.updated_at = at;
                crate::contacts::write_contact_fields(tx, account_id, &contact).await?;
                tx.emit(DomainEvent::contact_updated(account_id, &contact, at));
            }
            Effect::AddLabel { label } => {
                let mut contact = crate::contacts::load_contact(tx.conn(), account_id, target.contact_id).await?;
                let labels = contact.custom_attributes.entry("labels").or_insert_with(|| serde_json::json!([]));
                if !labels.is_array() {
                    *labels = serde_json::json!([]);
                }
                if let Some(list) = labels.as_array_mut()
                    && !list.iter().any(|l| l.as_str() == Some(label.as_str()))
                {
                    list.push(serde_json::Value::String(label));
                }
                contact.updated_at = at;
                crate::contacts::write_contact_fields(tx, account_id, &contact).await?;
                tx.emit(DomainEvent::contact_updated(account_id, &contact, at));
            }
            Effect::OpenConversation { team_id, note } => {
                let conversation =
                    new_outreach_conversation(tx, account_id, target.contact_id, None, ConversationStatus::Open, team_id, wall).await?;
                let id = self.write_note(tx, account_id, conversation, note, "journey", wall).await?;
                applied.message_id = Some(id);
                tx.routing_needed = true;
            }
            Effect::Change { changes, add_labels, remove_labels } => {
                let Some(id) = target.conversation_id else { return Ok(applied) };
                let mut changes = *changes;
                if !add_labels.is_empty() || !remove_labels.is_empty() {
                    let current = crate::conversations::load_conversation(tx.conn(), account_id, id).await?;
                    let mut labels = changes.labels.take().unwrap_or(current.labels);
                    labels.retain(|l| !remove_labels.contains(l));
                    for label in add_labels {
                        if !labels.contains(&label) {
                            labels.push(label);
                        }
                    }
                    changes.labels = Some(labels);
                }
                crate::conversations::change_conversation(tx, account_id, id, changes, actor, at).await?;
            }
            Effect::Note { text, author } => {
                let Some(id) = target.conversation_id else { return Ok(applied) };
                applied.message_id = Some(self.write_note(tx, account_id, id, text, &author, wall).await?);
            }
            Effect::Later { job } => {
                crate::jobs::enqueue(tx, &job, job.run_at).await?;
            }
        }
        Ok(applied)
    }

    pub(crate) async fn write_note(
        &self,
        tx: &mut WriteTx,
        account_id: AccountId,
        conversation_id: ConversationId,
        text: String,
        author: &str,
        at: OffsetDateTime,
    ) -> Result<MessageId> {
        let note = OutboundMessage {
            kind: MessageKind::Note,
            channel: Channel::Api,
            inbox_id: None,
            sender: None,
            bot: Some(author.to_owned()),
            delivery: None,
            text,
            html: None,
            subject: None,
            attachments: Vec::new(),
            mentions: Vec::new(),
            choices: Vec::new(),
        };
        let message = self.write_outbound(tx, account_id, conversation_id, &note, at).await?;
        Ok(message.id)
    }
}
