//! The built-in bot's decisions: given what the customer just wrote, how
//! the conversation with the bot has gone so far and the knowledge base's
//! best matches, answer, offer choices, ask again — or hand off to a
//! human, with everything the agent needs so that the customer never has
//! to repeat themselves.
//!
//! It hands off when the customer asks for a person, when they are upset,
//! when it stays unsure, and after a set number of turns. The searching is
//! the knowledge base's; the sending is the server's.

use serde::{Deserialize, Serialize};

use crate::conversation::string_enum;
use crate::ids::ArticleId;
use crate::text::{clip, contains_phrase, padded, words};

/// An inbox's bot settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotSettings {
    /// A match at least this sure is given as the answer.
    #[serde(default = "default_answer")]
    pub answer_confidence: f32,
    /// Matches at least this sure are offered as choices.
    #[serde(default = "default_choice")]
    pub choice_confidence: f32,
    /// Hand off after this many customer messages to the bot.
    #[serde(default = "default_turns")]
    pub max_turns: u32,
    /// Hand off after this many messages the bot could not place.
    #[serde(default = "default_unsure")]
    pub max_unsure: u32,
    /// Hand off at or below this sentiment (−1…+1).
    #[serde(default = "default_negative")]
    pub handoff_sentiment: f32,
    /// A conversation where the bot answered and the customer said nothing
    /// more for this long counts as resolved by the bot.
    #[serde(default = "default_resolve_after")]
    pub resolve_after_secs: u64,
}

fn default_answer() -> f32 {
    0.6
}
fn default_choice() -> f32 {
    0.3
}
fn default_turns() -> u32 {
    5
}
fn default_unsure() -> u32 {
    2
}
fn default_negative() -> f32 {
    -0.5
}
fn default_resolve_after() -> u64 {
    24 * 3600
}

impl Default for BotSettings {
    fn default() -> Self {
        BotSettings {
            answer_confidence: default_answer(),
            choice_confidence: default_choice(),
            max_turns: default_turns(),
            max_unsure: default_unsure(),
            handoff_sentiment: default_negative(),
            resolve_after_secs: default_resolve_after(),
        }
    }
}

impl BotSettings {
    pub fn validate(&self) -> Result<(), crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::new();
        for (field, value) in [("answer_confidence", self.answer_confidence), ("choice_confidence", self.choice_confidence)] {
            if !(0.0..=1.0).contains(&value) {
                errors.push(field, "is between 0 and 1");
            }
        }
        if self.choice_confidence > self.answer_confidence {
            errors.push("choice_confidence", "is at most answer_confidence");
        }
        if !(1..=50).contains(&self.max_turns) {
            errors.push("max_turns", "is between 1 and 50");
        }
        if !(1..=10).contains(&self.max_unsure) {
            errors.push("max_unsure", "is between 1 and 10");
        }
        if !(-1.0..=0.0).contains(&self.handoff_sentiment) {
            errors.push("handoff_sentiment", "is between -1 and 0");
        }
        if !(60..=30 * 24 * 3600).contains(&self.resolve_after_secs) {
            errors.push("resolve_after_secs", "is between a minute and 30 days");
        }
        errors.into_result(())
    }
}

string_enum! {
    /// Which bot answers an inbox's new conversations.
    BotMode {
        /// Threadline's own, from the knowledge base.
        Builtin => "builtin",
        /// An agent bot plugged in through the Agent Bot API.
        External => "external",
    }
}

/// An inbox's bot: which one, and how it decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxBot {
    pub mode: BotMode,
    /// For `external`: the agent bot.
    #[serde(default)]
    pub agent_bot_id: Option<crate::ids::AgentBotId>,
    #[serde(default)]
    pub settings: BotSettings,
}

impl InboxBot {
    pub fn validate(&self) -> Result<(), crate::ValidationErrors> {
        let mut errors = match self.settings.validate() {
            Ok(()) => crate::ValidationErrors::new(),
            Err(e) => crate::ValidationErrors(
                e.0.into_iter().map(|f| crate::FieldError { field: format!("settings.{}", f.field), ..f }).collect(),
            ),
        };
        match (self.mode, self.agent_bot_id) {
            (BotMode::External, None) => errors.push("agent_bot_id", "an external bot needs the agent bot's id"),
            (BotMode::Builtin, Some(_)) => errors.push("agent_bot_id", "only an external bot names an agent bot"),
            _ => {}
        }
        errors.into_result(())
    }
}

/// A knowledge-base article that may answer the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Candidate {
    pub article_id: ArticleId,
    pub title: String,
    /// What the bot sends as the answer.
    pub answer: String,
    /// 0–1.
    pub confidence: f32,
}

/// What the bot remembers of its conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BotMemory {
    /// Customer messages the bot has handled.
    pub turns: u32,
    /// Of those, the ones it could not place.
    pub unsure: u32,
    /// The choices it offered last, in order.
    #[serde(default)]
    pub offered: Vec<(ArticleId, String)>,
    /// The article it answered with last and asked "did this help?" about.
    #[serde(default)]
    pub answered: Option<ArticleId>,
    /// The titles it has suggested, for the agent if it hands off.
    #[serde(default)]
    pub tried: Vec<String>,
    /// It last told the customer where an order is, and asked whether that
    /// answered them.
    #[serde(default)]
    pub order_answered: bool,
    /// The orders it described ("#1001: shipped (BRT 0123)"), for the agent.
    #[serde(default)]
    pub orders: Vec<String>,
}

string_enum! {
    /// Why the bot handed a conversation to a human.
    HandoffReason {
        AskedForHuman => "asked_for_human",
        NegativeSentiment => "negative_sentiment",
        LowConfidence => "low_confidence",
        TooManyTurns => "too_many_turns",
        /// An external bot said so.
        External => "external",
        /// An agent took the conversation over.
        AgentTookOver => "agent_took_over",
    }
}

impl HandoffReason {
    /// For the agent, in the workspace's two languages.
    pub fn describe(self, lang: &str) -> &'static str {
        match (self, lang) {
            (HandoffReason::AskedForHuman, "it") => "il cliente ha chiesto una persona",
            (HandoffReason::AskedForHuman, _) => "the customer asked for a person",
            (HandoffReason::NegativeSentiment, "it") => "il cliente è scontento",
            (HandoffReason::NegativeSentiment, _) => "the customer is upset",
            (HandoffReason::LowConfidence, "it") => "il bot non ha trovato una risposta sicura",
            (HandoffReason::LowConfidence, _) => "the bot found no answer it was sure of",
            (HandoffReason::TooManyTurns, "it") => "troppi scambi con il bot",
            (HandoffReason::TooManyTurns, _) => "too many turns with the bot",
            (HandoffReason::External, "it") => "il bot esterno ha passato la conversazione",
            (HandoffReason::External, _) => "the external bot handed it over",
            (HandoffReason::AgentTookOver, "it") => "un agente è subentrato",
            (HandoffReason::AgentTookOver, _) => "an agent took over",
        }
    }
}

/// What the bot does with a customer's message.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// Send this article as the answer, and ask whether it helped.
    Answer(Candidate),
    /// Offer these, numbered, and let the customer pick.
    Offer(Vec<Candidate>),
    /// Ask the customer to say it another way.
    Clarify,
    /// The customer said the answer helped: the bot resolved it.
    Resolved,
    Handoff(HandoffReason),
}

const HUMAN: &[&str] = &[
    "human",
    "a person",
    "real person",
    "an agent",
    "agent please",
    "operator",
    "talk to someone",
    "speak to someone",
    "talk to a",
    "speak to a",
    "speak with",
    "customer service",
    "representative",
    "operatore",
    "operatrice",
    "una persona",
    "persona vera",
    "parlare con",
    "un umano",
    "assistenza clienti",
    "un addetto",
    "un consulente",
];

/// Whether the customer asks for a person.
pub fn asks_for_human(text: &str) -> bool {
    let folded = padded(text);
    HUMAN.iter().any(|p| contains_phrase(&folded, p))
}

const YES: &[&str] = &[
    "yes",
    "ok",
    "yep",
    "yeah",
    "it did",
    "it helped",
    "that helped",
    "thanks",
    "thank you",
    "perfect",
    "great",
    "solved",
    "si",
    "certo",
    "grazie",
    "perfetto",
    "ottimo",
    "risolto",
    "ok grazie",
    "mi ha aiutato",
];
const NO: &[&str] = &[
    "no",
    "nope",
    "not really",
    "didn t help",
    "doesn t help",
    "not helpful",
    "wrong",
    "non mi",
    "non e",
    "non serve",
    "non ha aiutato",
    "sbagliato",
    "niente",
];

/// The customer's answer to "did this help?": `Some(true)`, `Some(false)`
/// or `None` when the message is something else (a new question).
pub fn confirms(text: &str) -> Option<bool> {
    let folded = padded(text);
    let count = words(text).len();
    // A long message is a new question, whatever word it starts with.
    if count > 8 {
        return None;
    }
    if NO.iter().any(|p| contains_phrase(&folded, p)) {
        return Some(false);
    }
    YES.iter().any(|p| contains_phrase(&folded, p)).then_some(true)
}

const ORDINALS: &[&[&str]] = &[
    &["1", "first", "one", "primo", "prima", "uno"],
    &["2", "second", "two", "secondo", "seconda", "due"],
    &["3", "third", "three", "terzo", "terza", "tre"],
];

/// Which of the offered choices the customer picked, by number ("2",
/// "the second") or by its title's words.
pub fn picked(text: &str, offered: &[(ArticleId, String)]) -> Option<usize> {
    let said = words(text);
    if said.len() <= 3 {
        for (i, names) in ORDINALS.iter().enumerate().take(offered.len()) {
            if said.iter().any(|w| names.contains(&w.as_str())) {
                return Some(i);
            }
        }
    }
    let folded = padded(text);
    offered.iter().position(|(_, title)| words(title).len() >= 2 && contains_phrase(&folded, title))
}

/// The bot's next move. `candidates` are the knowledge base's matches for
/// `text`, and must include the articles last offered (so a customer who
/// answers "2" gets the second).
pub fn decide(settings: &BotSettings, memory: &BotMemory, text: &str, sentiment: f32, candidates: &[Candidate]) -> Turn {
    if asks_for_human(text) {
        return Turn::Handoff(HandoffReason::AskedForHuman);
    }
    if sentiment <= settings.handoff_sentiment {
        return Turn::Handoff(HandoffReason::NegativeSentiment);
    }
    if memory.awaits_confirmation() {
        match confirms(text) {
            Some(true) => return Turn::Resolved,
            Some(false) if memory.unsure + 1 >= settings.max_unsure => return Turn::Handoff(HandoffReason::LowConfidence),
            _ => {}
        }
    }
    if let Some(i) = picked(text, &memory.offered)
        && let Some(c) = candidates.iter().find(|c| c.article_id == memory.offered[i].0)
    {
        return Turn::Answer(c.clone());
    }
    if memory.turns + 1 > settings.max_turns {
        return Turn::Handoff(HandoffReason::TooManyTurns);
    }
    let sure: Vec<&Candidate> = candidates.iter().filter(|c| Some(c.article_id) != memory.answered).collect();
    match sure.first() {
        Some(best) if best.confidence >= settings.answer_confidence => Turn::Answer((*best).clone()),
        Some(best) if best.confidence >= settings.choice_confidence => {
            Turn::Offer(sure.iter().filter(|c| c.confidence >= settings.choice_confidence).take(3).map(|c| (*c).clone()).collect())
        }
        _ if memory.unsure + 1 >= settings.max_unsure => Turn::Handoff(HandoffReason::LowConfidence),
        _ => Turn::Clarify,
    }
}

impl BotMemory {
    /// Whether the bot's last message was an answer it asked "did this
    /// help?" about (an article, or where an order is).
    pub fn awaits_confirmation(&self) -> bool {
        self.answered.is_some() || self.order_answered
    }

    /// The memory after the bot answered about an order: `described` is the
    /// order it described, for the agent (none when it asked for the
    /// order's number and e-mail address or postcode).
    pub fn after_order(&self, described: Option<String>) -> BotMemory {
        let mut next = BotMemory { turns: self.turns + 1, answered: None, offered: Vec::new(), ..self.clone() };
        next.order_answered = described.is_some();
        if let Some(line) = described
            && !next.orders.contains(&line)
        {
            next.orders.push(line);
        }
        next
    }

    /// The memory after `turn`.
    pub fn after(&self, turn: &Turn) -> BotMemory {
        let mut next = BotMemory { turns: self.turns + 1, order_answered: false, ..self.clone() };
        match turn {
            Turn::Answer(c) => {
                next.answered = Some(c.article_id);
                next.offered.clear();
                if !next.tried.contains(&c.title) {
                    next.tried.push(c.title.clone());
                }
            }
            Turn::Offer(list) => {
                next.offered = list.iter().map(|c| (c.article_id, c.title.clone())).collect();
                next.answered = None;
            }
            Turn::Clarify => next.unsure += 1,
            Turn::Resolved | Turn::Handoff(_) => {}
        }
        if matches!(turn, Turn::Answer(_) | Turn::Offer(_)) && self.awaits_confirmation() {
            // The previous answer did not settle it.
            next.unsure += 1;
        }
        next
    }
}

/// What the bot says, in the customer's language (Italian or English).
pub struct Phrases {
    pub did_it_help: &'static str,
    pub choose: &'static str,
    pub clarify: &'static str,
    pub handoff: &'static str,
    pub resolved: &'static str,
}

pub fn phrases(language: Option<&str>) -> Phrases {
    match language {
        Some("it") => Phrases {
            did_it_help: "Ti è stato utile? Rispondi sì o no.",
            choose: "Ho trovato alcune risposte che potrebbero aiutarti. Rispondi con il numero:",
            clarify: "Non sono sicuro di aver capito: puoi dirlo con altre parole?",
            handoff: "Ti passo a un collega, che vedrà tutto quello che hai scritto qui: non dovrai ripeterlo.",
            resolved: "Bene, felice di esserti stato utile!",
        },
        _ => Phrases {
            did_it_help: "Did this answer your question? Reply yes or no.",
            choose: "I found a few answers that might help. Reply with the number:",
            clarify: "I'm not sure I understood: could you put it another way?",
            handoff: "I'm passing you to a colleague, who will see everything you wrote here: you won't need to repeat it.",
            resolved: "Great, glad I could help!",
        },
    }
}

/// The text of a bot turn to the customer; `None` for turns that say
/// nothing of their own.
pub fn reply_text(turn: &Turn, language: Option<&str>) -> String {
    let p = phrases(language);
    match turn {
        Turn::Answer(c) => format!("{}\n\n{}\n\n{}", c.title, c.answer.trim(), p.did_it_help),
        Turn::Offer(list) => {
            let mut text = p.choose.to_owned();
            for (i, c) in list.iter().enumerate() {
                text.push_str(&format!("\n{}. {}", i + 1, c.title));
            }
            text
        }
        Turn::Clarify => p.clarify.to_owned(),
        Turn::Resolved => p.resolved.to_owned(),
        Turn::Handoff(_) => p.handoff.to_owned(),
    }
}

/// A short summary for the agent who takes over: what the customer asked,
/// in their words, what the bot tried, the orders it looked up, and why it
/// handed over.
pub fn summarize(customer_messages: &[&str], category: Option<&str>, memory: &BotMemory, reason: HandoffReason) -> String {
    let tried = &memory.tried;
    let mut out = String::new();
    match category {
        Some(c) => out.push_str(&format!("About {c}. ")),
        None => out.push_str("Topic not recognised. "),
    }
    let said: Vec<String> =
        customer_messages.iter().map(|m| m.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|m| !m.is_empty()).collect();
    if let Some(first) = said.first() {
        out.push_str(&format!("The customer wrote: “{}”", clip(first, 240)));
        if said.len() > 1 {
            out.push_str(&format!(" and then: “{}”", clip(&said[said.len() - 1], 160)));
        }
        out.push_str(". ");
    }
    if !tried.is_empty() {
        let list = tried.join("; ");
        let end = if list.ends_with(['.', '?', '!']) { " " } else { ". " };
        out.push_str(&format!("The bot suggested: {list}{end}"));
    }
    out.push_str(&orders_looked_up(memory));
    out.push_str(&format!("Handed over because {}.", reason.describe("en")));
    out
}

/// "Orders looked up: …. " for the agent, or nothing.
pub fn orders_looked_up(memory: &BotMemory) -> String {
    if memory.orders.is_empty() { String::new() } else { format!("Orders looked up: {}. ", memory.orders.join("; ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(title: &str, confidence: f32) -> Candidate {
        Candidate { article_id: ArticleId::new(), title: title.into(), answer: format!("All about {title}."), confidence }
    }

    #[test]
    fn a_sure_match_is_answered_and_a_yes_resolves() {
        let s = BotSettings::default();
        let tracking = candidate("Tracking your order", 0.8);
        let turn = decide(&s, &BotMemory::default(), "where is my order", 0.0, std::slice::from_ref(&tracking));
        assert_eq!(turn, Turn::Answer(tracking.clone()));
        let memory = BotMemory::default().after(&turn);
        assert_eq!(memory.answered, Some(tracking.article_id));
        assert_eq!(decide(&s, &memory, "yes thanks!", 0.5, &[]), Turn::Resolved);
        assert!(reply_text(&turn, Some("it")).ends_with("Rispondi sì o no."));
    }

    #[test]
    fn unsure_matches_are_offered_and_picked_by_number_or_title() {
        let s = BotSettings::default();
        let a = candidate("Return an item", 0.45);
        let b = candidate("Exchange a size", 0.35);
        let c = candidate("Something else", 0.1);
        let turn = decide(&s, &BotMemory::default(), "reso", 0.0, &[a.clone(), b.clone(), c]);
        assert_eq!(turn, Turn::Offer(vec![a.clone(), b.clone()]));
        let memory = BotMemory::default().after(&turn);
        assert_eq!(
            reply_text(&turn, None),
            "I found a few answers that might help. Reply with the number:\n1. Return an item\n2. Exchange a size"
        );
        assert_eq!(decide(&s, &memory, "2", 0.0, &[a.clone(), b.clone()]), Turn::Answer(b.clone()));
        assert_eq!(decide(&s, &memory, "il secondo", 0.0, &[a.clone(), b.clone()]), Turn::Answer(b.clone()));
        assert_eq!(decide(&s, &memory, "I want to return an item please", 0.0, &[a.clone(), b.clone()]), Turn::Answer(a));
    }

    #[test]
    fn it_hands_off_when_asked_upset_unsure_or_going_round() {
        let s = BotSettings::default();
        let m = BotMemory::default();
        assert_eq!(decide(&s, &m, "Voglio parlare con un operatore", 0.0, &[]), Turn::Handoff(HandoffReason::AskedForHuman));
        assert_eq!(decide(&s, &m, "can I talk to a human?", 0.0, &[]), Turn::Handoff(HandoffReason::AskedForHuman));
        assert_eq!(decide(&s, &m, "this is a disgrace", -0.7, &[]), Turn::Handoff(HandoffReason::NegativeSentiment));
        assert_eq!(decide(&s, &m, "blue moon", 0.0, &[]), Turn::Clarify);
        let once = m.after(&Turn::Clarify);
        assert_eq!(decide(&s, &once, "green sun", 0.0, &[]), Turn::Handoff(HandoffReason::LowConfidence));
        let many = BotMemory { turns: 5, ..Default::default() };
        assert_eq!(decide(&s, &many, "where is my order", 0.0, &[candidate("Tracking", 0.9)]), Turn::Handoff(HandoffReason::TooManyTurns));
        // A "no" to the answer, when already unsure once, hands off.
        let answered = BotMemory { answered: Some(ArticleId::new()), unsure: 1, turns: 2, ..Default::default() };
        assert_eq!(decide(&s, &answered, "no", 0.0, &[]), Turn::Handoff(HandoffReason::LowConfidence));
    }

    #[test]
    fn yes_no_and_new_questions() {
        assert_eq!(confirms("Sì, grazie"), Some(true));
        assert_eq!(confirms("no, non mi serve"), Some(false));
        assert_eq!(confirms("it didn't help"), Some(false));
        assert_eq!(confirms("and how long does a refund take after the item arrives back?"), None);
        assert_eq!(confirms("where is it"), None);
    }

    #[test]
    fn the_summary_keeps_the_customers_words() {
        let memory = BotMemory { tried: vec!["Tracking your order".into()], ..Default::default() };
        let summary =
            summarize(&["Il pacco   non è arrivato", "voglio un operatore"], Some("shipping"), &memory, HandoffReason::AskedForHuman);
        assert_eq!(
            summary,
            "About shipping. The customer wrote: “Il pacco non è arrivato” and then: “voglio un operatore”. The bot suggested: Tracking your order. Handed over because the customer asked for a person."
        );
    }

    #[test]
    fn an_order_the_bot_described_is_confirmed_like_an_answer_and_goes_to_the_agent() {
        let s = BotSettings::default();
        let m = BotMemory::default().after_order(Some("#1001: shipped (BRT 0123)".into()));
        assert!(m.awaits_confirmation());
        assert_eq!(decide(&s, &m, "sì grazie", 0.0, &[]), Turn::Resolved);
        // Asking for the order's details is not an answer to confirm.
        assert!(!BotMemory::default().after_order(None).awaits_confirmation());
        // A new question moves on; the order stays for the agent.
        let next = m.after(&Turn::Clarify);
        assert!(!next.awaits_confirmation());
        let summary = summarize(&["where is my order?", "a person please"], None, &next, HandoffReason::AskedForHuman);
        assert!(summary.contains("Orders looked up: #1001: shipped (BRT 0123). Handed over"), "{summary}");
    }

    #[test]
    fn settings_are_validated() {
        assert!(BotSettings::default().validate().is_ok());
        let bad = BotSettings { answer_confidence: 0.2, choice_confidence: 0.4, max_turns: 0, ..Default::default() };
        let fields: Vec<String> = bad.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["choice_confidence", "max_turns"]);
    }
}
