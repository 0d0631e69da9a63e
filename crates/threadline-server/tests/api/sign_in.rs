//! Password sign-in under attack: budgets per address, lockout per login,
//! and one e-mail that is a user of several accounts.

use serde_json::{Value, json};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(
    wrong_passwords_lock_the_login_from_that_address,
    an_address_has_a_sign_in_budget,
    one_email_in_several_accounts_chooses_one,
    user_emails_are_unique_per_account_only,
);

/// A client whose requests come from `ip` (any 127.0.0.0/8 address reaches
/// the server on loopback), so tests can play several places.
fn from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(Some(ip.parse().unwrap())).build().unwrap()
}

async fn sign_in(app: &TestApp, client: &reqwest::Client, body: Value) -> (u16, Option<String>, Value) {
    let response = client.post(app.url("/api/v1/sessions")).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, retry, response.json().await.unwrap_or(Value::Null))
}

async fn wrong_passwords_lock_the_login_from_that_address(app: TestApp) {
    let attacker = from("127.0.0.11");
    for i in 0..5 {
        let (status, _, body) = sign_in(&app, &attacker, json!({ "email": "admin@acme.example", "password": format!("guess {i}") })).await;
        assert_eq!(status, 401, "attempt {i}: {body}");
    }
    // Locked now: even the right password is refused from there, with
    // how long to wait.
    let (status, retry, body) =
        sign_in(&app, &attacker, json!({ "email": "admin@acme.example", "password": "correct horse battery" })).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");

    // The real user, elsewhere, signs in; and that clears the failures.
    let (status, _, body) =
        sign_in(&app, &from("127.0.0.12"), json!({ "email": "ADMIN@acme.example", "password": "correct horse battery" })).await;
    assert_eq!(status, 200, "{body}");

    // Unknown logins are answered exactly like known ones.
    for i in 0..5 {
        let (status, _, _) = sign_in(&app, &attacker, json!({ "email": "nobody@acme.example", "password": format!("guess {i}") })).await;
        assert_eq!(status, 401);
    }
    let (status, _, _) = sign_in(&app, &attacker, json!({ "email": "nobody@acme.example", "password": "anything at all" })).await;
    assert_eq!(status, 429, "an unknown login locks like a known one");

    // The workspace's form says so too, in words and with Retry-After.
    let page = attacker.get(app.url("/login")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let token = cookie.split_once('=').unwrap().1.to_owned();
    let response = attacker
        .post(app.url("/login"))
        .header("cookie", &cookie)
        .form(&[("email", "nobody@acme.example"), ("password", "anything at all"), ("login_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    assert!(response.text().await.unwrap().contains("Too many sign-in attempts"));
}

async fn an_address_has_a_sign_in_budget(app: TestApp) {
    let client = from("127.0.0.21");
    let mut statuses = Vec::new();
    for i in 0..22 {
        let (status, retry, _) =
            sign_in(&app, &client, json!({ "email": format!("user{i}@acme.example"), "password": "not it at all" })).await;
        if status == 429 {
            assert!(retry.is_some());
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 20, "20 attempts a minute by default: {statuses:?}");
    assert_eq!(&statuses[20..], &[429, 429]);
    let (status, _, body) =
        sign_in(&app, &from("127.0.0.22"), json!({ "email": "admin@acme.example", "password": "correct horse battery" })).await;
    assert_eq!(status, 200, "another address has its own budget: {body}");
}

async fn one_email_in_several_accounts_chooses_one(app: TestApp) {
    // The same person administers a second company, with the same password.
    let (other_account, _, _) = app.create_account("Bottega Due", "admin@acme.example").await;
    let client = from("127.0.0.31");
    let (status, _, body) = sign_in(&app, &client, json!({ "email": "admin@acme.example", "password": "correct horse battery" })).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "choose_account");
    let mut names: Vec<&str> = body["error"]["accounts"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Acme Italia", "Bottega Due"]);

    let (status, _, body) =
        sign_in(&app, &client, json!({ "email": "admin@acme.example", "password": "correct horse battery", "account_id": other_account }))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["account_id"], other_account.as_str());

    // With different passwords, the password says which account is meant.
    let me = format!("/api/v1/users/{}", app.user_id);
    let (status, body) = app.patch(&me, json!({ "password": "acme's own password", "current_password": "correct horse battery" })).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = sign_in(&app, &client, json!({ "email": "admin@acme.example", "password": "acme's own password" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["account_id"], app.account_id.as_str());
}

async fn user_emails_are_unique_per_account_only(app: TestApp) {
    // Another company's admin adds a user whose e-mail is already a user
    // here: nothing tells them so.
    let (_, _, other_token) = app.create_account("Concorrente", "boss@concorrente.example").await;
    let (status, user) = app
        .call_as(
            &other_token,
            reqwest::Method::POST,
            "/api/v1/users",
            Some(json!({ "email": "admin@acme.example", "name": "Someone", "role": "agent" })),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let (status, body) = app
        .call_as(
            &other_token,
            reqwest::Method::POST,
            "/api/v1/users",
            Some(json!({ "email": "Admin@Acme.example", "name": "Again", "role": "agent" })),
        )
        .await;
    assert_eq!(status, 409, "within one account the e-mail is still unique: {body}");
    // Without a password that user cannot sign in, and the admin here still can.
    let (status, _, body) =
        sign_in(&app, &from("127.0.0.41"), json!({ "email": "admin@acme.example", "password": "correct horse battery" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["account_id"], app.account_id.as_str());
}
