//! Surveys after a resolution: asked on the conversation's channel,
//! answered by writing the number (never mistaken for a new request),
//! counted in the reports; the answer page an email's links open asks to
//! confirm before it records; throttling, detractors, validation and
//! tenancy.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(
    a_customer_answers_by_writing_the_number,
    the_answer_page_records_only_after_confirming,
    detractors_are_followed_up_as_the_survey_says,
    surveys_are_checked_and_kept_to_their_account,
    a_merged_customer_keeps_their_survey_answers,
);

async fn run_jobs(app: &TestApp) {
    threadline_server::jobs::run_due(&app.server().state, 100).await.unwrap();
}

async fn survey(app: &TestApp, spec: Value) -> String {
    let (status, survey) = app.post("/api/v1/surveys", json!({ "name": "After each case", "spec": spec })).await;
    assert_eq!(status, 201, "{survey}");
    survey["id"].as_str().unwrap().to_owned()
}

/// A customer writes, an agent answers and resolves; returns the conversation.
async fn resolved_case(app: &TestApp, inbox: &str, who: &str) -> String {
    let outcome = app.inbound(inbox, json!([{ "kind": "email", "value": who }]), "My parcel has not arrived").await;
    let id = outcome["conversation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.post(&format!("/api/v1/conversations/{id}/messages"), json!({ "text": "Sent again today." })).await.0, 201);
    assert_eq!(app.patch(&format!("/api/v1/conversations/{id}"), json!({ "status": "resolved" })).await.0, 200);
    id
}

async fn responses(app: &TestApp) -> Vec<Value> {
    let (status, list) = app.get("/api/v1/surveys/responses").await;
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

async fn a_customer_answers_by_writing_the_number(app: TestApp) {
    survey(&app, json!({ "kind": "csat" })).await;
    let inbox = app.create_inbox("api", "Shop").await;
    let conversation = resolved_case(&app, &inbox, "ada@example.com").await;
    run_jobs(&app).await;

    let (_, messages) = app.get(&format!("/api/v1/conversations/{conversation}/messages")).await;
    let last = messages["data"].as_array().unwrap().iter().max_by_key(|m| m["created_at"].as_str().unwrap().to_owned()).unwrap().clone();
    assert_eq!(last["sender_kind"], "system");
    assert!(last["text"].as_str().unwrap().ends_with("Reply with a number from 1 (very dissatisfied) to 5 (very satisfied)."), "{last}");
    let sent = responses(&app).await;
    assert_eq!((sent.len(), sent[0]["status"].as_str(), sent[0]["score"].is_null()), (1, Some("sent"), true), "{sent:?}");

    // The customer answers by writing the number.
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "5").await;
    assert_eq!(outcome["conversation"]["id"], conversation.as_str(), "the answer joins the surveyed conversation");
    assert_eq!(outcome["conversation"]["status"], "resolved", "and does not reopen it");
    let answered = responses(&app).await;
    assert_eq!(answered[0]["score"], 5);
    assert!(answered[0]["answered_at"].is_string());
    let (_, list) = app.get("/api/v1/conversations?limit=50").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "no new conversation");
    // On her timeline, as a survey answer linked to the conversation.
    let contact = outcome["conversation"]["contact_id"].as_str().unwrap();
    let (_, timeline) = app.get(&format!("/api/v1/contacts/{contact}/timeline?types=interaction")).await;
    let entry = timeline["data"].as_array().unwrap().iter().find(|e| e["kind"] == "survey_answer").cloned();
    let entry = entry.unwrap_or_else(|| panic!("no survey answer in {timeline}"));
    assert_eq!(entry["summary"], "CSAT 5/5");
    assert_eq!(entry["conversation_id"], conversation.as_str());
    assert_eq!((entry["data"]["channel"].as_str(), entry["data"]["score"].as_i64()), (Some("api"), Some(5)));
    // And in her export, with the survey it answered.
    let response = app.client.get(app.url(&format!("/api/v1/contacts/{contact}/export"))).bearer_auth(&app.token).send().await.unwrap();
    let zip = response.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    let mut answers = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("survey_answers.json").unwrap(), &mut answers).unwrap();
    let answers: Value = serde_json::from_str(&answers).unwrap();
    assert_eq!((answers[0]["kind"].as_str(), answers[0]["score"].as_i64()), (Some("csat"), Some(5)), "{answers}");

    // Counted in the reports; the answer is not a customer message there.
    threadline_server::metrics::refresh(&app.server().state).await.unwrap();
    let (_, report) = app.get("/api/v1/reports/summary").await;
    let csat = &report["current"]["surveys"]["csat"];
    assert_eq!((csat["sent"].as_i64(), csat["answered"].as_i64(), csat["score"].as_f64()), (Some(1), Some(1), Some(100.0)), "{csat}");
    assert_eq!(report["current"]["summary"]["customer_messages"], 1);
    assert_eq!(report["current"]["summary"]["first_contact_resolution"]["pending"], 1, "still first-contact");

    // A second number is an ordinary message now (the survey was answered).
    let again = app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "4").await;
    assert_ne!(again["conversation"]["id"], conversation.as_str());
    assert_eq!(responses(&app).await[0]["score"], 5);
    // And resolving that one asks nothing: one survey per customer in 30 days.
    let second = again["conversation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.patch(&format!("/api/v1/conversations/{second}"), json!({ "status": "resolved" })).await.0, 200);
    run_jobs(&app).await;
    assert_eq!(responses(&app).await.len(), 1);

    // Another customer with a survey waiting writes a real request with a number in it.
    let other = resolved_case(&app, &inbox, "bo@example.com").await;
    run_jobs(&app).await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "bo@example.com" }]), "2 items are missing").await;
    assert_ne!(outcome["conversation"]["id"], other.as_str(), "a new request");
    assert!(responses(&app).await.iter().all(|r| r["conversation_id"] != other.as_str() || r["score"].is_null()));
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

async fn page(app: &TestApp, method: reqwest::Method, path: &str, form: Option<&[(&str, &str)]>) -> (u16, String, String) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(form) = form {
        request = request.form(form);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let csp = response.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, csp, response.text().await.unwrap())
}

async fn the_answer_page_records_only_after_confirming(app: TestApp) {
    survey(&app, json!({ "kind": "nps" })).await;
    let inbox = app.create_inbox("api", "Shop").await;
    resolved_case(&app, &inbox, "ada@example.com").await;
    run_jobs(&app).await;
    // The link's token is known to the customer only (kept hashed): give this one a known token.
    app.sql(&format!("UPDATE survey_requests SET token_hash = '{}'", hash("known-token"))).await;

    // A link scanner (or the customer) opening a score link records nothing…
    let (status, csp, html) = page(&app, reqwest::Method::GET, "/survey/known-token?score=9", None).await;
    assert_eq!(status, 200);
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(html.contains("You chose <strong>9</strong>") && html.contains("How likely are you to recommend us"), "{html}");
    assert!(responses(&app).await[0]["score"].is_null());
    // …confirming does, once.
    let (status, _, html) = page(&app, reqwest::Method::POST, "/survey/known-token", Some(&[("score", "9")])).await;
    assert_eq!(status, 200);
    assert!(html.contains("Thank you! Your answer: <strong>9</strong>"), "{html}");
    let (_, _, html) = page(&app, reqwest::Method::POST, "/survey/known-token", Some(&[("score", "0")])).await;
    assert!(html.contains("<strong>9</strong>"), "a second answer changes nothing");
    assert_eq!(responses(&app).await[0]["score"], 9);
    let (_, report) = app.get("/api/v1/reports/summary").await;
    assert_eq!(report["current"]["surveys"]["nps"]["score"], 100.0);

    assert_eq!(page(&app, reqwest::Method::GET, "/survey/not-a-token", None).await.0, 404);
    let (status, _, body) = page(&app, reqwest::Method::POST, "/survey/known-token", Some(&[("score", "11")])).await;
    assert_eq!(status, 422, "{body}");
    // An expired survey takes no answer.
    resolved_case(&app, &inbox, "cy@example.com").await;
    run_jobs(&app).await;
    app.sql(&format!("UPDATE survey_requests SET token_hash = '{}', expires_at = 1 WHERE score IS NULL", hash("late-token"))).await;
    let (_, _, html) = page(&app, reqwest::Method::POST, "/survey/late-token", Some(&[("score", "3")])).await;
    assert!(html.contains("This survey has closed."), "{html}");
}

async fn detractors_are_followed_up_as_the_survey_says(app: TestApp) {
    let id = survey(&app, json!({ "kind": "csat", "detractor_action": "task" })).await;
    let inbox = app.create_inbox("api", "Shop").await;
    resolved_case(&app, &inbox, "ada@example.com").await;
    run_jobs(&app).await;
    app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "1").await;
    let (_, tasks) = app.get("/api/v1/tasks").await;
    let tasks = tasks.as_array().cloned().unwrap_or_else(|| tasks["data"].as_array().unwrap().clone());
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert!(tasks[0]["title"].as_str().unwrap().starts_with("Follow up: CSAT 1"), "{tasks:?}");

    let spec = json!({ "kind": "csat", "detractor_action": "reopen" });
    assert_eq!(app.put(&format!("/api/v1/surveys/{id}"), json!({ "name": "After each case", "spec": spec })).await.0, 200);
    let conversation = resolved_case(&app, &inbox, "bo@example.com").await;
    run_jobs(&app).await;
    app.inbound(&inbox, json!([{ "kind": "email", "value": "bo@example.com" }]), "2").await;
    let (_, c) = app.get(&format!("/api/v1/conversations/{conversation}")).await;
    assert_eq!(c["status"], "open", "a dissatisfied customer's case is open again");
    threadline_server::metrics::refresh(&app.server().state).await.unwrap();
    let (_, report) = app.get("/api/v1/reports/summary").await;
    assert_eq!(report["current"]["summary"]["reopen_rate"]["part"], 1);
}

async fn surveys_are_checked_and_kept_to_their_account(app: TestApp) {
    let (status, body) = app
        .post(
            "/api/v1/surveys",
            json!({ "name": "", "spec": { "kind": "nps", "expiry_hours": 0, "question": { "en": "", "it": "Ciao?" } } }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "spec.question.en", "spec.expiry_hours"]);
    let (status, _) = app.post("/api/v1/surveys", json!({ "name": "x", "spec": { "kind": "stars" } })).await;
    assert!(status == 400 || status == 422, "{status}");
    let (_, agent) = app.create_user("agent@acme.example", "Agent", "agent").await;
    let (status, _) =
        app.call_as(&agent, reqwest::Method::POST, "/api/v1/surveys", Some(json!({ "name": "x", "spec": { "kind": "csat" } }))).await;
    assert_eq!(status, 403);

    let id = survey(&app, json!({ "kind": "ces" })).await;
    let (_, _, other) = app.create_account("Other shop", "boss@other.example").await;
    assert_eq!(app.call_as(&other, reqwest::Method::GET, &format!("/api/v1/surveys/{id}"), None).await.0, 404);
    let (_, theirs) = app.call_as(&other, reqwest::Method::GET, "/api/v1/surveys", None).await;
    assert_eq!(theirs, json!([]));
    // Sent once, it cannot be deleted (its answers stay); never sent, it can.
    let inbox = app.create_inbox("api", "Shop").await;
    resolved_case(&app, &inbox, "ada@example.com").await;
    run_jobs(&app).await;
    assert_eq!(app.call(reqwest::Method::DELETE, &format!("/api/v1/surveys/{id}"), None).await.0, 409);
    let unused = survey(&app, json!({ "kind": "csat", "team_ids": [] })).await;
    assert_eq!(app.call(reqwest::Method::DELETE, &format!("/api/v1/surveys/{unused}"), None).await.0, 204);
}

/// Merging two records of one person moves the surveys sent to the merged
/// one: the survivor's export holds the answer.
async fn a_merged_customer_keeps_their_survey_answers(app: TestApp) {
    survey(&app, json!({ "kind": "csat" })).await;
    let inbox = app.create_inbox("api", "Shop").await;
    resolved_case(&app, &inbox, "ada@example.com").await;
    run_jobs(&app).await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "4").await;
    let ada = outcome["conversation"]["contact_id"].as_str().unwrap().to_owned();
    let (_, survivor) = app.post("/api/v1/contacts", json!({ "name": "Ada Lovelace" })).await;
    let survivor = survivor["id"].as_str().unwrap().to_owned();
    let (status, merged) = app.post(&format!("/api/v1/contacts/{survivor}/merge"), json!({ "contact_id": ada })).await;
    assert_eq!(status, 200, "{merged}");
    let response = app.client.get(app.url(&format!("/api/v1/contacts/{survivor}/export"))).bearer_auth(&app.token).send().await.unwrap();
    let zip = response.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    let mut answers = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("survey_answers.json").unwrap(), &mut answers).unwrap();
    let answers: Value = serde_json::from_str(&answers).unwrap();
    assert_eq!((answers[0]["contact_id"].as_str(), answers[0]["score"].as_i64()), (Some(survivor.as_str()), Some(4)), "{answers}");
}
