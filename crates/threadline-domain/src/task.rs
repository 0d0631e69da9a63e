//! Tasks: what a person is asked to do about a customer, by a journey, a
//! call-back request or a survey's follow-up.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{ContactId, JourneyId, JourneyRunId, TaskId, TeamId, UserId};

/// Something for a person to do about a customer: a call to make, a reply,
/// a follow-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Task {
    pub id: TaskId,
    pub contact_id: ContactId,
    /// `call`, `reply` or `follow_up`.
    pub kind: String,
    pub title: String,
    pub team_id: Option<TeamId>,
    pub assignee_id: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// `open` or `done`.
    pub status: String,
    pub journey_id: Option<JourneyId>,
    pub run_id: Option<JourneyRunId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub done_at: Option<OffsetDateTime>,
    pub done_by: Option<String>,
}
