//! Validation errors that name the field at fault, so an API client can point
//! its user at the exact input to fix (the HTTP layer turns these into 422).

use serde::Serialize;

/// One invalid input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `sender.identities[0].value`.
    pub field: String,
    pub message: String,
}

/// Every problem found in one input, collected rather than stopping at the
/// first, so a client can fix them all in one round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", self.summary())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.push(field, message);
        errors
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was pushed, the collected errors otherwise.
    pub fn into_result<T>(self, value: T) -> Result<T, Self> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }

    fn summary(&self) -> String {
        self.0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")
    }
}

/// Trims `raw` and checks it is non-empty and at most `max` characters.
pub fn bounded_text(raw: &str, field: &str, max: usize, errors: &mut ValidationErrors) -> String {
    let text = raw.trim();
    if text.is_empty() {
        errors.push(field, "must not be empty");
    } else if text.chars().count() > max {
        errors.push(field, format!("must be at most {max} characters"));
    }
    text.to_owned()
}

/// Why text may not carry U+0000: PostgreSQL cannot store it in `text`
/// columns, so it is refused (or, from providers, stripped) at the edge,
/// the same on both engines.
pub const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";

/// The path of the first string in `value` (an object key or a value)
/// that contains U+0000, e.g. `sender.identities[0].value`.
pub fn nul_in_json(value: &serde_json::Value) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &mut String) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            serde_json::Value::Object(map) => map.iter().any(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key.replace('\0', "\\u0000"));
                let found = key.contains('\0') || walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then(|| if path.is_empty() { "body".to_owned() } else { path })
}

/// Removes U+0000 from text that cannot be refused (a provider's webhook
/// would be retried forever); see [`NUL_MESSAGE`].
pub fn strip_nul(text: &mut String) {
    if text.contains('\0') {
        text.retain(|c| c != '\0');
    }
}

#[cfg(test)]
mod nul_tests {
    use super::*;

    #[test]
    fn finds_where_the_nul_is() {
        let body = serde_json::json!({ "sender": { "name": "Ana", "identities": [{ "kind": "email", "value": "a\u{0}@x.it" }] } });
        assert_eq!(nul_in_json(&body).as_deref(), Some("sender.identities[0].value"));
        assert_eq!(nul_in_json(&serde_json::json!({ "text": "fine" })), None);
        assert_eq!(nul_in_json(&serde_json::json!("\u{0}")).as_deref(), Some("body"));
        assert_eq!(nul_in_json(&serde_json::json!({ "a\u{0}": 1 })).as_deref(), Some("a\\u0000"));
        let mut text = "ab\u{0}c".to_owned();
        strip_nul(&mut text);
        assert_eq!(text, "abc");
    }
}
