//! Every message of the malformed and tricky corpus (`tests/email_corpus/`,
//! described in its README) is read without a panic, keeps its marker where
//! `EXPECT.tsv` says it must be recoverable, and names the right sender.
//! Anything unreadable must be reported in `problems`, which is what makes
//! the server keep the raw message.

use std::path::Path;

use threadline_channels::email::{ParseLimits, parse};

#[test]
fn the_corpus_is_read_without_loss() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/email_corpus");
    let expect = std::fs::read_to_string(dir.join("EXPECT.tsv")).unwrap();
    let mut checked = 0;
    for line in expect.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (file, marker_in, from) = (fields[0], fields[1], fields[2]);
        let raw = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let marker = format!("corpus-{}", &file[..2]);
        let email = parse(&raw, &ParseLimits { max_attachment_bytes: 1024 * 1024, remote_images: Default::default() });
        let in_text = email.text.contains(&marker)
            || email.quoted_text.as_deref().is_some_and(|q| q.contains(&marker))
            || email.html.as_deref().is_some_and(|h| h.contains(&marker));
        let in_subject = email.subject.as_deref().is_some_and(|s| s.contains(&marker))
            || email.from_name.as_deref().is_some_and(|n| n.contains(&marker));
        match marker_in {
            "text" => assert!(in_text, "{file}: {marker} not in the text: {:?}", email.text),
            "subject" => assert!(in_subject || in_text, "{file}: {marker} not in the subject {:?}", email.subject),
            // Only in the raw bytes: the parse must say it could not read
            // everything, so the server keeps the original.
            "raw" => assert!(in_text || in_subject || !email.problems.is_empty(), "{file}: the marker is lost and no problem reported"),
            other => panic!("{file}: unknown expectation {other}"),
        }
        match from {
            "-" => assert!(email.from_address.is_none() || !email.problems.is_empty(), "{file}"),
            address => assert_eq!(email.from_address.as_deref(), Some(address), "{file}"),
        }
        assert!(email.text.len() <= 4 * threadline_domain::message::MAX_TEXT_CHARS, "{file}: text not bounded");
        assert!(!email.text.contains('\0') && !email.subject.as_deref().unwrap_or_default().contains('\0'), "{file}: NUL kept");
        if let Some(html) = &email.html {
            assert!(!html.contains("<script") && !html.to_lowercase().contains("javascript:"), "{file}: unsafe HTML kept");
        }
        checked += 1;
    }
    let files = std::fs::read_dir(&dir).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "eml")).count();
    assert_eq!(checked, files, "every .eml file needs a line in EXPECT.tsv");
}
