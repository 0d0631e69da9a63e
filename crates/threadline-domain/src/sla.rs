//! Service-level agreements: how soon a conversation must get its first
//! answer, its next answer after the customer writes again, and its
//! resolution, per priority and counted in business hours; and what
//! happens when a target is missed.
//!
//! Time zones are the caller's: the functions here take `offset_at`, the
//! UTC offset of the policy's time zone at an instant (the server reads it
//! from the time-zone database), so this module stays free of I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset, Weekday};

use crate::conversation::{Priority, string_enum};
use crate::ids::TeamId;
use crate::validation::ValidationErrors;

string_enum! {
    /// Which promise a clock measures.
    SlaTarget {
        FirstResponse => "first_response",
        NextResponse => "next_response",
        Resolution => "resolution",
    }
}

/// The targets for one priority, in seconds of business time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    pub first_response_secs: Option<u64>,
    pub next_response_secs: Option<u64>,
    pub resolution_secs: Option<u64>,
}

impl Targets {
    fn get(&self, target: SlaTarget) -> Option<u64> {
        match target {
            SlaTarget::FirstResponse => self.first_response_secs,
            SlaTarget::NextResponse => self.next_response_secs,
            SlaTarget::Resolution => self.resolution_secs,
        }
    }
}

/// One opening period of a weekday, local time (`"09:00"`–`"18:00"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Opening {
    /// `monday` … `sunday`.
    pub day: String,
    pub open: String,
    pub close: String,
}

/// When the clock runs: the opening periods in a time zone. Outside them
/// an SLA clock stands still.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// An IANA time zone, e.g. `Europe/Rome`.
    pub time_zone: String,
    pub openings: Vec<Opening>,
}

string_enum! {
    /// What an escalation rule does when a target is missed.
    EscalationAction {
        /// Take it from its agent and put it back in the queue (of `team_id`, if given).
        Reassign => "reassign",
        /// One priority step up.
        RaisePriority => "raise_priority",
        /// Tell the account's supervisors and administrators.
        NotifySupervisors => "notify_supervisors",
    }
}

/// When `target` (any target, if none) is missed, do `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    #[serde(default)]
    pub target: Option<SlaTarget>,
    pub action: EscalationAction,
    /// For `reassign`: the team whose queue it goes to.
    #[serde(default)]
    pub team_id: Option<TeamId>,
}

/// An SLA policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    /// Targets per priority (`low`, `normal`, `high`, `urgent`); a priority
    /// not listed has no targets.
    pub targets: BTreeMap<String, Targets>,
    /// None: the clock runs all day, every day.
    #[serde(default)]
    pub business_hours: Option<BusinessHours>,
    #[serde(default)]
    pub escalations: Vec<Escalation>,
}

fn parse_day(day: &str) -> Option<Weekday> {
    Some(match day.trim().to_ascii_lowercase().as_str() {
        "monday" | "mon" => Weekday::Monday,
        "tuesday" | "tue" => Weekday::Tuesday,
        "wednesday" | "wed" => Weekday::Wednesday,
        "thursday" | "thu" => Weekday::Thursday,
        "friday" | "fri" => Weekday::Friday,
        "saturday" | "sat" => Weekday::Saturday,
        "sunday" | "sun" => Weekday::Sunday,
        _ => return None,
    })
}

/// `"HH:MM"` → minutes after midnight; `"24:00"` is the end of the day.
fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

/// Opening periods by weekday, in minutes after local midnight.
fn periods(hours: &BusinessHours) -> BTreeMap<u8, Vec<(u32, u32)>> {
    let mut out: BTreeMap<u8, Vec<(u32, u32)>> = BTreeMap::new();
    for o in &hours.openings {
        if let (Some(day), Some(open), Some(close)) = (parse_day(&o.day), parse_clock(&o.open), parse_clock(&o.close))
            && open < close
        {
            out.entry(day.number_days_from_monday()).or_default().push((open, close));
        }
    }
    for list in out.values_mut() {
        list.sort_unstable();
    }
    out
}

impl BusinessHours {
    /// Checks the openings, naming fields under `at` (the time zone's name
    /// is checked by the caller, which knows the zones).
    pub fn check(&self, at: &str, errors: &mut ValidationErrors) {
        if self.openings.is_empty() {
            errors.push(format!("{at}.openings"), format!("list at least one opening, or leave {at} out for 24/7"));
        }
        for (i, o) in self.openings.iter().enumerate() {
            if parse_day(&o.day).is_none() {
                errors.push(format!("{at}.openings[{i}].day"), "is monday … sunday");
            }
            match (parse_clock(&o.open), parse_clock(&o.close)) {
                (Some(open), Some(close)) if open < close => {}
                (Some(_), Some(_)) => errors.push(format!("{at}.openings[{i}]"), "opens before it closes"),
                _ => errors.push(format!("{at}.openings[{i}]"), "times are HH:MM, 00:00 to 24:00"),
            }
        }
    }
}

impl SlaPolicy {
    /// Checks a policy as an administrator wrote it (the time zone's name
    /// is checked by the caller, which knows the zones).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.targets.is_empty() {
            errors.push("targets", "give targets for at least one priority");
        }
        for (priority, targets) in &self.targets {
            if Priority::parse(priority).is_none() {
                errors.push(format!("targets.{priority}"), "is not a priority (low, normal, high, urgent)");
            }
            for (name, value) in [
                ("first_response_secs", targets.first_response_secs),
                ("next_response_secs", targets.next_response_secs),
                ("resolution_secs", targets.resolution_secs),
            ] {
                if value.is_some_and(|v| v == 0 || v > 365 * 24 * 3600) {
                    errors.push(format!("targets.{priority}.{name}"), "must be between 1 second and a year");
                }
            }
        }
        if let Some(hours) = &self.business_hours {
            hours.check("business_hours", &mut errors);
        }
        for (i, e) in self.escalations.iter().enumerate() {
            if e.team_id.is_some() && e.action != EscalationAction::Reassign {
                errors.push(format!("escalations[{i}].team_id"), "only a reassign goes to a team");
            }
        }
        errors.into_result(())
    }

    pub fn targets_for(&self, priority: Priority) -> Targets {
        self.targets.get(priority.as_str()).copied().unwrap_or_default()
    }

    /// The escalations that apply when `target` is missed, in order.
    pub fn escalations_for(&self, target: SlaTarget) -> impl Iterator<Item = &Escalation> {
        self.escalations.iter().filter(move |e| e.target.is_none_or(|t| t == target))
    }
}

/// The UTC offset of a time zone at an instant.
pub type OffsetAt<'a> = &'a dyn Fn(OffsetDateTime) -> UtcOffset;

/// The opening periods from `start`'s local day on, as UTC intervals in
/// order (at most 800 days: more than any target or report needs). The
/// offset at noon of a day stands for the whole day.
fn openings_from<'a>(
    periods: &'a BTreeMap<u8, Vec<(u32, u32)>>,
    start: OffsetDateTime,
    offset_at: OffsetAt<'a>,
) -> impl Iterator<Item = (OffsetDateTime, OffsetDateTime)> + 'a {
    let first: Date = start.to_offset(offset_at(start)).date();
    std::iter::successors(Some(first), |d| d.next_day()).take(800).flat_map(move |day| {
        let list = periods.get(&day.weekday().number_days_from_monday()).cloned().unwrap_or_default();
        let noon = PrimitiveDateTime::new(day, Time::from_hms(12, 0, 0).unwrap_or(Time::MIDNIGHT)).assume_utc();
        let offset = offset_at(noon);
        list.into_iter().map(move |(open, close)| {
            let at = |minutes: u32| {
                let local = if minutes >= 24 * 60 {
                    PrimitiveDateTime::new(day.next_day().unwrap_or(day), Time::MIDNIGHT)
                } else {
                    PrimitiveDateTime::new(day, Time::from_hms((minutes / 60) as u8, (minutes % 60) as u8, 0).unwrap_or(Time::MIDNIGHT))
                };
                local.assume_offset(offset).to_offset(UtcOffset::UTC)
            };
            (at(open), at(close))
        })
    })
}

/// `start` plus `secs` seconds of business time.
pub fn add_business_time(hours: Option<&BusinessHours>, start: OffsetDateTime, secs: u64, offset_at: OffsetAt<'_>) -> OffsetDateTime {
    let Some(hours) = hours else { return start + Duration::seconds(secs as i64) };
    let periods = periods(hours);
    if periods.is_empty() {
        return start + Duration::seconds(secs as i64);
    }
    let mut left = Duration::seconds(secs as i64);
    for (open, close) in openings_from(&periods, start, offset_at) {
        let from = open.max(start);
        if from >= close {
            continue;
        }
        if close - from >= left {
            return from + left;
        }
        left -= close - from;
    }
    start + Duration::seconds(secs as i64)
}

/// The business time between `from` and `to`, in seconds: the part of the
/// interval that falls in opening periods (all of it without hours).
pub fn business_time_between(hours: Option<&BusinessHours>, from: OffsetDateTime, to: OffsetDateTime, offset_at: OffsetAt<'_>) -> i64 {
    if to <= from {
        return 0;
    }
    let calendar = (to - from).whole_seconds();
    let Some(hours) = hours else { return calendar };
    let periods = periods(hours);
    if periods.is_empty() {
        return calendar;
    }
    let mut total = Duration::ZERO;
    for (open, close) in openings_from(&periods, from, offset_at) {
        if open >= to {
            break;
        }
        let (a, b) = (open.max(from), close.min(to));
        if a < b {
            total += b - a;
        }
    }
    total.whole_seconds()
}

/// What a conversation's clocks are measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaFacts {
    pub priority: Priority,
    pub created_at: OffsetDateTime,
    /// The first reply an agent sent the customer.
    pub first_response_at: Option<OffsetDateTime>,
    /// Since when the customer has been waiting for an answer (their
    /// oldest message after the last agent reply), if they are.
    pub awaiting_since: Option<OffsetDateTime>,
    pub resolved_at: Option<OffsetDateTime>,
}

/// Where one clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Kept: the answer (or resolution) came in time.
    Met,
    /// The answer came, late.
    MetLate,
    /// Running; less than a fifth of the target (or 15 minutes) left.
    Warning,
    Running,
    Breached,
}

/// One SLA clock of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Clock {
    pub target: SlaTarget,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    pub state: ClockState,
}

/// The conversation's clocks under `policy` at `now`.
pub fn clocks(policy: &SlaPolicy, facts: &SlaFacts, now: OffsetDateTime, offset_at: OffsetAt<'_>) -> Vec<Clock> {
    let targets = policy.targets_for(facts.priority);
    let hours = policy.business_hours.as_ref();
    let mut out = Vec::new();
    let mut clock = |target: SlaTarget, from: OffsetDateTime, done: Option<OffsetDateTime>| {
        let Some(secs) = targets.get(target) else { return };
        let due_at = add_business_time(hours, from, secs, offset_at);
        let state = match done {
            Some(at) if at <= due_at => ClockState::Met,
            Some(_) => ClockState::MetLate,
            None if now > due_at => ClockState::Breached,
            None => {
                let left = due_at - now;
                let warn = Duration::seconds((secs / 5) as i64).min(Duration::minutes(15));
                if left <= warn { ClockState::Warning } else { ClockState::Running }
            }
        };
        out.push(Clock { target, due_at, state });
    };
    clock(SlaTarget::FirstResponse, facts.created_at, facts.first_response_at);
    if facts.first_response_at.is_some()
        && let Some(since) = facts.awaiting_since
        && facts.resolved_at.is_none()
    {
        clock(SlaTarget::NextResponse, since, None);
    }
    clock(SlaTarget::Resolution, facts.created_at, facts.resolved_at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{datetime, offset};

    fn policy(hours: Option<BusinessHours>) -> SlaPolicy {
        let mut targets = BTreeMap::new();
        targets.insert(
            "high".into(),
            Targets { first_response_secs: Some(3600), next_response_secs: Some(1800), resolution_secs: Some(8 * 3600) },
        );
        SlaPolicy { targets, business_hours: hours, escalations: Vec::new() }
    }

    fn rome_weekdays() -> BusinessHours {
        BusinessHours {
            time_zone: "Europe/Rome".into(),
            openings: ["monday", "tuesday", "wednesday", "thursday", "friday"]
                .iter()
                .map(|d| Opening { day: (*d).into(), open: "09:00".into(), close: "18:00".into() })
                .collect(),
        }
    }

    /// Rome in March before the change to summer time: UTC+1.
    fn cet(_: OffsetDateTime) -> UtcOffset {
        offset!(+1)
    }

    #[test]
    fn business_time_stops_outside_opening_hours() {
        let hours = rome_weekdays();
        // Friday 17:30 in Rome (16:30 UTC) + 1 hour → Monday 09:30 Rome.
        let due = add_business_time(Some(&hours), datetime!(2026-03-13 16:30 UTC), 3600, &cet);
        assert_eq!(due, datetime!(2026-03-16 09:30 +1));
        // Saturday → Monday 10:00.
        assert_eq!(add_business_time(Some(&hours), datetime!(2026-03-14 10:00 UTC), 3600, &cet), datetime!(2026-03-16 10:00 +1));
        // Within the day.
        assert_eq!(add_business_time(Some(&hours), datetime!(2026-03-10 09:00 UTC), 1800, &cet), datetime!(2026-03-10 10:30 +1));
        // 24/7 without hours.
        assert_eq!(add_business_time(None, datetime!(2026-03-14 10:00 UTC), 3600, &cet), datetime!(2026-03-14 11:00 UTC));
    }

    #[test]
    fn clocks_warn_then_breach_and_record_late_answers() {
        let p = policy(None);
        let created = datetime!(2026-03-10 09:00 UTC);
        let facts = SlaFacts {
            priority: Priority::High,
            created_at: created,
            first_response_at: None,
            awaiting_since: Some(created),
            resolved_at: None,
        };
        let at = |m: i64| created + Duration::minutes(m);
        let state = |facts: &SlaFacts, m: i64| clocks(&p, facts, at(m), &cet)[0].state;
        assert_eq!(state(&facts, 10), ClockState::Running);
        assert_eq!(state(&facts, 50), ClockState::Warning);
        assert_eq!(state(&facts, 61), ClockState::Breached);
        let answered = SlaFacts { first_response_at: Some(at(70)), awaiting_since: None, ..facts };
        assert_eq!(state(&answered, 80), ClockState::MetLate);
        // After the first answer, the customer writes again: next response runs.
        let waiting_again = SlaFacts { first_response_at: Some(at(20)), awaiting_since: Some(at(100)), ..facts };
        let all = clocks(&p, &waiting_again, at(140), &cet);
        assert_eq!(
            all.iter().map(|c| (c.target, c.state)).collect::<Vec<_>>(),
            [
                (SlaTarget::FirstResponse, ClockState::Met),
                (SlaTarget::NextResponse, ClockState::Breached),
                (SlaTarget::Resolution, ClockState::Running),
            ]
        );
        // No targets for normal priority.
        assert!(clocks(&p, &SlaFacts { priority: Priority::Normal, ..facts }, at(1000), &cet).is_empty());
    }

    #[test]
    fn policies_are_validated() {
        let mut p = policy(Some(rome_weekdays()));
        assert!(p.validate().is_ok());
        p.targets.insert("soon".into(), Targets { first_response_secs: Some(0), ..Default::default() });
        p.business_hours.as_mut().unwrap().openings.push(Opening { day: "funday".into(), open: "18:00".into(), close: "09:00".into() });
        p.escalations.push(Escalation { target: None, action: EscalationAction::RaisePriority, team_id: Some(TeamId::new()) });
        let fields: Vec<String> = p.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "targets.soon",
                "targets.soon.first_response_secs",
                "business_hours.openings[5].day",
                "business_hours.openings[5]",
                "escalations[0].team_id"
            ]
        );
        let json: SlaPolicy = serde_json::from_str(
            r#"{"targets":{"urgent":{"first_response_secs":300}},"escalations":[{"target":"first_response","action":"reassign"}]}"#,
        )
        .unwrap();
        assert_eq!(json.escalations_for(SlaTarget::FirstResponse).count(), 1);
        assert_eq!(json.escalations_for(SlaTarget::Resolution).count(), 0);
    }
}
