//! Journey conversion and drop-off in the reports: three customers start
//! checkout; one orders before the nudge (converted), one is nudged by SMS
//! and orders (converted, by SMS), one is nudged and does not (completed);
//! a fourth has just started (running). The report counts runs that
//! entered in the period, the steps they took, who stopped where and
//! conversion by the channel of the messages; agents may not read it.

use serde_json::json;
use time::Duration;

use crate::channel_tests;
use crate::support::*;

channel_tests!(the_journeys_report_follows_runs_to_the_goal);

async fn the_journeys_report_follows_runs_to_the_goal(rig: Rig) {
    let _sms = rig.sms_inbox().await;
    let key = tracking_key(&rig).await;
    let (status, created) = rig
        .app
        .post(
            "/api/v1/journeys",
            json!({ "name": "Abandoned cart", "spec": {
                "trigger": { "type": "event", "name": "Checkout Started" },
                "goal": { "event": { "name": "Order Completed" }, "within_days": 3 },
                "steps": [
                    { "id": "wait-1h", "type": "wait", "seconds": 3600 },
                    { "id": "nudge", "type": "send", "channel": "sms", "purpose": "service", "text": "Il carrello ti aspetta" },
                    { "id": "wait-order", "type": "wait", "seconds": 86400 }
                ] } }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let journey = created["id"].as_str().unwrap().to_owned();
    let (status, _) = rig.app.post(&format!("/api/v1/journeys/{journey}/status"), json!({ "status": "live" })).await;
    assert_eq!(status, 200);

    for (user, phone) in [("u-a", "+393470000001"), ("u-b", "+393470000002"), ("u-c", "+393470000003")] {
        track(&rig, &key, "/v1/identify", json!({ "userId": user, "traits": { "phone": phone } })).await;
        track(&rig, &key, "/v1/track", json!({ "userId": user, "event": "Checkout Started" })).await;
    }
    run_jobs(&rig).await;
    // A orders at once.
    track(&rig, &key, "/v1/track", json!({ "userId": "u-a", "event": "Order Completed" })).await;
    run_jobs(&rig).await;
    // An hour on, B and C are nudged by SMS; B orders.
    later(&rig, Duration::minutes(61));
    run_jobs(&rig).await;
    assert_eq!(rig.provider.wait_for_sends(2, 10).await.len(), 2);
    track(&rig, &key, "/v1/track", json!({ "userId": "u-b", "event": "Order Completed" })).await;
    run_jobs(&rig).await;
    // A day on, C's run completes; D has just started.
    later(&rig, Duration::hours(25));
    run_jobs(&rig).await;
    track(&rig, &key, "/v1/identify", json!({ "userId": "u-d", "traits": { "phone": "+393470000004" } })).await;
    track(&rig, &key, "/v1/track", json!({ "userId": "u-d", "event": "Checkout Started" })).await;
    run_jobs(&rig).await;

    let now = time::OffsetDateTime::now_utc() + Duration::days(3);
    let from = (now - Duration::days(10)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let to = now.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (status, report) = rig.app.get(&format!("/api/v1/reports/journeys?from={from}&to={to}")).await;
    assert_eq!(status, 200, "{report}");
    let j = &report["journeys"][0];
    assert_eq!(j["name"], "Abandoned cart");
    assert_eq!(
        (j["entered"].as_i64(), j["converted"].as_i64(), j["completed"].as_i64(), j["running"].as_i64()),
        (Some(4), Some(2), Some(1), Some(1)),
        "{j}"
    );
    assert_eq!(j["conversion"]["rate"], 0.5);
    let steps: Vec<(&str, i64, i64)> = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step_id"].as_str().unwrap(), s["reached"].as_i64().unwrap(), s["dropped"].as_i64().unwrap()))
        .collect();
    // A converted before the hour, D is still in it: two took the wait, both were nudged, one (C) waited out the day.
    assert_eq!(steps, [("wait-1h", 2, 2), ("nudge", 2, 0), ("wait-order", 1, 1)]);
    assert_eq!(j["channels"], json!([{ "channel": "sms", "runs": 2, "converted": { "rate": 0.5, "part": 1, "whole": 2 } }]));

    // As CSV; and a period with no entries is empty.
    let response = rig
        .http
        .get(rig.app.url(&format!("/api/v1/reports/journeys?from={from}&to={to}&format=csv")))
        .bearer_auth(&rig.app.token)
        .send()
        .await
        .unwrap();
    let csv = response.text().await.unwrap();
    assert!(csv.lines().any(|l| l.contains(",nudge,4,2,0,")), "{csv}");
    let old = "2020-01-01T00:00:00Z";
    let (_, empty) = rig.app.get(&format!("/api/v1/reports/journeys?from={old}&to=2020-02-01T00:00:00Z")).await;
    assert_eq!(empty["journeys"], json!([]));
    // Agents read their own reports, not the journeys'.
    let (_, agent) = rig.app.create_user("luca@acme.example", "Luca", "agent").await;
    let (status, _) = rig.app.call_as(&agent, reqwest::Method::GET, "/api/v1/reports/journeys", None).await;
    assert_eq!(status, 403);
}
