//! Which language a message is written in, from the function words it
//! uses: short texts in customer service ("non è arrivato", "where is my
//! card") are recognised by their articles, pronouns, prepositions and
//! greetings long before character statistics would say anything.
//!
//! Italian and English are what Threadline's workspace speaks; Spanish,
//! French, German and Portuguese are recognised too, so that a message in
//! one of them is not mistaken for Italian or English.

use serde::{Deserialize, Serialize};

use crate::text::words;

/// A detected language and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Detected {
    /// ISO 639-1 code: `it`, `en`, `es`, `fr`, `de`, `pt`.
    pub language: String,
    /// 0–1: the share of the recognised words that point to this language.
    pub confidence: f32,
    /// The words that decided it.
    pub evidence: Vec<String>,
}

/// Function words and greetings per language, folded as
/// [`crate::text::words`] folds them (no accents).
const LANGUAGES: &[(&str, &[&str])] = &[
    (
        "it",
        &[
            "il",
            "lo",
            "la",
            "gli",
            "le",
            "un",
            "uno",
            "una",
            "di",
            "del",
            "della",
            "dei",
            "delle",
            "al",
            "alla",
            "ai",
            "nel",
            "nella",
            "con",
            "per",
            "tra",
            "fra",
            "che",
            "non",
            "ma",
            "sono",
            "sei",
            "ho",
            "hai",
            "abbiamo",
            "avete",
            "hanno",
            "mio",
            "mia",
            "miei",
            "mie",
            "suo",
            "sua",
            "questo",
            "questa",
            "quello",
            "quella",
            "perche",
            "come",
            "quando",
            "dove",
            "anche",
            "ancora",
            "gia",
            "piu",
            "molto",
            "grazie",
            "ciao",
            "buongiorno",
            "buonasera",
            "salve",
            "vorrei",
            "potete",
            "posso",
            "essere",
            "stato",
            "stata",
            "ordine",
            "ecco",
            "cosa",
            "nessuno",
            "niente",
            "mai",
            "sempre",
            "subito",
            "vostro",
            "vostra",
            "ci",
            "mi",
            "ti",
            "si",
            "ne",
            "e",
            "o",
            "se",
            "qualcuno",
            "aiuto",
            "allora",
            "pero",
            "oggi",
            "ieri",
            "domani",
            "settimana",
            "giorni",
        ],
    ),
    (
        "en",
        &[
            "the",
            "a",
            "an",
            "of",
            "to",
            "in",
            "on",
            "at",
            "for",
            "with",
            "from",
            "by",
            "and",
            "or",
            "but",
            "not",
            "is",
            "are",
            "was",
            "were",
            "be",
            "been",
            "have",
            "has",
            "had",
            "do",
            "does",
            "did",
            "i",
            "you",
            "he",
            "she",
            "it",
            "we",
            "they",
            "my",
            "your",
            "our",
            "their",
            "this",
            "that",
            "these",
            "those",
            "what",
            "why",
            "how",
            "when",
            "where",
            "which",
            "who",
            "can",
            "could",
            "would",
            "should",
            "will",
            "please",
            "thanks",
            "thank",
            "hello",
            "hi",
            "hey",
            "yet",
            "still",
            "already",
            "me",
            "there",
            "here",
            "just",
            "get",
            "got",
            "any",
            "some",
            "no",
            "yes",
            "if",
            "im",
            "dont",
            "cant",
            "didnt",
            "isnt",
            "wont",
            "need",
            "want",
            "help",
            "today",
            "yesterday",
            "week",
            "days",
        ],
    ),
    (
        "es",
        &[
            "el", "los", "las", "del", "y", "que", "en", "por", "para", "con", "no", "es", "son", "mi", "mis", "su", "sus", "pero", "como",
            "cuando", "donde", "porque", "gracias", "hola", "buenos", "dias", "todavia", "ya", "muy", "pedido", "tengo", "quiero", "puedo",
            "ustedes", "nada", "nunca", "ayuda", "este", "esta", "eso",
        ],
    ),
    (
        "fr",
        &[
            "le", "les", "des", "du", "et", "est", "sont", "je", "tu", "il", "nous", "vous", "ils", "mon", "ma", "mes", "ton", "votre",
            "pas", "ne", "pour", "avec", "dans", "sur", "que", "qui", "quoi", "pourquoi", "comment", "quand", "ou", "merci", "bonjour",
            "salut", "encore", "deja", "tres", "commande", "aide", "rien", "jamais", "cette", "ce",
        ],
    ),
    (
        "de",
        &[
            "der",
            "die",
            "das",
            "den",
            "dem",
            "ein",
            "eine",
            "einen",
            "und",
            "oder",
            "aber",
            "nicht",
            "ist",
            "sind",
            "ich",
            "du",
            "er",
            "sie",
            "wir",
            "ihr",
            "mein",
            "meine",
            "dein",
            "ihre",
            "mit",
            "fur",
            "von",
            "zu",
            "auf",
            "warum",
            "wie",
            "wann",
            "wo",
            "danke",
            "hallo",
            "noch",
            "schon",
            "sehr",
            "bestellung",
            "hilfe",
            "nichts",
            "nie",
            "bitte",
            "kein",
            "keine",
        ],
    ),
    (
        "pt",
        &[
            "o", "os", "as", "um", "uma", "do", "da", "dos", "das", "no", "na", "em", "e", "que", "nao", "para", "com", "por", "meu",
            "minha", "seu", "sua", "voce", "voces", "mas", "como", "quando", "onde", "porque", "obrigado", "obrigada", "ola", "bom",
            "ainda", "ja", "muito", "pedido", "ajuda", "nada", "nunca", "tenho", "quero",
        ],
    ),
];

/// Each function word and the languages (indexes into [`LANGUAGES`]) that use it.
static OWNERS: std::sync::LazyLock<std::collections::HashMap<&'static str, Vec<usize>>> = std::sync::LazyLock::new(|| {
    let mut owners: std::collections::HashMap<&'static str, Vec<usize>> = std::collections::HashMap::new();
    for (i, (_, list)) in LANGUAGES.iter().enumerate() {
        for word in *list {
            let langs = owners.entry(*word).or_default();
            if !langs.contains(&i) {
                langs.push(i);
            }
        }
    }
    owners
});

/// The language of `text`, if its words say. `None` when no function word
/// of any known language appears (a tracking number, an emoji, "ok").
pub fn detect(text: &str) -> Option<Detected> {
    detect_words(&words(text))
}

/// [`detect`] for words already read (see [`crate::text::words`]).
pub fn detect_words(words: &[String]) -> Option<Detected> {
    let mut scores: Vec<(&str, f32, Vec<String>)> = LANGUAGES.iter().map(|(code, _)| (*code, 0.0, Vec::new())).collect();
    let mut total = 0.0;
    for word in words.iter().take(400) {
        let Some(owners) = OWNERS.get(word.as_str()) else { continue };
        // A word several languages share says less than one only one uses.
        let weight = 1.0 / owners.len() as f32;
        total += weight;
        for &i in owners {
            scores[i].1 += weight;
            if scores[i].2.len() < 6 && !scores[i].2.contains(word) {
                scores[i].2.push(word.clone());
            }
        }
    }
    // Ties go to the earlier language in the table (Italian, then English).
    let mut best: Option<&(&str, f32, Vec<String>)> = None;
    for candidate in &scores {
        if candidate.1 > best.map_or(0.0, |b| b.1) {
            best = Some(candidate);
        }
    }
    let (code, score, evidence) = best?;
    Some(Detected { language: (*code).to_owned(), confidence: (score / total).clamp(0.0, 1.0), evidence: evidence.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(text: &str) -> Option<String> {
        detect(text).map(|d| d.language)
    }

    #[test]
    fn italian_and_english_customer_messages() {
        assert_eq!(lang("Buongiorno, il mio ordine non è ancora arrivato").as_deref(), Some("it"));
        assert_eq!(lang("Perché mi avete addebitato due volte?").as_deref(), Some("it"));
        assert_eq!(lang("Where is my card? I ordered it a week ago").as_deref(), Some("en"));
        assert_eq!(lang("I still haven't received my refund").as_deref(), Some("en"));
        assert_eq!(lang("grazie").as_deref(), Some("it"));
        assert_eq!(lang("thanks!").as_deref(), Some("en"));
    }

    #[test]
    fn other_languages_are_not_taken_for_italian_or_english() {
        assert_eq!(lang("Hola, mi pedido todavía no ha llegado, ¿por qué?").as_deref(), Some("es"));
        assert_eq!(lang("Bonjour, ma commande n'est pas encore arrivée").as_deref(), Some("fr"));
        assert_eq!(lang("Hallo, meine Bestellung ist noch nicht da").as_deref(), Some("de"));
    }

    #[test]
    fn no_words_no_language() {
        assert_eq!(lang("1Z999AA10123456784"), None);
        assert_eq!(lang("🙂"), None);
        assert_eq!(lang(""), None);
    }

    #[test]
    fn the_evidence_is_the_words_that_decided() {
        let detected = detect("Il pacco non è arrivato").unwrap();
        assert!(detected.evidence.contains(&"non".to_owned()), "{detected:?}");
        assert!(detected.confidence > 0.5, "{detected:?}");
    }
}
