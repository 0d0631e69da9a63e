//! Rows into domain types. Stored text that no longer parses (an unknown
//! status written by a newer version, a hand-edited row) becomes
//! [`StoreError::Corrupt`] rather than a panic.

use std::fmt::Write;
use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;
use threadline_domain::channel::Channel;
use threadline_domain::contact::Contact;
use threadline_domain::conversation::{Conversation, ConversationStatus, Handler, Priority};
use threadline_domain::message::{DeliveryStatus, Direction, Message, MessageKind, SenderKind};

use crate::{Backend, Result, StoreError, from_micros};

pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(col)?)
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

pub(crate) fn int(row: &AnyRow, col: &str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(col)?)
}

pub(crate) fn opt_int(row: &AnyRow, col: &str) -> Result<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

pub(crate) fn time(row: &AnyRow, col: &str) -> Result<time::OffsetDateTime> {
    Ok(from_micros(int(row, col)?))
}

pub(crate) fn opt_time(row: &AnyRow, col: &str) -> Result<Option<time::OffsetDateTime>> {
    Ok(opt_int(row, col)?.map(from_micros))
}

pub(crate) fn parse<T: FromStr>(row: &AnyRow, col: &str) -> Result<T> {
    let raw = text(row, col)?;
    raw.parse().map_err(|_| StoreError::Corrupt(format!("column {col}: `{raw}`")))
}

pub(crate) fn opt_parse<T: FromStr>(row: &AnyRow, col: &str) -> Result<Option<T>> {
    match opt_text(row, col)? {
        None => Ok(None),
        Some(raw) => raw.parse().map(Some).map_err(|_| StoreError::Corrupt(format!("column {col}: `{raw}`"))),
    }
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T> {
    let raw = text(row, col)?;
    serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

pub(crate) fn enum_of<T>(row: &AnyRow, col: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    let raw = text(row, col)?;
    parse(&raw).ok_or_else(|| StoreError::Corrupt(format!("column {col}: `{raw}`")))
}

pub(crate) const CONTACT_COLUMNS: &str =
    "id, name, language, attributes, custom_attributes, preferred_channels, merged_into, created_at, updated_at";

/// A contact row; identities and consents are loaded separately.
pub(crate) fn contact(row: &AnyRow) -> Result<Contact> {
    Ok(Contact {
        id: parse(row, "id")?,
        name: opt_text(row, "name")?,
        language: opt_text(row, "language")?,
        attributes: json(row, "attributes")?,
        custom_attributes: json(row, "custom_attributes")?,
        preferred_channels: json(row, "preferred_channels")?,
        identities: Vec::new(),
        consents: Vec::new(),
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) const CONVERSATION_COLUMNS: &str = "id, contact_id, status, priority, assignee_id, team_id, labels, category, \
     snoozed_until, channel, language, handler, queued_at, first_response_at, awaiting_since, resolved_at, last_activity_at, created_at, updated_at";

pub(crate) fn conversation(row: &AnyRow) -> Result<Conversation> {
    Ok(Conversation {
        id: parse(row, "id")?,
        contact_id: parse(row, "contact_id")?,
        status: enum_of(row, "status", ConversationStatus::parse)?,
        priority: enum_of(row, "priority", Priority::parse)?,
        assignee_id: opt_parse(row, "assignee_id")?,
        team_id: opt_parse(row, "team_id")?,
        labels: json(row, "labels")?,
        category: opt_text(row, "category")?,
        snoozed_until: opt_time(row, "snoozed_until")?,
        channel: opt_parse(row, "channel")?,
        language: opt_text(row, "language")?,
        handler: enum_of(row, "handler", Handler::parse)?,
        queued_at: opt_time(row, "queued_at")?,
        first_response_at: opt_time(row, "first_response_at")?,
        awaiting_since: opt_time(row, "awaiting_since")?,
        resolved_at: opt_time(row, "resolved_at")?,
        last_activity_at: time(row, "last_activity_at")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub(crate) const MESSAGE_COLUMNS: &str = "id, conversation_id, contact_id, kind, direction, channel, inbox_id, \
     sender_kind, sender_id, body_text, body_html, provider_message_id, delivery_status, delivery_error, subject, quoted_text, automated, problems, choices, triage, created_at";

/// A message row; attachments are loaded separately.
pub(crate) fn message(row: &AnyRow) -> Result<Message> {
    Ok(Message {
        id: parse(row, "id")?,
        conversation_id: parse(row, "conversation_id")?,
        contact_id: parse(row, "contact_id")?,
        kind: enum_of(row, "kind", MessageKind::parse)?,
        direction: enum_of(row, "direction", Direction::parse)?,
        channel: parse::<Channel>(row, "channel")?,
        inbox_id: opt_parse(row, "inbox_id")?,
        sender_kind: enum_of(row, "sender_kind", SenderKind::parse)?,
        sender_id: opt_text(row, "sender_id")?,
        text: text(row, "body_text")?,
        html: opt_text(row, "body_html")?,
        provider_message_id: opt_text(row, "provider_message_id")?,
        delivery_status: enum_of(row, "delivery_status", DeliveryStatus::parse)?,
        delivery_error: opt_text(row, "delivery_error")?,
        subject: opt_text(row, "subject")?,
        quoted_text: opt_text(row, "quoted_text")?,
        automated: opt_text(row, "automated")?,
        problems: match opt_text(row, "problems")? {
            Some(list) => serde_json::from_str(&list).map_err(|_| StoreError::Corrupt(format!("problems: {list}")))?,
            None => Vec::new(),
        },
        choices: match opt_text(row, "choices")? {
            Some(list) => serde_json::from_str(&list).map_err(|e| StoreError::Corrupt(format!("choices: {e}")))?,
            None => Vec::new(),
        },
        attachments: Vec::new(),
        triage: match opt_text(row, "triage")? {
            Some(raw) => Some(serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(format!("triage: {e}")))?),
            None => None,
        },
        created_at: time(row, "created_at")?,
    })
}

/// The `VALUES` list of a multi-row statement whose only parameters are
/// these, bound in order: `($1, $2), ($3, $4)` for `rows` rows of `cols`
/// columns on PostgreSQL, `(?, ?), (?, ?)` on SQLite. SQLite keeps numbered
/// parameters' names in a list that binding searches for each one — time
/// that grows with the square of the count (a 64-row chunk of messages has
/// 1,600) — while plain `?` are bound by position.
pub(crate) fn placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    match backend {
        Backend::Sqlite => vec![format!("({})", vec!["?"; cols].join(", ")); rows].join(", "),
        Backend::Postgres => (0..rows)
            .map(|r| format!("({})", (1..=cols).map(|c| format!("${}", r * cols + c)).collect::<Vec<_>>().join(", ")))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `$start, $start+1, …` for an `IN (…)` list of `n` values.
pub(crate) fn list(start: usize, n: usize) -> String {
    (start..start + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// On PostgreSQL, the rows `inner` finds for each of `n` keys bound from
/// `$start`, looked up key by key: `inner` is a `SELECT` whose condition
/// names the key as `wanted.key`.
///
/// Given the keys as an `IN` list beside an equality on a leading column
/// (`account_id = $1 AND contact_id IN (…)`), PostgreSQL may read that
/// column's whole range and filter it with the list: it does whenever the
/// account, inbox or table is newer than its statistics (a new tenant, a
/// young database, the first minutes of a busy one), where it estimates a
/// row or two for the range, and a prepared statement keeps that plan.
/// The walk then grows with every row the range gains. Here the keys are
/// a `VALUES` list joined `LATERAL` to `inner` kept as a subquery
/// (`OFFSET 0`), so each is one index descent whatever the estimates.
/// (SQLite takes an `IN` list on an index's later column key by key; its
/// statements keep the list.)
pub(crate) fn each_key(start: usize, n: usize, inner: &str) -> String {
    let keys = (start..start + n).map(|i| format!("(${i})")).collect::<Vec<_>>().join(", ");
    format!("SELECT found.* FROM (VALUES {keys}) AS wanted(key) CROSS JOIN LATERAL ({inner} OFFSET 0) found")
}

/// `select` for `n` keys bound from `$start`: `select` holds `{key}`
/// where its condition on `column` goes, which becomes `column IN (…)`
/// on SQLite and, on PostgreSQL, `column = wanted.key` looked up key by
/// key through [`each_key`].
pub(crate) fn by_keys(backend: Backend, start: usize, n: usize, column: &str, select: &str) -> String {
    match backend {
        Backend::Sqlite => select.replace("{key}", &format!("{column} IN ({})", list(start, n))),
        Backend::Postgres => each_key(start, n, &select.replace("{key}", &format!("{column} = wanted.key"))),
    }
}

/// `column = param` as a tenant guard in a statement that finds rows by
/// their unique ids (`{guard} AND id IN (…)`), written so that neither
/// engine's planner takes it for an index condition: `(column = param) IS
/// TRUE` filters the same rows. The ids are the lookup; the account only
/// checks them. Otherwise both engines may walk every row of the account
/// through an account-leading index: SQLite, without gathered statistics,
/// takes an equality on an index's first column to match a handful of rows;
/// PostgreSQL estimates one row for an account newer than its statistics.
/// Either way the cost grows with the account.
pub(crate) fn guard(column: &str, param: &str) -> String {
    format!("({column} = {param}) IS TRUE")
}

/// The rows of a multi-row `INSERT`, written by [`NewRows::insert`] in
/// the form each engine takes best.
///
/// On PostgreSQL they go as one JSON parameter (an array with an object
/// per row, keyed by column) that `json_populate_recordset` reads back
/// typed by the table's own columns: whatever the number of rows, each
/// table a batch writes costs one statement of one shape and one round
/// trip, where bound `VALUES` lists need a statement per chunk size
/// ([`fixed_chunks`]: up to seven for a batch) and bind every value apart
/// (1,600 for 64 messages). The `Any` driver cannot bind arrays, so
/// `UNNEST` is out of reach; a JSON text is one `text` parameter.
///
/// On SQLite, in-process, a statement costs no round trip and binding is
/// cheap, while reading JSON back costs a parse per value (measured slower
/// in bench/RESULTS.md): there the rows are bound into `VALUES` lists in
/// [`fixed_chunks`].
pub(crate) struct NewRows {
    table: &'static str,
    columns: &'static [&'static str],
    values: Vec<serde_json::Value>,
}

impl NewRows {
    pub(crate) fn new(table: &'static str, columns: &'static [&'static str]) -> NewRows {
        NewRows { table, columns, values: Vec::new() }
    }

    /// Adds a row: its values in the order of the columns (text, integers
    /// or null).
    pub(crate) fn push<const N: usize>(&mut self, values: [serde_json::Value; N]) {
        debug_assert_eq!(N, self.columns.len(), "one value per column");
        self.values.extend(values);
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len() / self.columns.len().max(1)
    }

    /// Inserts the rows, with `then` after each statement (`ON CONFLICT
    /// …`, or nothing); returns how many rows went in.
    pub(crate) async fn insert(self, conn: &mut sqlx::AnyConnection, backend: Backend, then: &str) -> Result<u64> {
        if self.values.is_empty() {
            return Ok(0);
        }
        let list = self.columns.join(", ");
        match backend {
            Backend::Postgres => {
                let sql = format!(
                    "INSERT INTO {} ({list}) SELECT {list} FROM json_populate_recordset(NULL::{}, $1::json) {then}",
                    self.table, self.table
                );
                Ok(sqlx::query(&sql).bind(self.json()).execute(&mut *conn).await?.rows_affected())
            }
            Backend::Sqlite => {
                let rows: Vec<&[serde_json::Value]> = self.values.chunks(self.columns.len()).collect();
                let mut inserted = 0;
                for chunk in fixed_chunks(&rows) {
                    let sql = format!(
                        "INSERT INTO {} ({list}) VALUES {} {then}",
                        self.table,
                        placeholders(backend, chunk.len(), self.columns.len())
                    );
                    let mut query = sqlx::query(&sql);
                    for value in chunk.iter().flat_map(|row| row.iter()) {
                        query = match value {
                            serde_json::Value::Null => query.bind(None::<String>),
                            serde_json::Value::String(text) => query.bind(text.as_str()),
                            serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                                (Some(n), _) => query.bind(n),
                                (None, Some(n)) => query.bind(n),
                                (None, None) => query.bind(n.to_string()),
                            },
                            other => query.bind(other.to_string()),
                        };
                    }
                    inserted += query.execute(&mut *conn).await?.rows_affected();
                }
                Ok(inserted)
            }
        }
    }

    /// The rows as a JSON array of objects keyed by column.
    fn json(&self) -> String {
        let mut json = String::from("[");
        for (r, row) in self.values.chunks(self.columns.len()).enumerate() {
            if r > 0 {
                json.push(',');
            }
            json.push('{');
            for (i, (column, value)) in self.columns.iter().zip(row).enumerate() {
                if i > 0 {
                    json.push(',');
                }
                // Writing into a `String` cannot fail.
                let _ = write!(json, "\"{column}\":{value}");
            }
            json.push('}');
        }
        json.push(']');
        json
    }
}

/// Splits rows into chunks of power-of-two sizes up to 64 (at most seven
/// statements for any count). Multi-row statements then come in seven
/// shapes only, so each is prepared once per
/// connection and stays in the statement cache, instead of a new statement
/// for every batch size.
pub(crate) fn fixed_chunks<T>(items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    for size in [64, 32, 16, 8, 4, 2, 1] {
        while rest.len() >= size {
            let (chunk, tail) = rest.split_at(size);
            out.push(chunk);
            rest = tail;
        }
    }
    out
}

/// Pads an `IN (…)` list to the next of a few sizes by repeating its last
/// value (harmless in `IN`), for the same reason as [`fixed_chunks`].
pub(crate) fn padded<T: Clone>(values: &[T]) -> Vec<T> {
    let Some(last) = values.last() else { return Vec::new() };
    let target = [1, 4, 16, 64, 256, 1024].into_iter().find(|&n| n >= values.len()).unwrap_or(values.len());
    let mut out = values.to_vec();
    out.resize(target, last.clone());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_padding_use_few_shapes() {
        let items: Vec<u32> = (0..45).collect();
        let sizes: Vec<usize> = fixed_chunks(&items).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![32, 8, 4, 1]);
        assert_eq!(fixed_chunks(&(0..130).collect::<Vec<_>>()).iter().map(|c| c.len()).collect::<Vec<_>>(), vec![64, 64, 2]);
        assert_eq!(fixed_chunks(&items).concat(), items);
        assert_eq!(padded(&[1, 2, 3]), vec![1, 2, 3, 3]);
        assert_eq!(padded(&[7]), vec![7]);
        assert_eq!(padded::<u8>(&[]).len(), 0);
        assert_eq!(padded(&(0..17).collect::<Vec<_>>()).len(), 64);
    }

    #[test]
    fn placeholder_lists() {
        assert_eq!(placeholders(Backend::Postgres, 2, 2), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(Backend::Sqlite, 2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(list(3, 2), "$3, $4");
        let select = "SELECT id FROM t WHERE a = $1 AND {key}";
        assert_eq!(by_keys(Backend::Sqlite, 2, 2, "k", select), "SELECT id FROM t WHERE a = $1 AND k IN ($2, $3)");
        assert_eq!(by_keys(Backend::Postgres, 2, 2, "k", select), each_key(2, 2, "SELECT id FROM t WHERE a = $1 AND k = wanted.key"));
        assert_eq!(
            each_key(3, 2, "SELECT id FROM t WHERE a = $1 AND k = wanted.key"),
            "SELECT found.* FROM (VALUES ($3), ($4)) AS wanted(key) CROSS JOIN LATERAL (SELECT id FROM t WHERE a = $1 AND k = wanted.key OFFSET 0) found"
        );
    }
}
