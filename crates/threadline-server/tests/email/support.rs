//! A server with its SMTP listener on, an email inbox whose replies go to a
//! real SMTP server (aiosmtpd), and a real SMTP client (Python's smtplib)
//! to send customers' mail with.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use threadline_testkit::{Backend, SmtpSink, TestApp, spawn_app_with};

pub const INBOX_ADDRESS: &str = "aiuto@bottega.example";

/// Runs a test body against both databases.
#[macro_export]
macro_rules! email_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::rig(threadline_testkit::Backend::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::rig(threadline_testkit::Backend::Postgres).await).await;
            }
        }
    )*};
}

pub struct Rig {
    pub app: TestApp,
    /// Where Threadline's replies are delivered.
    pub relay: SmtpSink,
}

pub async fn rig(backend: Backend) -> Rig {
    rig_with(backend, json!({}), |_| {}).await
}

/// A rig whose inbox has `extra` settings, and whose server settings are
/// changed by `adjust`.
pub async fn rig_with(backend: Backend, extra: Value, adjust: impl FnOnce(&mut threadline_server::Settings)) -> Rig {
    let relay = SmtpSink::start().await;
    let app = spawn_app_with(backend, |s| {
        s.smtp_bind = Some(([127, 0, 0, 1], 0).into());
        s.smtp_max_message_bytes = 1024 * 1024;
        s.send_max_attempts = 3;
        adjust(s);
    })
    .await;
    app.assign_domain("bottega.example").await;
    let mut settings = json!({
        "address": INBOX_ADDRESS, "name": "Bottega Aurora", "smtp_host": "127.0.0.1",
        "smtp_port": relay.addr.port(), "smtp_security": "none", "signature": "Bottega Aurora — assistenza",
    });
    for (k, v) in extra.as_object().unwrap() {
        settings[k] = v.clone();
    }
    let (status, inbox) =
        app.post("/api/v1/inboxes", json!({ "channel": "email", "name": "Assistenza", "settings": settings, "secrets": {} })).await;
    assert_eq!(status, 201, "{inbox}");
    Rig { app, relay }
}

/// What the SMTP client saw: the reply code of each step.
#[derive(Debug, serde::Deserialize)]
pub struct Sent {
    pub mail: i64,
    pub rcpt: Vec<i64>,
    /// The final reply after the data (0 when DATA was not reached).
    pub data: i64,
    #[expect(dead_code, reason = "shown in assertion messages through Debug")]
    pub error: Option<String>,
}

impl Rig {
    pub fn smtp_port(&self) -> u16 {
        self.app.server().smtp_addr.expect("the SMTP listener is on").port()
    }

    /// Sends `raw` with smtplib from `from` to `to`, as a mail server would.
    pub fn send(&self, from: &str, to: &[&str], raw: &str) -> Sent {
        send_mail(self.smtp_port(), from, to, raw.as_bytes(), false, &[])
    }

    /// The conversation's messages, oldest first.
    pub async fn messages(&self, conversation: &str) -> Vec<Value> {
        let (status, body) = self.app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=100")).await;
        assert_eq!(status, 200, "{body}");
        let mut items = body["data"].as_array().cloned().unwrap_or_default();
        items.sort_by_key(|m| m["created_at"].as_str().unwrap_or_default().to_owned());
        items
    }

    /// Every conversation of the account.
    pub async fn conversations(&self) -> Vec<Value> {
        let (status, body) = self.app.get("/api/v1/conversations?limit=100").await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// The conversation a stored email with this Message-ID is in.
    pub async fn conversation_of(&self, message_id: &str) -> String {
        for conversation in self.conversations().await {
            let id = conversation["id"].as_str().unwrap().to_owned();
            if self.messages(&id).await.iter().any(|m| m["provider_message_id"] == format!("<{message_id}>")) {
                return id;
            }
        }
        panic!("no stored message has Message-ID {message_id}");
    }
}

/// smtplib, driven by a short script: EHLO, optional STARTTLS, MAIL with
/// options, RCPT for each recipient, DATA. Reports each reply code.
pub fn send_mail(port: u16, from: &str, to: &[&str], raw: &[u8], starttls: bool, mail_options: &[&str]) -> Sent {
    const SCRIPT: &str = r#"
import json, smtplib, ssl, sys, base64
job = json.loads(sys.stdin.read())
out = {"mail": 0, "rcpt": [], "data": 0, "error": None}
try:
    s = smtplib.SMTP("127.0.0.1", job["port"], timeout=30)
    s.ehlo("client.example.org")
    if job["starttls"]:
        code, _ = s.starttls(context=ssl._create_unverified_context())
        if code != 220:
            raise Exception("STARTTLS refused: %d" % code)
        s.ehlo("client.example.org")
        out["tls"] = True
    out["mail"], _ = s.mail(job["from"], job["options"])
    for r in job["to"]:
        code, _ = s.rcpt(r)
        out["rcpt"].append(code)
    if out["mail"] == 250 and 250 in out["rcpt"]:
        try:
            out["data"], _ = s.data(base64.b64decode(job["raw"]))
        except smtplib.SMTPDataError as e:
            out["data"] = e.smtp_code
    s.quit()
except Exception as e:
    out["error"] = repr(e)
print(json.dumps(out))
"#;
    use base64::Engine;
    let job = json!({
        "port": port, "from": from, "to": to, "starttls": starttls, "options": mail_options,
        "raw": base64::engine::general_purpose::STANDARD.encode(raw),
    });
    let python = std::env::var("THREADLINE_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let mut child = Command::new(&python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running python3 smtplib");
    child.stdin.take().expect("stdin").write_all(job.to_string().as_bytes()).expect("writing the job");
    let output = child.wait_with_output().expect("running python3 smtplib");
    assert!(output.status.success(), "smtplib failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// A plain customer mail.
pub fn mail(from: &str, to: &str, subject: &str, message_id: &str, headers: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n{headers}\r\n{body}\r\n"
    )
}

/// A header of a raw message received by the relay (unfolded).
pub fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or(raw).split("\n\n").next().unwrap_or(raw);
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ").replace("\n ", " ").replace("\n\t", " ");
    unfolded.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// Waits until `check` holds, up to 15 s.
pub async fn eventually<F: AsyncFn() -> bool>(what: &str, check: F) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}
