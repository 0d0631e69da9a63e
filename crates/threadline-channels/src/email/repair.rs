//! Header blocks that run straight into their body.
//!
//! A header block ends with an empty line (RFC 5322 §2.1). Some senders —
//! hand-written scripts, broken gateways — leave it out, at the top of the
//! message or in a MIME part (`Content-Type: text/plain` and then the text
//! on the next line). A strict reader takes the text for more headers and
//! finds no body at all: the customer's words vanish. Lenient readers
//! (Python's `email` package, for one) end the header block at the first
//! line that cannot be a header and read the rest as the body; this module
//! does the same before the message is parsed, and says where it had to.

/// Whether `line` (without its line ending) can be part of a header block:
/// a `Name: value` field (RFC 5322 §2.2: printable ASCII except `:` before
/// the colon), or a folded continuation (starting with space or tab).
fn is_header_line(line: &[u8], first: bool) -> bool {
    if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        return !first;
    }
    // The mbox separator some mail still carries on its first line.
    if first && line.starts_with(b"From ") {
        return true;
    }
    match line.iter().position(|b| *b == b':') {
        Some(0) | None => false,
        Some(colon) => line[..colon].iter().all(|b| (33..=126).contains(b)),
    }
}

/// The line ending the message uses (CRLF, or bare LF).
fn line_ending(raw: &[u8]) -> &'static [u8] {
    match raw.iter().position(|b| *b == b'\n') {
        Some(i) if i > 0 && raw[i - 1] == b'\r' => b"\r\n",
        _ => b"\n",
    }
}

/// Every `boundary=` parameter in the message (quoted or not), as bytes.
fn boundaries(raw: &[u8]) -> Vec<Vec<u8>> {
    let lower: Vec<u8> = raw.iter().map(u8::to_ascii_lowercase).collect();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&lower[from..], b"boundary=") {
        let start = from + at + b"boundary=".len();
        let rest = &raw[start..];
        let value: Vec<u8> = if rest.first() == Some(&b'"') {
            rest[1..].iter().take_while(|b| **b != b'"' && **b != b'\r' && **b != b'\n').copied().collect()
        } else {
            rest.iter().take_while(|b| !b" ;\t\r\n".contains(b)).copied().collect()
        };
        if !value.is_empty() && !found.contains(&value) {
            found.push(value);
        }
        from = start;
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `raw` with an empty line put back wherever a header block (the
/// message's, or a MIME part's) runs straight into its body; `None` when
/// none was missing.
pub fn restore_header_separators(raw: &[u8]) -> Option<Vec<u8>> {
    let eol = line_ending(raw);
    let delimiters: Vec<Vec<u8>> = boundaries(raw).into_iter().map(|b| [b"--".as_slice(), &b].concat()).collect();
    let mut out = Vec::with_capacity(raw.len() + 64);
    let mut changed = false;
    // In a header block, and whether the next line would be its first.
    let mut in_headers = true;
    let mut first = true;
    for line in raw.split_inclusive(|b| *b == b'\n') {
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
        if in_headers {
            if bare.is_empty() {
                in_headers = false;
            } else if !is_header_line(bare, first) {
                // A body line where a header should be: end the block here.
                // (A message with no header at all is left to the parser.)
                if !first {
                    out.extend_from_slice(eol);
                    changed = true;
                }
                in_headers = false;
            }
            first = false;
        } else if delimiters.iter().any(|d| bare.trim_ascii_end() == d.as_slice()) {
            // A part begins: its own header block follows.
            in_headers = true;
            first = true;
            out.extend_from_slice(line);
            continue;
        }
        out.extend_from_slice(line);
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_right_after_the_headers_is_set_apart() {
        let raw = b"From: Ana <ana@example.com>\r\nSubject: Ordine\r\nIl mio ordine non \xc3\xa8 arrivato.\r\nGrazie\r\n";
        let repaired = restore_header_separators(raw).unwrap();
        assert_eq!(repaired, b"From: Ana <ana@example.com>\r\nSubject: Ordine\r\n\r\nIl mio ordine non \xc3\xa8 arrivato.\r\nGrazie\r\n");
    }

    #[test]
    fn a_part_whose_headers_run_into_its_text_is_set_apart() {
        let raw = "Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\nIl pacco è rotto.\n--b1--\n";
        let repaired = String::from_utf8(restore_header_separators(raw.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            repaired,
            "Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\n\nIl pacco è rotto.\n--b1--\n"
        );
    }

    #[test]
    fn well_formed_mail_is_left_alone() {
        let raw = b"From: a@example.com\r\nSubject: x\r\n\tcontinued\r\n\r\nbody: with a colon\r\n";
        assert_eq!(restore_header_separators(raw), None);
        let multipart = b"Content-Type: multipart/alternative; boundary=xx\r\n\r\n--xx\r\nContent-Type: text/plain\r\n\r\nhi\r\n--xx--\r\n";
        assert_eq!(restore_header_separators(multipart), None);
        assert_eq!(restore_header_separators(b"From: a@example.com\r\nSubject: only headers\r\n"), None);
        assert_eq!(restore_header_separators(b"just some text\r\nwith no headers\r\n"), None, "no header at all: not this repair's case");
    }
}
