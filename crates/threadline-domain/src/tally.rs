//! What reports add up, in a form that adds up again: a [`Tally`] of the
//! conversations of a stretch of time (counts, sums, and distributions of
//! durations as [`Histogram`]s), so that a year's report is the sum of its
//! days' tallies — stored once a day is over (`metrics_rollups`) — plus the
//! tallies of the hours not stored yet, read from the conversations
//! themselves. Whatever the split, the sum is the same numbers
//! [`crate::metrics`] defines.
//!
//! Percentiles come from the histogram: durations fall in buckets 1/32 of
//! their value wide (exact below 64 s) that remember their smallest and
//! largest value, so a median or 90th percentile is exact whenever its
//! bucket holds one or two distinct values, and otherwise interpolated
//! within the bucket (off by less than 3%, in practice far less). Means are
//! exact (the sum is kept).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::metrics::{
    Day, Dimension, Durations, Measured, Rate, Settled, SettledRate, Summary, VolumeRow, deflected, first_contact_resolution, hour_of_week,
};

/// One bucket of a [`Histogram`]: how many values, the smallest, the largest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    n: i64,
    min: i64,
    max: i64,
}

/// A distribution of durations (whole seconds, negative ones counted as 0)
/// that merges: counts per log-linear bucket, with each bucket's extremes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "HistogramRepr", into = "HistogramRepr")]
pub struct Histogram {
    count: i64,
    sum: i64,
    /// By bucket index, ascending, each index once: a report merges
    /// thousands of stored histograms, and merging sorted lists is one
    /// pass with one allocation.
    buckets: Vec<(u16, Bucket)>,
}

/// The stored form. Written packed: base64 of unsigned LEB128 numbers —
/// the sum, then per bucket the step from the bucket before, its count,
/// its smallest value above the bucket's floor and its largest above its
/// smallest (a day's histogram of a few hundred buckets in ~2 KB instead
/// of ~7 KB of JSON numbers, and read several times faster). Tallies
/// stored before are read in their listed form: the sum and
/// `[bucket, n, min, max]` per bucket.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum HistogramRepr {
    Packed(String),
    Listed { s: i64, b: Vec<(u16, i64, i64, i64)> },
}

impl TryFrom<HistogramRepr> for Histogram {
    type Error = String;

    /// Either form is checked whole: every count at least one, every
    /// value in its bucket, no total past what an `i64` holds.
    fn try_from(r: HistogramRepr) -> Result<Self, String> {
        let (sum, mut buckets): (i64, Vec<(u16, Bucket)>) = match r {
            HistogramRepr::Listed { s, b } => (s, b.into_iter().map(|(i, n, min, max)| (i, Bucket { n, min, max })).collect()),
            HistogramRepr::Packed(text) => unpack(&text).ok_or("histogram: not a stored histogram")?,
        };
        buckets.sort_by_key(|(i, _)| *i);
        if buckets.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err("histogram: a bucket twice".into());
        }
        let mut count: i64 = 0;
        for (i, b) in &buckets {
            let fits = b.n >= 1 && b.min <= b.max && bucket_of(b.min) == *i && bucket_of(b.max) == *i;
            count = count.checked_add(b.n).filter(|_| fits).ok_or("histogram: a bucket is not what it says")?;
        }
        let h = Histogram { count, sum, buckets };
        if sum < 0 {
            return Err("histogram: a negative sum".into());
        }
        Ok(h)
    }
}

impl From<Histogram> for HistogramRepr {
    fn from(h: Histogram) -> Self {
        let mut bytes = Vec::with_capacity(4 + h.buckets.len() * 5);
        put(&mut bytes, h.sum as u64);
        let mut previous = 0u16;
        for (i, b) in &h.buckets {
            put(&mut bytes, u64::from(i - previous));
            put(&mut bytes, b.n as u64);
            put(&mut bytes, (b.min - bucket_floor(*i).unwrap_or(0)) as u64);
            put(&mut bytes, (b.max - b.min) as u64);
            previous = *i;
        }
        HistogramRepr::Packed(STANDARD_NO_PAD.encode(bytes))
    }
}

fn put(bytes: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        bytes.push((v as u8) | 0x80);
        v >>= 7;
    }
    bytes.push(v as u8);
}

fn take(bytes: &mut &[u8]) -> Option<i64> {
    let mut v: u64 = 0;
    for shift in (0..63).step_by(7) {
        let (first, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(first & 0x7f) << shift;
        if first & 0x80 == 0 {
            return i64::try_from(v).ok();
        }
    }
    None
}

/// Reads a packed histogram's numbers; `None` for anything that is not one.
fn unpack(text: &str) -> Option<(i64, Vec<(u16, Bucket)>)> {
    let raw = STANDARD_NO_PAD.decode(text).ok()?;
    let mut bytes = raw.as_slice();
    let sum = take(&mut bytes)?;
    let mut buckets = Vec::new();
    let mut index: u16 = 0;
    while !bytes.is_empty() {
        index = index.checked_add(u16::try_from(take(&mut bytes)?).ok()?)?;
        let n = take(&mut bytes)?;
        let min = bucket_floor(index)?.checked_add(take(&mut bytes)?)?;
        let max = min.checked_add(take(&mut bytes)?)?;
        buckets.push((index, Bucket { n, min, max }));
    }
    Some((sum, buckets))
}

/// Values below this are a bucket each; above, 32 buckets per doubling.
const EXACT_BELOW: i64 = 64;
const SUB_BUCKETS: u32 = 32;

fn bucket_of(value: i64) -> u16 {
    if value < EXACT_BELOW {
        return value as u16;
    }
    let octave = 63 - value.leading_zeros(); // ≥ 6
    let sub = ((value >> (octave - 5)) as u32) & (SUB_BUCKETS - 1);
    (EXACT_BELOW as u32 + (octave - 6) * SUB_BUCKETS + sub) as u16
}

/// The smallest value of bucket `index` (`None` past the largest).
fn bucket_floor(index: u16) -> Option<i64> {
    let index = u32::from(index);
    if index < EXACT_BELOW as u32 {
        return Some(i64::from(index));
    }
    let octave = (index - EXACT_BELOW as u32) / SUB_BUCKETS + 6;
    let sub = (index - EXACT_BELOW as u32) % SUB_BUCKETS;
    if octave > 62 {
        return None;
    }
    Some(i64::from(SUB_BUCKETS + sub) << (octave - 5))
}

impl Histogram {
    pub fn add(&mut self, value: i64) {
        let value = value.max(0);
        self.count += 1;
        self.sum += value;
        let index = bucket_of(value);
        match self.buckets.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(at) => {
                let b = &mut self.buckets[at].1;
                b.n += 1;
                b.min = b.min.min(value);
                b.max = b.max.max(value);
            }
            Err(at) => self.buckets.insert(at, (index, Bucket { n: 1, min: value, max: value })),
        }
    }

    pub fn merge(&mut self, other: &Histogram) {
        self.count += other.count;
        self.sum += other.sum;
        if other.buckets.is_empty() {
            return;
        }
        if self.buckets.is_empty() {
            self.buckets.clone_from(&other.buckets);
            return;
        }
        // Both lists ascending: one pass.
        let mine = std::mem::take(&mut self.buckets);
        let mut merged = Vec::with_capacity(mine.len() + other.buckets.len());
        let (mut a, mut b) = (mine.into_iter().peekable(), other.buckets.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some((i, _)), Some((j, _))) if i < j => merged.extend(a.next()),
                (Some((i, _)), Some((j, _))) if i > j => merged.extend(b.next().copied()),
                (Some(_), Some(_)) => {
                    if let (Some((i, x)), Some((_, y))) = (a.next(), b.next()) {
                        merged.push((i, Bucket { n: x.n + y.n, min: x.min.min(y.min), max: x.max.max(y.max) }));
                    }
                }
                (Some(_), None) => merged.extend(a.by_ref()),
                (None, Some(_)) => merged.extend(b.by_ref().copied()),
                (None, None) => break,
            }
        }
        self.buckets = merged;
    }

    pub fn count(&self) -> i64 {
        self.count
    }

    /// The nearest-rank `p` percentile (0 < p ≤ 1).
    pub fn percentile(&self, p: f64) -> Option<i64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p * self.count as f64).ceil() as i64).clamp(1, self.count);
        let mut below = 0;
        for (_, b) in &self.buckets {
            if below + b.n >= rank {
                let k = rank - below; // 1..=n within the bucket
                return Some(match k {
                    1 => b.min,
                    _ if k == b.n => b.max,
                    _ => b.min + ((b.max - b.min) as f64 * (k - 1) as f64 / (b.n - 1) as f64).round() as i64,
                });
            }
            below += b.n;
        }
        None
    }

    pub fn durations(&self) -> Durations {
        if self.count == 0 {
            return Durations::default();
        }
        Durations {
            count: self.count,
            mean_secs: Some(self.sum as f64 / self.count as f64),
            median_secs: self.percentile(0.5),
            p90_secs: self.percentile(0.9),
        }
    }
}

/// Verdicts against a window after resolution (first-contact resolution,
/// deflection).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdicts {
    #[serde(default)]
    pub yes: i64,
    #[serde(default)]
    pub no: i64,
    #[serde(default)]
    pub pending: i64,
    /// When each pending verdict's window ends: with nothing changing it
    /// becomes a yes then (a change — the customer coming back, a
    /// reopening — marks the day, which is stored again), so a stored
    /// tally read later is brought up to date by [`Tally::ripen`] instead
    /// of being read from the conversations again.
    #[serde(default, skip_serializing_if = "Ripening::is_empty")]
    pub ripening: Ripening,
}

impl Verdicts {
    fn add(&mut self, verdict: Option<Settled>, window_ends: Option<OffsetDateTime>) {
        match verdict {
            Some(Settled::Yes) => self.yes += 1,
            Some(Settled::No) => self.no += 1,
            Some(Settled::Pending) => {
                self.pending += 1;
                if let Some(at) = window_ends {
                    self.ripening.0.push(at.unix_timestamp());
                }
            }
            None => {}
        }
    }

    fn merge(&mut self, o: &Verdicts) {
        self.yes += o.yes;
        self.no += o.no;
        self.pending += o.pending;
        self.ripening.0.extend_from_slice(&o.ripening.0);
    }

    /// The pending verdicts whose window has ended by `now` count as yes.
    fn ripen(&mut self, now: OffsetDateTime) {
        let now = now.unix_timestamp();
        let before = self.ripening.0.len();
        self.ripening.0.retain(|at| *at > now);
        let ripe = (before - self.ripening.0.len()) as i64;
        self.yes += ripe;
        self.pending -= ripe;
    }

    fn rate(&self) -> SettledRate {
        SettledRate { rate: crate::metrics::rate(self.yes, self.yes + self.no), yes: self.yes, no: self.no, pending: self.pending }
    }
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// The ends of pending verdicts' windows (Unix seconds), stored packed:
/// base64 of LEB128 numbers, the smallest, then each step to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ripening(Vec<i64>);

impl Ripening {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Ripening {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let mut bytes = Vec::with_capacity(sorted.len() * 2 + 4);
        let mut previous = 0;
        for at in sorted {
            put(&mut bytes, (at - previous).max(0) as u64);
            previous = at;
        }
        s.serialize_str(&STANDARD_NO_PAD.encode(bytes))
    }
}

impl<'de> Deserialize<'de> for Ripening {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let raw = STANDARD_NO_PAD.decode(text).map_err(serde::de::Error::custom)?;
        let mut bytes = raw.as_slice();
        let mut out = Vec::new();
        let mut at: i64 = 0;
        while !bytes.is_empty() {
            let step = take(&mut bytes).ok_or_else(|| serde::de::Error::custom("ripening: not a stored list"))?;
            at = at.checked_add(step).ok_or_else(|| serde::de::Error::custom("ripening: past the end of time"))?;
            out.push(at);
        }
        Ok(Ripening(out))
    }
}

/// `(a, b) → n` stored as a list of `[a, b, n]`.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(map: &BTreeMap<(String, String), i64>, s: S) -> Result<S::Ok, S::Error> {
        map.iter().map(|((a, b), n)| (a, b, n)).collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<(String, String), i64>, D::Error> {
        Ok(Vec::<(String, String, i64)>::deserialize(d)?.into_iter().map(|(a, b, n)| ((a, b), n)).collect())
    }
}

/// What the conversations of a stretch of time add up to. Each metric
/// counts the conversations whose own date falls in the stretch: creation
/// for most, the latest resolution for resolutions, the first resolution
/// for first-contact resolution and reopenings (see `docs/metrics.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    // Created in the stretch.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conversations: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub customer_messages: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub agent_messages: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reply_waits: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reply_secs: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reply_business_secs: i64,
    /// A person answered.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub answered: i64,
    /// Resolved since (whenever).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resolved_since: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bot_conversations: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bot_contained: i64,
    #[serde(default)]
    pub deflection: Verdicts,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sla_clocks: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sla_met: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub switching: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub channel_switches: i64,
    #[serde(default)]
    pub first_response: Histogram,
    #[serde(default)]
    pub first_response_business: Histogram,
    /// First channel → the channel a person answered on.
    #[serde(default, with = "pairs")]
    pub first_to_answer: BTreeMap<(String, String), i64>,
    /// Category → the channel the customer chose.
    #[serde(default, with = "pairs")]
    pub channel_by_category: BTreeMap<(String, String), i64>,
    // Resolved (latest resolution) in the stretch.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resolved: i64,
    #[serde(default)]
    pub resolution: Histogram,
    #[serde(default)]
    pub resolution_business: Histogram,
    // First resolved in the stretch.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub first_resolved: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reopened: i64,
    #[serde(default)]
    pub first_contact_resolution: Verdicts,
    /// Tallies stored before pending verdicts kept their windows' ends
    /// ([`Verdicts::ripening`]) say here when the first of them ends: such
    /// a tally is true until then, and is stored again after.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "time::serde::timestamp::option")]
    pub valid_until: Option<OffsetDateTime>,
}

fn within(at: Option<OffsetDateTime>, from: OffsetDateTime, to: OffsetDateTime) -> bool {
    at.is_some_and(|at| at >= from && at < to)
}

fn earliest(a: Option<OffsetDateTime>, b: OffsetDateTime) -> Option<OffsetDateTime> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl Tally {
    /// `rows` over `from..to` (end excluded) as of `now`; rows outside the
    /// stretch count for nothing.
    pub fn of(rows: &[Measured], from: OffsetDateTime, to: OffsetDateTime, now: OffsetDateTime) -> Self {
        let mut t = Tally::default();
        for row in rows {
            t.add(row, from, to, now);
        }
        t
    }

    /// Counts what of `row` falls in `from..to`.
    pub fn add(&mut self, row: &Measured, from: OffsetDateTime, to: OffsetDateTime, now: OffsetDateTime) {
        let f = &row.facts;
        if within(Some(row.created_at), from, to) {
            self.conversations += 1;
            self.customer_messages += f.customer_messages;
            self.agent_messages += f.agent_messages;
            if let Some(v) = f.first_response_secs {
                self.first_response.add(v);
            }
            if let Some(v) = f.first_response_business_secs {
                self.first_response_business.add(v);
            }
            self.reply_waits += f.reply_waits;
            self.reply_secs += f.reply_secs;
            self.reply_business_secs += f.reply_business_secs;
            self.answered += i64::from(f.agent_messages > 0);
            self.resolved_since += i64::from(f.resolved_at.is_some());
            if f.bot_involved {
                self.bot_conversations += 1;
                self.bot_contained += i64::from(!f.handed_off && f.agent_messages == 0);
                let verdict = deflected(f, row.came_back_deflection, now);
                self.deflection.add(verdict, f.resolved_at.map(|at| at + crate::metrics::DEFLECTION_WINDOW));
            }
            self.sla_clocks += row.sla_clocks;
            self.sla_met += row.sla_met;
            self.switching += i64::from(f.channel_switches > 0);
            self.channel_switches += f.channel_switches;
            if let Some(first) = &f.first_channel {
                if let Some(answer) = &f.answer_channel {
                    *self.first_to_answer.entry((first.clone(), answer.clone())).or_default() += 1;
                }
                if let Some(category) = &row.category {
                    *self.channel_by_category.entry((category.clone(), first.clone())).or_default() += 1;
                }
            }
        }
        if within(f.resolved_at, from, to) {
            self.resolved += 1;
            if let Some(v) = f.resolution_secs {
                self.resolution.add(v);
            }
            if let Some(v) = f.resolution_business_secs {
                self.resolution_business.add(v);
            }
        }
        if within(f.first_resolved_at, from, to) {
            self.first_resolved += 1;
            self.reopened += i64::from(f.reopens > 0);
            let verdict = first_contact_resolution(f, row.came_back_fcr, now);
            self.first_contact_resolution.add(verdict, f.first_resolved_at.map(|at| at + crate::metrics::FCR_WINDOW));
        }
    }

    pub fn merge(&mut self, o: &Tally) {
        self.conversations += o.conversations;
        self.customer_messages += o.customer_messages;
        self.agent_messages += o.agent_messages;
        self.reply_waits += o.reply_waits;
        self.reply_secs += o.reply_secs;
        self.reply_business_secs += o.reply_business_secs;
        self.answered += o.answered;
        self.resolved_since += o.resolved_since;
        self.bot_conversations += o.bot_conversations;
        self.bot_contained += o.bot_contained;
        self.deflection.merge(&o.deflection);
        self.sla_clocks += o.sla_clocks;
        self.sla_met += o.sla_met;
        self.switching += o.switching;
        self.channel_switches += o.channel_switches;
        self.first_response.merge(&o.first_response);
        self.first_response_business.merge(&o.first_response_business);
        for (k, n) in &o.first_to_answer {
            *self.first_to_answer.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &o.channel_by_category {
            *self.channel_by_category.entry(k.clone()).or_default() += n;
        }
        self.resolved += o.resolved;
        self.resolution.merge(&o.resolution);
        self.resolution_business.merge(&o.resolution_business);
        self.first_resolved += o.first_resolved;
        self.reopened += o.reopened;
        self.first_contact_resolution.merge(&o.first_contact_resolution);
        if let Some(at) = o.valid_until {
            self.valid_until = earliest(self.valid_until, at);
        }
    }

    /// Brings a tally made earlier up to `now`: pending verdicts whose
    /// window has ended since count as yes (see [`Verdicts::ripening`]).
    pub fn ripen(&mut self, now: OffsetDateTime) {
        self.deflection.ripen(now);
        self.first_contact_resolution.ripen(now);
    }

    /// The headline numbers (see [`Summary`]).
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            conversations: self.conversations,
            customer_messages: self.customer_messages,
            agent_messages: self.agent_messages,
            first_response: self.first_response.durations(),
            first_response_business: self.first_response_business.durations(),
            response_rate: Rate::new(self.answered, self.conversations),
            resolved: self.resolved,
            resolution: self.resolution.durations(),
            resolution_business: self.resolution_business.durations(),
            first_contact_resolution: self.first_contact_resolution.rate(),
            reopen_rate: Rate::new(self.reopened, self.first_resolved),
            sla_attainment: Rate::new(self.sla_met, self.sla_clocks),
            channel_switching: Rate::new(self.switching, self.conversations),
            channel_switches: self.channel_switches,
            ..Summary::default()
        };
        s.reply.waits = self.reply_waits;
        if self.reply_waits > 0 {
            s.reply.mean_secs = Some(self.reply_secs as f64 / self.reply_waits as f64);
            s.reply.mean_business_secs = Some(self.reply_business_secs as f64 / self.reply_waits as f64);
        }
        s.bot.conversations = self.bot_conversations;
        s.bot.containment = Rate::new(self.bot_contained, self.bot_conversations);
        s.bot.deflection = self.deflection.rate();
        s
    }

    /// How conversations crossed channels (see [`crate::metrics::ChannelFlow`]).
    pub fn flow(&self) -> crate::metrics::ChannelFlow {
        let mut first_to_answer: Vec<_> = self.first_to_answer.iter().map(|((a, b), n)| (a.clone(), b.clone(), *n)).collect();
        first_to_answer.sort_by(|x, y| y.2.cmp(&x.2).then_with(|| (&x.0, &x.1).cmp(&(&y.0, &y.1))));
        let mut channel_by_category: Vec<_> = self.channel_by_category.iter().map(|((c, ch), n)| (c.clone(), ch.clone(), *n)).collect();
        channel_by_category.sort_by(|x, y| x.0.cmp(&y.0).then_with(|| y.2.cmp(&x.2)).then_with(|| x.1.cmp(&y.1)));
        crate::metrics::ChannelFlow { first_to_answer, channel_by_category }
    }

    /// What hourly tallies are read for — the daily series and volume by
    /// hour of the week: counts and first responses (a year holds 8,760 of them).
    pub fn for_hours(&self) -> Tally {
        Tally {
            conversations: self.conversations,
            resolved_since: self.resolved_since,
            resolved: self.resolved,
            first_response: self.first_response.clone(),
            ..Tally::default()
        }
    }

    /// This tally as a row of a volume report.
    pub fn volume_row(&self, key: Option<String>) -> VolumeRow {
        VolumeRow { key, conversations: self.conversations, resolved: self.resolved_since, first_response: self.first_response.durations() }
    }
}

impl Dimension {
    /// The group `row` belongs to; `None` for hours of the week (see [`by_hour`]).
    pub fn key_of(self, row: &Measured) -> Option<String> {
        match self {
            Dimension::Channel => row.facts.first_channel.clone(),
            Dimension::Inbox => row.inbox_id.clone(),
            Dimension::Team => row.team_id.clone(),
            Dimension::Agent => row.assignee_id.clone(),
            Dimension::Category => row.category.clone(),
            Dimension::HourOfWeek => None,
        }
    }
}

/// `rows` over `from..to` grouped by `by` (not hours of the week).
pub fn by_group(
    rows: &[Measured],
    by: Dimension,
    from: OffsetDateTime,
    to: OffsetDateTime,
    now: OffsetDateTime,
) -> BTreeMap<Option<String>, Tally> {
    let mut groups: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    for row in rows {
        groups.entry(by.key_of(row)).or_default().add(row, from, to, now);
    }
    groups.retain(|_, t| *t != Tally::default());
    groups
}

/// The UTC hour (`unix seconds / 3600`) `at` falls in.
pub fn hour_number(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(3600)
}

/// `rows` over `from..to` per UTC hour: each row counts in the hours its
/// creation and resolutions fall in, for what happened in that hour.
pub fn by_hour(rows: &[Measured], from: OffsetDateTime, to: OffsetDateTime, now: OffsetDateTime) -> BTreeMap<i64, Tally> {
    let mut hours: BTreeMap<i64, Tally> = BTreeMap::new();
    for row in rows {
        add_by_hour(&mut hours, row, from, to, now);
    }
    hours
}

/// Adds `row` to the hours of `from..to` its dates fall in (see [`by_hour`]).
pub fn add_by_hour(hours: &mut BTreeMap<i64, Tally>, row: &Measured, from: OffsetDateTime, to: OffsetDateTime, now: OffsetDateTime) {
    let mut touched: Vec<i64> = [Some(row.created_at), row.facts.resolved_at, row.facts.first_resolved_at]
        .into_iter()
        .flatten()
        .filter(|at| *at >= from && *at < to)
        .map(hour_number)
        .collect();
    touched.sort_unstable();
    touched.dedup();
    for hour in touched {
        let start = OffsetDateTime::from_unix_timestamp(hour * 3600).unwrap_or(from).max(from);
        let end = (start + Duration::hours(1)).min(to);
        hours.entry(hour).or_default().add(row, start, end, now);
    }
}

/// Volume by group, ordered by volume then key.
pub fn volume_rows(groups: &BTreeMap<Option<String>, Tally>) -> Vec<VolumeRow> {
    // Groups with conversations created in the period (a group may hold only a resolution in it).
    let mut out: Vec<VolumeRow> = groups.iter().filter(|(_, t)| t.conversations > 0).map(|(k, t)| t.volume_row(k.clone())).collect();
    out.sort_by(|a, b| b.conversations.cmp(&a.conversations).then_with(|| a.key.cmp(&b.key)));
    out
}

/// Volume by local hour of the week (all 168, in order) from hourly tallies.
pub fn hour_of_week_rows(hours: &BTreeMap<i64, Tally>, offset: UtcOffset) -> Vec<VolumeRow> {
    let mut week: Vec<Tally> = vec![Tally::default(); 168];
    for (hour, t) in hours {
        let Ok(at) = OffsetDateTime::from_unix_timestamp(hour * 3600) else { continue };
        week[usize::from(hour_of_week(at, offset))].merge(t);
    }
    week.iter().enumerate().map(|(h, t)| t.volume_row(Some(h.to_string()))).collect()
}

/// Conversations created and resolved per local day of `from..to` (every
/// day listed, empty ones too; at most 400) from hourly tallies.
pub fn days_of(hours: &BTreeMap<i64, Tally>, from: OffsetDateTime, to: OffsetDateTime, offset: UtcOffset) -> Vec<Day> {
    let first = from.to_offset(offset).date();
    let last = (to - Duration::microseconds(1)).to_offset(offset).date();
    let mut days: Vec<Day> = std::iter::successors(Some(first), |d| d.next_day())
        .take_while(|d| *d <= last)
        .take(400)
        .map(|d| Day { date: format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day()), created: 0, resolved: 0 })
        .collect();
    for (hour, t) in hours {
        let Ok(at) = OffsetDateTime::from_unix_timestamp(hour * 3600) else { continue };
        let day = at.to_offset(offset).date();
        if let Some(d) = usize::try_from((day - first).whole_days()).ok().and_then(|i| days.get_mut(i)) {
            d.created += t.conversations;
            d.resolved += t.resolved;
        }
    }
    days
}

/// The dimensions a day's tallies are stored by, with their stored names.
pub const STORED_DIMENSIONS: [(Dimension, &str); 5] = [
    (Dimension::Channel, "channel"),
    (Dimension::Inbox, "inbox"),
    (Dimension::Team, "team"),
    (Dimension::Agent, "agent"),
    (Dimension::Category, "category"),
];

/// The stored name of a dimension's tallies (hours of the week come from `hour`).
pub fn stored_dimension(by: Dimension) -> &'static str {
    STORED_DIMENSIONS.iter().find(|(d, _)| *d == by).map_or(HOUR, |(_, name)| name)
}

/// The stored name of the whole account's tallies, and of each UTC hour's.
pub const WHOLE: &str = "";
pub const HOUR: &str = "hour";
/// The stored name of a day's workload and cost counts ([`crate::workload::WorkCounts`]).
pub const WORK: &str = "work";
/// The stored name of a span's workload and cost counts, its days' merged
/// (stored at the span's first day, [`crate::workload::SPAN_DAYS`]).
pub const WORK_SPAN: &str = "work_span";
/// The stored name of a day's unresolved conversations ([`crate::backlog::DayBacklog`]).
pub const BACKLOG: &str = "backlog";

/// The stored names of spans' tallies (the whole account's, then each
/// stored dimension's, by key) and workload: a span's days merged, stored
/// at its first day ([`crate::workload::SPAN_DAYS`]). Hours are not
/// stored by span (a report's days and hours of the week need each day's).
pub const SPAN_DIMENSIONS: [(&str, &str); 7] = [
    (WHOLE, "whole_span"),
    ("channel", "channel_span"),
    ("inbox", "inbox_span"),
    ("team", "team_span"),
    ("agent", "agent_span"),
    ("category", "category_span"),
    (WORK, WORK_SPAN),
];

/// The stored name of `dim`'s spans, if it is stored by span.
pub fn span_dimension(dim: &str) -> Option<&'static str> {
    SPAN_DIMENSIONS.iter().find(|(d, _)| *d == dim).map(|(_, span)| *span)
}

/// Everything stored for UTC `day` from the conversations with a date in
/// it: `(dimension, key, tally)` for the whole account (key `""`), each
/// group of each stored dimension (key `""` for none) and each UTC hour
/// (key `0`–`23`); empty groups and hours are left out.
pub fn day_tallies(rows: &[Measured], day: i64, now: OffsetDateTime) -> Vec<(&'static str, String, Tally)> {
    let (from, to) = (day_start(day), day_start(day + 1));
    let mut out = vec![(WHOLE, String::new(), Tally::of(rows, from, to, now))];
    for (by, name) in STORED_DIMENSIONS {
        for (key, t) in by_group(rows, by, from, to, now) {
            out.push((name, key.unwrap_or_default(), t));
        }
    }
    for (hour, t) in by_hour(rows, from, to, now) {
        out.push((HOUR, (hour - day * 24).to_string(), t.for_hours()));
    }
    out
}

/// How a report of `from..to` splits: whole UTC days whose stored tallies
/// can be used (`stored` says which), and the stretches to read from the
/// conversations (partial days at the edges, days not stored).
pub fn plan(from: OffsetDateTime, to: OffsetDateTime, stored: impl Fn(i64) -> bool) -> (Vec<i64>, Vec<(OffsetDateTime, OffsetDateTime)>) {
    let (mut days, mut raw): (Vec<i64>, Vec<(OffsetDateTime, OffsetDateTime)>) = (Vec::new(), Vec::new());
    let mut push_raw = |a: OffsetDateTime, b: OffsetDateTime| match raw.last_mut() {
        Some(last) if last.1 == a => last.1 = b,
        _ => raw.push((a, b)),
    };
    let mut at = from;
    while at < to {
        let day = day_number(at);
        let start = day_start(day);
        let end = day_start(day + 1);
        if at == start && end <= to && stored(day) {
            days.push(day);
        } else {
            push_raw(at, end.min(to));
        }
        at = end;
    }
    (days, raw)
}

/// The UTC day (`unix seconds / 86,400`) `at` falls in.
pub fn day_number(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(86_400)
}

/// Midnight UTC starting `day`.
pub fn day_start(day: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(day * 86_400).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_dimension_and_workload_has_a_span_name_of_its_own() {
        let mut names: Vec<&str> = Vec::new();
        for dim in [WHOLE, WORK].into_iter().chain(STORED_DIMENSIONS.iter().map(|(_, d)| *d)) {
            let span = span_dimension(dim).unwrap_or_else(|| panic!("{dim:?} has no span name"));
            assert!(![WHOLE, HOUR, WORK].contains(&span) && !STORED_DIMENSIONS.iter().any(|(_, d)| *d == span));
            names.push(span);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 7);
        assert_eq!(span_dimension(HOUR), None, "hours are read by day");
    }
    use crate::metrics::ConversationFacts;
    use time::macros::datetime;

    #[test]
    fn histograms_are_stored_packed_and_read_back_whole_old_forms_too() {
        let mut h = Histogram::default();
        for v in [0, 1, 63, 64, 65, 1200, 232_200, 5_000_000_000, i64::MAX, -5] {
            h.add(v % 4_000_000_000_000_000);
        }
        for v in 0..3_000 {
            h.add(15 + v * v);
        }
        let json = serde_json::to_string(&h).unwrap();
        assert!(json.starts_with('"'), "packed: {}", &json[..40]);
        assert_eq!(serde_json::from_str::<Histogram>(&json).unwrap(), h);
        let listed = r#"{"s":1560,"b":[[60,1,60,60],[133,1,300,300],[197,1,1200,1200]]}"#;
        let old: Histogram = serde_json::from_str(listed).unwrap();
        assert_eq!((old.count(), old.durations().median_secs), (3, Some(300)));
        assert_eq!(serde_json::from_str::<Histogram>(&serde_json::to_string(&old).unwrap()).unwrap(), old);
        // A value outside its bucket, a truncated number, a bucket past the largest: refused, never a panic.
        for bad in [
            STANDARD_NO_PAD.encode([5, 3, 1, 2, 0]),
            STANDARD_NO_PAD.encode([5, 3, 1, 70, 0]),
            STANDARD_NO_PAD.encode([5, 0x80]),
            STANDARD_NO_PAD.encode([5, 0xff, 0xff, 0x03, 1, 0, 0]),
            "*".into(),
        ] {
            assert!(serde_json::from_str::<Histogram>(&format!("\"{bad}\"")).is_err(), "{bad}");
        }
        // Counts that add up past an i64, a bucket twice, a count of none, a value out of its bucket (old form).
        let max = i64::MAX;
        for bad in [
            format!(r#"{{"s":1,"b":[[1,{max},1,1],[2,{max},2,2]]}}"#),
            r#"{"s":2,"b":[[1,1,1,1],[1,1,1,1]]}"#.into(),
            r#"{"s":1,"b":[[1,0,1,1]]}"#.into(),
            r#"{"s":300,"b":[[101,1,300,300]]}"#.into(),
            r#"{"s":-1,"b":[]}"#.into(),
        ] {
            assert!(serde_json::from_str::<Histogram>(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentiles_are_exact_for_small_sets_and_close_for_large_ones() {
        let mut h = Histogram::default();
        for v in [1200, 232_200, 300, 5400, 60] {
            h.add(v);
        }
        let d = h.durations();
        assert_eq!((d.count, d.median_secs, d.p90_secs, d.mean_secs), (5, Some(1200), Some(232_200), Some(47_832.0)));
        assert_eq!(Histogram::default().durations().median_secs, None);

        let mut big = Histogram::default();
        let values: Vec<i64> = (0..100_000).map(|i| (i * 7919) % 86_400).collect();
        for v in &values {
            big.add(*v);
        }
        let mut sorted = values.clone();
        sorted.sort_unstable();
        for p in [0.5, 0.9, 0.99] {
            let exact = sorted[((p * sorted.len() as f64).ceil() as usize) - 1];
            let got = big.percentile(p).unwrap();
            assert!(((got - exact) as f64).abs() <= exact as f64 * 0.03, "p{p}: {got} vs {exact}");
        }
    }

    #[test]
    fn a_histogram_survives_storage_and_merges_like_one_built_at_once() {
        let (mut a, mut b, mut whole) = (Histogram::default(), Histogram::default(), Histogram::default());
        for v in 0..500 {
            let value = v * v;
            if v % 3 == 0 { &mut a } else { &mut b }.add(value);
            whole.add(value);
        }
        let stored: Histogram = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(stored, a);
        let mut merged = stored;
        merged.merge(&b);
        assert_eq!(merged, whole);
        // Into an empty one, and an empty one into it.
        let mut from_empty = Histogram::default();
        from_empty.merge(&whole);
        let mut with_empty = whole.clone();
        with_empty.merge(&Histogram::default());
        assert_eq!((&from_empty, &with_empty), (&whole, &whole));
    }

    fn row(id: &str, created: OffsetDateTime, resolved: Option<OffsetDateTime>, first_response: Option<i64>) -> Measured {
        Measured {
            conversation_id: id.into(),
            created_at: created,
            team_id: None,
            assignee_id: None,
            category: Some("billing".into()),
            inbox_id: None,
            facts: ConversationFacts {
                first_channel: Some("email".into()),
                answer_channel: first_response.map(|_| "whatsapp".into()),
                first_response_secs: first_response,
                agent_messages: i64::from(first_response.is_some()),
                customer_messages: 1,
                resolved_at: resolved,
                first_resolved_at: resolved,
                resolution_secs: resolved.map(|r| (r - created).whole_seconds()),
                resolutions: i64::from(resolved.is_some()),
                ..Default::default()
            },
            sla_clocks: 1,
            sla_met: 1,
            came_back_fcr: false,
            came_back_deflection: false,
        }
    }

    #[test]
    fn days_stored_and_stretches_read_add_up_to_the_whole_period() {
        let now = datetime!(2026-06-01 0:00 UTC);
        let rows: Vec<Measured> = (0..200)
            .map(|i| {
                let created = datetime!(2026-03-01 0:00 UTC) + Duration::minutes(i * 317);
                let resolved = (i % 4 != 0).then(|| created + Duration::minutes(i * 13 + 5));
                row(&format!("c{i}"), created, resolved, (i % 5 != 0).then_some(i * 41))
            })
            .collect();
        let (from, to) = (datetime!(2026-03-02 15:30 UTC), datetime!(2026-03-30 09:00 UTC));
        let whole = Tally::of(&rows, from, to, now);
        // Every other day stored: the sum of the days and the rest is the same.
        let (days, raw) = plan(from, to, |d| d % 2 == 0);
        assert!(!days.is_empty() && raw.len() > 2, "{days:?} {raw:?}");
        assert_eq!(raw.first().unwrap().0, from);
        assert_eq!(raw.last().unwrap().1, to);
        let mut sum = Tally::default();
        for day in &days {
            sum.merge(&Tally::of(&rows, day_start(*day), day_start(day + 1), now));
        }
        for (a, b) in &raw {
            sum.merge(&Tally::of(&rows, *a, *b, now));
        }
        assert_eq!(sum.summary(), whole.summary());
        assert_eq!(sum.flow(), whole.flow());
        // And so do the hours.
        let mut by_hours = Tally::default();
        for t in by_hour(&rows, from, to, now).values() {
            by_hours.merge(t);
        }
        assert_eq!(by_hours.summary(), whole.summary());
        let days = days_of(&by_hour(&rows, from, to, now), from, to, UtcOffset::UTC);
        assert_eq!(days.iter().map(|d| d.created).sum::<i64>(), whole.conversations);
        assert_eq!(days.iter().map(|d| d.resolved).sum::<i64>(), whole.resolved);
    }

    #[test]
    fn a_pending_verdict_ripens_in_a_stored_tally_as_it_would_in_the_conversations() {
        let created = datetime!(2026-03-02 9:00 UTC);
        let rows = [row("c1", created, Some(created + Duration::hours(1)), Some(60)), row("c2", created, None, None)];
        let (from, to) = (datetime!(2026-03-02 0:00 UTC), datetime!(2026-03-03 0:00 UTC));
        let t = Tally::of(&rows, from, to, datetime!(2026-03-04 0:00 UTC));
        assert_eq!((t.first_contact_resolution.pending, t.valid_until), (1, None));
        let stored: Tally = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        let window_ends = created + Duration::hours(1) + crate::metrics::FCR_WINDOW;
        for now in [window_ends - Duration::seconds(1), window_ends, datetime!(2026-04-01 0:00 UTC)] {
            let mut ripened = stored.clone();
            ripened.ripen(now);
            assert_eq!(ripened.summary(), Tally::of(&rows, from, to, now).summary(), "at {now}");
        }
        let mut later = stored;
        later.ripen(window_ends);
        assert_eq!((later.first_contact_resolution.yes, later.first_contact_resolution.pending), (1, 0));
    }
}
