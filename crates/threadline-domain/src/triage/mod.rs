//! Understanding an inbound message on the box, with no outside service:
//! its language, how the customer feels, what it is about (category) and
//! how urgent it is — each label with the reason it was given, so an agent
//! or an administrator can see why a conversation went where it went.
//!
//! [`Triager::triage`] combines the parts: [`language`] (function words),
//! [`sentiment`] (a lexicon), the administrator's [`rules`] (keywords,
//! which win) and the learnt [`intent`] model (for the category when no
//! rule gave one). Negative sentiment makes a message at least `high`.

pub mod intent;
pub mod language;
pub mod rules;
pub mod sentiment;

use serde::{Deserialize, Serialize};

use crate::conversation::Priority;
use crate::text;
use intent::IntentModel;
use rules::KeywordRule;

/// What triage found in a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Triage {
    /// ISO 639-1 code, when the words tell.
    pub language: Option<String>,
    /// −1 (very negative) … +1 (very positive).
    pub sentiment: f32,
    pub category: Option<String>,
    /// The model's probability for `category`; none when a rule gave it.
    pub confidence: Option<f32>,
    /// How soon it needs an answer; raises the conversation's priority.
    pub urgency: Priority,
    /// Why each label was given.
    pub reasons: Vec<Reason>,
}

/// Why one label was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reason {
    /// `language`, `sentiment`, `category` or `urgency`.
    pub label: String,
    pub value: String,
    /// `words` (function words), `lexicon`, `rule` or `model`.
    pub source: String,
    pub why: String,
}

/// Messages at or below this sentiment are at least `high` urgency: an
/// angry customer should not wait in line behind routine questions.
pub const NEGATIVE_URGENCY: f32 = -0.5;

/// How much of a message triage reads.
pub const READ_CHARS: usize = 4_000;

/// The model's category is used only from this probability up; below it
/// the message is left without one rather than given a guess.
pub const DEFAULT_MIN_CONFIDENCE: f32 = 0.5;

/// An account's way of reading messages: its rules and, once trained, its model.
#[derive(Debug, Clone)]
pub struct Triager {
    pub rules: Vec<KeywordRule>,
    pub model: Option<IntentModel>,
    pub min_confidence: f32,
}

impl Default for Triager {
    fn default() -> Self {
        Triager { rules: rules::default_rules(), model: None, min_confidence: DEFAULT_MIN_CONFIDENCE }
    }
}

fn quoted(words: &[String]) -> String {
    words.iter().map(|w| format!("“{w}”")).collect::<Vec<_>>().join(", ")
}

impl Triager {
    /// Reads the first [`READ_CHARS`] characters of `text`: what a message
    /// is about and how its writer feels is in its opening, and a long
    /// email read whole would cost its reader for nothing.
    pub fn triage(&self, text: &str) -> Triage {
        let text = text::clip(text, READ_CHARS);
        let mut reasons = Vec::new();

        // Read once, for every part.
        let words = text::words(text);
        let detected = language::detect_words(&words);
        if let Some(d) = &detected {
            reasons.push(Reason {
                label: "language".into(),
                value: d.language.clone(),
                source: "words".into(),
                why: format!("uses {}", quoted(&d.evidence)),
            });
        }
        let language = detected.map(|d| d.language);

        let feeling = sentiment::score_words(&words, text.chars().filter(|c| *c == '!').count());
        if !feeling.evidence.is_empty() {
            let words: Vec<String> = feeling.evidence.iter().map(|(w, _)| w.clone()).collect();
            reasons.push(Reason {
                label: "sentiment".into(),
                value: format!("{:+.2}", feeling.score),
                source: "lexicon".into(),
                why: format!("{}: {}", feeling.label(), quoted(&words)),
            });
        }

        let folded = text::padded_words(&words);
        let mut category = None;
        let mut confidence = None;
        let mut urgency = Priority::Normal;
        for rule in &self.rules {
            let Some(keyword) = rule.matches(&folded, language.as_deref()) else { continue };
            if let (Some(c), None) = (&rule.category, &category) {
                category = Some(c.clone());
                reasons.push(Reason {
                    label: "category".into(),
                    value: c.clone(),
                    source: "rule".into(),
                    why: format!("rule “{}” matched “{keyword}”", rule.name),
                });
            }
            if let Some(u) = rule.urgency
                && rank(u) > rank(urgency)
            {
                urgency = u;
                reasons.retain(|r| r.label != "urgency");
                reasons.push(Reason {
                    label: "urgency".into(),
                    value: u.as_str().into(),
                    source: "rule".into(),
                    why: format!("rule “{}” matched “{keyword}”", rule.name),
                });
            }
        }
        if category.is_none()
            && let Some(model) = &self.model
            && let Some(p) = model.predict_words(&words)
        {
            if p.confidence >= self.min_confidence {
                reasons.push(Reason {
                    label: "category".into(),
                    value: p.category.clone(),
                    source: "model".into(),
                    why: format!(
                        "learnt from {} labelled conversations: {} ({:.0}% sure)",
                        model.examples,
                        quoted(&p.evidence),
                        p.confidence * 100.0
                    ),
                });
                category = Some(p.category);
                confidence = Some(p.confidence);
            } else {
                reasons.push(Reason {
                    label: "category".into(),
                    value: String::new(),
                    source: "model".into(),
                    why: format!("best guess “{}” only {:.0}% sure: left for an agent", p.category, p.confidence * 100.0),
                });
            }
        }
        if feeling.score <= NEGATIVE_URGENCY && rank(urgency) < rank(Priority::High) {
            urgency = Priority::High;
            reasons.push(Reason {
                label: "urgency".into(),
                value: urgency.as_str().into(),
                source: "lexicon".into(),
                why: format!("the customer is upset (sentiment {:+.2})", feeling.score),
            });
        }
        Triage { language, sentiment: feeling.score, category, confidence, urgency, reasons }
    }
}

/// Priorities in order, lowest first.
pub fn rank(p: Priority) -> u8 {
    match p {
        Priority::Low => 0,
        Priority::Normal => 1,
        Priority::High => 2,
        Priority::Urgent => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_angry_message_about_a_failed_payment_is_high_priority_billing() {
        let t = Triager::default().triage("Sono furioso, il pagamento è fallito per la terza volta!!");
        assert_eq!(t.language.as_deref(), Some("it"));
        assert!(t.sentiment <= NEGATIVE_URGENCY, "{t:?}");
        assert_eq!(t.category.as_deref(), Some("billing"));
        assert_eq!(t.urgency, Priority::High);
        let labels: Vec<&str> = t.reasons.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["language", "sentiment", "category", "urgency"]);
        assert!(t.reasons[2].why.contains("pagamento"), "{:?}", t.reasons[2]);
    }

    #[test]
    fn rules_beat_the_model_and_urgency_only_rises() {
        let examples: Vec<intent::Example> = [
            ("shipping", "where is my parcel"),
            ("shipping", "parcel late"),
            ("billing", "invoice please"),
            ("billing", "need an invoice"),
        ]
        .iter()
        .map(|(c, t)| intent::Example { text: (*t).into(), category: (*c).into() })
        .collect();
        let mut triager = Triager { model: Some(IntentModel::train(&examples, Default::default()).unwrap()), ..Default::default() };
        let t = triager.triage("my parcel: I'll call my lawyer, this is urgent");
        assert_eq!(t.urgency, Priority::Urgent, "the legal rule outranks the hurry rule: {t:?}");
        assert_eq!(t.category.as_deref(), Some("shipping"), "the default rules know parcels");
        triager.rules.clear();
        let t = triager.triage("where is my parcel");
        assert_eq!(t.category.as_deref(), Some("shipping"));
        assert_eq!(t.reasons.iter().find(|r| r.label == "category").unwrap().source, "model");
        assert_eq!(t.urgency, Priority::Normal);
    }

    #[test]
    fn an_unsure_model_leaves_the_category_to_agents() {
        let examples: Vec<intent::Example> = [("a", "alpha beta"), ("a", "alpha gamma"), ("b", "delta beta"), ("b", "delta gamma")]
            .iter()
            .map(|(c, t)| intent::Example { text: (*t).into(), category: (*c).into() })
            .collect();
        let triager =
            Triager { rules: Vec::new(), model: Some(IntentModel::train(&examples, Default::default()).unwrap()), min_confidence: 0.99 };
        let t = triager.triage("beta gamma");
        assert_eq!(t.category, None);
        assert!(t.reasons.iter().any(|r| r.label == "category" && r.why.contains("left for an agent")), "{t:?}");
    }
}
