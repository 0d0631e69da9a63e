//! Knowledge-base articles and FAQs: what they are and what makes one
//! valid. Searching them is `threadline-knowledge`'s job.

use serde::{Deserialize, Serialize};

use crate::conversation::string_enum;
use crate::validation::ValidationErrors;

string_enum! {
    ArticleKind {
        /// A help article.
        Article => "article",
        /// A question and its answer.
        Faq => "faq",
    }
}

/// An article as written by an editor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleDraft {
    #[serde(default = "article")]
    pub kind: ArticleKind,
    /// ISO 639-1 code (`it`, `en`…).
    pub language: String,
    /// For an FAQ, the question.
    pub title: String,
    /// Plain text; for an FAQ, the answer. The bot sends it as it is.
    pub body: String,
    /// Other words customers use for it.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Unpublished articles are neither searched nor shown.
    #[serde(default = "yes")]
    pub published: bool,
}

fn article() -> ArticleKind {
    ArticleKind::Article
}
fn yes() -> bool {
    true
}

/// The longest body, in characters.
pub const MAX_BODY_CHARS: usize = 20_000;

impl ArticleDraft {
    pub fn validated(mut self) -> Result<ArticleDraft, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        self.language = self.language.trim().to_ascii_lowercase();
        if self.language.len() != 2 || !self.language.bytes().all(|b| b.is_ascii_lowercase()) {
            errors.push("language", "is a two-letter ISO 639-1 code such as it or en");
        }
        self.title = self.title.trim().to_owned();
        if self.title.is_empty() || self.title.chars().count() > 200 || self.title.chars().any(char::is_control) {
            errors.push("title", "must be one line of 1 to 200 characters");
        }
        self.body = self.body.trim().replace("\r\n", "\n");
        if self.body.is_empty() || self.body.chars().count() > MAX_BODY_CHARS {
            errors.push("body", format!("must be 1 to {MAX_BODY_CHARS} characters"));
        }
        let mut keywords: Vec<String> = self.keywords.iter().map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect();
        keywords.sort();
        keywords.dedup();
        if keywords.len() > 50 || keywords.iter().any(|k| k.chars().count() > 60) {
            errors.push("keywords", "at most 50 keywords of up to 60 characters");
        }
        self.keywords = keywords;
        errors.into_result(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_are_checked_and_tidied() {
        let draft: ArticleDraft =
            serde_json::from_str(r#"{"language":"IT","title":" Resi ","body":"Entro 30 giorni.\r\n","keywords":["reso"," reso ",""]}"#)
                .unwrap();
        let draft = draft.validated().unwrap();
        assert_eq!(
            (draft.kind, draft.language.as_str(), draft.title.as_str(), draft.body.as_str()),
            (ArticleKind::Article, "it", "Resi", "Entro 30 giorni.")
        );
        assert_eq!(draft.keywords, ["reso"]);
        assert!(draft.published);
        let bad = ArticleDraft {
            kind: ArticleKind::Faq,
            language: "ita".into(),
            title: "".into(),
            body: " ".into(),
            keywords: vec![],
            published: true,
        };
        let fields: Vec<String> = bad.validated().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["language", "title", "body"]);
    }
}
