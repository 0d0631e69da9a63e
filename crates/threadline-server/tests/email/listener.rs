//! The SMTP listener as a sending mail server meets it: unknown recipients,
//! size limits, STARTTLS, protocol errors, and a corpus of malformed mail
//! stored without a crash and without loss.

use std::io::{Read, Write};
use std::process::Command;

use crate::email_tests;
use crate::support::{INBOX_ADDRESS, Rig, mail, rig_with, send_mail};

email_tests!(recipients_and_sizes_are_checked, the_malformed_corpus_is_stored_whole);

async fn recipients_and_sizes_are_checked(rig: Rig) {
    let ok = mail("a@example.com", INBOX_ADDRESS, "hi", "size-0@example.com", "", "hello");
    // Not ours: refused, nothing stored; this is not an open relay.
    let sent = rig.send("a@example.com", &["someone@elsewhere.example"], &ok);
    assert_eq!(sent.rcpt, vec![550], "{sent:?}");
    assert_eq!(sent.data, 0);
    // A +tag and different case still reach the inbox.
    let sent = rig.send("a@example.com", &["AIUTO+anything@Bottega.Example", "nobody@bottega.example"], &ok);
    assert_eq!((sent.rcpt.clone(), sent.data), (vec![250, 550], 250), "{sent:?}");

    // Declared too big: refused at MAIL FROM.
    let sent = send_mail(rig.smtp_port(), "a@example.com", &[INBOX_ADDRESS], ok.as_bytes(), false, &["SIZE=999999999"]);
    assert_eq!(sent.mail, 552, "{sent:?}");
    // Turned out too big: refused after the data, nothing kept.
    let big = mail("a@example.com", INBOX_ADDRESS, "big", "big-1@example.com", "", &format!("{}\r\n", "x".repeat(78)).repeat(16_000));
    let sent = send_mail(rig.smtp_port(), "a@example.com", &[INBOX_ADDRESS], big.as_bytes(), false, &[]);
    assert_eq!(sent.data, 552, "{sent:?}");
    let stored: usize = {
        let mut n = 0;
        for c in rig.conversations().await {
            n += rig.messages(c["id"].as_str().unwrap()).await.len();
        }
        n
    };
    assert_eq!(stored, 1, "only the accepted message is stored");

    // Commands out of order and garbage get errors, not a crash.
    let replies =
        raw_session(rig.smtp_port(), "DATA\r\nMAIL FROM:<a@example.com>\r\nEHLO x\r\nRCPT TO:<aiuto@bottega.example>\r\nBOGUS\r\nQUIT\r\n");
    let codes: Vec<&str> = replies.lines().map(|l| &l[..3]).collect();
    assert_eq!(codes.first(), Some(&"220"));
    assert!(codes.contains(&"503"), "{replies}");
    assert!(codes.contains(&"500"), "{replies}");
    assert_eq!(codes.last(), Some(&"221"), "{replies}");
}

/// Talks raw SMTP: sends `script` at once (pipelined) and returns all replies.
fn raw_session(port: u16, script: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    stream.write_all(script.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

async fn the_malformed_corpus_is_stored_whole(rig: Rig) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../threadline-channels/tests/email_corpus");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect();
    files.sort();
    for file in &files {
        let raw = std::fs::read(file).unwrap();
        let sent = send_mail(rig.smtp_port(), "sender@example.net", &[INBOX_ADDRESS], &raw, false, &[]);
        assert_eq!(sent.data, 250, "{}: {sent:?}", file.display());
    }
    // Every message is stored; unreadable ones are flagged with the original kept.
    let mut stored = Vec::new();
    for c in rig.conversations().await {
        stored.extend(rig.messages(c["id"].as_str().unwrap()).await);
    }
    assert_eq!(stored.len(), files.len(), "one stored message per corpus file");
    let flagged: Vec<_> = stored.iter().filter(|m| !m["problems"].as_array().unwrap().is_empty()).collect();
    assert!(flagged.len() >= 5, "the broken ones say so: {}", flagged.len());
    for m in &flagged {
        assert!(
            m["attachments"].as_array().unwrap().iter().any(|a| a["filename"] == "original.eml" && a["content_type"] == "message/rfc822"),
            "a flagged message keeps its original: {m}"
        );
    }
    for m in &stored {
        if let Some(html) = m["html"].as_str() {
            assert!(!html.contains("<script") && !html.to_lowercase().contains("javascript:") && !html.contains("onerror"), "{html}");
        }
    }
    // The corpus markers are all findable in what was stored.
    for file in &files {
        let marker = format!("corpus-{}", &file.file_name().unwrap().to_string_lossy()[..2]);
        let found = stored.iter().any(|m| m.to_string().contains(&marker));
        let kept_raw = stored.iter().any(|m| !m["problems"].as_array().unwrap().is_empty());
        assert!(found || kept_raw, "{marker} is lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_is_offered_with_a_certificate() {
    let dir = std::env::temp_dir().join(format!("threadline-tls-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mx.bottega.example"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes a test certificate");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let rig = rig_with(threadline_testkit::Backend::Sqlite, serde_json::json!({}), |s| {
        s.smtp_tls_cert = cert.clone();
        s.smtp_tls_key = key.clone();
    })
    .await;
    let ehlo = raw_session(rig.smtp_port(), "EHLO client.example.org\r\nQUIT\r\n");
    assert!(ehlo.lines().any(|l| l.starts_with("250") && l.ends_with("STARTTLS")), "{ehlo}");
    let secret = mail("b@example.com", INBOX_ADDRESS, "tls", "tls-1@example.com", "", "sent over TLS");
    let sent = send_mail(rig.smtp_port(), "b@example.com", &[INBOX_ADDRESS], secret.as_bytes(), true, &[]);
    assert_eq!(sent.data, 250, "{sent:?}");
    assert_eq!(rig.messages(&rig.conversation_of("tls-1@example.com").await).await[0]["text"], "sent over TLS");
    // Commands pipelined behind STARTTLS are dropped with the plaintext buffer.
    let smuggled = raw_session(rig.smtp_port(), "EHLO x\r\nSTARTTLS\r\nMAIL FROM:<evil@example.com>\r\n");
    assert!(smuggled.contains("220 2.0.0"), "{smuggled}");
    assert!(!smuggled.contains("250 2.1.0"), "nothing sent before the handshake is obeyed: {smuggled}");
}
