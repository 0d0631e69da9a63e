//! How Threadline reads text: lower-cased words with accents folded, so
//! that "Perché", "perche" and "PERCHÈ" are one word — to triage's models
//! and rules, to the bot, and to the names duplicates are found by. Italian
//! elisions split at the apostrophe ("l'ordine" → "l", "ordine").

/// One character, lower-cased with its accent removed; `None` for
/// characters that separate words.
fn fold(c: char) -> Option<char> {
    let c = match c {
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' | 'À' | 'Á' | 'Â' | 'Ä' | 'Ã' | 'Å' => 'a',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
        'ç' | 'Ç' => 'c',
        'ñ' | 'Ñ' => 'n',
        'ß' => 's',
        c if c.is_alphanumeric() => return c.to_lowercase().next(),
        _ => return None,
    };
    Some(c)
}

/// The words of `text`, folded. Letters and digits make words; anything
/// else (spaces, punctuation, apostrophes, emoji) separates them.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        match fold(c) {
            Some(c) => word.push(c),
            None if !word.is_empty() => out.push(std::mem::take(&mut word)),
            None => {}
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// `text` folded as [`words`] reads it, the words joined by single spaces
/// and padded with one space each side, so that a phrase matches as whole
/// words with `contains(" phrase ")`.
pub fn padded(text: &str) -> String {
    padded_words(&words(text))
}

/// [`padded`] for words already read.
pub fn padded_words(words: &[String]) -> String {
    let mut out = String::with_capacity(words.iter().map(|w| w.len() + 1).sum::<usize>() + 1);
    out.push(' ');
    for word in words {
        out.push_str(word);
        out.push(' ');
    }
    out
}

/// Whether `folded` (from [`padded`]) contains `phrase` as whole words.
pub fn contains_phrase(folded: &str, phrase: &str) -> bool {
    let phrase = padded(phrase);
    phrase.len() > 2 && folded.contains(&phrase)
}

/// At most `max` characters of `text`, cut at a character boundary.
pub fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_folded_and_split_at_apostrophes() {
        assert_eq!(words("Perché l'ordine NON è arrivato?!"), ["perche", "l", "ordine", "non", "e", "arrivato"]);
        assert_eq!(words("  "), Vec::<String>::new());
        assert_eq!(words("card#1234 🙂 ok"), ["card", "1234", "ok"]);
    }

    #[test]
    fn phrases_match_whole_words() {
        let text = padded("Il pagamento è stato rifiutato!");
        assert!(!contains_phrase(&text, "pagamento rifiutato"));
        assert!(contains_phrase(&text, "stato rifiutato"));
        assert!(contains_phrase(&text, "PAGAMENTO"));
        assert!(!contains_phrase(&text, "pagam"));
        assert!(!contains_phrase(&text, "  "));
    }

    #[test]
    fn clipping_respects_characters() {
        assert_eq!(clip("perché", 5), "perch");
        assert_eq!(clip("ok", 5), "ok");
    }
}
