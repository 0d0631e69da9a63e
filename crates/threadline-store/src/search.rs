//! Searching conversations: by the words of their messages (full-text:
//! FTS5 on SQLite, a GIN `tsvector` index on PostgreSQL; words match by
//! their beginning) and by any part of the customer's name or of one of
//! their identities (email, phone…; trigram indexes on both engines). Used
//! as a filter of [`crate::ConversationQuery`].

use crate::Backend;

/// How many of the newest matching messages a search looks at.
pub(crate) const MATCHING_MESSAGES: usize = 2000;

/// A query, prepared for both halves of the search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Search {
    /// For the full-text engine: every word must match, as a prefix.
    pub text: String,
    /// For names and identities: `%query%`, lower-cased.
    pub like: String,
}

impl Search {
    /// `None` when the query has nothing to search for.
    pub fn new(backend: Backend, query: &str) -> Option<Search> {
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(8)
            .map(|w| w.chars().take(64).collect::<String>().to_lowercase())
            .collect();
        if words.is_empty() {
            return None;
        }
        // A single letter ("A" of "A-1042") as a prefix would match most of
        // the index; it is left out when the query has longer words.
        let words: Vec<String> =
            if words.iter().any(|w| w.chars().count() > 1) { words.into_iter().filter(|w| w.chars().count() > 1).collect() } else { words };
        let text = match backend {
            Backend::Sqlite => words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" "),
            Backend::Postgres => words.iter().map(|w| format!("{w}:*")).collect::<Vec<_>>().join(" & "),
        };
        let like =
            format!("%{}%", query.trim().to_lowercase().chars().filter(|c| !matches!(c, '%' | '_' | '\\')).take(200).collect::<String>());
        Some(Search { text, like })
    }

    /// The condition on `c` (a conversation), with the account at `$1`, the
    /// text at `$text` and the pattern at `$like`. The subqueries do not
    /// refer to `c`, so each runs once per search (PostgreSQL would
    /// otherwise run them again for every conversation it looks at).
    ///
    /// Messages count among the newest [`MATCHING_MESSAGES`] that match, so
    /// a common word costs the same as a rare one.
    pub fn condition(backend: Backend, text: usize, like: usize) -> String {
        let messages = match backend {
            Backend::Sqlite => format!(
                "SELECT m.conversation_id FROM messages_fts f JOIN messages m ON m.rowid = f.rowid \
                 WHERE messages_fts MATCH ${text} AND m.account_id = $1 ORDER BY f.rowid DESC LIMIT {MATCHING_MESSAGES}"
            ),
            Backend::Postgres => format!(
                "SELECT m.conversation_id FROM messages m WHERE m.account_id = $1 \
                 AND to_tsvector('simple', translate(coalesce(m.subject, '') || ' ' || m.body_text, '-', ' ')) @@ to_tsquery('simple', ${text}) \
                 ORDER BY m.created_at DESC LIMIT {MATCHING_MESSAGES}"
            ),
        };
        // Names and identities match anywhere in them, through trigram
        // indexes (migration 0010): FTS5 trigram tables on SQLite, pg_trgm
        // GIN indexes over these very expressions on PostgreSQL.
        let (names, identities) = match backend {
            // The trigram table first, then each row it names by rowid (`+`
            // keeps the planner from walking the account's index instead).
            Backend::Sqlite => (
                format!(
                    "SELECT k.id FROM contacts k WHERE k.rowid IN (SELECT rowid FROM contacts_fts WHERE name LIKE ${like}) \
                     AND +k.account_id = $1"
                ),
                format!(
                    "SELECT i.contact_id FROM identities i WHERE i.rowid IN (SELECT rowid FROM identities_fts WHERE value LIKE ${like}) \
                     AND +i.account_id = $1"
                ),
            ),
            Backend::Postgres => (
                format!("SELECT k.id FROM contacts k WHERE k.account_id = $1 AND lower(coalesce(k.name, '')) LIKE ${like}"),
                format!("SELECT i.contact_id FROM identities i WHERE i.account_id = $1 AND lower(i.value) LIKE ${like}"),
            ),
        };
        format!("(c.id IN ({messages}) OR c.contact_id IN ({names}) OR c.contact_id IN ({identities}))")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_plain_words() {
        let s = Search::new(Backend::Sqlite, "Ordine A-1042, \"perché\"?").unwrap();
        assert_eq!(s.text, r#""ordine"* "1042"* "perché"*"#);
        assert_eq!(s.like, "%ordine a-1042, \"perché\"?%");
        assert_eq!(Search::new(Backend::Postgres, "Ordine 1042").unwrap().text, "ordine:* & 1042:*");
        assert_eq!(Search::new(Backend::Postgres, "A-1042").unwrap().text, "1042:*", "a lone letter is dropped beside longer words");
        assert_eq!(Search::new(Backend::Postgres, "a").unwrap().text, "a:*");
        assert!(Search::new(Backend::Sqlite, " ** ").is_none());
    }
}
