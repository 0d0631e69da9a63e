//! The backlog: conversations not resolved yet, by status and by how long
//! ago they were created.
//!
//! Counting every unresolved conversation on each report is the one cost
//! that grows with the whole history (a quarter of a million open
//! conversations take ~60 ms to count on PostgreSQL even from an index).
//! So the roll-up stores, with each UTC day's tallies, how many of the
//! conversations created that day were unresolved ([`DayBacklog`], stored
//! under [`crate::tally::BACKLOG`]); a report adds up the stored days older
//! than a week — all in the last age bucket — and counts the rest from the
//! conversations ([`live_stretches`]): the last eight days, and any day a
//! change touched since it was stored.

use serde::{Deserialize, Serialize};

/// The age buckets, each `(name, upper bound in hours)`: under 1 h,
/// 1–4 h, 4–24 h, 1–3 days, 3–7 days, over 7 days.
pub const AGE_BUCKETS: [(&str, i64); 6] = [("<1h", 1), ("1-4h", 4), ("4-24h", 24), ("1-3d", 72), ("3-7d", 168), (">7d", i64::MAX)];

/// Days before the one a week ago are all over 7 days old; from that day
/// on, conversations are counted from their rows (their ages differ).
pub const RECENT_DAYS: i64 = 7;

/// At most this many stretches are counted from the conversations in one
/// report (each a range of an index; one that holds nothing, such as a
/// day with no conversations and so nothing stored, costs next to
/// nothing); with more (stored days interleaved with many changed or
/// empty ones), the whole backlog is counted from the conversations
/// instead.
pub const MAX_STRETCHES: usize = 64;

/// One stored UTC day's conversations (by creation day) unresolved when
/// the day was stored: how many in each status, and the oldest's creation
/// time (unix microseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayBacklog {
    pub open: i64,
    pub pending: i64,
    pub snoozed: i64,
    pub oldest: Option<i64>,
}

impl DayBacklog {
    pub fn total(&self) -> i64 {
        self.open + self.pending + self.snoozed
    }
}

/// The stretches of creation days (`from..to`, UTC day numbers, `None`
/// unbounded) to count from the conversations, given the stored days
/// (ascending, all before the recent ones): everything the stored days do
/// not cover. `None` when they would be more than [`MAX_STRETCHES`].
pub fn live_stretches(stored: &[i64]) -> Option<Vec<(Option<i64>, Option<i64>)>> {
    let mut out = Vec::new();
    let mut from = None;
    for (first, last) in crate::workload::runs(stored) {
        out.push((from, Some(first)));
        from = Some(last + 1);
    }
    out.push((from, None));
    (out.len() <= MAX_STRETCHES).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_the_stored_days_leave_out_is_counted_from_the_conversations() {
        assert_eq!(live_stretches(&[]), Some(vec![(None, None)]), "nothing stored: everything");
        assert_eq!(
            live_stretches(&[10, 11, 12, 20, 21]),
            Some(vec![(None, Some(10)), (Some(13), Some(20)), (Some(22), None)]),
            "before the first stored day, between runs, after the last"
        );
        let every_other: Vec<i64> = (0..100).map(|d| d * 2).collect();
        assert_eq!(live_stretches(&every_other), None, "too scattered: count everything instead");
        let runs: Vec<i64> = (1..MAX_STRETCHES as i64).map(|d| d * 2).collect();
        assert_eq!(live_stretches(&runs).map(|s| s.len()), Some(MAX_STRETCHES), "one more than the runs: the last week");
    }

    #[test]
    fn a_stored_day_reads_back_as_it_was_written() {
        let day = DayBacklog { open: 3, pending: 1, snoozed: 0, oldest: Some(1_700_000_000_000_000) };
        let json = serde_json::to_string(&day).unwrap();
        assert_eq!(serde_json::from_str::<DayBacklog>(&json).unwrap(), day);
        assert_eq!(day.total(), 4);
        let none: DayBacklog = serde_json::from_str(r#"{"open":0,"pending":0,"snoozed":0,"oldest":null}"#).unwrap();
        assert_eq!(none, DayBacklog::default());
    }
}
