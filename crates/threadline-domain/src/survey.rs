//! Surveys: CSAT (1–5), NPS (0–10) and CES (1–7) asked on the
//! conversation's own channel after it is resolved, and the rules for
//! reading an answer. A customer answers by writing the number (or
//! tapping it on a page from an email); only a message that is nothing
//! but a score counts, so "2 items are missing" is never taken for a
//! rating. The standard formulas live here too (see docs/metrics.md).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::conversation::string_enum;
use crate::ids::{ContactId, ConversationId, InboxId, SurveyId, TeamId, UserId};
use crate::validation::ValidationErrors;

string_enum! {
    SurveyKind {
        /// Customer satisfaction, 1 (very dissatisfied) to 5 (very satisfied).
        Csat => "csat",
        /// Net promoter score: how likely to recommend, 0 to 10.
        Nps => "nps",
        /// Customer effort: how easy it was, 1 (very difficult) to 7 (very easy).
        Ces => "ces",
    }
}

impl SurveyKind {
    pub fn range(self) -> (u8, u8) {
        match self {
            SurveyKind::Csat => (1, 5),
            SurveyKind::Nps => (0, 10),
            SurveyKind::Ces => (1, 7),
        }
    }
}

string_enum! {
    /// What a detractor's answer does.
    DetractorAction {
        /// Nothing beyond the report.
        None => "none",
        /// A task for the conversation's team (or agent) to follow up.
        Task => "task",
        /// The conversation opens again.
        Reopen => "reopen",
    }
}

/// A question in the two languages Threadline speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Wording {
    pub en: String,
    pub it: String,
}

impl Wording {
    pub fn get(&self, italian: bool) -> &str {
        if italian { &self.it } else { &self.en }
    }
}

fn default_throttle() -> u32 {
    30
}
fn default_expiry() -> u32 {
    72
}
fn default_detractor() -> DetractorAction {
    DetractorAction::None
}

/// A survey as an account defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveySpec {
    pub kind: SurveyKind,
    /// The question; the kind's standard one when left out.
    #[serde(default)]
    pub question: Option<Wording>,
    /// Only conversations of these inboxes (all when empty).
    #[serde(default)]
    pub inbox_ids: Vec<InboxId>,
    /// Only conversations of these teams (all when empty).
    #[serde(default)]
    pub team_ids: Vec<TeamId>,
    /// Hours after the resolution to ask (0: at once).
    #[serde(default)]
    pub delay_hours: u32,
    /// At most one survey per customer in this many days.
    #[serde(default = "default_throttle")]
    pub throttle_days: u32,
    /// Answers are taken for this many hours after the survey is sent.
    #[serde(default = "default_expiry")]
    pub expiry_hours: u32,
    #[serde(default = "default_detractor")]
    pub detractor_action: DetractorAction,
    /// The approved WhatsApp template that asks instead once WhatsApp's
    /// 24 hours have passed (no variables; the customer answers with a
    /// number or its quick-reply buttons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_template: Option<String>,
}

impl SurveySpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let Some(q) = &self.question {
            for (field, text) in [("question.en", &q.en), ("question.it", &q.it)] {
                let n = text.trim().chars().count();
                if n == 0 || n > 300 {
                    errors.push(field, "is 1 to 300 characters");
                }
            }
        }
        if self.delay_hours > 24 * 30 {
            errors.push("delay_hours", "is at most 720 (30 days)");
        }
        if self.throttle_days > 365 {
            errors.push("throttle_days", "is at most 365");
        }
        if !(1..=24 * 30).contains(&self.expiry_hours) {
            errors.push("expiry_hours", "is between 1 and 720");
        }
        errors.into_result(())
    }

    /// The question in the customer's language.
    pub fn question(&self, italian: bool) -> String {
        if let Some(q) = &self.question {
            return q.get(italian).trim().to_owned();
        }
        match (self.kind, italian) {
            (SurveyKind::Csat, false) => "How satisfied are you with the help you received?",
            (SurveyKind::Csat, true) => "Quanto è soddisfatto dell'assistenza ricevuta?",
            (SurveyKind::Nps, false) => "How likely are you to recommend us to a friend or colleague?",
            (SurveyKind::Nps, true) => "Quanto è probabile che ci consigli a un amico o a un collega?",
            (SurveyKind::Ces, false) => "How easy was it to get your issue resolved?",
            (SurveyKind::Ces, true) => "Quanto è stato facile risolvere il suo problema?",
        }
        .to_owned()
    }

    /// The message sent on a text channel: the question and how to answer.
    pub fn prompt(&self, italian: bool) -> String {
        let (low, high) = self.kind.range();
        let (low_word, high_word) = match (self.kind, italian) {
            (SurveyKind::Csat, false) => ("very dissatisfied", "very satisfied"),
            (SurveyKind::Csat, true) => ("per niente soddisfatto", "molto soddisfatto"),
            (SurveyKind::Nps, false) => ("not at all likely", "extremely likely"),
            (SurveyKind::Nps, true) => ("per niente probabile", "estremamente probabile"),
            (SurveyKind::Ces, false) => ("very difficult", "very easy"),
            (SurveyKind::Ces, true) => ("molto difficile", "molto facile"),
        };
        let how = if italian {
            format!("Risponda con un numero da {low} ({low_word}) a {high} ({high_word}).")
        } else {
            format!("Reply with a number from {low} ({low_word}) to {high} ({high_word}).")
        };
        format!("{} {how}", self.question(italian))
    }

    /// The scores to tap, lowest first, the ends with their words (a
    /// WhatsApp list row shows them under the number).
    pub fn choices(&self, italian: bool) -> Vec<(u8, Option<&'static str>)> {
        let (low, high) = self.kind.range();
        let words: &[&'static str] = match (self.kind, italian) {
            (SurveyKind::Csat, false) => &["Very dissatisfied", "Dissatisfied", "Neutral", "Satisfied", "Very satisfied"],
            (SurveyKind::Csat, true) => &["Per niente soddisfatto", "Poco soddisfatto", "Né sì né no", "Soddisfatto", "Molto soddisfatto"],
            (SurveyKind::Ces, false) => {
                &["Very difficult", "Difficult", "Somewhat difficult", "Neither", "Somewhat easy", "Easy", "Very easy"]
            }
            (SurveyKind::Ces, true) => &[
                "Molto difficile",
                "Difficile",
                "Abbastanza difficile",
                "Né l'uno né l'altro",
                "Abbastanza facile",
                "Facile",
                "Molto facile",
            ],
            (SurveyKind::Nps, _) => &[],
        };
        (low..=high).map(|score| (score, words.get(usize::from(score - low)).copied())).collect()
    }
}

/// The score a message gives, if the message is nothing but a score in
/// the kind's range: `4`, ` 4 `, `4/5`, `4.`, `4!`, `4️⃣`, `⭐⭐⭐⭐`.
pub fn parse_answer(kind: SurveyKind, text: &str) -> Option<u8> {
    let (low, high) = kind.range();
    let score = read_score(text)?;
    (low..=high).contains(&score).then_some(score)
}

/// Whether a message could be an answer to some survey (a bare number
/// from 0 to 10): such messages are stored one at a time, where the
/// customer's open survey is looked up.
pub fn looks_like_answer(text: &str) -> bool {
    read_score(text).is_some_and(|s| s <= 10)
}

fn read_score(text: &str) -> Option<u8> {
    // A choice tapped in a WhatsApp list comes back as "4 — Satisfied".
    let text = text.split(" — ").next().unwrap_or(text).trim();
    if text.is_empty() || text.chars().count() > 12 {
        return None;
    }
    // Stars: one per point.
    let stars = text.chars().filter(|c| *c == '⭐' || *c == '★').count();
    if stars > 0 && text.chars().all(|c| c == '⭐' || c == '★' || c == '\u{fe0f}' || c.is_whitespace()) {
        return u8::try_from(stars).ok();
    }
    // Keycap digits (4️⃣ is '4', U+FE0F, U+20E3) and the keycap ten.
    if text.starts_with('🔟') && text.chars().skip(1).all(|c| c == '\u{fe0f}' || c.is_whitespace()) {
        return Some(10);
    }
    let cleaned: String = text.chars().filter(|c| *c != '\u{fe0f}' && *c != '\u{20e3}').collect();
    let cleaned = cleaned.trim().trim_end_matches(['.', '!']).trim();
    // "4/5", "8/10": the out-of part must be the scale's top (checked by the caller's range).
    let number = match cleaned.split_once('/') {
        Some((n, of)) if matches!(of.trim(), "5" | "7" | "10") => n.trim(),
        Some(_) => return None,
        None => cleaned,
    };
    if number.is_empty() || number.len() > 2 || !number.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

string_enum! {
    /// Where an answer stands on its scale.
    Sentiment {
        Detractor => "detractor",
        Passive => "passive",
        Promoter => "promoter",
    }
}

/// CSAT 1–2, NPS 0–6 and CES 1–3 are detractors; CSAT 4–5, NPS 9–10 and
/// CES 5–7 promoters (satisfied, or found it easy); the rest passive.
pub fn sentiment(kind: SurveyKind, score: u8) -> Sentiment {
    let (detractor_max, promoter_min) = match kind {
        SurveyKind::Csat => (2, 4),
        SurveyKind::Nps => (6, 9),
        SurveyKind::Ces => (3, 5),
    };
    if score <= detractor_max {
        Sentiment::Detractor
    } else if score >= promoter_min {
        Sentiment::Promoter
    } else {
        Sentiment::Passive
    }
}

/// One kind's answers and its standard score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KindScores {
    /// Surveys sent, and answered.
    pub sent: i64,
    pub answered: i64,
    pub response_rate: Option<f64>,
    pub detractors: i64,
    pub passives: i64,
    pub promoters: i64,
    /// CSAT: the share of satisfied answers (4–5) in percent. NPS:
    /// promoters' share minus detractors' share, −100 to 100. CES: the
    /// mean score.
    pub score: Option<f64>,
    pub mean: Option<f64>,
}

/// CSAT, NPS and CES of a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SurveyScores {
    pub csat: KindScores,
    pub nps: KindScores,
    pub ces: KindScores,
}

impl SurveyScores {
    /// From `(kind, score if answered)` of the surveys sent in a period.
    pub fn of(sent: &[(SurveyKind, Option<u8>)]) -> Self {
        let mut out = SurveyScores::default();
        let mut sums = [0i64; 3];
        for (kind, score) in sent {
            let (k, sum) = match kind {
                SurveyKind::Csat => (&mut out.csat, &mut sums[0]),
                SurveyKind::Nps => (&mut out.nps, &mut sums[1]),
                SurveyKind::Ces => (&mut out.ces, &mut sums[2]),
            };
            k.sent += 1;
            let Some(score) = score else { continue };
            k.answered += 1;
            *sum += i64::from(*score);
            match sentiment(*kind, *score) {
                Sentiment::Detractor => k.detractors += 1,
                Sentiment::Passive => k.passives += 1,
                Sentiment::Promoter => k.promoters += 1,
            }
        }
        for (kind, k, sum) in
            [(SurveyKind::Csat, &mut out.csat, sums[0]), (SurveyKind::Nps, &mut out.nps, sums[1]), (SurveyKind::Ces, &mut out.ces, sums[2])]
        {
            k.response_rate = (k.sent > 0).then(|| k.answered as f64 / k.sent as f64);
            if k.answered == 0 {
                continue;
            }
            let n = k.answered as f64;
            k.mean = Some(sum as f64 / n);
            k.score = Some(match kind {
                SurveyKind::Csat => 100.0 * k.promoters as f64 / n,
                SurveyKind::Nps => 100.0 * (k.promoters - k.detractors) as f64 / n,
                SurveyKind::Ces => sum as f64 / n,
            });
        }
        out
    }
}

/// One survey sent, and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SurveyResponse {
    pub id: String,
    pub survey_id: SurveyId,
    pub kind: SurveyKind,
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub channel: String,
    pub agent_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    /// `sent`, or `failed` (with `failure`: the channel refused it).
    pub status: String,
    pub failure: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    pub score: Option<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bare_score_is_an_answer() {
        for (text, score) in [("5", 5), (" 4 ", 4), ("4/5", 4), ("3.", 3), ("2!", 2), ("4\u{fe0f}\u{20e3}", 4), ("⭐⭐⭐", 3), ("★★★★★", 5)]
        {
            assert_eq!(parse_answer(SurveyKind::Csat, text), Some(score), "{text}");
        }
        for text in ["2 items are missing", "6", "0", "five", "", "4/9", "45", "12345678901234", "1/"] {
            assert_eq!(parse_answer(SurveyKind::Csat, text), None, "{text}");
        }
        assert_eq!(parse_answer(SurveyKind::Nps, "10"), Some(10));
        assert_eq!(parse_answer(SurveyKind::Nps, "0"), Some(0));
        assert_eq!(parse_answer(SurveyKind::Nps, "🔟"), Some(10));
        assert_eq!(parse_answer(SurveyKind::Nps, "8/10"), Some(8));
        assert_eq!(parse_answer(SurveyKind::Ces, "7"), Some(7));
        assert!(looks_like_answer("9") && !looks_like_answer("11") && !looks_like_answer("ok"));
    }

    #[test]
    fn standard_formulas() {
        use SurveyKind::*;
        // CSAT: 3 satisfied of 4 answers; one sent and not answered.
        let s = SurveyScores::of(&[(Csat, Some(5)), (Csat, Some(4)), (Csat, Some(4)), (Csat, Some(2)), (Csat, None)]);
        assert_eq!((s.csat.sent, s.csat.answered, s.csat.detractors), (5, 4, 1));
        assert_eq!(s.csat.score, Some(75.0));
        assert_eq!(s.csat.response_rate, Some(0.8));
        // NPS: 2 promoters, 1 passive, 2 detractors of 5 → (2 − 2) / 5 = 0; then 3 promoters of 4 → 50.
        let s = SurveyScores::of(&[(Nps, Some(10)), (Nps, Some(9)), (Nps, Some(7)), (Nps, Some(6)), (Nps, Some(0))]);
        assert_eq!(s.nps.score, Some(0.0));
        let s = SurveyScores::of(&[(Nps, Some(10)), (Nps, Some(9)), (Nps, Some(9)), (Nps, Some(3))]);
        assert_eq!(s.nps.score, Some(50.0));
        // CES: the mean.
        let s = SurveyScores::of(&[(Ces, Some(7)), (Ces, Some(4))]);
        assert_eq!(s.ces.score, Some(5.5));
        assert_eq!(SurveyScores::of(&[]).csat.score, None);
        assert_eq!(
            (sentiment(Nps, 6), sentiment(Nps, 7), sentiment(Csat, 2)),
            (Sentiment::Detractor, Sentiment::Passive, Sentiment::Detractor)
        );
    }

    #[test]
    fn prompts_say_how_to_answer() {
        let spec: SurveySpec = serde_json::from_value(serde_json::json!({ "kind": "csat" })).unwrap();
        assert_eq!((spec.throttle_days, spec.expiry_hours), (30, 72));
        assert!(spec.prompt(false).ends_with("Reply with a number from 1 (very dissatisfied) to 5 (very satisfied)."));
        assert_eq!(spec.choices(true)[4], (5, Some("Molto soddisfatto")));
        assert_eq!(parse_answer(SurveyKind::Csat, "5 — Molto soddisfatto"), Some(5), "a WhatsApp list choice");
        assert!(spec.prompt(true).starts_with("Quanto è soddisfatto"));
        let bad: SurveySpec =
            serde_json::from_value(serde_json::json!({ "kind": "nps", "expiry_hours": 0, "question": { "en": "", "it": "x" } })).unwrap();
        let errors = bad.validate().unwrap_err();
        assert_eq!(errors.0.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["question.en", "expiry_hours"]);
    }
}
