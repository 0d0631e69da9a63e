//! Customer events in through the Segment-compatible collector (`/v1/…`).
//! The payloads are the examples of Segment's HTTP Tracking API
//! documentation (segment.com/docs/connections/sources/catalog/libraries/server/http-api/),
//! sent as a Segment library sends them: Basic auth with the write key, or
//! the key in the body.

use base64::Engine;
use serde_json::{Value, json};
use threadline_testkit::{TestApp, WebhookReceiver, backend_tests};

backend_tests!(
    segment_calls_from_the_docs_land_on_their_customers,
    anonymous_activity_joins_the_customer_who_identifies,
    tracking_calls_cannot_join_two_known_customers,
    bad_calls_are_refused_clearly_and_batches_keep_their_good_calls,
    write_keys_are_checked_and_revocable,
    erasure_removes_the_customers_activity,
    the_chat_reports_pages_when_the_inbox_tracks_them,
    the_timeline_interleaves_what_customers_did_with_what_they_wrote,
);

async fn write_key(app: &TestApp) -> String {
    let (status, source) = app.post("/api/v1/tracking/sources", json!({ "name": "Shop website" })).await;
    assert_eq!(status, 201, "{source}");
    source["write_key"].as_str().unwrap().to_owned()
}

/// Sends a call as Segment's libraries do: Basic auth, the key as user name.
async fn send(app: &TestApp, key: &str, path: &str, body: Value) -> (u16, Value) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let response = app
        .client
        .post(app.url(path))
        .header("Authorization", format!("Basic {basic}"))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn contact_with(app: &TestApp, search: &str) -> Value {
    let (status, page) = app.get(&format!("/api/v1/contacts?q={search}")).await;
    assert_eq!(status, 200, "{page}");
    let found = page["data"].as_array().unwrap();
    assert_eq!(found.len(), 1, "one contact for {search}: {page}");
    found[0].clone()
}

async fn events_of(app: &TestApp, contact_id: &str, filter: &str) -> Vec<Value> {
    let (status, page) = app.get(&format!("/api/v1/contacts/{contact_id}/events?limit=200{filter}")).await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

async fn segment_calls_from_the_docs_land_on_their_customers(app: TestApp) {
    let key = write_key(&app).await;
    let (status, body) = send(
        &app,
        &key,
        "/v1/identify",
        json!({
          "userId": "019mr8mf4r",
          "traits": { "email": "pgibbons@example.com", "name": "Peter Gibbons", "industry": "Technology" },
          "context": { "ip": "24.5.68.47" },
          "timestamp": "2012-12-02T00:30:08.276Z"
        }),
    )
    .await;
    assert_eq!((status, &body), (200, &json!({ "success": true })));
    let peter = contact_with(&app, "pgibbons").await;
    assert_eq!(peter["name"], "Peter Gibbons");
    assert_eq!(peter["custom_attributes"]["industry"], "Technology");
    let kinds: Vec<&str> = peter["identities"].as_array().unwrap().iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"external_id") && kinds.contains(&"email"), "{peter}");

    // The key in the body instead of the header, as the docs' examples do.
    let response = app
        .client
        .post(app.url("/v1/track"))
        .header("Content-Type", "application/json")
        .body(
            json!({
              "userId": "019mr8mf4r",
              "event": "Item Purchased",
              "properties": { "name": "Leap to Conclusions Mat", "revenue": 14.99 },
              "context": { "ip": "24.5.68.47" },
              "timestamp": "2012-12-02T00:30:12.984Z",
              "writeKey": key
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for (path, body) in [
        ("/v1/page", json!({ "userId": "019mr8mf4r", "name": "Tracking HTTP API", "timestamp": "2012-12-02T00:31:29.738Z" })),
        ("/v1/screen", json!({ "userId": "019mr8mf4r", "name": "Tracking HTTP API", "timestamp": "2012-12-02T00:31:29.738Z" })),
        (
            "/v1/group",
            json!({ "userId": "019mr8mf4r", "groupId": "8e9df332ac",
                    "traits": { "name": "Initech", "industry": "Technology", "employees": 420 },
                    "timestamp": "2012-12-02T00:31:38.208Z" }),
        ),
    ] {
        let (status, body) = send(&app, &key, path, body).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let peter_id = peter["id"].as_str().unwrap();
    let events = events_of(&app, peter_id, "").await;
    let names: Vec<(&str, Option<&str>)> = events.iter().map(|e| (e["kind"].as_str().unwrap(), e["name"].as_str())).collect();
    assert_eq!(
        names,
        [
            ("group", None),
            ("screen", Some("Tracking HTTP API")),
            ("page", Some("Tracking HTTP API")),
            ("track", Some("Item Purchased")),
            ("identify", None)
        ],
        "newest first, at the times the calls said"
    );
    let purchase = &events[3];
    assert_eq!(purchase["properties"]["revenue"], 14.99);
    assert_eq!(purchase["occurred_at"], "2012-12-02T00:30:12.984Z");
    let only = events_of(&app, peter_id, "&kind=track&name=Item%20Purchased").await;
    assert_eq!(only.len(), 1);

    // The docs' batch: two people, each identified and playing a song.
    let (status, body) = send(
        &app,
        &key,
        "/v1/batch",
        json!({
          "batch": [
            { "type": "identify", "userId": "019mr8mf4r",
              "traits": { "email": "jake@yahoo.com", "name": "Jake Peterson", "age": 26 }, "timestamp": "2012-12-02T00:30:08.276Z" },
            { "type": "track", "userId": "019mr8mf4r", "event": "Song Played",
              "properties": { "name": "Fallin for You", "artist": "Dierks Bentley" }, "timestamp": "2012-12-02T00:30:12.984Z" },
            { "type": "identify", "userId": "971mj8mk7p",
              "traits": { "email": "cindy@example.com", "name": "Cindy Gonzalez", "age": 23 }, "timestamp": "2015-2-02T00:30:08.276Z" },
            { "type": "track", "userId": "971mj8mk7p", "event": "Song Played",
              "properties": { "name": "Get Right", "artist": "Jennifer Lopez" }, "timestamp": "2015-2-02T00:30:12.984Z" }
          ],
          "context": { "device": { "type": "phone", "name": "Apple iPhone 6" } }
        }),
    )
    .await;
    assert_eq!((status, &body), (200, &json!({ "success": true })));
    let cindy = contact_with(&app, "cindy").await;
    let cindy_events = events_of(&app, cindy["id"].as_str().unwrap(), "&kind=track").await;
    assert_eq!(cindy_events.len(), 1);
    assert_eq!(cindy_events[0]["properties"]["artist"], "Jennifer Lopez");
    assert_eq!(cindy_events[0]["occurred_at"], "2015-02-02T00:30:12.984Z", "Segment's unpadded date read");
    assert_eq!(cindy_events[0]["context"]["device"]["name"], "Apple iPhone 6", "the batch's context is each call's");
    // Jake is Peter's user id: the same customer, who now also has Jake's address.
    let peter_again = contact_with(&app, "jake@yahoo.com").await;
    assert_eq!(peter_again["id"], peter["id"]);

    // A call sent twice (a retry) with its messageId is stored once.
    let call =
        json!({ "userId": "971mj8mk7p", "event": "Order Completed", "messageId": "order-1-completed", "properties": { "total": 30 } });
    assert_eq!(send(&app, &key, "/v1/track", call.clone()).await, (200, json!({ "success": true })));
    assert_eq!(send(&app, &key, "/v1/track", call).await, (200, json!({ "success": true, "duplicates": 1 })));
    assert_eq!(events_of(&app, cindy["id"].as_str().unwrap(), "&name=Order%20Completed").await.len(), 1);

    // A batch retried with calls added: the one stored before is counted a
    // duplicate, the new ones are stored, each once.
    let retried = json!({ "batch": [
        { "type": "track", "userId": "971mj8mk7p", "event": "Order Completed", "messageId": "order-1-completed", "properties": { "total": 30 } },
        { "type": "track", "userId": "971mj8mk7p", "event": "Order Completed", "messageId": "order-2-completed", "properties": { "total": 12 } },
        { "type": "track", "userId": "971mj8mk7p", "event": "Order Completed", "messageId": "order-3-completed", "properties": { "total": 7 } }
    ] });
    assert_eq!(send(&app, &key, "/v1/batch", retried.clone()).await, (200, json!({ "success": true, "duplicates": 1 })));
    assert_eq!(send(&app, &key, "/v1/batch", retried).await, (200, json!({ "success": true, "duplicates": 3 })));
    let orders = events_of(&app, cindy["id"].as_str().unwrap(), "&name=Order%20Completed").await;
    let mut totals: Vec<i64> = orders.iter().map(|e| e["properties"]["total"].as_i64().unwrap()).collect();
    totals.sort_unstable();
    assert_eq!(totals, [7, 12, 30]);
}

async fn anonymous_activity_joins_the_customer_who_identifies(app: TestApp) {
    let key = write_key(&app).await;
    // A known customer…
    send(&app, &key, "/v1/identify", json!({ "userId": "u-ada", "traits": { "email": "ada@example.com", "name": "Ada" } })).await;
    let ada = contact_with(&app, "ada@example.com").await;
    // …browses anonymously on another device, three times on pricing.
    for i in 0..3 {
        let (status, body) =
            send(&app, &key, "/v1/page", json!({ "anonymousId": "device-2", "properties": { "path": "/pricing", "n": i } })).await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, contacts) = app.get("/api/v1/contacts?limit=200").await;
    let visitor = contacts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["identities"].as_array().unwrap().iter().any(|i| i["value"] == "anon:device-2"))
        .expect("the anonymous visitor has a record")
        .clone();
    assert_ne!(visitor["id"], ada["id"]);
    // Then signs in: Segment's analytics.js sends identify with both ids.
    let receiver = WebhookReceiver::start(0).await;
    let (status, _) = app.post("/api/v1/webhooks", json!({ "url": receiver.url(), "events": ["contact.merged"] })).await;
    assert_eq!(status, 201);
    let (status, _) = send(&app, &key, "/v1/identify", json!({ "userId": "u-ada", "anonymousId": "device-2" })).await;
    assert_eq!(status, 200);
    // Told as an agent's merge is: the contact that remains, and why.
    let delivered = receiver.wait_for(10, |r| !r.is_empty()).await;
    let event: Value = serde_json::from_slice(&delivered.first().expect("contact.merged delivered").body).unwrap();
    assert_eq!((&event["data"]["contact"]["id"], &event["data"]["merged_contact_id"]), (&ada["id"], &visitor["id"]));
    assert_eq!(event["data"]["reason"], "identified");
    let pages = events_of(&app, ada["id"].as_str().unwrap(), "&kind=page").await;
    assert_eq!(pages.len(), 3, "the visitor's pages are Ada's now");
    let (status, gone) = app.get(&format!("/api/v1/contacts/{}", visitor["id"].as_str().unwrap())).await;
    assert_eq!(status, 404, "{gone}");
    assert_eq!(gone["error"]["code"], "contact_merged");
    // Later anonymous pages from that device go straight to Ada.
    send(&app, &key, "/v1/page", json!({ "anonymousId": "device-2", "properties": { "path": "/checkout" } })).await;
    assert_eq!(events_of(&app, ada["id"].as_str().unwrap(), "&kind=page").await.len(), 4);

    // alias: an anonymous id joined to a user id the same way.
    send(&app, &key, "/v1/track", json!({ "anonymousId": "device-3", "event": "Product Added", "properties": { "sku": "A1" } })).await;
    let (status, _) = send(&app, &key, "/v1/alias", json!({ "previousId": "device-3", "userId": "u-ada" })).await;
    assert_eq!(status, 200);
    assert_eq!(events_of(&app, ada["id"].as_str().unwrap(), "&name=Product%20Added").await.len(), 1);
}

async fn tracking_calls_cannot_join_two_known_customers(app: TestApp) {
    let key = write_key(&app).await;
    // Bea is a customer who wrote to the shop.
    let inbox = app.create_inbox("api", "shop").await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "bea@example.com" }]), "Where is my order?").await;
    let bea_id = outcome["message"]["contact_id"].as_str().unwrap().to_owned();
    // Someone with the public write key claims Bea's address for their own user id…
    let (status, _) = send(&app, &key, "/v1/identify", json!({ "userId": "intruder", "traits": { "email": "bea@example.com" } })).await;
    assert_eq!(status, 200);
    // …and Bea's record is untouched: her address stays hers, nothing was merged.
    let (_, bea) = app.get(&format!("/api/v1/contacts/{bea_id}")).await;
    let values: Vec<&str> = bea["identities"].as_array().unwrap().iter().map(|i| i["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["bea@example.com"]);
    let intruder = contact_with(&app, "intruder").await;
    assert_ne!(intruder["id"], bea_id.as_str());
    assert!(intruder["identities"].as_array().unwrap().iter().all(|i| i["value"] != "bea@example.com"));
    // Nor can an anonymous id be pointed at her to read her history: a
    // tracking id never equals a chat visitor's identity (namespaced).
    send(&app, &key, "/v1/identify", json!({ "anonymousId": "x", "traits": { "email": "bea@example.com" } })).await;
    let (_, bea) = app.get(&format!("/api/v1/contacts/{bea_id}")).await;
    assert_eq!(bea["identities"].as_array().unwrap().len(), 1, "{bea}");

    // The shop's own server, with its secret key, may say who a user is:
    // Bea signs up, and her account joins the record she already has.
    let (status, server) = app.post("/api/v1/tracking/sources", json!({ "name": "Shop backend", "kind": "server" })).await;
    assert_eq!(status, 201, "{server}");
    let server_key = server["write_key"].as_str().unwrap();
    let (status, _) = send(&app, server_key, "/v1/identify", json!({ "userId": "u-bea", "traits": { "email": "bea@example.com" } })).await;
    assert_eq!(status, 200);
    let (_, bea) = app.get(&format!("/api/v1/contacts/{bea_id}")).await;
    assert!(bea["identities"].as_array().unwrap().iter().any(|i| i["value"] == "u-bea"), "{bea}");
    let (status, body) = app.post("/api/v1/tracking/sources", json!({ "name": "x", "kind": "mainframe" })).await;
    assert_eq!(status, 422, "{body}");
}

async fn bad_calls_are_refused_clearly_and_batches_keep_their_good_calls(app: TestApp) {
    let key = write_key(&app).await;
    let (status, body) = send(&app, &key, "/v1/track", json!({ "userId": "u1" })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "event");
    let (status, body) = send(&app, &key, "/v1/track", json!({ "event": "Signed Up" })).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["fields"][0]["field"], "userId");
    let (status, body) = send(&app, &key, "/v1/identify", json!({ "userId": "u1", "traits": "not an object" })).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["fields"][0]["field"], "traits");
    let (status, body) = send(&app, &key, "/v1/track", json!({ "userId": "u1", "event": "X", "timestamp": "last tuesday" })).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["fields"][0]["field"], "timestamp");
    // Over 32 KB.
    let big = "x".repeat(33 * 1024);
    let (status, body) = send(&app, &key, "/v1/track", json!({ "userId": "u1", "event": "X", "properties": { "blob": big } })).await;
    assert_eq!(status, 400, "{body}");
    // Not JSON.
    let response = app.client.post(app.url("/v1/track")).basic_auth(&key, Some("")).body("{nope").send().await.unwrap();
    assert_eq!(response.status(), 400);
    // A NUL character: refused by name, never a 500.
    let (status, body) = send(&app, &key, "/v1/track", json!({ "userId": "u1", "event": "a\u{0}b" })).await;
    assert_eq!(status, 400, "{body}");

    // A browser's text/plain body (no preflight) is read as JSON.
    let response = app
        .client
        .post(app.url("/v1/track"))
        .basic_auth(&key, Some(""))
        .header("Content-Type", "text/plain")
        .header("Origin", "https://shop.example")
        .body(json!({ "anonymousId": "b1", "event": "Viewed" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");

    // A batch with one broken call stores the others and names the broken one.
    let (status, body) = send(
        &app,
        &key,
        "/v1/batch",
        json!({ "batch": [
            { "type": "track", "userId": "u2", "event": "A" },
            { "type": "track", "userId": "u2" },
            { "type": "teleport", "userId": "u2" },
            { "type": "page", "userId": "u2", "properties": { "path": "/" } }
        ] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.iter().map(|r| r["index"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(rejected[0]["fields"][0]["field"], "event");
    let u2 = contact_with(&app, "u2").await;
    assert_eq!(events_of(&app, u2["id"].as_str().unwrap(), "").await.len(), 2);
    // A batch that is not a batch.
    let (status, _) = send(&app, &key, "/v1/batch", json!({ "calls": [] })).await;
    assert_eq!(status, 400);
    // Filters on the list are checked too.
    let (status, _) = app.get(&format!("/api/v1/contacts/{}/events?kind=purchase", u2["id"].as_str().unwrap())).await;
    assert_eq!(status, 422);
}

async fn write_keys_are_checked_and_revocable(app: TestApp) {
    let (status, _) = send(&app, "tlw_not-a-key", "/v1/track", json!({ "userId": "u1", "event": "X" })).await;
    assert_eq!(status, 401);
    let response = app.client.post(app.url("/v1/track")).json(&json!({ "userId": "u1", "event": "X" })).send().await.unwrap();
    assert_eq!(response.status(), 401, "no key at all");
    let key = write_key(&app).await;
    let (_, sources) = app.get("/api/v1/tracking/sources").await;
    let source = &sources.as_array().unwrap()[0];
    assert_eq!(source["name"], "Shop website");
    assert!(source.get("write_key").is_none(), "the key is shown once only");
    // Agents cannot manage keys.
    let (_, agent) = app.create_user("agent@acme.example", "Agent", "agent").await;
    let (status, _) = app.call_as(&agent, reqwest::Method::POST, "/api/v1/tracking/sources", Some(json!({ "name": "x" }))).await;
    assert_eq!(status, 403);
    assert_eq!(send(&app, &key, "/v1/track", json!({ "userId": "u1", "event": "X" })).await.0, 200);
    let (status, revoked) =
        app.call(reqwest::Method::DELETE, &format!("/api/v1/tracking/sources/{}", source["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(send(&app, &key, "/v1/track", json!({ "userId": "u1", "event": "X" })).await.0, 401);
    // Another account's key writes to that account only.
    let (_, _, other_token) = app.create_account("Other shop", "admin@other.example").await;
    let (status, other_source) =
        app.call_as(&other_token, reqwest::Method::POST, "/api/v1/tracking/sources", Some(json!({ "name": "Other site" }))).await;
    assert_eq!(status, 201);
    let other_key = other_source["write_key"].as_str().unwrap();
    send(&app, other_key, "/v1/identify", json!({ "userId": "only-there", "traits": { "email": "x@other.example" } })).await;
    let (_, here) = app.get("/api/v1/contacts?q=only-there").await;
    assert!(here["data"].as_array().unwrap().is_empty(), "{here}");
}

async fn erasure_removes_the_customers_activity(app: TestApp) {
    let key = write_key(&app).await;
    send(&app, &key, "/v1/identify", json!({ "userId": "u-eve", "traits": { "email": "eve@example.com" } })).await;
    send(&app, &key, "/v1/track", json!({ "userId": "u-eve", "event": "Product Viewed", "properties": { "name": "Secret-gift-7731" } }))
        .await;
    let eve = contact_with(&app, "eve@example.com").await;
    let id = eve["id"].as_str().unwrap();
    // The export holds the activity.
    let response = app.client.get(app.url(&format!("/api/v1/contacts/{id}/export"))).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let zip = response.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    let mut activity = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("activity.json").unwrap(), &mut activity).unwrap();
    assert!(activity.contains("Secret-gift-7731"));
    let (status, report) = app.post(&format!("/api/v1/contacts/{id}/erase"), json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["customer_events"], 2);
    assert!(events_of(&app, id, "").await.is_empty());
}

async fn the_chat_reports_pages_when_the_inbox_tracks_them(app: TestApp) {
    let chat = app.create_inbox("web_chat", "Site chat").await;
    let base = app.url(&format!("/widget/{chat}"));
    let session: Value = app.client.post(format!("{base}/session")).json(&json!({})).send().await.unwrap().json().await.unwrap();
    assert_eq!(session["track_pages"], false, "off unless the inbox says so");
    let token = session["token"].as_str().unwrap().to_owned();
    let page = |body: Value| app.client.post(format!("{base}/pages")).header("x-threadline-visitor", token.clone()).json(&body).send();
    let refused = page(json!({ "url": "https://shop.example/pricing" })).await.unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "tracking_off");

    let (status, _) = app.patch(&format!("/api/v1/inboxes/{chat}"), json!({ "settings": { "track_pages": true } })).await;
    assert_eq!(status, 200);
    let session: Value =
        app.client.post(format!("{base}/session")).json(&json!({ "token": token })).send().await.unwrap().json().await.unwrap();
    assert_eq!(session["track_pages"], true);
    let ok = page(json!({ "url": "https://shop.example/pricing?plan=pro", "title": "Prezzi", "referrer": "https://search.example/" }))
        .await
        .unwrap();
    assert_eq!(ok.status(), 204);
    let bad = page(json!({ "url": "javascript:alert(1)" })).await.unwrap();
    assert_eq!(bad.status(), 422);
    // No token, or a forged one: nobody.
    let anonymous = app.client.post(format!("{base}/pages")).json(&json!({ "url": "https://shop.example/" })).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // The visitor's record holds the page; when they write, it is the same record.
    let (_, contacts) = app.get("/api/v1/contacts?limit=200").await;
    let visitor = contacts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["identities"].as_array().unwrap().iter().any(|i| i["kind"] == "web_visitor"))
        .expect("a record for the visitor")
        .clone();
    let id = visitor["id"].as_str().unwrap();
    let pages = events_of(&app, id, "&kind=page").await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0]["name"], "Prezzi");
    assert_eq!(pages[0]["properties"]["path"], "/pricing");
    let sent = app
        .client
        .post(format!("{base}/messages"))
        .header("x-threadline-visitor", token.clone())
        .json(&json!({ "text": "Quanto costa il piano pro?", "name": "Lia" }))
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());
    let (_, conversations) = app.get("/api/v1/conversations").await;
    assert_eq!(conversations["data"][0]["contact_id"], id, "the chat continues the visitor's record");
}

async fn the_timeline_interleaves_what_customers_did_with_what_they_wrote(app: TestApp) {
    let inbox = app.create_inbox("api", "Shop API").await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "maria@example.com" }]), "Dov'è il mio ordine?").await;
    let contact = outcome["contact_id"].as_str().unwrap().to_owned();
    // The shop's server: its identify calls may name a known customer by email.
    let (status, source) = app.post("/api/v1/tracking/sources", json!({ "name": "Shop backend", "kind": "server" })).await;
    assert_eq!(status, 201, "{source}");
    let key = source["write_key"].as_str().unwrap().to_owned();
    let ago = |minutes: i64| {
        (time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes)).format(&time::format_description::well_known::Rfc3339).unwrap()
    };
    for body in [json!({ "userId": "u-maria", "traits": { "email": "maria@example.com" }, "timestamp": ago(180) })] {
        assert_eq!(send(&app, &key, "/v1/identify", body).await.0, 200);
    }
    assert_eq!(send(&app, &key, "/v1/page", json!({ "userId": "u-maria", "name": "Pricing", "timestamp": ago(120) })).await.0, 200);
    let order = json!({ "userId": "u-maria", "event": "Order Completed", "properties": { "total": 42 }, "timestamp": ago(60) });
    assert_eq!(send(&app, &key, "/v1/track", order).await.0, 200);

    // Newest first, across kinds: the message, the order, the page, the identify call.
    let (status, page) = app.get(&format!("/api/v1/contacts/{contact}/timeline")).await;
    assert_eq!(status, 200, "{page}");
    let kinds: Vec<(String, String)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap().to_owned(), e["name"].as_str().or(e["kind"].as_str()).unwrap_or("").to_owned()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("message".to_owned(), "message".to_owned()),
            ("event".to_owned(), "Order Completed".to_owned()),
            ("event".to_owned(), "Pricing".to_owned()),
            ("event".to_owned(), "identify".to_owned()),
        ],
        "{page}"
    );

    // Page by page, one at a time, the same order.
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/contacts/{contact}/timeline?limit=1&cursor={c}"),
            None => format!("/api/v1/contacts/{contact}/timeline?limit=1"),
        };
        let (_, page) = app.get(&path).await;
        seen.push(page["data"][0]["type"].as_str().unwrap().to_owned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["message", "event", "event", "event"]);

    // Filtered: events only, one event by name, messages only.
    let count = |page: &Value| page["data"].as_array().unwrap().len();
    let (_, events) = app.get(&format!("/api/v1/contacts/{contact}/timeline?types=event")).await;
    assert_eq!(count(&events), 3);
    let (_, orders) = app.get(&format!("/api/v1/contacts/{contact}/timeline?event=Order%20Completed")).await;
    assert_eq!(count(&orders), 1);
    assert_eq!(orders["data"][0]["properties"]["total"], 42);
    let (_, messages) = app.get(&format!("/api/v1/contacts/{contact}/timeline?types=message,interaction")).await;
    assert_eq!(count(&messages), 1);
    let (status, refused) = app.get(&format!("/api/v1/contacts/{contact}/timeline?types=emails")).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["fields"][0]["field"], "types");
}
