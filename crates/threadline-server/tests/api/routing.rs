//! Routing through real HTTP: routing rules choose the team, the team's
//! strategy the agent — round robin, least busy within each agent's
//! capacity per channel, by skills with a fallback — every decision kept
//! with its reason; offline agents' conversations go back to the queue;
//! and under concurrent arrivals nobody gets more than their capacity and
//! no conversation is given twice.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(
    round_robin_takes_turns_and_says_why,
    least_busy_keeps_to_capacity_and_fills_freed_places,
    skills_find_the_specialist_and_fall_back_as_told,
    an_offline_agents_conversations_go_back_to_the_queue,
    concurrent_arrivals_never_overload_or_double_assign,
    rules_are_checked_before_they_are_saved
);

/// Positions stay where "after the others" cannot overflow, and a rule may
/// only name the account's own inboxes.
async fn rules_are_checked_before_they_are_saved(app: TestApp) {
    let (_, team) = app.post("/api/v1/teams", json!({ "name": "Resi" })).await;
    let team = team["id"].as_str().unwrap().to_owned();
    for position in [i64::MAX, -1, 1_000_001] {
        let (status, body) = app.post("/api/v1/routing/rules", json!({ "name": "x", "team_id": team, "position": position })).await;
        assert_eq!((status, body["error"]["fields"][0]["field"].as_str()), (422, Some("position")), "{position}: {body}");
    }
    let (status, last) = app.post("/api/v1/routing/rules", json!({ "name": "last", "team_id": team, "position": 1_000_000 })).await;
    assert_eq!(status, 201, "{last}");
    let (status, after) = app.post("/api/v1/routing/rules", json!({ "name": "after", "team_id": team })).await;
    assert_eq!(status, 201, "{after}");
    let (_, rules) = app.get("/api/v1/routing/rules").await;
    let names: Vec<&str> = rules.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["last", "after"], "a new rule goes after the others");

    let (_, _, other_token) = app.create_account("Altro", "boss@altro.example").await;
    let (_, theirs) =
        app.call_as(&other_token, reqwest::Method::POST, "/api/v1/inboxes", Some(json!({ "channel": "api", "name": "theirs" }))).await;
    let (status, body) =
        app.post("/api/v1/routing/rules", json!({ "name": "theirs", "team_id": team, "conditions": { "inbox_id": theirs["id"] } })).await;
    assert_eq!((status, body["error"]["fields"][0]["field"].as_str()), (422, Some("conditions.inbox_id")), "{body}");
}

/// A team with `agents` (name, skills, capacity) online, routed by `strategy`;
/// a routing rule sends every message of `inbox` to it. Returns
/// (team id, agent ids by name, agent tokens by name).
async fn team(
    app: &TestApp,
    inbox: &str,
    strategy: &str,
    agents: &[(&str, Value, Value)],
) -> (String, HashMap<String, String>, HashMap<String, String>) {
    let (status, team) = app.post("/api/v1/teams", json!({ "name": "Assistenza" })).await;
    assert_eq!(status, 201, "{team}");
    let team_id = team["id"].as_str().unwrap().to_owned();
    let (mut ids, mut tokens) = (HashMap::new(), HashMap::new());
    for (name, skills, capacity) in agents {
        let (id, token) = app.create_user(&format!("{}@acme.example", name.to_lowercase()), name, "agent").await;
        let (status, body) = app.call(Method::PUT, &format!("/api/v1/teams/{team_id}/members/{id}"), None).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = app.put(&format!("/api/v1/users/{id}/routing"), json!({ "skills": skills, "capacity": capacity })).await;
        assert_eq!(status, 200, "{body}");
        let (status, _) = app.call_as(&token, Method::PUT, "/api/v1/me/presence", Some(json!({ "status": "online" }))).await;
        assert_eq!(status, 204);
        ids.insert((*name).to_owned(), id);
        tokens.insert((*name).to_owned(), token);
    }
    let (status, body) =
        app.post("/api/v1/routing/rules", json!({ "name": "Tutto", "conditions": { "inbox_id": inbox }, "team_id": team_id })).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.put(&format!("/api/v1/teams/{team_id}/routing"), json!({ "auto_assign": true, "strategy": strategy })).await;
    assert_eq!(status, 200, "{body}");
    (team_id, ids, tokens)
}

async fn arrive(app: &TestApp, inbox: &str, who: &str, text: &str) -> String {
    let outcome = app.inbound(inbox, json!([{ "kind": "external_id", "value": who }]), text).await;
    outcome["conversation"]["id"].as_str().unwrap().to_owned()
}

async fn assignee(app: &TestApp, conversation: &str) -> Value {
    app.wait_for(&format!("/api/v1/conversations/{conversation}"), 10, |c| !c["assignee_id"].is_null()).await["assignee_id"].clone()
}

async fn round_robin_takes_turns_and_says_why(app: TestApp) {
    let inbox = app.create_inbox("api", "App").await;
    let (team_id, ids, _) = team(&app, &inbox, "round_robin", &[("Anna", json!({}), json!({})), ("Bruno", json!({}), json!({}))]).await;
    let mut got = Vec::new();
    for i in 0..4 {
        let c = arrive(&app, &inbox, &format!("c{i}"), "Buongiorno, ho una domanda").await;
        got.push(assignee(&app, &c).await);
        let (_, conversation) = app.get(&format!("/api/v1/conversations/{c}")).await;
        assert_eq!(conversation["team_id"], team_id.as_str(), "the rule chose the team");
    }
    let anna = json!(ids["Anna"]);
    let bruno = json!(ids["Bruno"]);
    assert_eq!(got.iter().filter(|a| **a == anna).count(), 2, "{got:?}");
    assert_eq!(got.iter().filter(|a| **a == bruno).count(), 2, "{got:?}");
    assert_ne!(got[0], got[1], "turns alternate: {got:?}");
    let c = arrive(&app, &inbox, "c9", "Ancora io").await;
    assignee(&app, &c).await;
    let (_, routing) = app.get(&format!("/api/v1/conversations/{c}/routing")).await;
    let decision = &routing["decisions"][0];
    assert_eq!(decision["kind"], "assigned");
    assert!(decision["reason"].as_str().unwrap().starts_with("round robin:"), "{routing}");
    let team_reason = routing["triage"][0]["reasons"].as_array().unwrap().iter().find(|r| r["label"] == "team").unwrap().clone();
    assert!(team_reason["why"].as_str().unwrap().contains("Tutto"), "{team_reason}");
}

async fn least_busy_keeps_to_capacity_and_fills_freed_places(app: TestApp) {
    let inbox = app.create_inbox("api", "App").await;
    let (team_id, ids, _) =
        team(&app, &inbox, "least_busy", &[("Anna", json!({}), json!({ "api": 1 })), ("Bruno", json!({}), json!({ "api": 1 }))]).await;
    let first = arrive(&app, &inbox, "a", "uno").await;
    let second = arrive(&app, &inbox, "b", "due").await;
    let a = assignee(&app, &first).await;
    let b = assignee(&app, &second).await;
    assert_ne!(a, b, "one each");
    let third = arrive(&app, &inbox, "c", "tre").await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (_, waiting) = app.get(&format!("/api/v1/conversations/{third}")).await;
    assert!(waiting["assignee_id"].is_null(), "nobody has room: {waiting}");
    let (_, queues) = app.get("/api/v1/routing/queues").await;
    assert_eq!(queues, json!([{ "team_id": team_id, "waiting": 1, "oldest_queued_at": waiting["queued_at"] }]));
    // Anna resolves hers: the waiting one goes to her.
    let (status, _) = app.patch(&format!("/api/v1/conversations/{first}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    assert_eq!(assignee(&app, &third).await, a);
    let (_, routing) = app.get(&format!("/api/v1/conversations/{third}/routing")).await;
    assert!(routing["decisions"][0]["reason"].as_str().unwrap().contains("0 of 1 api"), "{routing}");
    assert!(ids.values().any(|id| json!(id) == a));
}

async fn skills_find_the_specialist_and_fall_back_as_told(app: TestApp) {
    let inbox = app.create_inbox("api", "App").await;
    let (team_id, ids, _) = team(
        &app,
        &inbox,
        "skills",
        &[
            ("Anna", json!({ "language:it": 5, "category:billing": 4 }), json!({})),
            ("Bruno", json!({ "language:en": 4, "category:billing": 2 }), json!({})),
            ("Carla", json!({ "language:it": 2 }), json!({})),
        ],
    )
    .await;
    let it = arrive(&app, &inbox, "it", "Il pagamento con la carta non è andato a buon fine, potete controllare?").await;
    assert_eq!(assignee(&app, &it).await, json!(ids["Anna"]));
    let en = arrive(&app, &inbox, "en", "My card payment did not go through, can you check?").await;
    assert_eq!(assignee(&app, &en).await, json!(ids["Bruno"]));
    let (_, routing) = app.get(&format!("/api/v1/conversations/{en}/routing")).await;
    let reason = routing["decisions"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("language:en 4") && reason.contains("category:billing 2"), "{reason}");

    // Nobody speaks German: with `wait`, it waits, saying so.
    let (status, _) = app
        .put(
            &format!("/api/v1/teams/{team_id}/routing"),
            json!({ "auto_assign": true, "strategy": "skills", "skills": { "fallback": "wait" } }),
        )
        .await;
    assert_eq!(status, 200);
    let de = arrive(&app, &inbox, "de", "Hallo, meine Bestellung ist noch nicht da").await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (_, waiting) = app.get(&format!("/api/v1/conversations/{de}")).await;
    assert!(waiting["assignee_id"].is_null(), "{waiting}");
    // With `any_agent`, the least busy takes it, and the record says why.
    let (status, _) = app
        .put(
            &format!("/api/v1/teams/{team_id}/routing"),
            json!({ "auto_assign": true, "strategy": "skills", "skills": { "fallback": "any_agent" } }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(assignee(&app, &de).await, json!(ids["Carla"]), "the only one with nothing yet");
    let (_, routing) = app.get(&format!("/api/v1/conversations/{de}/routing")).await;
    assert!(routing["decisions"][0]["reason"].as_str().unwrap().contains("nobody available has language:de"), "{routing}");

    // Bad settings are refused.
    let (status, bad) = app.put(&format!("/api/v1/teams/{team_id}/routing"), json!({ "strategy": "random" })).await;
    assert_eq!(status, 422, "{bad}");
    let (status, bad) = app.put(&format!("/api/v1/users/{}/routing", ids["Anna"]), json!({ "skills": { "language:it": 9 } })).await;
    assert_eq!(status, 422, "{bad}");
}

async fn an_offline_agents_conversations_go_back_to_the_queue(app: TestApp) {
    let inbox = app.create_inbox("api", "App").await;
    let (team_id, ids, tokens) = team(&app, &inbox, "least_busy", &[("Anna", json!({}), json!({}))]).await;
    let (status, _) = app
        .put(
            &format!("/api/v1/teams/{team_id}/routing"),
            json!({ "auto_assign": true, "strategy": "least_busy", "reassign_offline_after_secs": 60 }),
        )
        .await;
    assert_eq!(status, 200);
    let c = arrive(&app, &inbox, "x", "aiuto").await;
    assert_eq!(assignee(&app, &c).await, json!(ids["Anna"]));
    // Anna signs off; a colleague comes online. Ten minutes later…
    let (status, _) = app.call_as(&tokens["Anna"], Method::PUT, "/api/v1/me/presence", Some(json!({ "status": "offline" }))).await;
    assert_eq!(status, 204);
    let (dario, dario_token) = app.create_user("dario@acme.example", "Dario", "agent").await;
    app.call(Method::PUT, &format!("/api/v1/teams/{team_id}/members/{dario}"), None).await;
    app.call_as(&dario_token, Method::PUT, "/api/v1/me/presence", Some(json!({ "status": "online" }))).await;
    let ten_minutes_ago = (time::OffsetDateTime::now_utc() - time::Duration::minutes(10)).unix_timestamp() * 1_000_000;
    app.sql(&format!("UPDATE agent_presence SET updated_at = {ten_minutes_ago} WHERE user_id = '{}'", ids["Anna"])).await;
    let moved = app.wait_for(&format!("/api/v1/conversations/{c}"), 10, |c| c["assignee_id"] == json!(dario)).await;
    assert_eq!(moved["assignee_id"], json!(dario), "{moved}");
    let (_, routing) = app.get(&format!("/api/v1/conversations/{c}/routing")).await;
    let kinds: Vec<&str> = routing["decisions"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["assigned", "requeued", "assigned"], "{routing}");
    assert!(routing["decisions"][1]["reason"].as_str().unwrap().contains("Anna has been offline"), "{routing}");
}

async fn concurrent_arrivals_never_overload_or_double_assign(app: TestApp) {
    let inbox = app.create_inbox("api", "App").await;
    let agents =
        [("Anna", json!({}), json!({ "api": 4 })), ("Bruno", json!({}), json!({ "api": 4 })), ("Carla", json!({}), json!({ "api": 4 }))];
    let (_, ids, _) = team(&app, &inbox, "least_busy", &agents).await;
    let mut arrivals = tokio::task::JoinSet::new();
    for i in 0..30 {
        let (client, url, token) = (app.client.clone(), app.url(&format!("/api/v1/inboxes/{inbox}/messages")), app.token.clone());
        arrivals.spawn(async move {
            let body = json!({ "sender": { "identities": [{ "kind": "external_id", "value": format!("rush-{i}") }] }, "text": "urgente, rispondete" });
            let response = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 201);
        });
    }
    while let Some(done) = arrivals.join_next().await {
        done.unwrap();
    }
    // Twelve places: they fill, and stay filled at that.
    app.wait_for("/api/v1/conversations?limit=100", 15, |page| {
        page["data"].as_array().is_some_and(|list| list.iter().filter(|c| !c["assignee_id"].is_null()).count() >= 12)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (_, list) = app.get("/api/v1/conversations?limit=100").await;
    let conversations = list["data"].as_array().unwrap();
    assert_eq!(conversations.len(), 30);
    let mut load: HashMap<String, usize> = HashMap::new();
    for c in conversations {
        if let Some(a) = c["assignee_id"].as_str() {
            *load.entry(a.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(load.values().sum::<usize>(), 12, "{load:?}");
    for id in ids.values() {
        assert_eq!(load.get(id), Some(&4), "every agent at capacity, none over: {load:?}");
    }
    for c in conversations {
        let (_, routing) = app.get(&format!("/api/v1/conversations/{}/routing", c["id"].as_str().unwrap())).await;
        let assigned = routing["decisions"].as_array().unwrap().iter().filter(|d| d["kind"] == "assigned").count();
        assert!(assigned <= 1, "given once at most: {routing}");
        assert_eq!(assigned == 1, !c["assignee_id"].is_null());
    }
}
