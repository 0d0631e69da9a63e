//! Triage on the server: each account's way of reading messages (its
//! rules and trained model, cached and reloaded when they change), the
//! optional OpenAI-compatible endpoint that may read them instead, and
//! training the model from agents' labels.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use threadline_domain::conversation::Priority;
use threadline_domain::ids::AccountId;
use threadline_domain::triage::intent::{Example, IntentModel, TrainOptions};
use threadline_domain::triage::{Reason, Triage, Triager};
use threadline_store::{Store, StoreError, TrainingReport};

use crate::config::Settings;

/// How long a cached triager is used before checking for changes.
const CHECK_EVERY: Duration = Duration::from_secs(5);

struct Cached {
    checked: Instant,
    versions: (Option<i64>, Option<i64>),
    triager: Arc<Triager>,
}

/// The triagers of the accounts this node has seen.
#[derive(Default)]
pub struct TriageCache {
    // A std Mutex: never held across an await.
    accounts: Mutex<HashMap<AccountId, Cached>>,
}

impl TriageCache {
    /// The account's triager: cached, and reloaded when its rules or its
    /// model changed (on any node) — checked at most every few seconds.
    pub async fn triager(&self, store: &Store, account_id: AccountId) -> Result<Arc<Triager>, StoreError> {
        let known = {
            let accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
            accounts.get(&account_id).map(|c| (c.checked.elapsed() < CHECK_EVERY, c.versions, c.triager.clone()))
        };
        if let Some((true, _, triager)) = &known {
            return Ok(triager.clone());
        }
        let versions = store.triage_versions(account_id).await?;
        if let Some((_, seen, triager)) = &known
            && *seen == versions
        {
            self.remember(account_id, versions, triager.clone());
            return Ok(triager.clone());
        }
        let settings = store.triage_settings(account_id).await?;
        let model = match store.triage_model(account_id).await? {
            Some((json, _)) => match serde_json::from_str::<IntentModel>(&json) {
                Ok(model) => Some(model),
                Err(e) => {
                    tracing::error!(account = %account_id, error = %e, "the stored category model does not load; triage goes on without it");
                    None
                }
            },
            None => None,
        };
        let triager = Arc::new(Triager {
            rules: settings.rules.into_iter().map(|r| r.rule).collect(),
            model,
            min_confidence: settings.min_confidence,
        });
        // Read after loading, so a change made meanwhile is seen next time.
        self.remember(account_id, versions, triager.clone());
        Ok(triager)
    }

    fn remember(&self, account_id: AccountId, versions: (Option<i64>, Option<i64>), triager: Arc<Triager>) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        accounts.insert(account_id, Cached { checked: Instant::now(), versions, triager });
    }

    /// Forgets an account's triager after a change made on this node.
    pub fn forget(&self, account_id: AccountId) {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner()).remove(&account_id);
    }
}

/// The most recent labelled conversations training reads.
pub const TRAINING_LIMIT: i64 = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    TooFew(String),
}

/// Trains the account's category model from its agents' labels and stores
/// it: first on four fifths of the examples, to report accuracy on the
/// fifth held out; then on all of them.
pub async fn train(store: &Store, account_id: AccountId) -> Result<TrainingReport, TrainingError> {
    let examples = store.training_examples(account_id, TRAINING_LIMIT).await?;
    let (report, model) = tokio::task::spawn_blocking(move || train_examples(&examples))
        .await
        .map_err(|e| TrainingError::TooFew(format!("training stopped: {e}")))??;
    let json = serde_json::to_string(&model).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store.save_triage_model(account_id, &json, &report).await?;
    Ok(report)
}

fn train_examples(examples: &[Example]) -> Result<(TrainingReport, IntentModel), TrainingError> {
    let options = TrainOptions::default();
    let model = IntentModel::train(examples, options).map_err(|e| {
        TrainingError::TooFew(format!("{e} (resolved conversations with a category: {}); label more conversations first", examples.len()))
    })?;
    // Every fifth example held out, the rest to learn from.
    let (mut learn, mut held) = (Vec::new(), Vec::new());
    for (i, e) in examples.iter().enumerate() {
        if i % 5 == 4 { held.push(e.clone()) } else { learn.push(e.clone()) }
    }
    let holdout_accuracy = if held.len() >= 5 { IntentModel::train(&learn, options).ok().map(|m| m.accuracy(&held)) } else { None };
    let report = TrainingReport {
        examples: model.examples,
        categories: model.categories().to_vec(),
        holdout_accuracy,
        holdout_examples: if holdout_accuracy.is_some() { held.len() } else { 0 },
        trained_at: threadline_store::now(),
    };
    Ok((report, model))
}

/// The categories an account's rules and model know, sorted: what the LLM
/// may choose from.
pub fn known_categories(triager: &Triager) -> Vec<String> {
    let mut known: Vec<String> = triager.rules.iter().filter_map(|r| r.category.clone()).collect();
    if let Some(m) = &triager.model {
        known.extend(m.categories().iter().cloned());
    }
    known.sort();
    known.dedup();
    known
}

/// Reads a message with the configured OpenAI-compatible endpoint: its
/// language, sentiment, category (one of `categories` when the account has
/// some) and urgency. `None` when none is configured, or it fails or
/// answers nonsense — the built-in triage then stands.
pub async fn llm_triage(
    settings: &Settings,
    egress: &crate::egress::EgressPolicy,
    client: &reqwest::Client,
    text: &str,
    categories: &[String],
    builtin: &Triage,
) -> Option<Triage> {
    if settings.llm_url.is_empty() {
        return None;
    }
    let known = if categories.is_empty() { "any short lower-case label".to_owned() } else { categories.join(", ") };
    let system = format!(
        "You classify customer-service messages. Answer with one JSON object only: \
         {{\"language\": ISO 639-1 code, \"sentiment\": number from -1 to 1, \"category\": one of [{known}] or null, \
         \"urgency\": one of low, normal, high, urgent, \"why\": one short sentence}}."
    );
    let answer = chat(settings, egress, client, &system, threadline_domain::text::clip(text, 4_000)).await?;
    let value: serde_json::Value = serde_json::from_str(answer.trim().trim_start_matches("```json").trim_matches('`').trim()).ok()?;
    let language = value["language"]
        .as_str()
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()));
    let sentiment = value["sentiment"].as_f64().map(|s| s.clamp(-1.0, 1.0) as f32)?;
    let category = value["category"]
        .as_str()
        .map(|c| c.trim().to_lowercase())
        .filter(|c| !c.is_empty() && c.chars().count() <= 100 && (categories.is_empty() || categories.contains(c)));
    let urgency = value["urgency"].as_str().and_then(Priority::parse).unwrap_or(Priority::Normal);
    let why = value["why"].as_str().map(|w| threadline_domain::text::clip(w, 300).to_owned()).unwrap_or_default();
    let model = settings.llm_model.clone();
    let reason = |label: &str, value: String| Reason { label: label.into(), value, source: "llm".into(), why: format!("{model}: {why}") };
    let mut reasons = vec![reason("sentiment", format!("{sentiment:+.2}")), reason("urgency", urgency.as_str().into())];
    if let Some(l) = &language {
        reasons.insert(0, reason("language", l.clone()));
    }
    if let Some(c) = &category {
        reasons.push(reason("category", c.clone()));
    }
    // The administrator's rules still raise urgency: a legal threat stays urgent.
    let urgency =
        if threadline_domain::triage::rank(builtin.urgency) > threadline_domain::triage::rank(urgency) { builtin.urgency } else { urgency };
    Some(Triage { language: language.or(builtin.language.clone()), sentiment, category, confidence: None, urgency, reasons })
}

/// Asks the OpenAI-compatible endpoint; the answer's text, or `None`.
pub async fn chat(
    settings: &Settings,
    egress: &crate::egress::EgressPolicy,
    client: &reqwest::Client,
    system: &str,
    user: &str,
) -> Option<String> {
    if settings.llm_url.is_empty() {
        return None;
    }
    let body = json!({
        "model": settings.llm_model,
        "temperature": 0,
        "messages": [{ "role": "system", "content": system }, { "role": "user", "content": user }],
    });
    let url = format!("{}/chat/completions", settings.llm_url);
    if let Err(refusal) = egress.check_url(&url) {
        tracing::warn!(%refusal, "the LLM endpoint is refused by the egress policy (allow it with egress_allow); using the built-in result");
        return None;
    }
    let mut request = client.post(url).timeout(Duration::from_secs(settings.llm_timeout_secs)).json(&body);
    if !settings.llm_api_key.0.is_empty() {
        request = request.bearer_auth(&settings.llm_api_key.0);
    }
    let response = match request.send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            tracing::warn!(status = %r.status(), "the LLM endpoint refused; using the built-in result");
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e.without_url(), "the LLM endpoint did not answer; using the built-in result");
            return None;
        }
    };
    let value: serde_json::Value = response.json().await.ok()?;
    // The model's words become stored text: no NUL (PostgreSQL refuses it).
    value["choices"][0]["message"]["content"].as_str().map(|text| text.replace('\0', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_reports_held_out_accuracy() {
        let mut examples = Vec::new();
        for i in 0..30 {
            examples.push(Example { text: format!("where is my parcel number {i}, the courier is late"), category: "shipping".into() });
            examples.push(Example { text: format!("refund the payment for order {i}, charged twice"), category: "billing".into() });
        }
        let (report, model) = train_examples(&examples).unwrap();
        assert_eq!(report.categories, ["billing", "shipping"]);
        assert_eq!(report.examples, 60);
        assert_eq!(report.holdout_examples, 12);
        assert!(report.holdout_accuracy.unwrap() > 0.9, "{report:?}");
        assert_eq!(model.predict("my parcel is late").unwrap().category, "shipping");
        let few = vec![Example { text: "x".into(), category: "a".into() }];
        assert!(matches!(train_examples(&few), Err(TrainingError::TooFew(m)) if m.contains("label more conversations")));
    }
}
