//! Keyword rules an administrator edits: "a message that says *chargeback*
//! or *truffa* is urgent", "*reso* or *return* is about returns". They are
//! read before the learnt model and win over it, so an account can correct
//! the model, or work before it has anything to learn from.

use serde::{Deserialize, Serialize};

use crate::conversation::Priority;
use crate::text::contains_phrase;
use crate::validation::ValidationErrors;

/// One rule: if the message contains any of `keywords` (whole words; case
/// and accents ignored), in `language` if one is given, it gets `category`
/// and/or `urgency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeywordRule {
    pub name: String,
    pub keywords: Vec<String>,
    /// ISO 639-1 code; none for every language.
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub urgency: Option<Priority>,
}

impl KeywordRule {
    /// Checks a rule as an administrator wrote it; keywords are trimmed and
    /// deduplicated.
    pub fn validated(mut self) -> Result<KeywordRule, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        self.name = self.name.trim().to_owned();
        if self.name.is_empty() || self.name.chars().count() > 100 {
            errors.push("name", "must be 1 to 100 characters");
        }
        let mut keywords: Vec<String> = self.keywords.iter().map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect();
        keywords.dedup();
        if keywords.is_empty() || keywords.len() > 200 {
            errors.push("keywords", "give 1 to 200 words or phrases");
        }
        if keywords.iter().any(|k| k.chars().count() > 100 || crate::text::words(k).is_empty()) {
            errors.push("keywords", "each keyword is 1 to 100 characters and has a letter or digit");
        }
        self.keywords = keywords;
        if let Some(language) = &self.language {
            let language = language.trim().to_ascii_lowercase();
            if language.len() != 2 || !language.bytes().all(|b| b.is_ascii_lowercase()) {
                errors.push("language", "is a two-letter ISO 639-1 code such as it or en");
            }
            self.language = Some(language);
        }
        if let Some(category) = &self.category {
            let category = category.trim().to_lowercase();
            if category.is_empty() || category.chars().count() > 100 {
                errors.push("category", "must be 1 to 100 characters");
            }
            self.category = Some(category);
        }
        if self.category.is_none() && self.urgency.is_none() {
            errors.push("category", "a rule sets a category, an urgency or both");
        }
        errors.into_result(self)
    }

    /// The keyword that matched `folded` (from [`crate::text::padded`]), if any.
    pub fn matches(&self, folded: &str, language: Option<&str>) -> Option<&str> {
        if self.language.as_deref().is_some_and(|l| Some(l) != language) {
            return None;
        }
        self.keywords.iter().find(|k| contains_phrase(folded, k)).map(String::as_str)
    }
}

/// The rules an account starts with: common support categories and the
/// words that make a message urgent, in English and Italian.
pub fn default_rules() -> Vec<KeywordRule> {
    let rule = |name: &str, category: Option<&str>, urgency: Option<Priority>, keywords: &[&str]| KeywordRule {
        name: name.to_owned(),
        keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
        language: None,
        category: category.map(str::to_owned),
        urgency,
    };
    vec![
        rule(
            "Legal threats and fraud",
            None,
            Some(Priority::Urgent),
            &["lawyer", "legal action", "chargeback", "fraud", "scam", "avvocato", "denuncia", "truffa", "frode", "vie legali"],
        ),
        rule(
            "Asked to hurry",
            None,
            Some(Priority::High),
            &["urgent", "asap", "immediately", "emergency", "urgente", "subito", "emergenza", "al più presto"],
        ),
        rule(
            "Payments and invoices",
            Some("billing"),
            None,
            &[
                "payment",
                "paid",
                "charged",
                "charge",
                "refund",
                "invoice",
                "billing",
                "card declined",
                "pagamento",
                "pagato",
                "addebito",
                "addebitato",
                "rimborso",
                "fattura",
                "carta rifiutata",
            ],
        ),
        rule(
            "Deliveries",
            Some("shipping"),
            None,
            &[
                "delivery",
                "shipping",
                "shipment",
                "parcel",
                "package",
                "tracking",
                "courier",
                "spedizione",
                "consegna",
                "pacco",
                "corriere",
                "tracciamento",
                "spedito",
            ],
        ),
        rule(
            "Returns and exchanges",
            Some("returns"),
            None,
            &["return", "exchange", "send back", "reso", "restituire", "cambio taglia", "sostituzione"],
        ),
        rule(
            "Something does not work",
            Some("technical"),
            None,
            &["error", "bug", "crash", "not working", "doesn't work", "errore", "non funziona", "si blocca", "non riesco"],
        ),
        rule(
            "Sign-in and account",
            Some("account"),
            None,
            &["password", "log in", "login", "sign in", "account", "accedere", "accesso", "registrazione"],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::padded;

    #[test]
    fn rules_match_whole_words_in_their_language() {
        let mut rule = default_rules().into_iter().find(|r| r.category.as_deref() == Some("billing")).unwrap();
        assert_eq!(rule.matches(&padded("Il PAGAMENTO è fallito"), Some("it")), Some("pagamento"));
        assert_eq!(rule.matches(&padded("my card was declined"), Some("en")), None, "a phrase matches only as written");
        assert_eq!(rule.matches(&padded("card declined again"), None), Some("card declined"));
        rule.language = Some("en".into());
        assert_eq!(rule.matches(&padded("pagamento fallito"), Some("it")), None);
    }

    #[test]
    fn rules_are_validated() {
        let rule = KeywordRule {
            name: " x ".into(),
            keywords: vec![" a ".into(), "".into()],
            language: Some("IT".into()),
            category: Some(" Billing ".into()),
            urgency: None,
        };
        let rule = rule.validated().unwrap();
        assert_eq!(
            (rule.name.as_str(), rule.keywords.clone(), rule.language.as_deref(), rule.category.as_deref()),
            ("x", vec!["a".to_owned()], Some("it"), Some("billing"))
        );
        let bad = KeywordRule { name: "".into(), keywords: vec!["!!".into()], language: Some("ita".into()), category: None, urgency: None };
        let fields: Vec<String> = bad.validated().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["name", "keywords", "language", "category"]);
    }

    #[test]
    fn the_default_rules_are_valid() {
        for rule in default_rules() {
            assert_eq!(rule.clone().validated().unwrap(), rule);
        }
    }
}
