//! Segments follow what customers do (entering and leaving as they act,
//! as their record changes and as time passes) and start journeys; journeys
//! start on a customer's date (a birthday) at the local hour, once.

use serde_json::{Value, json};
use time::Duration;

use crate::channel_tests;
use crate::support::*;

channel_tests!(segments_follow_customers_and_start_journeys, a_birthday_starts_a_journey_once_at_nine_in_the_customers_zone,);

/// The names of a segment's members, and its count.
async fn members(rig: &Rig, segment: &str) -> (Vec<String>, i64) {
    let (status, page) = rig.app.get(&format!("/api/v1/segments/{segment}/members")).await;
    assert_eq!(status, 200, "{page}");
    let mut names: Vec<String> = page["data"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap_or("").to_owned()).collect();
    names.sort();
    (names, page["total"].as_i64().unwrap())
}

async fn create_segment(rig: &Rig, body: Value) -> String {
    let (status, created) = rig.app.post("/api/v1/segments", body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn segments_follow_customers_and_start_journeys(rig: Rig) {
    let key = tracking_key(&rig).await;
    track(&rig, &key, "/v1/identify", json!({ "userId": "u-anna", "traits": { "name": "Anna Bianchi", "plan": "pro" } })).await;
    track(&rig, &key, "/v1/identify", json!({ "userId": "u-bruno", "traits": { "name": "Bruno Verdi", "plan": "free" } })).await;

    // Bad definitions are refused with the field named.
    let (status, refused) = rig
        .app
        .post(
            "/api/v1/segments",
            json!({ "name": "Broken", "spec": { "conditions": [ { "type": "did", "event": { "name": "X" }, "days": 0 } ] } }),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["fields"][0]["field"], "spec.conditions[0].days", "{refused}");

    // A segment over an attribute fills from the customers already known.
    let pro = create_segment(
        &rig,
        json!({ "name": "Pro plan", "spec": { "conditions": [
        { "type": "attribute", "property": "plan", "op": "equals", "value": "pro" }
    ] } }),
    )
    .await;
    // One over what customers did, which a journey starts on.
    let keen = create_segment(
        &rig,
        json!({ "name": "Pricing twice this week", "spec": { "conditions": [
        { "type": "did", "event": { "kind": "page", "name": "Pricing" }, "times": 2, "days": 7 }
    ] } }),
    )
    .await;
    run_jobs(&rig).await;
    assert_eq!(members(&rig, &pro).await, (vec!["Anna Bianchi".to_owned()], 1));
    assert_eq!(members(&rig, &keen).await, (Vec::new(), 0));

    // A journey that names another account's segment, or none, is refused.
    let bogus = threadline_domain::ids::SegmentId::new().to_string();
    let call_sales = |segment: &str| {
        json!({ "name": "Call the keen ones", "spec": {
            "trigger": { "type": "segment", "segment_id": segment, "on": "entered" },
            "steps": [ { "id": "call", "type": "task", "kind": "call", "title": "Call {{name}}: pricing twice this week", "due_in_seconds": 3600 } ]
        } })
    };
    let (status, refused) = rig.app.post("/api/v1/journeys", call_sales(&bogus)).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["fields"][0]["field"], "spec.trigger.segment_id", "{refused}");
    let (status, journey) = rig.app.post("/api/v1/journeys", call_sales(&keen)).await;
    assert_eq!(status, 201, "{journey}");
    let journey = journey["id"].as_str().unwrap().to_owned();
    let (status, _) = rig.app.post(&format!("/api/v1/journeys/{journey}/status"), json!({ "status": "live" })).await;
    assert_eq!(status, 200);

    // Bruno looks at pricing once: not yet. Anna twice: she enters, and the journey asks sales to call her.
    track(&rig, &key, "/v1/page", json!({ "userId": "u-bruno", "name": "Pricing", "properties": { "path": "/pricing" } })).await;
    track(&rig, &key, "/v1/page", json!({ "userId": "u-anna", "name": "Pricing", "properties": { "path": "/pricing" } })).await;
    run_jobs(&rig).await;
    assert_eq!(members(&rig, &keen).await.1, 0);
    track(&rig, &key, "/v1/page", json!({ "userId": "u-anna", "name": "Pricing", "properties": { "path": "/pricing?annual" } })).await;
    run_jobs(&rig).await;
    assert_eq!(members(&rig, &keen).await, (vec!["Anna Bianchi".to_owned()], 1));
    let (status, tasks) = rig.app.get("/api/v1/tasks").await;
    assert_eq!(status, 200, "{tasks}");
    let titles: Vec<&str> = tasks.as_array().unwrap().iter().filter_map(|t| t["title"].as_str()).collect();
    assert_eq!(titles, ["Call Anna Bianchi: pricing twice this week"]);
    // A third visit changes nothing: she is a member already, and no second run starts.
    track(&rig, &key, "/v1/page", json!({ "userId": "u-anna", "name": "Pricing" })).await;
    run_jobs(&rig).await;
    let (_, runs) = rig.app.get(&format!("/api/v1/journeys/{journey}/runs")).await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");

    // A change to Bruno's record moves him into the pro segment at once.
    track(&rig, &key, "/v1/identify", json!({ "userId": "u-bruno", "traits": { "plan": "pro" } })).await;
    run_jobs(&rig).await;
    assert_eq!(members(&rig, &pro).await.0, ["Anna Bianchi", "Bruno Verdi"]);
    // A page at a time, the most recent to enter first.
    let (_, first) = rig.app.get(&format!("/api/v1/segments/{pro}/members?limit=1")).await;
    assert_eq!(first["data"][0]["name"], "Bruno Verdi", "{first}");
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = rig.app.get(&format!("/api/v1/segments/{pro}/members?limit=1&cursor={cursor}")).await;
    assert_eq!(second["data"][0]["name"], "Anna Bianchi", "{second}");
    let (status, refused) = rig.app.get(&format!("/api/v1/segments/{pro}/members?cursor=nonsense")).await;
    assert_eq!(status, 422, "{refused}");

    // A week on, Anna's visits are out of the window: the sweep takes her out.
    later(&rig, Duration::days(8));
    run_jobs(&rig).await;
    assert_eq!(members(&rig, &keen).await, (Vec::new(), 0));
    let (_, list) = rig.app.get("/api/v1/segments").await;
    let counts: Vec<(String, i64)> =
        list.as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap().to_owned(), s["members"].as_i64().unwrap())).collect();
    assert_eq!(counts, [("Pro plan".to_owned(), 2), ("Pricing twice this week".to_owned(), 0)]);
    assert!(list[0]["refreshed_at"].is_string(), "{list}");

    // Redefining a segment takes out those who no longer qualify.
    let (status, _) = rig
        .app
        .put(
            &format!("/api/v1/segments/{pro}"),
            json!({ "name": "Pro plan, Anna", "spec": { "conditions": [
            { "type": "attribute", "property": "plan", "op": "equals", "value": "pro" },
            { "type": "attribute", "property": "name", "op": "contains", "value": "Anna" }
        ] } }),
        )
        .await;
    assert_eq!(status, 200);
    run_jobs(&rig).await;
    assert_eq!(members(&rig, &pro).await.0, ["Anna Bianchi"]);

    // Another account sees none of it.
    let (_, _, other) = rig.app.create_account("Other shop", "admin@other.example").await;
    let (status, _) = rig.app.call_as(&other, reqwest::Method::GET, &format!("/api/v1/segments/{pro}"), None).await;
    assert_eq!(status, 404);
    let (status, _) = rig.app.call_as(&other, reqwest::Method::GET, &format!("/api/v1/segments/{pro}/members"), None).await;
    assert_eq!(status, 404);
    let (status, listed) = rig.app.call_as(&other, reqwest::Method::GET, "/api/v1/segments", None).await;
    assert_eq!((status, listed), (200, json!([])));

    // A segment a live journey starts on cannot be deleted; one that no journey uses can.
    let (status, refused) = rig.app.call(reqwest::Method::DELETE, &format!("/api/v1/segments/{keen}"), None).await;
    assert_eq!(status, 409, "{refused}");
    let (status, _) = rig.app.call(reqwest::Method::DELETE, &format!("/api/v1/segments/{pro}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = rig.app.get(&format!("/api/v1/segments/{pro}")).await;
    assert_eq!(status, 404);
}

async fn a_birthday_starts_a_journey_once_at_nine_in_the_customers_zone(rig: Rig) {
    let key = tracking_key(&rig).await;
    let rome = jiff::tz::TimeZone::get("Europe/Rome").unwrap();
    let start = rig.app.server().state.clock.now();
    let start_ts = jiff::Timestamp::from_second(start.unix_timestamp()).unwrap();
    // A birthday two days from now, in Rome, 1990.
    let in_two_days = start_ts.to_zoned_datetime(rome.clone()).date().checked_add(jiff::Span::new().days(2)).unwrap();
    let birthday = format!("1990-{:02}-{:02}", in_two_days.month(), in_two_days.day());
    let nine =
        in_two_days.to_datetime(jiff::civil::Time::constant(9, 0, 0, 0)).to_zoned_datetime(rome.clone()).unwrap().timestamp().as_second();
    track(
        &rig,
        &key,
        "/v1/identify",
        json!({ "userId": "u-carla", "traits": { "name": "Carla Neri", "birthday": birthday, "timezone": "Europe/Rome" } }),
    )
    .await;
    track(&rig, &key, "/v1/identify", json!({ "userId": "u-dario", "traits": { "name": "Dario", "birthday": "not a date" } })).await;

    let (status, journey) = rig
        .app
        .post(
            "/api/v1/journeys",
            json!({ "name": "Birthday", "spec": {
                "trigger": { "type": "date", "attribute": "birthday", "at": "09:00", "yearly": true },
                "steps": [ { "id": "wish", "type": "task", "kind": "follow_up", "title": "Wish {{name}} a happy birthday", "due_in_seconds": 3600 } ]
            } }),
        )
        .await;
    assert_eq!(status, 201, "{journey}");
    let journey = journey["id"].as_str().unwrap().to_owned();
    let (status, _) = rig.app.post(&format!("/api/v1/journeys/{journey}/status"), json!({ "status": "live" })).await;
    assert_eq!(status, 200);

    // Hour by hour for three days, the scheduler looking every 15 minutes
    // of clock and a few times more (a restart, another node): one run,
    // started in the first look after 09:00 in Rome.
    let mut started_between = None;
    for _ in 0..72 {
        let before = rig.app.server().state.clock.now().unix_timestamp();
        for _ in 0..4 {
            later(&rig, Duration::minutes(15));
            run_jobs(&rig).await;
        }
        run_jobs(&rig).await;
        let (_, runs) = rig.app.get(&format!("/api/v1/journeys/{journey}/runs")).await;
        let runs = runs.as_array().unwrap().clone();
        assert!(runs.len() <= 1, "{runs:?}");
        if runs.len() == 1 && started_between.is_none() {
            started_between = Some((before, rig.app.server().state.clock.now().unix_timestamp()));
        }
    }
    let (before, after) = started_between.expect("the birthday journey started");
    assert!(before < nine && nine <= after, "started in the hour from {before} to {after}, nine in Rome is {nine}");
    let (_, tasks) = rig.app.get("/api/v1/tasks").await;
    let titles: Vec<&str> = tasks.as_array().unwrap().iter().filter_map(|t| t["title"].as_str()).collect();
    assert_eq!(titles, ["Wish Carla Neri a happy birthday"]);
}
