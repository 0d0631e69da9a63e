//! Reports over long periods: each UTC day's tallies stored once the day
//! is over (`metrics_rollups`, see [`threadline_domain::tally`]), and the
//! days a change touched since (`metrics_days`), which reports read from
//! the conversations until the day is stored again. A report of a year
//! reads some hundreds of stored tallies and the conversations of today
//! and of any day changed since — never stale numbers, never every row.

use std::collections::{BTreeMap, BTreeSet};

use threadline_domain::backlog::DayBacklog;
use threadline_domain::ids::AccountId;
use threadline_domain::metrics::{DEFLECTION_WINDOW, Dimension, FCR_WINDOW};
use threadline_domain::tally::{self, BACKLOG, HOUR, SPAN_DIMENSIONS, Tally, WHOLE, WORK, WORK_SPAN};
use threadline_domain::workload::{self, SPAN_DAYS, WorkCounts};
use time::OffsetDateTime;

use crate::metrics::MetricsFilter;
use crate::{Result, Store, StoreError, WriteTx, micros, rows};

const DAY_MICROS: i64 = 86_400_000_000;

/// The stored name of spans' whole-account tallies.
const WHOLE_SPAN: &str = SPAN_DIMENSIONS[0].1;

/// The job kind that stores the days over and changed since.
pub const ROLLUP_JOB: &str = "metrics.rollup";

/// Marks the days the conversations' measured dates fall in: call before
/// and after their facts change, so both the old days and the new ones
/// are stored again.
pub(crate) async fn mark_days(tx: &mut WriteTx, conversation_ids: &[String]) -> Result<()> {
    let days = format!(
        "SELECT account_id, created_at / {DAY_MICROS} AS day FROM conversation_metrics WHERE {{key}} \
         UNION SELECT account_id, resolved_at / {DAY_MICROS} FROM conversation_metrics WHERE {{key}} AND resolved_at IS NOT NULL \
         UNION SELECT account_id, first_resolved_at / {DAY_MICROS} FROM conversation_metrics WHERE {{key}} AND first_resolved_at IS NOT NULL"
    );
    mark(tx, conversation_ids, "conversation_id", &days).await
}

/// Marks the days of the conversations' messages written since they were
/// last measured (an hour's margin, for messages committed while the last
/// measuring ran): the days whose workload they change. Earlier messages
/// do not change when a conversation does.
pub(crate) async fn mark_new_message_days(tx: &mut WriteTx, conversation_ids: &[String]) -> Result<()> {
    let days = format!(
        "SELECT DISTINCT m.account_id AS account_id, m.created_at / {DAY_MICROS} AS day FROM messages m \
         LEFT JOIN conversation_metrics cm ON cm.conversation_id = m.conversation_id \
         WHERE {{key}} AND m.created_at >= COALESCE(cm.refreshed_at, 0) - 3600000000"
    );
    mark(tx, conversation_ids, "m.conversation_id", &days).await
}

/// Which messages [`mark_message_days`] marks the days of.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MessagesOf {
    Conversations,
    Contacts,
    /// Messages by their own ids.
    Ids,
}

/// Marks the days of messages (all of some conversations', some
/// contacts', or these): call before messages are deleted or move to
/// another customer, and before and after they move in time.
pub(crate) async fn mark_message_days(tx: &mut WriteTx, of: MessagesOf, ids: &[String]) -> Result<()> {
    let column = match of {
        MessagesOf::Conversations => "m.conversation_id",
        MessagesOf::Contacts => "m.contact_id",
        MessagesOf::Ids => "m.id",
    };
    let days = format!("SELECT DISTINCT m.account_id AS account_id, m.created_at / {DAY_MICROS} AS day FROM messages m WHERE {{key}}");
    mark(tx, ids, column, &days).await
}

/// Marks the days of the same customers' other conversations whose
/// verdicts (first-contact resolution, deflection) these conversations'
/// first messages decide: call once they are measured, and before they
/// are erased.
pub(crate) async fn mark_return_days(tx: &mut WriteTx, conversation_ids: &[String]) -> Result<()> {
    let days = return_days(tx.backend());
    mark(tx, conversation_ids, "m.conversation_id", &days).await
}

/// The days [`mark_return_days`] marks, for the conversations `{key}`
/// names as `m.conversation_id`. The same customer's other conversations
/// are found through `conversation_metrics_contact`: on SQLite by account
/// and customer, on PostgreSQL by the customer alone (that index leads
/// with it there) with the account a filter ([`rows::guard`]), which keeps
/// the planner off the account-leading indexes.
pub(crate) fn return_days(backend: crate::Backend) -> String {
    let same_account = match backend {
        crate::Backend::Sqlite => "o.account_id = m.account_id".to_owned(),
        crate::Backend::Postgres => rows::guard("o.account_id", "m.account_id"),
    };
    let others = format!(
        "FROM conversation_metrics m JOIN conversation_metrics o ON o.contact_id = m.contact_id AND {same_account} \
         AND o.conversation_id <> m.conversation_id"
    );
    format!(
        "SELECT o.account_id, o.created_at / {DAY_MICROS} AS day {others} WHERE {{key}} \
         AND o.resolved_at < m.first_customer_at AND o.resolved_at >= m.first_customer_at - {} \
         UNION SELECT o.account_id, o.first_resolved_at / {DAY_MICROS} {others} WHERE {{key}} \
         AND o.first_resolved_at < m.first_customer_at AND o.first_resolved_at >= m.first_customer_at - {}",
        DEFLECTION_WINDOW.whole_microseconds(),
        FCR_WINDOW.whole_microseconds()
    )
}

/// Marks the `(account_id, day)` rows `days` selects for the ids: `days`
/// names them as `{key}`, a condition on `column` ([`rows::by_keys`]: on
/// PostgreSQL id by id, so a young table whose statistics say it is small
/// is not read whole for every refresh). The list is padded, so
/// statements keep a few shapes.
async fn mark(tx: &mut WriteTx, ids: &[String], column: &str, days: &str) -> Result<()> {
    let marked = micros(crate::now());
    for chunk in ids.chunks(64) {
        let ids = rows::padded(chunk);
        let sql = mark_sql(tx.backend(), ids.len(), column, days);
        let mut query = sqlx::query(&sql).bind(marked);
        for id in ids {
            query = query.bind(id);
        }
        query.execute(tx.conn()).await?;
    }
    Ok(())
}

/// The statement of [`mark`] for `n` ids (`$2`…; `$1` the time marked).
pub(crate) fn mark_sql(backend: crate::Backend, n: usize, column: &str, days: &str) -> String {
    format!(
        "INSERT INTO metrics_days (account_id, day, marked) SELECT DISTINCT account_id, day, $1 FROM ({}) AS touched WHERE true \
         ON CONFLICT (account_id, day) DO UPDATE SET marked = excluded.marked",
        rows::by_keys(backend, 2, n, column, days)
    )
}

/// Holds the days' `metrics_days` rows until the transaction ends
/// (PostgreSQL; SQLite's writer is one at a time): a day stored again and
/// its span merged by two nodes at once are done one after the other, so
/// a span never merges a day's old rows after that day deleted it.
async fn lock_days(tx: &mut WriteTx, account: &str, first: i64, end: i64) -> Result<()> {
    if tx.backend() == crate::Backend::Postgres {
        sqlx::query("SELECT day FROM metrics_days WHERE account_id = $1 AND day >= $2 AND day < $3 ORDER BY day FOR UPDATE")
            .bind(account.to_owned())
            .bind(first)
            .bind(end)
            .fetch_all(tx.conn())
            .await?;
    }
    Ok(())
}

/// Stores `(dimension, key, JSON)` rows of `day` (a day, or a span's first day).
async fn insert_rollups(tx: &mut WriteTx, account: &str, day: i64, stored: &[(&str, String, String)]) -> Result<()> {
    let mut rollups = rows::NewRows::new("metrics_rollups", &["account_id", "day", "dim", "key", "tally"]);
    for (dim, key, json) in stored {
        rollups.push([account.into(), day.into(), (*dim).into(), key.clone().into(), json.clone().into()]);
    }
    let backend = tx.backend();
    rollups.insert(tx.conn(), backend, "").await?;
    Ok(())
}

/// Deletes a span's stored rows (every dimension's, [`SPAN_DIMENSIONS`]).
async fn delete_span(tx: &mut WriteTx, account: &str, span: i64) -> Result<()> {
    let sql =
        format!("DELETE FROM metrics_rollups WHERE account_id = $1 AND day = $2 AND dim IN ({})", rows::list(3, SPAN_DIMENSIONS.len()));
    let mut query = sqlx::query(&sql).bind(account.to_owned()).bind(span);
    for (_, dim) in SPAN_DIMENSIONS {
        query = query.bind(dim);
    }
    query.execute(tx.conn()).await?;
    Ok(())
}

/// A day whose tallies are to be stored (again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayToRoll {
    pub account_id: AccountId,
    pub day: i64,
    marked: Option<i64>,
}

/// A span of days whose workload is to be stored merged
/// ([`workload::SPAN_DAYS`]): every day of it with something stored is
/// stored and unchanged since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanToRoll {
    pub account_id: AccountId,
    /// Its first day.
    pub span: i64,
}

/// What a report needs beside its total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Groups by this dimension (hours of the week: by hour).
    pub groups: Option<Dimension>,
    /// Per UTC hour (daily series).
    pub hours: bool,
}

/// A report's tallies: the whole period's, its groups', its hours'.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tallies {
    pub total: Tally,
    pub groups: BTreeMap<Option<String>, Tally>,
    /// By UTC hour number ([`tally::hour_number`]).
    pub hours: BTreeMap<i64, Tally>,
    /// Days read from stored tallies.
    pub stored_days: usize,
}

impl MetricsFilter {
    /// The one dimension the filter names, if it names one.
    fn single(&self) -> Option<Option<(&'static str, String)>> {
        let named: Vec<(&'static str, &String)> = [
            (tally::stored_dimension(Dimension::Channel), &self.channel),
            (tally::stored_dimension(Dimension::Inbox), &self.inbox_id),
            (tally::stored_dimension(Dimension::Team), &self.team_id),
            (tally::stored_dimension(Dimension::Agent), &self.assignee_id),
            (tally::stored_dimension(Dimension::Category), &self.category),
        ]
        .into_iter()
        .filter_map(|(dim, value)| value.as_ref().map(|v| (dim, v)))
        .collect();
        match named.as_slice() {
            [] => Some(None),
            [(dim, value)] => Some(Some((dim, (*value).clone()))),
            _ => None,
        }
    }
}

impl Store {
    /// Days over before `before_day` (UTC day number) that are marked,
    /// past their validity or without their workload stored, oldest first.
    pub async fn days_to_roll(&self, before_day: i64, now: OffsetDateTime, limit: i64) -> Result<Vec<DayToRoll>> {
        let found = sqlx::query(
            "SELECT account_id, day, marked FROM metrics_days WHERE day < $1 \
             AND (marked IS NOT NULL OR valid_until <= $2 OR work_rolled_at IS NULL) ORDER BY day, account_id LIMIT $3",
        )
        .bind(before_day)
        .bind(micros(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        found
            .iter()
            .map(|row| {
                Ok(DayToRoll {
                    account_id: rows::parse(row, "account_id")?,
                    day: rows::int(row, "day")?,
                    marked: rows::opt_int(row, "marked")?,
                })
            })
            .collect()
    }

    /// Stores `day`'s tallies (measured as of `now`) in place of what was
    /// stored; the day counts as stored unless a change marked it again meanwhile.
    pub async fn roll_day(&self, day: &DayToRoll, now: OffsetDateTime) -> Result<()> {
        let rows_in =
            self.measured(day.account_id, tally::day_start(day.day), tally::day_start(day.day + 1), &MetricsFilter::default()).await?;
        let tallies = tally::day_tallies(&rows_in, day.day, now);
        let valid_until = tallies[0].2.valid_until;
        let work = self.work_tally(day.account_id, tally::day_start(day.day), tally::day_start(day.day + 1)).await?.into_counts();
        let work = serde_json::to_string(&work).map_err(|e| StoreError::Corrupt(format!("work: {e}")))?;
        // The day's conversations still unresolved (counted from their rows,
        // so a change after this count marks the day again).
        let backlog = self.unresolved(day.account_id, &[(Some(day.day), Some(day.day + 1))], now).await?.counts;
        let backlog = serde_json::to_string(&backlog).map_err(|e| StoreError::Corrupt(format!("backlog: {e}")))?;
        let account = day.account_id.to_string();
        let mut tx = self.begin_write().await?;
        lock_days(&mut tx, &account, day.day, day.day + 1).await?;
        sqlx::query("DELETE FROM metrics_rollups WHERE account_id = $1 AND day = $2")
            .bind(&account)
            .bind(day.day)
            .execute(tx.conn())
            .await?;
        // The day's span no longer holds what its days do.
        delete_span(&mut tx, &account, workload::span_start(day.day)).await?;
        let mut out = Vec::with_capacity(tallies.len() + 1);
        for (dim, key, t) in &tallies {
            out.push((*dim, key.clone(), serde_json::to_string(t).map_err(|e| StoreError::Corrupt(format!("tally: {e}")))?));
        }
        out.push((WORK, String::new(), work));
        out.push((BACKLOG, String::new(), backlog));
        insert_rollups(&mut tx, &account, day.day, &out).await?;
        sqlx::query(
            "UPDATE metrics_days SET marked = NULL, rolled_at = $3, work_rolled_at = $3, valid_until = $4 WHERE account_id = $1 AND day = $2 \
             AND (marked = $5 OR (marked IS NULL AND $5 IS NULL))",
        )
        .bind(&account)
        .bind(day.day)
        .bind(micros(now))
        .bind(valid_until.map(micros))
        .bind(day.marked)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Spans wholly before `before_day`'s whose days are all stored and
    /// unchanged since, without their merged workload stored; oldest first.
    pub async fn spans_to_roll(&self, before_day: i64, limit: i64) -> Result<Vec<SpanToRoll>> {
        let sql = format!(
            "SELECT account_id, span FROM (SELECT account_id, day / {SPAN_DAYS} * {SPAN_DAYS} AS span, \
             SUM(CASE WHEN marked IS NULL AND rolled_at IS NOT NULL AND work_rolled_at IS NOT NULL THEN 0 ELSE 1 END) AS open \
             FROM metrics_days WHERE day >= 0 AND day < $1 GROUP BY account_id, day / {SPAN_DAYS} * {SPAN_DAYS}) AS spans \
             WHERE open = 0 AND NOT EXISTS (SELECT 1 FROM metrics_rollups r WHERE r.account_id = spans.account_id \
             AND r.dim = $2 AND r.day = spans.span AND r.key = '') ORDER BY span, account_id LIMIT $3"
        );
        // A span's rows are written together: its whole-account row says they are there.
        let found = sqlx::query(&sql).bind(workload::span_start(before_day)).bind(WHOLE_SPAN).bind(limit).fetch_all(&self.pool).await?;
        found.iter().map(|row| Ok(SpanToRoll { account_id: rows::parse(row, "account_id")?, span: rows::int(row, "span")? })).collect()
    }

    /// Stores a span's tallies and workload, its days' merged, if its
    /// days are still all stored and unchanged; a day stored again since
    /// deletes them ([`Store::roll_day`]). A day whose stored rows cannot
    /// be read leaves the span unstored and is marked, to be stored again
    /// from its conversations and messages.
    pub async fn roll_span(&self, span: &SpanToRoll) -> Result<bool> {
        let account = span.account_id.to_string();
        let (first, end) = (span.span, span.span + SPAN_DAYS);
        let mut tx = self.begin_write().await?;
        lock_days(&mut tx, &account, first, end).await?;
        let open = sqlx::query(
            "SELECT COUNT(*) AS open FROM metrics_days WHERE account_id = $1 AND day >= $2 AND day < $3 \
             AND (marked IS NOT NULL OR rolled_at IS NULL OR work_rolled_at IS NULL)",
        )
        .bind(&account)
        .bind(first)
        .bind(end)
        .fetch_one(tx.conn())
        .await?;
        if rows::int(&open, "open")? > 0 {
            return Ok(false);
        }
        let sql = format!(
            "SELECT day, dim, key, tally FROM metrics_rollups WHERE account_id = $1 AND day >= $2 AND day < $3 AND dim IN ({})",
            rows::list(4, SPAN_DIMENSIONS.len())
        );
        let mut query = sqlx::query(&sql).bind(&account).bind(first).bind(end);
        for (dim, _) in SPAN_DIMENSIONS {
            query = query.bind(dim);
        }
        let found = query.fetch_all(tx.conn()).await?;
        let mut work = WorkCounts::default();
        let mut tallies: BTreeMap<(&'static str, String), Tally> = BTreeMap::new();
        for row in &found {
            let (day, dim, raw) = (rows::int(row, "day")?, rows::text(row, "dim")?, rows::text(row, "tally")?);
            let read = match SPAN_DIMENSIONS.iter().find(|(d, _)| *d == dim) {
                Some((WORK, _)) => serde_json::from_str::<WorkCounts>(&raw).map(|w| work.merge(&w)).map_err(|e| e.to_string()),
                Some((_, span_dim)) => {
                    let key = rows::text(row, "key")?;
                    serde_json::from_str::<Tally>(&raw)
                        .map(|t| tallies.entry((*span_dim, key)).or_default().merge(&t))
                        .map_err(|e| e.to_string())
                }
                None => Ok(()),
            };
            if let Err(e) = read {
                tracing::warn!(account_id = %span.account_id, day, dim, error = %e, "a stored day cannot be read; storing it again");
                sqlx::query("UPDATE metrics_days SET marked = $3 WHERE account_id = $1 AND day = $2")
                    .bind(&account)
                    .bind(day)
                    .bind(micros(crate::now()))
                    .execute(tx.conn())
                    .await?;
                tx.commit().await?;
                return Ok(false);
            }
        }
        delete_span(&mut tx, &account, first).await?;
        let mut out: Vec<(&str, String, String)> = Vec::with_capacity(tallies.len() + 1);
        for ((dim, key), t) in &tallies {
            out.push((dim, key.clone(), serde_json::to_string(t).map_err(|e| StoreError::Corrupt(format!("tally: {e}")))?));
        }
        out.push((WORK_SPAN, String::new(), serde_json::to_string(&work).map_err(|e| StoreError::Corrupt(format!("work: {e}")))?));
        insert_rollups(&mut tx, &account, first, &out).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The days of `first..last` (UTC day numbers, `last` excluded) whose
    /// stored tallies cannot be used: marked since, past their validity.
    /// Without `now`, a validity that ran out does not count (the day's
    /// workload does not change with time).
    async fn unstored_days(&self, account_id: AccountId, first: i64, last: i64, now: Option<OffsetDateTime>) -> Result<BTreeSet<i64>> {
        let found = sqlx::query(
            "SELECT day FROM metrics_days WHERE account_id = $1 AND day >= $2 AND day < $3 \
             AND (marked IS NOT NULL OR rolled_at IS NULL OR valid_until <= $4)",
        )
        .bind(account_id.to_string())
        .bind(first)
        .bind(last)
        .bind(now.map(micros))
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(|row| rows::int(row, "day")).collect()
    }

    /// Stored tallies of `dim` (one `key`, or all) for `days` (ascending),
    /// read run by run of consecutive days; the days with a row that
    /// cannot be read go to `unreadable`.
    async fn stored_tallies(
        &self,
        account_id: AccountId,
        dim: &str,
        key: Option<&str>,
        days: &[i64],
        unreadable: &mut BTreeSet<i64>,
    ) -> Result<Vec<(i64, String, Tally)>> {
        let mut out = Vec::new();
        for (first, last) in workload::runs(days) {
            for (day, _, key, read) in self.stored_rows(account_id, &[dim], key, first, last).await? {
                match read {
                    Ok(t) => out.push((day, key, t)),
                    Err(e) => {
                        tracing::warn!(%account_id, day, dim, error = %e, "a stored day's tallies cannot be read; reading its conversations");
                        unreadable.insert(day);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Stored tallies of `dim` (one `key`, or all) for `spans` (their
    /// first days, ascending): the spans' rows, read at once; the days of
    /// a span with a row that cannot be read go to `unreadable`.
    async fn stored_span_tallies(
        &self,
        account_id: AccountId,
        dim: &str,
        key: Option<&str>,
        spans: &[i64],
        unreadable: &mut BTreeSet<i64>,
    ) -> Result<Vec<(String, Tally)>> {
        let (Some(first), Some(last), Some(span_dim)) = (spans.first(), spans.last(), tally::span_dimension(dim)) else {
            return Ok(Vec::new());
        };
        // Read with the spans' whole-account rows, in one statement: a span
        // stored again since the report looked (its rows deleted) is seen
        // here, and its days read again, never counted as nothing.
        let mut out = Vec::new();
        let mut present = BTreeSet::new();
        for (span, row_dim, key, read) in self.stored_rows(account_id, &[span_dim, WHOLE_SPAN], key, *first, *last).await? {
            if spans.binary_search(&span).is_err() {
                continue;
            }
            if row_dim == WHOLE_SPAN {
                present.insert(span);
            }
            if row_dim != span_dim {
                continue;
            }
            match read {
                Ok(t) => out.push((key, t)),
                Err(e) => {
                    tracing::warn!(%account_id, span, dim, error = %e, "a stored span's tallies cannot be read; reading its days");
                    unreadable.extend(span..span + SPAN_DAYS);
                }
            }
        }
        for span in spans.iter().filter(|s| !present.contains(*s)) {
            unreadable.extend(*span..*span + SPAN_DAYS);
        }
        Ok(out)
    }

    /// The rows of `dims` (one `key`, or all; the whole account's rows,
    /// key `""`, always) stored for days `first..=last`, with their dimension.
    async fn stored_rows(
        &self,
        account_id: AccountId,
        dims: &[&str],
        key: Option<&str>,
        first: i64,
        last: i64,
    ) -> Result<Vec<(i64, String, String, std::result::Result<Tally, serde_json::Error>)>> {
        let dims_list = rows::list(4, dims.len());
        let sql = match key {
            Some(_) => format!(
                "SELECT day, dim, key, tally FROM metrics_rollups WHERE account_id = $1 AND day >= $2 AND day <= $3 \
                 AND dim IN ({dims_list}) AND (key = ${} OR dim = '{WHOLE_SPAN}')",
                4 + dims.len()
            ),
            None => format!(
                "SELECT day, dim, key, tally FROM metrics_rollups WHERE account_id = $1 AND day >= $2 AND day <= $3 AND dim IN ({dims_list})"
            ),
        };
        let mut query = sqlx::query(&sql).bind(account_id.to_string()).bind(first).bind(last);
        for dim in dims {
            query = query.bind((*dim).to_owned());
        }
        if let Some(key) = key {
            query = query.bind(key.to_owned());
        }
        let mut out = Vec::new();
        for row in query.fetch_all(&self.pool).await? {
            let tally = serde_json::from_str::<Tally>(&rows::text(&row, "tally")?);
            out.push((rows::int(&row, "day")?, rows::text(&row, "dim")?, rows::text(&row, "key")?, tally));
        }
        Ok(out)
    }

    /// The spans among `spans` (first days, ascending) whose rows are
    /// stored (written together; the whole account's row says so).
    async fn stored_spans(&self, account_id: AccountId, spans: &[i64]) -> Result<BTreeSet<i64>> {
        let (Some(first), Some(last)) = (spans.first(), spans.last()) else { return Ok(BTreeSet::new()) };
        let found =
            sqlx::query("SELECT day FROM metrics_rollups WHERE account_id = $1 AND dim = $2 AND day >= $3 AND day <= $4 AND key = ''")
                .bind(account_id.to_string())
                .bind(WHOLE_SPAN)
                .bind(*first)
                .bind(*last)
                .fetch_all(&self.pool)
                .await?;
        let mut out = BTreeSet::new();
        for row in &found {
            let span = rows::int(row, "day")?;
            if spans.binary_search(&span).is_ok() {
                out.insert(span);
            }
        }
        Ok(out)
    }

    /// What a report of `from..to` adds up to, as of `now`: stored days'
    /// tallies where they hold (whole UTC days before today, unchanged
    /// since stored, with no single filter beyond one dimension — and, for
    /// groups or hours, none at all), the conversations for the rest. A
    /// stored day that cannot be read is read from its conversations and
    /// marked, to be stored again.
    pub async fn tallies(
        &self,
        account_id: AccountId,
        from: OffsetDateTime,
        to: OffsetDateTime,
        filter: &MetricsFilter,
        now: OffsetDateTime,
        wanted: Wanted,
    ) -> Result<Tallies> {
        let mut skip = BTreeSet::new();
        loop {
            let mut unreadable = BTreeSet::new();
            let out = self.tallies_skipping(account_id, from, to, filter, now, wanted, &skip, &mut unreadable).await?;
            if unreadable.is_empty() {
                return Ok(out);
            }
            self.mark_unreadable(account_id, &unreadable).await?;
            // Each pass reads no day it skips, so this ends.
            skip.extend(unreadable);
        }
    }

    /// [`Store::tallies`] reading none of `skip`'s days stored; the days
    /// whose stored rows cannot be read go to `unreadable` (then what it
    /// gives is incomplete).
    #[allow(clippy::too_many_arguments)]
    async fn tallies_skipping(
        &self,
        account_id: AccountId,
        from: OffsetDateTime,
        to: OffsetDateTime,
        filter: &MetricsFilter,
        now: OffsetDateTime,
        wanted: Wanted,
        skip: &BTreeSet<i64>,
        unreadable: &mut BTreeSet<i64>,
    ) -> Result<Tallies> {
        let single = filter.single();
        let usable = match &single {
            Some(None) => true,
            Some(Some(_)) => wanted.groups.is_none() && !wanted.hours,
            None => false,
        };
        let today = tally::day_number(now);
        let unstored = if usable {
            self.unstored_days(account_id, tally::day_number(from), tally::day_number(to) + 1, Some(now)).await?
        } else {
            BTreeSet::new()
        };
        let (days, stretches) = tally::plan(from, to, |day| usable && day < today && !unstored.contains(&day) && !skip.contains(&day));
        let mut out = Tallies { stored_days: days.len(), ..Default::default() };

        if !days.is_empty() {
            // Whole spans of stored days are read as one row each; the
            // days at the edges, and those of spans not stored, one by one.
            let (spans, _) = workload::spans_among(&days);
            let stored = self.stored_spans(account_id, &spans).await?;
            let spans: Vec<i64> = spans.into_iter().filter(|s| stored.contains(s)).collect();
            let by_day: Vec<i64> = days.iter().copied().filter(|d| spans.binary_search(&workload::span_start(*d)).is_err()).collect();
            let (dim, key) = match &single {
                Some(Some((dim, key))) => (*dim, Some(key.as_str())),
                _ => (WHOLE, Some("")),
            };
            for (_, t) in self.stored_span_tallies(account_id, dim, key, &spans, unreadable).await? {
                out.total.merge(&t);
            }
            for (_, _, t) in self.stored_tallies(account_id, dim, key, &by_day, unreadable).await? {
                out.total.merge(&t);
            }
            match wanted.groups {
                Some(Dimension::HourOfWeek) | None => {}
                Some(by) => {
                    let dim = tally::stored_dimension(by);
                    let spanned = self.stored_span_tallies(account_id, dim, None, &spans, unreadable).await?;
                    let daily = self.stored_tallies(account_id, dim, None, &by_day, unreadable).await?;
                    for (key, t) in spanned.into_iter().chain(daily.into_iter().map(|(_, key, t)| (key, t))) {
                        out.groups.entry(Some(key).filter(|k| !k.is_empty())).or_default().merge(&t);
                    }
                }
            }
            if wanted.hours || wanted.groups == Some(Dimension::HourOfWeek) {
                for (day, key, t) in self.stored_tallies(account_id, HOUR, None, &days, unreadable).await? {
                    match key.parse::<i64>() {
                        Ok(hour) if (0..24).contains(&hour) => out.hours.entry(day * 24 + hour).or_default().merge(&t),
                        _ => {
                            unreadable.insert(day);
                        }
                    }
                }
            }
        }
        if !unreadable.is_empty() {
            return Ok(out);
        }
        for (a, b) in stretches {
            // Streamed: a long stretch (days not stored yet, after an
            // upgrade) is added up row by row, never held.
            let (total, groups, hours) = (&mut out.total, &mut out.groups, &mut out.hours);
            let by_hour = wanted.hours || wanted.groups == Some(Dimension::HourOfWeek);
            self.each_measured(account_id, a, b, filter, |row| {
                total.add(&row, a, b, now);
                if let Some(by) = wanted.groups.filter(|by| *by != Dimension::HourOfWeek) {
                    groups.entry(by.key_of(&row)).or_default().add(&row, a, b, now);
                }
                if by_hour {
                    tally::add_by_hour(hours, &row, a, b, now);
                }
            })
            .await?;
        }
        // Stored days' pending verdicts whose windows have ended since.
        out.total.ripen(now);
        for t in out.groups.values_mut() {
            t.ripen(now);
        }
        Ok(out)
    }

    /// The workload and cost counts of `from..to` as of `now`: whole UTC
    /// days before today that are stored and unchanged since from their
    /// stored spans ([`workload::SPAN_DAYS`]) where a whole span is in the
    /// period, else from their stored rows; the rest (today, partial days
    /// at the edges, days changed since, rows that cannot be read) from
    /// the messages. Also says how many days were read stored.
    pub async fn work(
        &self,
        account_id: AccountId,
        from: OffsetDateTime,
        to: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(WorkCounts, usize)> {
        let today = tally::day_number(now);
        let (first, last) = (tally::day_number(from), tally::day_number(to));
        let unstored = self.unstored_days(account_id, first, last + 1, None).await?;
        let (whole, stretches) = tally::plan(from, to, |day| day < today && !unstored.contains(&day));
        let (spans, mut days) = workload::spans_among(&whole);
        let mut counts = WorkCounts::default();
        let mut stored_days = 0;

        let mut spans_read = BTreeSet::new();
        let mut unreadable = BTreeSet::new();
        if let (Some(a), Some(b)) = (spans.first(), spans.last()) {
            let (found, bad) = self.stored_work(account_id, WORK_SPAN, *a, *b).await?;
            unreadable.extend(bad.into_iter().flat_map(|span| span..span + SPAN_DAYS));
            for (span, w) in found {
                if spans.binary_search(&span).is_ok() {
                    counts.merge(&w);
                    spans_read.insert(span);
                }
            }
        }
        // Spans not stored (yet) are read by their days.
        for span in spans.iter().filter(|s| !spans_read.contains(*s)) {
            days.extend(*span..*span + SPAN_DAYS);
        }
        days.sort_unstable();
        stored_days += spans_read.len() * SPAN_DAYS as usize;

        let mut found: BTreeSet<i64> = BTreeSet::new();
        for (a, b) in workload::runs(&days) {
            let (rows_found, bad) = self.stored_work(account_id, WORK, a, b).await?;
            unreadable.extend(bad);
            for (day, w) in rows_found {
                if days.binary_search(&day).is_ok() && found.insert(day) {
                    counts.merge(&w);
                }
            }
        }
        stored_days += found.len();
        let missing: Vec<i64> = days.iter().copied().filter(|d| !found.contains(d)).collect();
        let missing = workload::runs(&missing).into_iter().map(|(a, b)| (tally::day_start(a), tally::day_start(b + 1)));
        for (a, b) in stretches.into_iter().chain(missing) {
            counts.merge(self.work_tally(account_id, a, b).await?.counts());
        }
        // Rows that could not be read are stored again.
        self.mark_unreadable(account_id, &unreadable).await?;
        Ok((counts, stored_days))
    }

    /// Stored workload rows of `dim` (days or spans) from day `a` to `b`
    /// (both included), and the days of those that cannot be read (left
    /// out, so their days are read from their messages).
    async fn stored_work(&self, account_id: AccountId, dim: &str, a: i64, b: i64) -> Result<(Vec<(i64, WorkCounts)>, Vec<i64>)> {
        let found = sqlx::query("SELECT day, tally FROM metrics_rollups WHERE account_id = $1 AND dim = $2 AND day >= $3 AND day <= $4")
            .bind(account_id.to_string())
            .bind(dim.to_owned())
            .bind(a)
            .bind(b)
            .fetch_all(&self.pool)
            .await?;
        let (mut out, mut bad) = (Vec::with_capacity(found.len()), Vec::new());
        for row in &found {
            let day = rows::int(row, "day")?;
            match serde_json::from_str::<WorkCounts>(&rows::text(row, "tally")?) {
                Ok(w) => out.push((day, w)),
                Err(e) => {
                    tracing::warn!(%account_id, day, dim, error = %e, "stored workload cannot be read; reading its messages");
                    bad.push(day);
                }
            }
        }
        Ok((out, bad))
    }

    /// The stored backlogs of the days before `before_day` that no change
    /// touched since they were stored. A day whose row cannot be read is
    /// left out (counted from its conversations) and marked, so the
    /// roll-up stores it again.
    pub(crate) async fn stored_backlogs(&self, account_id: AccountId, before_day: i64) -> Result<BTreeMap<i64, DayBacklog>> {
        let found = sqlx::query(
            "SELECT r.day, r.tally FROM metrics_rollups r JOIN metrics_days d ON d.account_id = r.account_id AND d.day = r.day \
             WHERE r.account_id = $1 AND r.dim = $2 AND r.day < $3 AND r.key = '' AND d.marked IS NULL",
        )
        .bind(account_id.to_string())
        .bind(BACKLOG)
        .bind(before_day)
        .fetch_all(&self.pool)
        .await?;
        let (mut out, mut unreadable) = (BTreeMap::new(), BTreeSet::new());
        for row in &found {
            let day = rows::int(row, "day")?;
            match serde_json::from_str::<DayBacklog>(&rows::text(row, "tally")?) {
                Ok(stored) => {
                    out.insert(day, stored);
                }
                Err(e) => {
                    tracing::warn!(%account_id, day, error = %e, "a stored day's backlog cannot be read; counting its conversations");
                    unreadable.insert(day);
                }
            }
        }
        self.mark_unreadable(account_id, &unreadable).await?;
        Ok(out)
    }

    /// Marks days whose stored rows could not be read, so the roll-up
    /// stores them (and their span) again.
    async fn mark_unreadable(&self, account_id: AccountId, days: &BTreeSet<i64>) -> Result<()> {
        let marked = micros(crate::now());
        for day in days {
            sqlx::query("UPDATE metrics_days SET marked = $3 WHERE account_id = $1 AND day = $2")
                .bind(account_id.to_string())
                .bind(*day)
                .bind(marked)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }
}
