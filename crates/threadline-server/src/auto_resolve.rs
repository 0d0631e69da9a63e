//! Resolves pending conversations nobody has written in for the account's
//! `auto_resolve_pending_days`: the customer was asked something and went
//! quiet. One job for the installation, every `auto_resolve_scan_secs`;
//! each resolution is an ordinary one by `system` (events, surveys,
//! journeys and reports follow as for any other).

use threadline_domain::conversation::ConversationStatus;
use threadline_store::{ConversationChanges, Job, NewJob};
use time::{Duration, OffsetDateTime};

use crate::app::AppState;
use crate::jobs::Outcome;

/// The job kind.
pub const AUTO_RESOLVE_JOB: &str = "conversations.auto_resolve";

/// Resolutions per round.
const ROUND: i64 = 200;

pub fn job(at: OffsetDateTime) -> NewJob {
    NewJob {
        lane: None,
        kind: AUTO_RESOLVE_JOB,
        account_id: None,
        dedup_key: Some("auto-resolve".into()),
        payload: serde_json::json!({}),
        run_at: at,
    }
}

pub async fn on_due(state: &AppState, _job: &Job) -> anyhow::Result<Outcome> {
    let now = state.clock.now();
    for _ in 0..50 {
        let due = state.store.pending_to_resolve(now, ROUND).await?;
        for (account_id, id) in &due {
            let changes = ConversationChanges { status: Some(ConversationStatus::Resolved), ..Default::default() };
            match state.store.update_conversation(*account_id, *id, changes, "system:auto_resolve").await {
                Ok(_) => {}
                // Deleted meanwhile.
                Err(threadline_store::StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if (due.len() as i64) < ROUND {
            break;
        }
    }
    Ok(Outcome::Later(now + Duration::seconds(state.settings.auto_resolve_scan_secs.max(10) as i64)))
}
