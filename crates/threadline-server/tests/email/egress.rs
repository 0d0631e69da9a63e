//! The SMTP relay an admin named is connected to only where the egress
//! policy allows — at every send, not only when the inbox was saved.

use serde_json::json;

use crate::email_tests;
use crate::support::{INBOX_ADDRESS, Rig, eventually, mail};

email_tests!(a_relay_the_policy_no_longer_allows_gets_nothing);

async fn a_relay_the_policy_no_longer_allows_gets_nothing(rig: Rig) {
    let Rig { mut app, relay } = rig;
    // Saved while the operator allowed 127.0.0.1; then no longer allowed.
    app.restart(|s| s.egress_allow.clear()).await;
    let smtp_port = app.server().smtp_addr.expect("the SMTP listener").port();
    let sent = crate::support::send_mail(
        smtp_port,
        "ada@example.com",
        &[INBOX_ADDRESS],
        mail("Ada <ada@example.com>", INBOX_ADDRESS, "Ciao", "egress-1@example.com", "", "Una domanda.").as_bytes(),
        false,
        &[],
    );
    assert_eq!(sent.data, 250, "{sent:?}");
    let (_, conversations) = app.get("/api/v1/conversations").await;
    let conversation = conversations["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, reply) = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({ "text": "Risposta." })).await;
    assert_eq!(status, 201, "{reply}");
    let path = format!("/api/v1/messages/{}", reply["id"].as_str().unwrap());
    eventually("the reply fails", async || app.get(&path).await.1["delivery_status"] == "failed").await;
    let (_, message) = app.get(&path).await;
    let error = message["delivery_error"].as_str().unwrap_or_default();
    assert!(error.contains("egress policy") && error.contains("loopback"), "{message}");
    assert!(relay.messages().is_empty(), "nothing reached the relay");
}
