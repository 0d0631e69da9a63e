//! An account receives mail for an address only once it has proven it
//! controls it: by a code mailed to the address through the operator's
//! relay, or by a domain the operator assigned. Claiming another company's
//! address gets the claimant nothing.

use serde_json::{Value, json};
use threadline_testkit::{Backend, SmtpSink, TestApp, spawn_app_with};

use crate::support::{eventually, mail, send_mail};

mod codes {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::an_address_is_proven_by_the_code_mailed_to_it(threadline_testkit::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::an_address_is_proven_by_the_code_mailed_to_it(threadline_testkit::Backend::Postgres).await;
    }
}

mod domains {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::an_assigned_domain_proves_its_addresses(threadline_testkit::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::an_assigned_domain_proves_its_addresses(threadline_testkit::Backend::Postgres).await;
    }
}

const VICTIM: &str = "help@victim.example";

async fn app_with_system_mail(backend: Backend, relay: &SmtpSink) -> TestApp {
    let port = relay.addr.port();
    spawn_app_with(backend, move |s| {
        s.smtp_bind = Some(([127, 0, 0, 1], 0).into());
        s.system_smtp_url = threadline_server::config::Secret(format!("smtp+plain://127.0.0.1:{port}"));
        s.system_mail_from = "threadline@support.example".into();
    })
    .await
}

async fn email_inbox(app: &TestApp, token: &str, address: &str) -> String {
    let (status, inbox) = app
        .call_as(
            token,
            reqwest::Method::POST,
            "/api/v1/inboxes",
            Some(json!({ "channel": "email", "name": "Help", "settings": { "address": address } })),
        )
        .await;
    assert_eq!(status, 201, "{inbox}");
    inbox["id"].as_str().unwrap().to_owned()
}

fn deliver(app: &TestApp, to: &str, message_id: &str) -> i64 {
    let port = app.server().smtp_addr.expect("the SMTP listener").port();
    let raw = mail("Ada <ada@example.com>", to, "Ciao", message_id, "", "A question about my order.");
    let sent = send_mail(port, "ada@example.com", &[to], raw.as_bytes(), false, &[]);
    sent.rcpt[0]
}

/// The code in the last verification mail the relay got.
fn code_in(raw: &str) -> String {
    let subject = raw.lines().find(|l| l.starts_with("Subject:")).expect("a subject");
    subject.rsplit(' ').next().unwrap().trim().to_owned()
}

async fn an_address_is_proven_by_the_code_mailed_to_it(backend: Backend) {
    let relay = SmtpSink::start().await;
    let app = app_with_system_mail(backend, &relay).await;
    let inbox = email_inbox(&app, &app.token, VICTIM).await;
    let (_, view) = app.get(&format!("/api/v1/inboxes/{inbox}")).await;
    assert_eq!(view["address"]["status"], "unverified", "{view}");

    // Until proven, mail for it is refused: nothing reaches the account.
    assert_eq!(deliver(&app, VICTIM, "before@example.com"), 550);

    let (status, pending) = app.post(&format!("/api/v1/inboxes/{inbox}/address/code"), json!({})).await;
    assert_eq!(status, 202, "{pending}");
    assert_eq!(pending["status"], "pending");
    let mails = relay.wait_for(1, 10).await;
    assert_eq!(mails.len(), 1, "the code went to the address through the operator's relay");
    assert!(mails[0].contains("To: help@victim.example") && mails[0].contains("Auto-Submitted: auto-generated"), "{}", mails[0]);
    let code = code_in(&mails[0]);
    assert_eq!(code.len(), 8);

    let (status, body) = app.post(&format!("/api/v1/inboxes/{inbox}/address/code"), json!({})).await;
    assert_eq!(status, 429, "one code a minute: {body}");
    let (status, body) = app.post(&format!("/api/v1/inboxes/{inbox}/address/confirm"), json!({ "code": "00000000" })).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("4 tries left"), "{body}");
    let (status, proven) = app.post(&format!("/api/v1/inboxes/{inbox}/address/confirm"), json!({ "code": code })).await;
    assert_eq!(status, 200, "{proven}");
    assert_eq!((proven["status"].as_str(), proven["method"].as_str()), (Some("verified"), Some("code")));

    assert_eq!(deliver(&app, VICTIM, "after@example.com"), 250);
    eventually("the mail is stored", async || app.get("/api/v1/conversations").await.1["data"].as_array().is_some_and(|c| c.len() == 1))
        .await;

    // Another company claims the same address: saving it reveals nothing,
    // and it can never take the mail.
    let (_, _, intruder) = app.create_account("Intruder", "boss@intruder.example").await;
    let theirs = email_inbox(&app, &intruder, VICTIM).await;
    let (status, body) = app
        .call_as(&intruder, reqwest::Method::POST, &format!("/api/v1/inboxes/{theirs}/address/confirm"), Some(json!({ "code": code })))
        .await;
    assert_eq!(status, 422, "a code for one inbox proves nothing for another: {body}");
    assert_eq!(deliver(&app, VICTIM, "still-mine@example.com"), 250);
    eventually("it reaches the account that proved it", async || {
        app.get("/api/v1/conversations").await.1["data"][0]["id"].is_string()
            && app.call_as(&intruder, reqwest::Method::GET, "/api/v1/conversations", None).await.1["data"]
                .as_array()
                .is_some_and(|c| c.is_empty())
    })
    .await;
    let (_, view) = app.call_as(&intruder, reqwest::Method::GET, &format!("/api/v1/inboxes/{theirs}"), None).await;
    assert_eq!(view["address"]["status"], "unverified");
}

async fn an_assigned_domain_proves_its_addresses(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.smtp_bind = Some(([127, 0, 0, 1], 0).into())).await;
    let inbox = email_inbox(&app, &app.token, "ordini@negozio.example").await;
    assert_eq!(deliver(&app, "ordini@negozio.example", "n1@example.com"), 550);
    // No relay of the operator's: a code cannot be sent, and the answer says what to do.
    let (status, body) = app.post(&format!("/api/v1/inboxes/{inbox}/address/code"), json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("system_mail_unavailable")), "{body}");

    // Only the operator assigns domains.
    let path = format!("/api/v1/accounts/{}/domains", app.account_id);
    let (status, _) = app.post(&path, json!({ "domain": "negozio.example" })).await;
    assert_eq!(status, 401, "an account admin is not the operator");
    app.assign_domain("Negozio.Example").await;
    let (_, view) = app.get(&format!("/api/v1/inboxes/{inbox}")).await;
    assert_eq!((view["address"]["status"].as_str(), view["address"]["method"].as_str()), (Some("verified"), Some("domain")), "{view}");
    assert_eq!(deliver(&app, "ordini+tag@negozio.example", "n2@example.com"), 250);
    let (_, domains) = app.get("/api/v1/account/domains").await;
    assert_eq!(domains["domains"], json!(["negozio.example"]));

    // Another account can neither take the domain nor prove an address at it.
    let (other, _, other_token) = app.create_account("Altro", "boss@altro.example").await;
    let response = app
        .client
        .post(app.url(&format!("/api/v1/accounts/{other}/domains")))
        .bearer_auth(&app.admin_token)
        .json(&json!({ "domain": "negozio.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let theirs = email_inbox(&app, &other_token, "ordini@negozio.example").await;
    let (status, body): (u16, Value) =
        app.call_as(&other_token, reqwest::Method::POST, &format!("/api/v1/inboxes/{theirs}/address/code"), Some(json!({}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("address_not_verifiable")), "{body}");
}
