//! The relay: committed events reach the bus one way (the `event_relay`
//! rows each commit leaves), in commit order, including rows another node
//! left behind; on NATS, every node sees every node's events and typing,
//! knows which chats are open elsewhere, counts sign-in failures made
//! elsewhere, and the JetStream stream keeps each event once.

use std::time::Duration;

use serde_json::{Value, json};
use threadline_domain::event::{DomainEvent, EventKind};
use threadline_store::{ConnectOptions, Store};
use threadline_testkit::{Backend, TestApp, backend_tests, fresh_database, spawn_app_with, test_settings};

backend_tests!(committed_events_reach_the_bus_in_commit_order, events_a_stopped_node_left_are_relayed);

/// The next event of `kind` on a receiver, within a few seconds.
async fn next_of(events: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<DomainEvent>>, kind: EventKind) -> DomainEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.recv().await.expect("the bus is open");
            if event.kind == kind {
                return (*event).clone();
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {} reached the bus", kind.as_str()))
}

/// Waits until no relay row is left (the relay deletes a row once the bus
/// has its events, just after publishing them).
async fn relay_rows_drain(app: &TestApp) {
    for _ in 0..50 {
        if app.server().state.store.relay_backlog().await.unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("relay rows left behind: {}", app.server().state.store.relay_backlog().await.unwrap());
}

async fn committed_events_reach_the_bus_in_commit_order(app: TestApp) {
    let sms = app.create_inbox("sms", "SMS").await;
    let mut events = app.server().state.bus.subscribe();
    let outcome = app.inbound(&sms, json!([{ "kind": "phone", "value": "+39 347 555 0101" }]), "Il mio ordine?").await;
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while seen.len() < 3 {
            let event = events.recv().await.unwrap();
            seen.push(event.kind);
        }
    })
    .await
    .expect("the message's events reached the bus");
    assert_eq!(seen, [EventKind::ContactCreated, EventKind::ConversationCreated, EventKind::MessageCreated]);

    // A reply is another commit: its event follows.
    let conversation = outcome["conversation"]["id"].as_str().unwrap();
    let (status, _) = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({ "text": "Arriva domani." })).await;
    assert_eq!(status, 201);
    let reply = next_of(&mut events, EventKind::MessageCreated).await;
    assert_eq!(reply.data["message"]["text"], "Arriva domani.");

    relay_rows_drain(&app).await;
}

/// A node that committed and died before relaying leaves its row: another
/// node's relay finds it at its next look. An event erased since is not
/// sent.
async fn events_a_stopped_node_left_are_relayed(app: TestApp) {
    let mut events = app.server().state.bus.subscribe();
    let kept = threadline_domain::ids::EventId::new().to_string();
    let erased = threadline_domain::ids::EventId::new().to_string();
    let data = json!({ "contact": { "id": "left-behind" } }).to_string();
    app.sql(&format!(
        "INSERT INTO events (id, account_id, kind, data, occurred_at) VALUES ('{kept}', '{}', 'contact.updated', '{data}', 0)",
        app.account_id
    ))
    .await;
    app.sql(&format!("INSERT INTO event_relay (event_ids, created_at) VALUES ('{erased},{kept}', 0)")).await;
    let event = next_of(&mut events, EventKind::ContactUpdated).await;
    assert_eq!(event.id.to_string(), kept);
    assert_eq!(event.data["contact"]["id"], "left-behind");
    relay_rows_drain(&app).await;
    assert!(events.try_recv().is_err(), "nothing else was sent");
}

/// On PostgreSQL several nodes claim from one queue: a row one node holds
/// is skipped by the others, and is free again when that node lets go
/// without finishing (it died, or the bus refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_claim_relay_rows_without_sharing_one() {
    let data = std::env::temp_dir().join(format!("threadline-relay-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&data).unwrap();
    let url = fresh_database(Backend::Postgres, &data).await;
    let a = Store::connect(&url, &ConnectOptions::default()).await.unwrap();
    a.migrate().await.unwrap();
    let b = Store::connect(&url, &ConnectOptions::default()).await.unwrap();
    let account = threadline_domain::ids::AccountId::new();
    a.execute_raw(&format!(
        "INSERT INTO accounts (id, name, default_region, continuity_window_secs, created_at) VALUES ('{account}', 'Relay', 'IT', 0, 0)"
    ))
    .await
    .unwrap();
    let mut ids = Vec::new();
    for n in 0..2 {
        let id = threadline_domain::ids::EventId::new().to_string();
        a.execute_raw(&format!(
            "INSERT INTO events (id, account_id, kind, data, occurred_at) VALUES ('{id}', '{account}', 'contact.updated', '{{\"n\":{n}}}', 0)"
        ))
        .await
        .unwrap();
        a.execute_raw(&format!("INSERT INTO event_relay (event_ids, created_at) VALUES ('{id}', 0)")).await.unwrap();
        ids.push(id);
    }
    let first = a.relay_claim(1).await.unwrap();
    assert_eq!(first.events.iter().map(|e| e.id.to_string()).collect::<Vec<_>>(), [ids[0].clone()]);
    let second = b.relay_claim(10).await.unwrap();
    assert_eq!(second.events.iter().map(|e| e.id.to_string()).collect::<Vec<_>>(), [ids[1].clone()], "the held row is skipped");
    drop(first); // node A lets go without finishing
    b.relay_done(second).await.unwrap();
    let again = b.relay_claim(10).await.unwrap();
    assert_eq!(again.events.iter().map(|e| e.id.to_string()).collect::<Vec<_>>(), [ids[0].clone()], "released, not lost");
    b.relay_done(again).await.unwrap();
    assert_eq!(b.relay_backlog().await.unwrap(), 0);
}

fn nats_url() -> String {
    std::env::var("THREADLINE_TEST_NATS_URL")
        .expect("THREADLINE_TEST_NATS_URL is not set: the NATS tests need a server with JetStream (e.g. nats://127.0.0.1:4222)")
}

/// Two nodes on one PostgreSQL database and one NATS: what is written on
/// one reaches the other's sockets, typing included; the stream keeps each
/// event once, under its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_nats_see_each_others_events_and_the_stream_keeps_them_once() {
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let (prefix, stream) = (format!("tl{tag}"), format!("TL_{tag}"));
    let nats = |s: &mut threadline_server::Settings| {
        s.nats_url = threadline_server::config::Secret(nats_url());
        s.nats_prefix = prefix.clone();
        s.nats_stream = stream.clone();
    };
    let a = spawn_app_with(Backend::Postgres, nats).await;
    assert_eq!(a.server().state.bus.transport(), "nats");
    let mut settings = test_settings(a.data_dir.clone(), a.database_url.clone());
    nats(&mut settings);
    let store = Store::connect(&a.database_url, &ConnectOptions::default()).await.unwrap();
    let secrets = threadline_server::secrets::SecretBox::from_key_file(&a.data_dir.join("secret.key")).unwrap();
    let b = threadline_server::start(settings, store, secrets).await.unwrap();

    let mut on_b = b.state.bus.subscribe();
    let mut typing_on_b = b.state.bus.signals();
    let sms = a.create_inbox("sms", "SMS").await;
    let outcome = a.inbound(&sms, json!([{ "kind": "phone", "value": "+39 347 555 0202" }]), "Posted on node A").await;
    let message = next_of(&mut on_b, EventKind::MessageCreated).await;
    assert_eq!(message.data["message"]["text"], "Posted on node A");

    let conversation = outcome["conversation"]["id"].as_str().unwrap();
    let (status, _) = a.post(&format!("/api/v1/conversations/{conversation}/typing"), json!({})).await;
    assert_eq!(status, 204);
    let signal = tokio::time::timeout(Duration::from_secs(5), typing_on_b.recv()).await.expect("typing reached node B").unwrap();
    assert!(matches!(signal, threadline_server::bus::LiveSignal::AgentTyping { .. }), "{signal:?}");

    // The stream holds the event under its id; publishing it again (a
    // relay that died before deleting its row) stores nothing new.
    let client = async_nats::connect(nats_url()).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let mut info = jetstream.get_stream(&stream).await.unwrap();
    let before = info.info().await.unwrap().state.messages;
    assert!(before >= 3, "contact, conversation and message events: {before}");
    let subject = format!("{prefix}.events.{}.message.created", a.account_id);
    let stored = info.get_last_raw_message_by_subject(&subject).await.unwrap();
    let stored_event: Value = serde_json::from_slice(&stored.payload).unwrap();
    assert_eq!(stored_event["id"], message.id.to_string());
    let headers = stored.headers;
    assert_eq!(headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned()), Some(message.id.to_string()));
    a.server().state.bus.publish(std::slice::from_ref(&message)).await.unwrap();
    assert_eq!(info.info().await.unwrap().state.messages, before, "a duplicate is not stored");

    // A visitor with the chat open on node B counts as there on node A (a
    // reply composed on A stays in the chat instead of going by email).
    let (status, inbox) = a.post("/api/v1/inboxes", json!({ "channel": "web_chat", "name": "Sito" })).await;
    assert_eq!(status, 201, "{inbox}");
    let chat = inbox["id"].as_str().unwrap();
    let http = reqwest::Client::new();
    let session: Value = http.post(a.url(&format!("/widget/{chat}/session"))).json(&json!({})).send().await.unwrap().json().await.unwrap();
    let visitor = session["token"].as_str().unwrap();
    let written = http
        .post(a.url(&format!("/widget/{chat}/messages")))
        .header("x-threadline-visitor", visitor)
        .json(&json!({ "text": "Ciao!" }))
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), 201);
    let visitor_message = loop {
        let event = next_of(&mut on_b, EventKind::MessageCreated).await;
        if event.data["message"]["text"] == "Ciao!" {
            break event;
        }
    };
    let contact: threadline_domain::ids::ContactId = visitor_message.data["message"]["contact_id"].as_str().unwrap().parse().unwrap();
    let presence_on_a = a.server().state.chat_presence.clone();
    assert!(!presence_on_a.is_connected(contact));
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/widget/{chat}/live?token={visitor}", b.addr)).await.unwrap();
    let until = |want: bool| {
        let presence = presence_on_a.clone();
        async move {
            for _ in 0..100 {
                if presence.is_connected(contact) == want {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    let heard = until(true).await;
    assert!(b.state.chat_presence.is_connected(contact), "node B counts the socket it holds");
    assert!(heard, "node A never heard that the chat is open on node B");
    drop(socket);
    assert!(until(false).await, "node A never heard that the chat closed on node B");

    // A token revoked on node A stops working on node B at once, though
    // node B had it cached (for 5 s).
    let (status, token) = a.post("/api/v1/api-tokens", json!({ "name": "integration", "user_id": a.user_id })).await;
    assert_eq!(status, 201, "{token}");
    let secret = token["secret"].as_str().unwrap();
    let me_on_b = || http.get(format!("http://{}/api/v1/me", b.addr)).bearer_auth(secret).send();
    assert_eq!(me_on_b().await.unwrap().status(), 200);
    let (status, _) = a.call(reqwest::Method::DELETE, &format!("/api/v1/api-tokens/{}", token["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 204);
    let revoked = std::time::Instant::now();
    let mut refused = false;
    while revoked.elapsed() < Duration::from_millis(2500) {
        if me_on_b().await.unwrap().status() == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(refused, "node B still accepted the revoked token after 2.5 s (its cache lasts 5 s: it was not told)");

    // An article published on node A is found by a search on node B at
    // once, though node B read its index a moment ago (unprompted it reads
    // again only every 30 s).
    let search_on_b = || async {
        let hits: Value = http
            .get(format!("http://{}/api/v1/articles/search", b.addr))
            .query(&[("q", "quanto tempo per il rimborso")])
            .bearer_auth(&a.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        hits.as_array().map(|h| h.iter().any(|hit| hit["title"] == "Rimborsi")).unwrap_or(false)
    };
    assert!(!search_on_b().await, "not written yet");
    let (status, article) = a
        .post(
            "/api/v1/articles",
            json!({ "language": "it", "title": "Rimborsi", "body": "Il rimborso arriva entro 5 giorni lavorativi dal reso." }),
        )
        .await;
    assert_eq!(status, 201, "{article}");
    let published = std::time::Instant::now();
    let mut found = false;
    while published.elapsed() < Duration::from_secs(10) {
        if search_on_b().await {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "node B's search did not find the article published on node A within 10 s (it was not told)");

    // Wrong passwords on node A lock the login on node B too.
    for i in 0..5 {
        let response = http
            .post(a.url("/api/v1/sessions"))
            .json(&json!({ "email": "admin@acme.example", "password": format!("guess {i}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let loopback = Some(std::net::IpAddr::from([127, 0, 0, 1]));
    let mut locked = false;
    for _ in 0..100 {
        if b.state.sign_in.check("admin@acme.example", loopback).is_err() {
            locked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(locked, "node B never heard of node A's failures");
    let on_b = http
        .post(format!("http://{}/api/v1/sessions", b.addr))
        .json(&json!({ "email": "admin@acme.example", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(on_b.status(), 429, "the guesser cannot move on to node B");

    b.shutdown().await;
    a.stop().await;
    jetstream.delete_stream(&stream).await.unwrap();
}
