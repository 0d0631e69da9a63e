//! How the customer feels, from the words they use: a lexicon of English
//! and Italian words and phrases with a weight each (−3 very negative …
//! +3 very positive), a negation ("not", "non", "mai", "n't") turning the
//! words after it around, intensifiers ("very", "molto", "davvero")
//! strengthening them and exclamation marks adding weight. The sum is
//! squashed into −1…+1, so a long message is not more negative than a
//! short angry one merely for its length.

use serde::{Deserialize, Serialize};

use crate::text::words;

/// A sentiment score and the words behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sentiment {
    /// −1 (very negative) … +1 (very positive); 0 is neutral.
    pub score: f32,
    /// The words that weighed most, with what each added.
    pub evidence: Vec<(String, f32)>,
}

impl Sentiment {
    /// `negative`, `neutral` or `positive`.
    pub fn label(&self) -> &'static str {
        if self.score <= -NEUTRAL_BAND {
            "negative"
        } else if self.score >= NEUTRAL_BAND {
            "positive"
        } else {
            "neutral"
        }
    }
}

/// Scores closer to zero than this are neutral.
pub const NEUTRAL_BAND: f32 = 0.1;

/// Two-word phrases, matched before single words and never turned around
/// by a negation (they carry their own).
const PHRASES: &[(&str, &str, f32)] = &[
    ("non", "funziona", -2.0),
    ("non", "va", -1.5),
    ("not", "working", -2.0),
    ("t", "work", -2.0),
    ("t", "working", -2.0),
    ("not", "received", -1.5),
    ("t", "received", -1.5),
    ("t", "arrived", -1.5),
    ("never", "arrived", -2.0),
    ("never", "received", -2.0),
    ("mai", "arrivato", -2.0),
    ("mai", "arrivata", -2.0),
    ("ancora", "aspettando", -1.5),
    ("still", "waiting", -1.5),
    ("charged", "twice", -2.0),
    ("due", "volte", -1.0),
    ("ho", "aspettato", -1.0),
    ("non", "ricevuto", -1.5),
    ("non", "arrivato", -1.5),
    ("non", "arrivata", -1.5),
    ("rip", "off", -2.5),
    ("fa", "schifo", -3.0),
    ("thank", "you", 1.5),
    ("molto", "gentile", 2.5),
];

/// Single words, folded (no accents).
const WORDS: &[(&str, f32)] = &[
    // English, negative
    ("bad", -1.5),
    ("terrible", -2.5),
    ("awful", -2.5),
    ("horrible", -2.5),
    ("worst", -3.0),
    ("poor", -1.5),
    ("angry", -2.5),
    ("furious", -3.0),
    ("annoyed", -2.0),
    ("annoying", -2.0),
    ("frustrated", -2.0),
    ("frustrating", -2.0),
    ("disappointed", -2.0),
    ("disappointing", -2.0),
    ("unacceptable", -2.5),
    ("ridiculous", -2.0),
    ("useless", -2.0),
    ("broken", -1.5),
    ("damaged", -1.5),
    ("wrong", -1.2),
    ("problem", -1.0),
    ("problems", -1.0),
    ("issue", -0.8),
    ("error", -1.0),
    ("failed", -1.5),
    ("fails", -1.5),
    ("failure", -1.5),
    ("declined", -1.2),
    ("rejected", -1.2),
    ("late", -1.0),
    ("delayed", -1.2),
    ("missing", -1.2),
    ("lost", -1.2),
    ("stolen", -1.5),
    ("fraud", -2.5),
    ("scam", -3.0),
    ("complaint", -1.5),
    ("complain", -1.5),
    ("hate", -3.0),
    ("sucks", -2.5),
    ("waste", -2.0),
    ("rude", -2.0),
    ("slow", -1.0),
    ("stuck", -1.2),
    ("unhappy", -2.0),
    ("upset", -2.0),
    ("worried", -1.2),
    ("confused", -0.8),
    ("sad", -1.5),
    ("lawyer", -1.5),
    ("disgusting", -3.0),
    ("shame", -2.0),
    ("nightmare", -2.5),
    ("incompetent", -2.5),
    // English, positive
    ("good", 1.5),
    ("great", 2.0),
    ("excellent", 2.5),
    ("amazing", 2.5),
    ("awesome", 2.5),
    ("perfect", 2.5),
    ("love", 2.5),
    ("happy", 2.0),
    ("glad", 1.5),
    ("thanks", 1.2),
    ("thank", 1.2),
    ("appreciate", 1.5),
    ("helpful", 1.8),
    ("nice", 1.5),
    ("fine", 0.8),
    ("resolved", 1.2),
    ("solved", 1.2),
    ("works", 0.8),
    ("working", 0.5),
    ("fast", 1.0),
    ("quick", 1.0),
    ("satisfied", 1.8),
    ("pleased", 1.8),
    ("wonderful", 2.5),
    ("fantastic", 2.5),
    ("best", 2.0),
    ("brilliant", 2.5),
    ("kind", 1.2),
    ("friendly", 1.5),
    // Italian, negative
    ("male", -1.5),
    ("pessimo", -3.0),
    ("pessima", -3.0),
    ("terribile", -2.5),
    ("orribile", -2.5),
    ("schifo", -3.0),
    ("vergogna", -2.5),
    ("vergognoso", -2.5),
    ("vergognatevi", -3.0),
    ("arrabbiato", -2.5),
    ("arrabbiata", -2.5),
    ("furioso", -3.0),
    ("furiosa", -3.0),
    ("deluso", -2.0),
    ("delusa", -2.0),
    ("deludente", -2.0),
    ("inaccettabile", -2.5),
    ("ridicolo", -2.0),
    ("ridicola", -2.0),
    ("inutile", -2.0),
    ("rotto", -1.5),
    ("rotta", -1.5),
    ("danneggiato", -1.5),
    ("danneggiata", -1.5),
    ("sbagliato", -1.2),
    ("sbagliata", -1.2),
    ("problema", -1.0),
    ("problemi", -1.0),
    ("errore", -1.0),
    ("fallito", -1.5),
    ("fallita", -1.5),
    ("rifiutato", -1.2),
    ("rifiutata", -1.2),
    ("ritardo", -1.2),
    ("mancante", -1.2),
    ("perso", -1.2),
    ("persa", -1.2),
    ("smarrito", -1.2),
    ("rubato", -1.5),
    ("truffa", -3.0),
    ("frode", -2.5),
    ("reclamo", -1.5),
    ("lamentela", -1.5),
    ("odio", -3.0),
    ("lento", -1.0),
    ("lenta", -1.0),
    ("bloccato", -1.2),
    ("bloccata", -1.2),
    ("scontento", -2.0),
    ("scontenta", -2.0),
    ("preoccupato", -1.2),
    ("preoccupata", -1.2),
    ("triste", -1.5),
    ("maleducato", -2.0),
    ("assurdo", -2.0),
    ("assurda", -2.0),
    ("scandaloso", -2.5),
    ("disastro", -2.5),
    ("peggiore", -2.5),
    ("avvocato", -1.5),
    ("stufo", -2.0),
    ("stufa", -2.0),
    ("incompetenti", -2.5),
    // Italian, positive
    ("bene", 1.2),
    ("buono", 1.5),
    ("ottimo", 2.5),
    ("ottima", 2.5),
    ("eccellente", 2.5),
    ("fantastico", 2.5),
    ("perfetto", 2.5),
    ("perfetta", 2.5),
    ("grazie", 1.2),
    ("gentile", 1.5),
    ("gentilissimo", 2.0),
    ("gentilissima", 2.0),
    ("contento", 2.0),
    ("contenta", 2.0),
    ("felice", 2.0),
    ("soddisfatto", 1.8),
    ("soddisfatta", 1.8),
    ("utile", 1.5),
    ("veloce", 1.0),
    ("rapido", 1.0),
    ("rapida", 1.0),
    ("risolto", 1.2),
    ("risolta", 1.2),
    ("funziona", 0.8),
    ("bravi", 2.0),
    ("bravo", 2.0),
    ("brava", 2.0),
    ("complimenti", 2.0),
    ("adoro", 2.5),
    ("meraviglioso", 2.5),
];

/// Words that turn the next few words around.
const NEGATIONS: &[&str] =
    &["not", "no", "never", "t", "without", "non", "mai", "nessun", "nessuno", "niente", "nulla", "senza", "neanche"];
/// Words that strengthen the next word.
const INTENSIFIERS: &[&str] = &[
    "very",
    "really",
    "so",
    "extremely",
    "totally",
    "completely",
    "molto",
    "davvero",
    "troppo",
    "veramente",
    "proprio",
    "assolutamente",
    "super",
];

/// How far a negation reaches.
const NEGATION_SPAN: usize = 3;

static LEXICON: std::sync::LazyLock<std::collections::HashMap<&'static str, f32>> =
    std::sync::LazyLock::new(|| WORDS.iter().copied().collect());
static PHRASE_LEXICON: std::sync::LazyLock<std::collections::HashMap<(&'static str, &'static str), f32>> =
    std::sync::LazyLock::new(|| PHRASES.iter().map(|(a, b, w)| ((*a, *b), *w)).collect());

/// The sentiment of `text`.
pub fn score(text: &str) -> Sentiment {
    score_words(&words(text), text.chars().filter(|c| *c == '!').count())
}

/// [`score`] for words already read, with the text's count of `!`.
pub fn score_words(words: &[String], exclamations: usize) -> Sentiment {
    let mut contributions: Vec<(String, f32)> = Vec::new();
    let mut negated_until = 0usize;
    let mut boost = 1.0f32;
    let mut i = 0;
    while i < words.len() && i < 2_000 {
        let word = words[i].as_str();
        if let Some(next) = words.get(i + 1)
            && let Some(weight) = PHRASE_LEXICON.get(&(word, next.as_str()))
        {
            contributions.push((format!("{word} {next}"), weight * boost));
            boost = 1.0;
            i += 2;
            continue;
        }
        if NEGATIONS.contains(&word) {
            negated_until = i + 1 + NEGATION_SPAN;
        } else if INTENSIFIERS.contains(&word) {
            boost = 1.5;
            i += 1;
            continue;
        } else if let Some(weight) = LEXICON.get(word) {
            // A negated word counts about three quarters the other way
            // ("not bad" is mildly good, not great).
            let weight = if i < negated_until { -0.74 * weight } else { *weight };
            let shown = if i < negated_until { format!("(not) {word}") } else { word.to_owned() };
            contributions.push((shown, weight * boost));
        }
        boost = 1.0;
        i += 1;
    }
    let mut sum: f32 = contributions.iter().map(|(_, w)| w).sum();
    // Exclamation marks make whatever is said stronger, up to three.
    let bangs = exclamations.min(3) as f32;
    if sum != 0.0 {
        sum += sum.signum() * 0.3 * bangs;
    }
    let score = sum / (sum * sum + 15.0).sqrt();
    contributions.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    contributions.truncate(5);
    Sentiment { score: (score * 100.0).round() / 100.0, evidence: contributions }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angry_messages_are_negative_and_thanks_positive() {
        assert_eq!(score("This is unacceptable, the worst service ever!!!").label(), "negative");
        assert_eq!(score("Sono furioso: il pagamento è fallito e nessuno risponde").label(), "negative");
        assert_eq!(score("Grazie mille, gentilissimi!").label(), "positive");
        assert_eq!(score("Thank you, that was really helpful").label(), "positive");
        assert_eq!(score("Where is my parcel?").label(), "neutral");
    }

    #[test]
    fn negation_turns_words_around() {
        assert!(score("not happy at all").score < 0.0);
        assert!(score("non sono contento").score < 0.0);
        assert!(score("It doesn't work").score < 0.0);
        assert!(score("Il sito non funziona").score < 0.0);
        assert!(score("not bad").score > 0.0);
    }

    #[test]
    fn intensity_counts() {
        assert!(score("very bad").score < score("bad").score);
        assert!(score("bad!!!").score < score("bad").score);
        assert!(score("pessimo").score > -1.0 && score("pessimo").score < -0.5);
    }

    #[test]
    fn the_evidence_names_the_words() {
        let s = score("Pessimo servizio, sono davvero deluso");
        let words: Vec<&str> = s.evidence.iter().map(|(w, _)| w.as_str()).collect();
        assert!(words.contains(&"pessimo") && words.contains(&"deluso"), "{s:?}");
    }
}
