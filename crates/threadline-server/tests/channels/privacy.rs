//! A customer's rights over their data: the export holds everything, and
//! after erasure nothing of them is left — not in the database files, their
//! write-ahead log or the attachment folder (SQLite), not in any table
//! (PostgreSQL, read back whole with pg_dump) — while the counts reports
//! use stay. Deleting a conversation or a contact, and legal hold.

use std::io::Read;

use serde_json::{Value, json};
use threadline_testkit::{Backend, ProviderStandIn, spawn_app_with};

use crate::support::*;

/// Everything that names the customer, as they or their provider wrote it.
const TRACES: &[&str] = &[
    "Zebedeo",
    "Quarzoni",
    "zebedeo.quarzoni@example.org",
    "393479876543",
    "xilofonoquantico",
    "pterodattilorosa",
    "zanzibarcodice",
    "Scontrinofotografico",
    "PHOTO-BYTES-OF-ZEBEDEO",
];

mod erasure {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::the_export_holds_everything_and_erasure_leaves_nothing(threadline_testkit::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::the_export_holds_everything_and_erasure_leaves_nothing(threadline_testkit::Backend::Postgres).await;
    }
}

crate::channel_tests!(deleting_removes_the_rows_and_legal_hold_protects);

async fn disk_rig(backend: Backend) -> Rig {
    let provider = ProviderStandIn::start().await;
    let app = spawn_app_with(backend, |s| {
        provider.configure(s);
        s.attachment_store = threadline_server::config::AttachmentStore::Disk;
    })
    .await;
    Rig { app, provider, http: reqwest::Client::new() }
}

/// Where each trace is still found: files of the data folder (SQLite), or
/// the database's whole content (PostgreSQL).
fn traces_left(rig: &Rig) -> Vec<String> {
    let mut found = Vec::new();
    match rig.app.backend {
        Backend::Sqlite => {
            let mut stack = vec![rig.app.data_dir.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        stack.push(path);
                        continue;
                    }
                    let bytes = std::fs::read(&path).unwrap();
                    for trace in TRACES {
                        if bytes.windows(trace.len()).any(|w| w == trace.as_bytes()) {
                            found.push(format!("{trace} in {}", path.display()));
                        }
                    }
                }
            }
        }
        Backend::Postgres => {
            let dump = std::process::Command::new("pg_dump")
                .args(["--data-only", "--no-owner", &rig.app.database_url])
                .output()
                .expect("pg_dump (PostgreSQL's client) reads the database back");
            assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
            for trace in TRACES {
                if dump.stdout.windows(trace.len()).any(|w| w == trace.as_bytes()) {
                    found.push(format!("{trace} in the database"));
                }
            }
        }
    }
    found
}

async fn the_export_holds_everything_and_erasure_leaves_nothing(backend: Backend) {
    let rig = disk_rig(backend).await;
    let app = &rig.app;
    let receiver = threadline_testkit::WebhookReceiver::start(0).await;
    app.post("/api/v1/webhooks", json!({ "url": receiver.url(), "events": ["*"] })).await;

    // The customer writes on WhatsApp, with a photo…
    let whatsapp = rig.whatsapp_inbox().await;
    rig.provider.put_media("2209988776655", "image/jpeg", b"PHOTO-BYTES-OF-ZEBEDEO".to_vec());
    let messages = json!([
        { "from": "393479876543", "id": "wamid.z1", "timestamp": "1700000000", "type": "text",
          "text": { "body": "Il mio ordine xilofonoquantico non arriva" } },
        { "from": "393479876543", "id": "wamid.z2", "timestamp": "1700000001", "type": "image",
          "image": { "caption": "Scontrinofotografico", "mime_type": "image/jpeg", "sha256": "x", "id": "2209988776655" } },
    ]);
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_messages("393479876543", "Zebedeo Quarzoni", messages)).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let contact = rig.messages(&conversation).await[0]["contact_id"].as_str().unwrap().to_owned();
    // …by e-mail through an integration (with an idempotency key)…
    let api = app.create_inbox("api", "shop").await;
    let response = app
        .client
        .post(app.url(&format!("/api/v1/inboxes/{api}/messages")))
        .bearer_auth(&app.token)
        .header("idempotency-key", "order-zebedeo-1")
        .json(&json!({ "sender": { "name": "Zebedeo Quarzoni", "identities": [
            { "kind": "email", "value": "zebedeo.quarzoni@example.org" }, { "kind": "phone", "value": "+393479876543" } ] },
            "text": "Secondo messaggio pterodattilorosa" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // …an order is recorded, and an agent answers by WhatsApp.
    let (status, _) = app
        .post(
            &format!("/api/v1/contacts/{contact}/interactions"),
            json!({ "kind": "order", "summary": "Ordine zanzibarcodice", "data": { "code": "zanzibarcodice" } }),
        )
        .await;
    assert_eq!(status, 201);
    let (status, reply) =
        rig.reply(&conversation, json!({ "text": "Ciao Zebedeo, controllo l'ordine xilofonoquantico", "channel": "whatsapp" })).await;
    assert_eq!(status, 201, "{reply}");
    rig.provider.wait_for_sends(1, 10).await;
    receiver.wait_for(10, |r| r.len() >= 5).await;
    let before = rig.messages(&conversation).await.len();
    assert!(!traces_left(&rig).is_empty(), "the test's traces were stored to begin with");

    // The export holds all of it.
    let response = app.client.get(app.url(&format!("/api/v1/contacts/{contact}/export"))).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let bytes = response.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut read = |name: &str| {
        let mut text = String::new();
        zip.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}")).read_to_string(&mut text).unwrap();
        text
    };
    let profile: Value = serde_json::from_str(&read("contact.json")).unwrap();
    assert_eq!(profile["contact"]["name"], "Zebedeo Quarzoni");
    let identities = profile["contact"]["identities"].to_string();
    assert!(identities.contains("zebedeo.quarzoni@example.org") && identities.contains("+393479876543"), "{identities}");
    let exported: Vec<Value> = serde_json::from_str(&read("messages.json")).unwrap();
    assert_eq!(exported.len(), before, "every message, on every channel (one conversation: the e-mail continued it)");
    assert!(read("interactions.json").contains("zanzibarcodice"));
    assert!(read("conversations.json").contains(&conversation));
    assert!(read("README.txt").contains("messages.json"));
    let photo = (0..zip.len())
        .filter_map(|i| zip.by_index(i).ok().and_then(|f| f.name().ok().map(|n| n.to_string())))
        .find(|n| n.starts_with("attachments/"));
    let mut photo_bytes = Vec::new();
    zip.by_name(&photo.expect("the photo is in the export")).unwrap().read_to_end(&mut photo_bytes).unwrap();
    assert_eq!(photo_bytes, b"PHOTO-BYTES-OF-ZEBEDEO");
    assert!(std::fs::read_dir(app.data_dir.join("exports")).unwrap().next().is_none(), "the export file was removed once sent");

    // Legal hold stops erasure until lifted.
    let hold = format!("/api/v1/contacts/{contact}/legal-hold");
    assert_eq!(app.put(&hold, json!({ "hold": true, "reason": "case 2026/14" })).await.0, 204);
    let (status, body) = app.post(&format!("/api/v1/contacts/{contact}/erase"), json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(app.put(&hold, json!({ "hold": false })).await.0, 204);

    let (status, report) = app.post(&format!("/api/v1/contacts/{contact}/erase"), json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["attachments"], 1);
    assert!(report["messages"].as_u64().unwrap() >= 4, "{report}");

    // Nothing of the person is left…
    let left = traces_left(&rig);
    assert!(left.is_empty(), "after erasure: {left:?}");
    // …while what happened still counts.
    let after = rig.messages(&conversation).await;
    assert_eq!(after.len(), before, "messages are counted as before");
    assert!(after.iter().all(|m| m["text"] == "" && m["attachments"].as_array().unwrap().is_empty()));
    assert_eq!(after[0]["channel"], "whatsapp");
    let (_, erased) = app.get(&format!("/api/v1/contacts/{contact}")).await;
    assert!(erased["name"].is_null() && erased["identities"].as_array().unwrap().is_empty(), "{erased}");
    let (_, log) = app.get(&format!("/api/v1/audit-log?subject_id={contact}")).await;
    let actions: Vec<&str> = log["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"contact.erase") && actions.contains(&"contact.export"), "{actions:?}");
    let (_, verified) = app.get("/api/v1/audit-log/verify").await;
    assert_eq!(verified["intact"], true, "{verified}");
    // The customer writing again is a new contact: nothing links them back.
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text("393471230000", "wamid.z9", "Someone Else", "Buongiorno")).await;
    assert_eq!(status, 200);
}

async fn deleting_removes_the_rows_and_legal_hold_protects(rig: Rig) {
    let app = &rig.app;
    let inbox = app.create_inbox("api", "shop").await;
    let first = app.inbound(&inbox, json!([{ "kind": "email", "value": "ugo@example.com" }]), "Prima domanda").await;
    let conversation = first["conversation"]["id"].as_str().unwrap().to_owned();
    let contact = first["contact"]["id"].as_str().unwrap_or_else(|| first["message"]["contact_id"].as_str().unwrap()).to_owned();
    // Measured for reports first: the measurement goes with the conversation.
    threadline_server::metrics::refresh(&app.server().state).await.unwrap();
    let (_, measured) = app.get("/api/v1/reports/summary").await;
    assert_eq!(measured["current"]["summary"]["conversations"], 1, "{measured}");
    let (status, report) = app.call(reqwest::Method::DELETE, &format!("/api/v1/conversations/{conversation}"), None).await;
    assert_eq!(status, 200, "{report}");
    threadline_server::metrics::refresh(&app.server().state).await.unwrap();
    let (_, measured) = app.get("/api/v1/reports/summary").await;
    assert_eq!(measured["current"]["summary"]["conversations"], 0, "{measured}");
    assert_eq!((report["conversations"].as_u64(), report["messages"].as_u64()), (Some(1), Some(1)));
    assert_eq!(app.get(&format!("/api/v1/conversations/{conversation}")).await.0, 404);
    assert_eq!(app.get(&format!("/api/v1/contacts/{contact}")).await.0, 200, "the customer stays");

    app.inbound(&inbox, json!([{ "kind": "email", "value": "ugo@example.com" }]), "Seconda domanda").await;
    app.put(&format!("/api/v1/contacts/{contact}/legal-hold"), json!({ "hold": true })).await;
    let (status, _) = app.call(reqwest::Method::DELETE, &format!("/api/v1/contacts/{contact}"), None).await;
    assert_eq!(status, 409, "on legal hold");
    app.put(&format!("/api/v1/contacts/{contact}/legal-hold"), json!({ "hold": false })).await;
    let (status, report) = app.call(reqwest::Method::DELETE, &format!("/api/v1/contacts/{contact}"), None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(app.get(&format!("/api/v1/contacts/{contact}")).await.0, 404);
    let (_, conversations) = app.get("/api/v1/conversations").await;
    assert!(conversations["data"].as_array().unwrap().is_empty(), "{conversations}");
    // Agents may do neither.
    let (_, agent) = app.create_user("agent@acme.example", "Agent", "agent").await;
    let (status, _) = app.call_as(&agent, reqwest::Method::POST, &format!("/api/v1/contacts/{contact}/erase"), Some(json!({}))).await;
    assert!(status == 403 || status == 404, "{status}");
}
