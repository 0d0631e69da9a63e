//! The customer's self-service portal on the help pages: signing in with a
//! one-time code sent to an e-mail address or phone number the account
//! already knows, and what a customer may send from it (a return, exchange
//! or warranty request with photos).
//!
//! The rules here hold without a database: how an address is read, how a
//! code is made, checked and worded, and which photos are accepted.

use time::Duration;

use crate::identity::{IdentityKind, NormalizedIdentity, Region};

/// Digits in a sign-in code.
pub const CODE_DIGITS: usize = 6;
/// How long a code may be used.
pub const CODE_TTL: Duration = Duration::minutes(10);
/// Wrong tries before a code is spent.
pub const MAX_ATTEMPTS: i64 = 5;
/// Codes one address may be sent within [`CODE_WINDOW`].
pub const CODES_PER_WINDOW: i64 = 3;
pub const CODE_WINDOW: Duration = Duration::minutes(15);
/// How long a portal session lasts.
pub const SESSION_TTL: Duration = Duration::hours(12);

/// Photos a request may carry, and how large each may be.
pub const MAX_PHOTOS: usize = 5;
pub const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;
/// The longest reason a customer may write.
pub const MAX_REASON_CHARS: usize = 4000;

/// What a customer types to sign in, read as the identity it names: an
/// e-mail address, or a phone number (read in the account's region when
/// written without a country code).
pub fn read_address(raw: &str, region: Region) -> Option<NormalizedIdentity> {
    let raw = raw.trim();
    let kind = if raw.contains('@') { IdentityKind::Email } else { IdentityKind::Phone };
    NormalizedIdentity::parse(kind, raw, region).ok()
}

/// A code from a random number: always [`CODE_DIGITS`] digits (the
/// modulo's bias over a `u32` is below one in four thousand).
pub fn code_from(random: u32) -> String {
    format!("{:0width$}", random % 10u32.pow(CODE_DIGITS as u32), width = CODE_DIGITS)
}

/// The code as the customer typed it, spaces and dashes aside; `None` when
/// it cannot be a code at all.
pub fn typed_code(raw: &str) -> Option<String> {
    let code: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    (code.len() == CODE_DIGITS && code.chars().all(|c| c.is_ascii_digit())).then_some(code)
}

/// What became of a try at a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right: the customer is signed in and the code is spent.
    Right,
    /// Wrong, with this many tries left.
    Wrong { left: i64 },
    /// No code is waiting (never sent, expired, used, or out of tries).
    NoCode,
}

/// Judges a try: `expected` is the waiting code's hash, `tries` how many
/// wrong tries it has had, `sent` the hash of what was typed.
pub fn check_code(expected: &str, tries: i64, sent: &str) -> CodeCheck {
    if tries >= MAX_ATTEMPTS {
        return CodeCheck::NoCode;
    }
    let same = expected.len() == sent.len() && expected.bytes().zip(sent.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same { CodeCheck::Right } else { CodeCheck::Wrong { left: MAX_ATTEMPTS - tries - 1 } }
}

/// The message carrying a code: the subject (for e-mail) and the text.
pub fn code_message(code: &str, account: &str, language: Option<&str>) -> (String, String) {
    let minutes = CODE_TTL.whole_minutes();
    if language == Some("it") {
        (
            format!("Il tuo codice di accesso a {account}"),
            format!(
                "Il tuo codice di accesso a {account} è {code}. Vale {minutes} minuti.\n\
                 Se non l'hai chiesto tu, ignora questo messaggio."
            ),
        )
    } else {
        (
            format!("Your sign-in code for {account}"),
            format!(
                "Your sign-in code for {account} is {code}. It is valid for {minutes} minutes.\n\
                 If you did not ask for it, ignore this message."
            ),
        )
    }
}

/// The photo formats a request accepts, told by their first bytes (what
/// the browser claims is not trusted).
pub fn photo_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && matches!(&bytes[8..12], b"heic" | b"heix" | b"mif1" | b"msf1") {
        Some("image/heic")
    } else {
        None
    }
}

/// Checks one photo: its format and size. The error names the file.
pub fn check_photo(filename: &str, bytes: &[u8]) -> Result<&'static str, String> {
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(format!("{filename} is larger than {} MB", MAX_PHOTO_BYTES / (1024 * 1024)));
    }
    photo_type(bytes).ok_or_else(|| format!("{filename} is not a photo (JPEG, PNG, GIF, WebP or HEIC)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_as_email_or_phone() {
        let it = Region::default();
        let email = read_address(" Giulia.Verdi@Example.com ", it).unwrap();
        assert_eq!((email.kind, email.value.as_str()), (IdentityKind::Email, "giulia.verdi@example.com"));
        let phone = read_address("333 123 4567", it).unwrap();
        assert_eq!((phone.kind, phone.value.as_str()), (IdentityKind::Phone, "+393331234567"));
        assert!(read_address("not an address", it).is_none());
        assert!(read_address("giulia@", it).is_none());
    }

    #[test]
    fn codes_have_six_digits_and_are_read_leniently() {
        assert_eq!(code_from(42), "000042");
        assert_eq!(code_from(u32::MAX), "967295");
        assert_eq!(typed_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(typed_code("123-456").as_deref(), Some("123456"));
        assert_eq!(typed_code("12345"), None);
        assert_eq!(typed_code("12345a"), None);
    }

    #[test]
    fn a_code_is_spent_after_its_tries() {
        assert_eq!(check_code("abc", 0, "abc"), CodeCheck::Right);
        assert_eq!(check_code("abc", 0, "abd"), CodeCheck::Wrong { left: 4 });
        assert_eq!(check_code("abc", 4, "abd"), CodeCheck::Wrong { left: 0 });
        // Out of tries, even the right code no longer opens.
        assert_eq!(check_code("abc", MAX_ATTEMPTS, "abc"), CodeCheck::NoCode);
    }

    #[test]
    fn the_code_message_is_in_the_customers_language() {
        let (subject, text) = code_message("012345", "Bottega Aurora", Some("it"));
        assert_eq!(subject, "Il tuo codice di accesso a Bottega Aurora");
        assert!(text.contains("012345") && text.contains("10 minuti"), "{text}");
        let (_, text) = code_message("012345", "Bottega Aurora", None);
        assert!(text.starts_with("Your sign-in code for Bottega Aurora is 012345."), "{text}");
    }

    #[test]
    fn photos_are_told_by_their_bytes() {
        assert_eq!(photo_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(photo_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(photo_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(photo_type(b"\0\0\0\x18ftypheic"), Some("image/heic"));
        assert_eq!(photo_type(b"<svg onload=alert(1)>"), None);
        assert!(check_photo("invoice.pdf", b"%PDF-1.7").unwrap_err().contains("invoice.pdf is not a photo"));
        let large = vec![0xFF; MAX_PHOTO_BYTES + 1];
        assert!(check_photo("big.jpg", &large).unwrap_err().contains("larger than 10 MB"));
    }
}
