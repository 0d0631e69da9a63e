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

/// What Python's lenient `email` package reads as the text of each corpus
/// message, Threadline reads too — or it says it could not (a problem),
/// which makes the server keep the original. Python is the reference the
/// test suite already needs (`THREADLINE_TEST_PYTHON`, else `python3`).
#[test]
fn what_a_lenient_reader_recovers_is_recovered_or_kept() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/email_corpus");
    let python = std::env::var("THREADLINE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import email, json, os, sys
out = {}
for name in sorted(os.listdir(sys.argv[1])):
    if not name.endswith(".eml"):
        continue
    message = email.message_from_bytes(open(os.path.join(sys.argv[1], name), "rb").read())
    texts = []
    for part in message.walk():
        # Files attached as such are kept as attachments, not read as text.
        if part.get_content_type() == "text/plain" and not part.is_multipart() and part.get_content_disposition() != "attachment":
            payload = part.get_payload(decode=True) or b""
            try:
                texts.append(payload.decode(part.get_content_charset() or "utf-8", errors="replace"))
            except LookupError:
                texts.append(payload.decode("utf-8", errors="replace"))
    out[name] = "\n".join(texts)
print(json.dumps(out))
"#;
    let output = std::process::Command::new(&python)
        .args(["-c", script, dir.to_str().unwrap()])
        .output()
        .unwrap_or_else(|e| panic!("running {python} (set THREADLINE_TEST_PYTHON): {e}"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let reference: std::collections::BTreeMap<String, String> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(reference.len() >= 33, "the reference read the corpus");
    for (file, reference_text) in reference {
        let raw = std::fs::read(dir.join(&file)).unwrap();
        let email = parse(&raw, &ParseLimits { max_attachment_bytes: 1024 * 1024, remote_images: Default::default() });
        let ours = format!(
            "{}\n{}\n{}\n{}",
            email.text,
            email.quoted_text.as_deref().unwrap_or_default(),
            email.html.as_deref().unwrap_or_default(),
            email.subject.as_deref().unwrap_or_default()
        );
        // Words of four letters or more, the way both readers agree on them.
        let words: Vec<&str> = reference_text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 4 && w.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect();
        let missing: Vec<&&str> = words.iter().filter(|w| !ours.contains(**w)).collect();
        if !missing.is_empty() {
            assert!(
                !email.problems.is_empty(),
                "{file}: the reference reads {:?} that Threadline lost, and no problem says so (the original would not be kept)",
                &missing[..missing.len().min(8)]
            );
        }
        if email.text.trim().is_empty() && email.html.is_none() && email.attachments.is_empty() {
            assert!(!email.problems.is_empty(), "{file}: no readable text, and no problem says so");
        }
    }
}
