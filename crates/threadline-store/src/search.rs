//! Searching conversations: by the words of their messages (full-text:
//! FTS5 on SQLite, a GIN `tsvector` index on PostgreSQL) and by the
//! customer's name or any of their identities (email, phone…). Used as a
//! filter of [`crate::ConversationQuery`].

use crate::Backend;

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
    pub fn condition(backend: Backend, text: usize, like: usize) -> String {
        let messages = match backend {
            Backend::Sqlite => format!(
                "SELECT m.conversation_id FROM messages_fts f JOIN messages m ON m.rowid = f.rowid \
                 WHERE messages_fts MATCH ${text} AND m.account_id = $1"
            ),
            Backend::Postgres => format!(
                "SELECT m.conversation_id FROM messages m WHERE m.account_id = $1 \
                 AND to_tsvector('simple', translate(coalesce(m.subject, '') || ' ' || m.body_text, '-', ' ')) @@ to_tsquery('simple', ${text})"
            ),
        };
        format!(
            "(c.id IN ({messages}) \
             OR c.contact_id IN (SELECT k.id FROM contacts k WHERE k.account_id = $1 AND lower(coalesce(k.name, '')) LIKE ${like}) \
             OR c.contact_id IN (SELECT i.contact_id FROM identities i WHERE i.account_id = $1 AND lower(i.value) LIKE ${like}))"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_plain_words() {
        let s = Search::new(Backend::Sqlite, "Ordine A-1042, \"perché\"?").unwrap();
        assert_eq!(s.text, r#""ordine"* "a"* "1042"* "perché"*"#);
        assert_eq!(s.like, "%ordine a-1042, \"perché\"?%");
        assert_eq!(Search::new(Backend::Postgres, "Ordine 1042").unwrap().text, "ordine:* & 1042:*");
        assert!(Search::new(Backend::Sqlite, " ** ").is_none());
    }
}
