//! Where a reply's quoted history starts.
//!
//! Mail clients put the new words on top and the thread below, introduced
//! by an attribution line ("On Mon, 2 Nov 2026, Ana wrote:", "Il giorno …
//! ha scritto:"), an Outlook header block ("From: … Sent: … Subject: …",
//! "Da: … Inviato: … Oggetto: …"), an "Original Message" rule, or simply as
//! lines starting with `>`. The history is kept, but apart from the new
//! text, so an agent reads what the customer just said.
//!
//! Forwarded messages are not history: their content is what the customer
//! is sending, so "Forwarded message" markers do not split.

/// The new text and the quoted history, if any was found below some new text.
pub fn split(text: &str) -> (String, Option<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = quote_start(&lines) else { return (text.trim_end().to_owned(), None) };
    let new = lines[..start].join("\n").trim_end().to_owned();
    if new.trim().is_empty() {
        // All of it is "quoted": nothing new to show apart, keep it whole.
        return (text.trim_end().to_owned(), None);
    }
    let quoted = lines[start..].join("\n").trim().to_owned();
    (new, (!quoted.is_empty()).then_some(quoted))
}

fn quote_start(lines: &[&str]) -> Option<usize> {
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if is_forward_marker(trimmed) {
            // What follows is the forwarded message itself.
            return None;
        }
        if is_attribution(trimmed) {
            return Some(i);
        }
        // An attribution wrapped over two lines: "On Mon, … Ana <ana@" / "example.com> wrote:".
        if let Some(next) = lines.get(i + 1)
            && starts_attribution(trimmed)
            && is_attribution(&format!("{trimmed} {}", next.trim()))
        {
            return Some(i);
        }
        if is_rule(trimmed) {
            return Some(i);
        }
        if is_outlook_block(&lines[i..]) {
            // A line of underscores just above belongs to the block.
            return Some(if i > 0 && lines[i - 1].trim().chars().all(|c| c == '_') && !lines[i - 1].trim().is_empty() { i - 1 } else { i });
        }
    }
    trailing_quote(lines)
}

fn starts_attribution(line: &str) -> bool {
    let lower = line.to_lowercase();
    ["on ", "il ", "le ", "am ", "el ", "em "].iter().any(|p| lower.starts_with(p))
}

/// "On … wrote:", "Il giorno … ha scritto:", "Le … a écrit :", "Am … schrieb …:", "El … escribió:".
fn is_attribution(line: &str) -> bool {
    if line.chars().count() > 300 {
        return false;
    }
    let lower = line.to_lowercase();
    let ends = |suffixes: &[&str]| suffixes.iter().any(|s| lower.trim_end().ends_with(s));
    (lower.starts_with("on ") && ends(&["wrote:"]))
        || (lower.starts_with("il ") && ends(&["ha scritto:", "ha scritto :"]))
        || (lower.starts_with("le ") && ends(&["a écrit :", "a écrit:"]))
        || (lower.starts_with("am ") && lower.contains("schrieb") && ends(&[":"]))
        || (lower.starts_with("el ") && ends(&["escribió:"]))
        || (lower.starts_with("em ") && ends(&["escreveu:"]))
}

/// "---------- Forwarded message ---------", "-------- Messaggio inoltrato --------", "Begin forwarded message:".
fn is_forward_marker(line: &str) -> bool {
    let lower = line.to_lowercase();
    (line.starts_with("---")
        && ["forwarded message", "messaggio inoltrato", "message transféré", "weitergeleitete nachricht"].iter().any(|m| lower.contains(m)))
        || lower.starts_with("begin forwarded message")
}

/// "-----Original Message-----", "----- Messaggio originale -----".
fn is_rule(line: &str) -> bool {
    let inner = line.trim_matches(|c: char| c == '-' || c.is_whitespace()).to_lowercase();
    line.starts_with("---")
        && ["original message", "messaggio originale", "message d'origine", "ursprüngliche nachricht", "mensaje original"]
            .contains(&inner.as_str())
}

/// An Outlook-style header block: "From:"/"Da:" then, within the next few
/// lines, a date and a subject line.
fn is_outlook_block(lines: &[&str]) -> bool {
    let field = |line: &str, names: &[&str]| {
        let lower = line.trim().trim_start_matches('*').to_lowercase();
        names.iter().any(|n| lower.starts_with(n))
    };
    if !lines.first().is_some_and(|l| field(l, &["from:", "da:", "de:", "von:"])) {
        return false;
    }
    let window = &lines[1..lines.len().min(6)];
    let dated = window.iter().any(|l| field(l, &["sent:", "date:", "inviato:", "data:", "envoyé :", "envoyé:", "gesendet:", "enviado:"]));
    let subject = window.iter().any(|l| field(l, &["subject:", "oggetto:", "objet :", "objet:", "betreff:", "asunto:"]));
    dated && subject
}

/// A run of `>` lines (and blank lines) that reaches the end of the text.
fn trailing_quote(lines: &[&str]) -> Option<usize> {
    let mut start = None;
    for (i, line) in lines.iter().enumerate().rev() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('>') {
            start = Some(i);
        } else if !trimmed.is_empty() {
            break;
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn gmail_attribution_splits() {
        let text =
            "Yes, the 14th works.\n\nThanks\n\nOn Mon, 2 Nov 2026 at 10:00, Ana <ana@example.com> wrote:\n> Can we deliver on the 14th?\n";
        let (new, quoted) = split(text);
        assert_eq!(new, "Yes, the 14th works.\n\nThanks");
        assert!(quoted.unwrap().starts_with("On Mon, 2 Nov 2026"));
    }

    #[test]
    fn wrapped_attribution_splits() {
        let text = "Perfect.\n\nOn Mon, 2 Nov 2026 at 10:00, Ana Rossi <ana.rossi@\nexample.com> wrote:\n> hello";
        let (new, quoted) = split(text);
        assert_eq!(new, "Perfect.");
        assert!(quoted.is_some());
    }

    #[test]
    fn italian_gmail_and_outlook_split() {
        let gmail = "Va bene, grazie.\n\nIl giorno lun 2 nov 2026 alle ore 10:00 Ana <ana@example.com> ha scritto:\n> Quando arriva?";
        assert_eq!(split(gmail).0, "Va bene, grazie.");
        let outlook = "Confermo l'indirizzo.\n\n________________________________\nDa: Bottega Aurora <aiuto@bottega.example>\nInviato: lunedì 2 novembre 2026 10:00\nA: Giulia\nOggetto: Re: ordine\n\nCiao Giulia";
        let (new, quoted) = split(outlook);
        assert_eq!(new, "Confermo l'indirizzo.");
        assert!(quoted.unwrap().starts_with("____"));
    }

    #[test]
    fn original_message_rule_and_trailing_quotes_split() {
        assert_eq!(split("See below\n-----Original Message-----\nFrom: x").0, "See below");
        let (new, quoted) = split("Thanks!\n\n> old line\n>\n> older line\n");
        assert_eq!(new, "Thanks!");
        assert_eq!(quoted.as_deref(), Some("> old line\n>\n> older line"));
    }

    #[test]
    fn interleaved_answers_and_forwards_are_not_cut() {
        // Quotes with answers below them are part of the reply.
        let inline = "> What size?\nM, please.\n> Colour?\nBlue.";
        assert_eq!(split(inline), (inline.to_owned(), None));
        let forward =
            "FYI\n\n---------- Forwarded message ---------\nFrom: Shop <shop@example.com>\nDate: Mon\nSubject: Invoice\n\nAmount due";
        assert_eq!(split(forward), (forward.to_owned(), None));
    }

    #[test]
    fn a_message_that_is_all_quote_is_kept_whole() {
        let text = "> only a quote";
        assert_eq!(split(text), (text.to_owned(), None));
    }
}
