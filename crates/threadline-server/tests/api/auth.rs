use reqwest::Method;
use serde_json::{Value, json};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(
    tokens_and_roles,
    password_sessions_need_csrf,
    operator_token_guards_account_creation,
    openapi_document_is_served,
    writing_as_a_customer_needs_the_integration_scope
);

/// Agents answer customers; posting a message *as* a customer, or saying a
/// reply was delivered, is an integration's right.
async fn writing_as_a_customer_needs_the_integration_scope(app: TestApp) {
    let inbox = app.create_inbox("api", "shop").await;
    let first = app.inbound(&inbox, json!([{ "kind": "email", "value": "ana@example.com" }]), "Where is my order?").await;
    let conversation = first["conversation"]["id"].as_str().unwrap().to_owned();
    let as_ana =
        json!({ "sender": { "identities": [{ "kind": "email", "value": "ana@example.com" }] }, "text": "Never mind, cancel everything" });
    let inbound = format!("/api/v1/inboxes/{inbox}/messages");

    // An agent's token acts as the agent only.
    let (_, agent_token) = app.create_user("luca@acme.example", "Luca", "agent").await;
    let (status, body) = app.call_as(&agent_token, Method::POST, &inbound, Some(as_ana.clone())).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("integration"), "{body}");
    let (status, reply) = app
        .call_as(
            &agent_token,
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(json!({ "text": "On its way!" })),
        )
        .await;
    assert_eq!(status, 201, "agents still answer: {reply}");
    let delivery = format!("/api/v1/messages/{}", reply["id"].as_str().unwrap());
    let (status, _) = app.call_as(&agent_token, Method::PATCH, &delivery, Some(json!({ "delivery_status": "read" }))).await;
    assert_eq!(status, 403, "an agent may not say a reply was read");

    // A web session (the workspace) is never an integration either.
    let client = reqwest::Client::new();
    let signed_in = client
        .post(app.url("/api/v1/sessions"))
        .json(&json!({ "email": "admin@acme.example", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let csrf = signed_in.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
    let response =
        client.post(app.url(&inbound)).header("cookie", &cookie).header("x-csrf-token", &csrf).json(&as_ana).send().await.unwrap();
    assert_eq!(response.status(), 403);

    // An administrator gives an integration its own token.
    let (status, created) = app.post("/api/v1/api-tokens", json!({ "name": "shop connector", "scopes": ["integration"] })).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["scopes"], json!(["integration"]));
    let integration = created["secret"].as_str().unwrap().to_owned();
    let (status, body) = app.call_as(&integration, Method::POST, &inbound, Some(as_ana)).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = app.call_as(&integration, Method::PATCH, &delivery, Some(json!({ "delivery_status": "delivered" }))).await;
    assert_eq!(status, 200);
    let (status, _) = app.call_as(&integration, Method::GET, "/api/v1/conversations", None).await;
    assert_eq!(status, 403, "an integration-only token does not act as its user");
    let (status, body) = app.post("/api/v1/api-tokens", json!({ "name": "nothing", "scopes": [] })).await;
    assert_eq!(status, 422, "{body}");
    let (_, tokens) = app.get("/api/v1/api-tokens").await;
    let scopes: Vec<&Value> = tokens.as_array().unwrap().iter().map(|t| &t["scopes"]).collect();
    assert!(scopes.contains(&&json!(["api", "integration"])), "the initial admin token serves integrations: {tokens}");
    assert!(scopes.contains(&&json!(["api"])), "{tokens}");
}

async fn tokens_and_roles(app: TestApp) {
    let (status, me) = app.get("/api/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["role"], "admin");
    assert!(me.get("password_hash").is_none(), "password hash leaked: {me}");

    let (status, body) = app.call_as("tl_not-a-token", Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let response = app.client.get(app.url("/api/v1/contacts")).send().await.unwrap();
    assert_eq!(response.status(), 401);

    // An agent may answer conversations but not administer the account.
    let (status, agent) = app.post("/api/v1/users", json!({ "email": "Luca@Acme.example", "name": "Luca", "role": "agent" })).await;
    assert_eq!(status, 201, "{agent}");
    assert_eq!(agent["email"], "luca@acme.example");
    let (status, token) = app.post("/api/v1/api-tokens", json!({ "name": "luca's token", "user_id": agent["id"] })).await;
    assert_eq!(status, 201, "{token}");
    let secret = token["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("tl_"));
    let (status, list) = app.get("/api/v1/api-tokens").await;
    assert_eq!(status, 200);
    assert!(!list.to_string().contains(&secret), "token secret is listed");

    let (status, _) = app.call_as(&secret, Method::GET, "/api/v1/contacts", None).await;
    assert_eq!(status, 200);
    let (status, body) = app.call_as(&secret, Method::POST, "/api/v1/inboxes", Some(json!({ "channel": "api", "name": "x" }))).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");

    // Revoked tokens stop working at once.
    let (status, _) = app.call(Method::DELETE, &format!("/api/v1/api-tokens/{}", token["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 204);
    let (status, _) = app.call_as(&secret, Method::GET, "/api/v1/contacts", None).await;
    assert_eq!(status, 401);

    // Duplicate logins are refused with a conflict.
    let (status, body) = app.post("/api/v1/users", json!({ "email": "luca@acme.example", "name": "Luca 2", "role": "agent" })).await;
    assert_eq!(status, 409, "{body}");
}

async fn password_sessions_need_csrf(app: TestApp) {
    let client = reqwest::Client::new();
    let response = client
        .post(app.url("/api/v1/sessions"))
        .json(&json!({ "email": "admin@acme.example", "password": "wrong password!" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let response = client
        .post(app.url("/api/v1/sessions"))
        .json(&json!({ "email": "ADMIN@acme.example", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap();

    let me = client.get(app.url("/api/v1/me")).header("cookie", &session).send().await.unwrap();
    assert_eq!(me.status(), 200);

    let contact = json!({ "name": "Giulia Bianchi" });
    let without = client.post(app.url("/api/v1/contacts")).header("cookie", &session).json(&contact).send().await.unwrap();
    assert_eq!(without.status(), 403, "a cookie alone must not change state");
    let with = client
        .post(app.url("/api/v1/contacts"))
        .header("cookie", &session)
        .header("x-csrf-token", csrf)
        .json(&contact)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 201);

    // Changing one's own password needs the current one, and ends sessions.
    let me = format!("/api/v1/users/{}", app.user_id);
    let (status, err) = app.patch(&me, json!({ "password": "a brand new password" })).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["fields"][0]["field"], "current_password");
    let (status, _) = app.patch(&me, json!({ "password": "a brand new password", "current_password": "correct horse battery" })).await;
    assert_eq!(status, 200);
    let after = client.get(app.url("/api/v1/me")).header("cookie", &session).send().await.unwrap();
    assert_eq!(after.status(), 401, "a password change ends existing sessions");
    let response = client
        .post(app.url("/api/v1/sessions"))
        .json(&json!({ "email": "admin@acme.example", "password": "a brand new password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let csrf = csrf.as_str();

    let out = client.delete(app.url("/api/v1/sessions")).header("cookie", &session).header("x-csrf-token", csrf).send().await.unwrap();
    assert_eq!(out.status(), 204);
    let after = client.get(app.url("/api/v1/me")).header("cookie", &session).send().await.unwrap();
    assert_eq!(after.status(), 401, "the session must end at sign-out");
}

async fn operator_token_guards_account_creation(app: TestApp) {
    let body = json!({ "name": "Intruder", "admin": { "email": "x@evil.example", "name": "X", "password": "correct horse battery" } });
    let (status, _) = app.call_as(&app.token, Method::POST, "/api/v1/accounts", Some(body.clone())).await;
    assert_eq!(status, 401, "an account admin is not the operator");
    let (status, err) = app
        .call_as(
            &app.admin_token,
            Method::POST,
            "/api/v1/accounts",
            Some(json!({
                "name": "Bad", "default_region": "XX", "admin": { "email": "nope", "name": "", "password": "short" }
            })),
        )
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = err["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    for field in ["default_region", "admin.name", "admin.email", "admin.password"] {
        assert!(fields.contains(&field), "{field} not reported in {err}");
    }
}

async fn openapi_document_is_served(app: TestApp) {
    let doc: Value = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/v1/inboxes/{id}/messages",
        "/api/v1/contacts/{id}/timeline",
        "/api/v1/contacts/{id}/merge",
        "/api/v1/conversations",
        "/api/v1/webhooks/{id}/deliveries",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"].get("Contact").is_some());
}
