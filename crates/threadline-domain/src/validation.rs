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
