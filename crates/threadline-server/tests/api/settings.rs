//! Account settings and storage options.

use base64::Engine;
use serde_json::json;
use threadline_testkit::{Backend, TestApp, backend_tests, spawn_app_with};

backend_tests!(continuity_window_and_region_are_account_settings);

async fn continuity_window_and_region_are_account_settings(app: TestApp) {
    let (status, account) = app.get("/api/v1/account").await;
    assert_eq!(status, 200);
    assert_eq!(account["continuity_window_secs"], 7 * 24 * 3600);
    assert_eq!(account["default_region"], "IT");
    let (status, err) = app.patch("/api/v1/account", json!({ "continuity_window_secs": 10, "default_region": "Narnia" })).await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["fields"].as_array().unwrap().len(), 2, "{err}");
    let (status, updated) = app.patch("/api/v1/account", json!({ "continuity_window_secs": 3600, "default_region": "gb" })).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["continuity_window_secs"], 3600);
    assert_eq!(updated["default_region"], "GB");

    // The new region applies at once: a UK number written nationally.
    let sms = app.create_inbox("sms", "UK").await;
    let outcome = app.inbound(&sms, json!([{ "kind": "phone", "value": "020 7946 0958" }]), "hello").await;
    let (_, contact) = app.get(&format!("/api/v1/contacts/{}", outcome["contact_id"].as_str().unwrap())).await;
    assert_eq!(contact["identities"][0]["value"], "+442079460958");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_can_live_on_disk() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.attachment_store = threadline_server::config::AttachmentStore::Disk).await;
    let inbox = app.create_inbox("api", "files").await;
    let bytes = b"scontrino 42".to_vec();
    let (status, outcome) = app
        .post(
            &format!("/api/v1/inboxes/{inbox}/messages"),
            json!({
                "sender": { "identities": [{ "kind": "external_id", "value": "c-7" }] },
                "attachments": [{ "filename": "scontrino.txt", "content_type": "text/plain", "data_base64": base64::engine::general_purpose::STANDARD.encode(&bytes) }],
            }),
        )
        .await;
    assert_eq!(status, 201, "{outcome}");
    let id = outcome["message"]["attachments"][0]["id"].as_str().unwrap();
    let file = app.data_dir.join("attachments").join(&app.account_id).join(id);
    assert_eq!(std::fs::read(&file).expect("attachment file written"), bytes);
    let download = app.client.get(app.url(&format!("/api/v1/attachments/{id}"))).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(download.bytes().await.unwrap().to_vec(), bytes);
}
