//! Journeys acting on what customers do: the seeds' abandoned cart (a
//! message after an hour, a WhatsApp template after a day, unless the
//! customer orders) and the pricing-page visitor (a call task for sales),
//! run on the job table with the server's clock moved forward.

use serde_json::{Value, json};
use time::Duration;

use crate::channel_tests;
use crate::support::*;

channel_tests!(
    an_abandoned_cart_is_followed_up_then_templated_unless_the_customer_orders,
    three_pricing_visits_in_a_week_ask_sales_to_call,
    a_live_journey_edited_keeps_running_customers_on_their_version,
    consent_caps_and_quiet_hours_hold_back_sends,
    a_resolved_conversation_starts_a_follow_up,
    a_whatsapp_survey_answer_starts_a_journey,
    a_shop_order_converts_the_abandoned_cart_and_its_delivery_starts_a_check_in,
);

const PHONE: &str = "393471234567";

/// A customer known on WhatsApp, identified to the shop as `user`.
async fn giulia(rig: &Rig, key: &str, whatsapp: &TestInbox) -> String {
    let (status, _) = rig.meta_post(whatsapp, &whatsapp_text(PHONE, "wamid.cart1", "Giulia Rossi", "Ciao, avete la borsa blu?")).await;
    assert_eq!(status, 200);
    track(rig, key, "/v1/identify", json!({ "userId": "u-giulia", "traits": { "phone": format!("+{PHONE}") } })).await;
    let conversation = &rig.conversations().await[0];
    conversation["contact_id"].as_str().unwrap().to_owned()
}

fn abandoned_cart() -> Value {
    json!({
        "name": "Abandoned cart",
        "spec": {
            "trigger": { "type": "event", "name": "Checkout Started" },
            "steps": [
                { "id": "wait-1h", "type": "wait", "seconds": 3600 },
                { "id": "nudge", "type": "send", "channel": "sms", "purpose": "service",
                  "text": "{{name}}, il tuo carrello ti aspetta: {{cart_url}}" },
                { "id": "wait-order", "type": "wait_for_event", "event": { "name": "Order Completed" }, "timeout_seconds": 82800,
                  "then": [ { "id": "thanks", "type": "add_label", "label": "recovered" } ],
                  "timeout": [ { "id": "template", "type": "send", "channel": "whatsapp", "purpose": "service",
                                 "template": "cart_reminder", "variables": ["{{name}}"] } ] }
            ],
            "goal": { "event": { "name": "Order Completed" }, "within_days": 3 },
            "exit_when": [ { "name": "Order Completed" } ]
        }
    })
}

async fn create_live(rig: &Rig, journey: Value) -> String {
    let (status, created) = rig.app.post("/api/v1/journeys", journey).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "draft");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, live) = rig.app.post(&format!("/api/v1/journeys/{id}/status"), json!({ "status": "live" })).await;
    assert_eq!(status, 200, "{live}");
    id
}

async fn runs(rig: &Rig, journey: &str) -> Vec<Value> {
    let (status, runs) = rig.app.get(&format!("/api/v1/journeys/{journey}/runs")).await;
    assert_eq!(status, 200, "{runs}");
    runs.as_array().unwrap().clone()
}

async fn an_abandoned_cart_is_followed_up_then_templated_unless_the_customer_orders(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    let _sms = rig.sms_inbox().await;
    let key = tracking_key(&rig).await;
    let (status, template) = rig
        .app
        .post(
            "/api/v1/templates",
            json!({ "channel": "whatsapp", "name": "cart_reminder", "language": "it",
                                            "body": "Ciao {{1}}, il tuo carrello è ancora lì." }),
        )
        .await;
    assert_eq!(status, 201, "{template}");
    let contact = giulia(&rig, &key, &whatsapp).await;
    let journey = create_live(&rig, abandoned_cart()).await;

    // A started checkout: the customer enters and waits an hour.
    track(&rig, &key, "/v1/identify", json!({ "userId": "u-giulia", "traits": { "cart_url": "https://shop.example/c/42" } })).await;
    track(&rig, &key, "/v1/track", json!({ "userId": "u-giulia", "event": "Checkout Started", "properties": { "total": 89 } })).await;
    run_jobs(&rig).await;
    let started = runs(&rig, &journey).await;
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["contact_id"], contact.as_str());
    assert_eq!(started[0]["status"], "waiting");
    assert_eq!(started[0]["step_id"], "wait-1h");
    // The same event again (another checkout page) does not start a second run.
    track(&rig, &key, "/v1/track", json!({ "userId": "u-giulia", "event": "Checkout Started" })).await;
    run_jobs(&rig).await;
    assert_eq!(runs(&rig, &journey).await.len(), 1, "one run at a time");
    assert!(rig.provider.sends().is_empty(), "nothing before the hour is up");

    // An hour later: the SMS goes out, with the customer's details filled in.
    later(&rig, Duration::minutes(61));
    run_jobs(&rig).await;
    let sends = rig.provider.wait_for_sends(1, 10).await;
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].field("Body").as_deref(), Some("Giulia Rossi, il tuo carrello ti aspetta: https://shop.example/c/42"));
    assert_eq!(sends[0].field("To").as_deref(), Some("+393471234567"));
    // Running the jobs again (as after a restart) sends nothing twice.
    run_jobs(&rig).await;
    assert_eq!(rig.provider.sends().len(), 1);

    // A day later, no order: WhatsApp's window is closed, so the template goes.
    later(&rig, Duration::hours(24));
    run_jobs(&rig).await;
    let sends = rig.provider.wait_for_sends(2, 10).await;
    let body = sends[1].json();
    assert_eq!(body["type"], "template", "{body}");
    assert_eq!(body["template"]["name"], "cart_reminder");
    assert_eq!(body["template"]["components"][0]["parameters"][0]["text"], "Giulia Rossi");
    let run = &runs(&rig, &journey).await[0];
    assert_eq!(run["status"], "completed", "{run}");
    let (_, detail) = rig.app.get(&format!("/api/v1/journeys/{journey}/runs/{}", run["id"].as_str().unwrap())).await;
    let steps: Vec<(&str, &str)> =
        detail["steps"].as_array().unwrap().iter().map(|s| (s["step_id"].as_str().unwrap(), s["outcome"].as_str().unwrap())).collect();
    assert_eq!(steps, [("wait-1h", "done"), ("nudge", "sent"), ("wait-order", "timeout"), ("template", "sent")]);
    // The messages are in the customer's conversation, for agents to see.
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let texts: Vec<String> = rig.messages(&conversation).await.iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect();
    assert!(texts.iter().any(|t| t.contains("carrello ti aspetta")), "{texts:?}");

    // The funnel shows where customers went.
    let (status, funnel) = rig.app.get(&format!("/api/v1/journeys/{journey}/funnel")).await;
    assert_eq!(status, 200);
    assert_eq!(funnel["entered"], 1);
    assert_eq!(funnel["completed"], 1);
    let nudge = funnel["steps"].as_array().unwrap().iter().find(|s| s["step_id"] == "nudge").unwrap();
    assert_eq!(nudge["channels"]["sms"], 1);

    // Another checkout, and this time an order within the hour: the run
    // exits before its message, and the goal counts it as converted.
    track(&rig, &key, "/v1/track", json!({ "userId": "u-giulia", "event": "Checkout Started" })).await;
    run_jobs(&rig).await;
    later(&rig, Duration::minutes(20));
    track(&rig, &key, "/v1/track", json!({ "userId": "u-giulia", "event": "Order Completed", "properties": { "order_id": "A-1042" } }))
        .await;
    run_jobs(&rig).await;
    later(&rig, Duration::hours(2));
    run_jobs(&rig).await;
    let second = runs(&rig, &journey).await[0].clone();
    assert_eq!(second["status"], "converted", "{second}");
    assert_eq!(rig.provider.sends().len(), 2, "no message after the order");
}

async fn three_pricing_visits_in_a_week_ask_sales_to_call(rig: Rig) {
    let key = tracking_key(&rig).await;
    let (status, team) = rig.app.post("/api/v1/teams", json!({ "name": "Sales" })).await;
    assert_eq!(status, 201, "{team}");
    let journey = create_live(
        &rig,
        json!({
            "name": "Pricing page",
            "spec": {
                "trigger": { "type": "event", "kind": "page",
                             "properties": [ { "property": "path", "op": "starts_with", "value": "/pricing" } ],
                             "at_least": { "times": 3, "days": 7 } },
                "steps": [
                    { "id": "call", "type": "task", "kind": "call", "team_id": team["id"],
                      "title": "Call {{name}}: visited pricing 3× this week", "due_in_seconds": 14400 }
                ],
                "reentry": { "type": "after_days", "days": 30 }
            }
        }),
    )
    .await;
    track(&rig, &key, "/v1/identify", json!({ "userId": "u-marco", "traits": { "name": "Marco Bianchi", "email": "marco@example.com" } }))
        .await;
    for (i, path) in ["/pricing", "/blog/news", "/pricing/teams"].iter().enumerate() {
        track(&rig, &key, "/v1/page", json!({ "userId": "u-marco", "properties": { "path": path }, "messageId": format!("p{i}") })).await;
    }
    run_jobs(&rig).await;
    assert!(runs(&rig, &journey).await.is_empty(), "two pricing visits are not three");
    track(&rig, &key, "/v1/page", json!({ "userId": "u-marco", "properties": { "path": "/pricing" } })).await;
    run_jobs(&rig).await;
    let run = runs(&rig, &journey).await;
    assert_eq!(run.len(), 1);
    assert_eq!(run[0]["status"], "completed");
    let (status, tasks) = rig.app.get("/api/v1/tasks").await;
    assert_eq!(status, 200);
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["title"], "Call Marco Bianchi: visited pricing 3× this week");
    assert_eq!(tasks[0]["kind"], "call");
    assert_eq!(tasks[0]["team_id"], team["id"]);
    // A fourth visit does not call again.
    track(&rig, &key, "/v1/page", json!({ "userId": "u-marco", "properties": { "path": "/pricing" } })).await;
    run_jobs(&rig).await;
    assert_eq!(runs(&rig, &journey).await.len(), 1);
    // Done.
    let (status, done) = rig.app.patch(&format!("/api/v1/tasks/{}", tasks[0]["id"].as_str().unwrap()), json!({ "done": true })).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "done");
    let (_, open) = rig.app.get("/api/v1/tasks").await;
    assert!(open.as_array().unwrap().is_empty());
    // The customer's export holds the run and the task; deleting the
    // customer takes them along (the task's title names them).
    let marco = tasks[0]["contact_id"].as_str().unwrap().to_owned();
    let response = rig.http.get(rig.app.url(&format!("/api/v1/contacts/{marco}/export"))).bearer_auth(&rig.app.token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let zip = response.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    let mut journeys = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("journeys.json").unwrap(), &mut journeys).unwrap();
    assert!(journeys.contains("Call Marco Bianchi"), "{journeys}");
    let (status, report) = rig.app.call(reqwest::Method::DELETE, &format!("/api/v1/contacts/{marco}"), None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["tasks"], 1);
    let (_, all) = rig.app.get("/api/v1/tasks?status=all").await;
    assert!(all.as_array().unwrap().is_empty());
    assert_eq!(runs(&rig, &journey).await.len(), 0, "the runs went with the customer");
    // A task for a team of another account is refused.
    let (status, bad) = rig
        .app
        .post("/api/v1/journeys", json!({ "name": "x", "spec": { "trigger": { "type": "event", "name": "X" },
            "steps": [ { "id": "t", "type": "task", "kind": "call", "title": "x", "team_id": "0190c2c0-0000-7000-8000-000000000000" } ] } }))
        .await;
    assert_eq!(status, 422, "{bad}");
}

async fn a_live_journey_edited_keeps_running_customers_on_their_version(rig: Rig) {
    let key = tracking_key(&rig).await;
    let spec = |label: &str| {
        json!({ "trigger": { "type": "event", "name": "Signed Up" },
                "steps": [ { "id": "wait", "type": "wait", "seconds": 86400 }, { "id": "label", "type": "add_label", "label": label } ] })
    };
    let journey = create_live(&rig, json!({ "name": "Welcome", "spec": spec("v1") })).await;
    track(&rig, &key, "/v1/track", json!({ "userId": "early", "event": "Signed Up" })).await;
    run_jobs(&rig).await;
    let (status, edited) = rig.app.patch(&format!("/api/v1/journeys/{journey}"), json!({ "spec": spec("v2") })).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["version"], 2);
    assert_eq!(edited["live_version"], 2);
    track(&rig, &key, "/v1/track", json!({ "userId": "late", "event": "Signed Up" })).await;
    run_jobs(&rig).await;
    later(&rig, Duration::days(2));
    run_jobs(&rig).await;
    for (user, label) in [("early", "v1"), ("late", "v2")] {
        let (_, found) = rig.app.get(&format!("/api/v1/contacts?q={user}")).await;
        let contact = &found["data"][0];
        assert_eq!(contact["custom_attributes"]["labels"], json!([label]), "{user} finished on its version: {contact}");
    }
    // The dry run tells what would happen to a customer now.
    let (_, found) = rig.app.get("/api/v1/contacts?q=late").await;
    let (status, dry) = rig.app.post(&format!("/api/v1/journeys/{journey}/dry-run"), json!({ "contact_id": found["data"][0]["id"] })).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["would_enter"], true, "the last run has ended: {dry}");
    let outcomes: Vec<&str> = dry["steps"].as_array().unwrap().iter().map(|s| s["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["waits 1 d", "adds the label v2"]);
    // Bad specs are refused with the field named.
    let (status, bad) = rig
        .app
        .patch(
            &format!("/api/v1/journeys/{journey}"),
            json!({ "spec": { "trigger": { "type": "event", "name": "X" }, "steps": [ { "id": "w", "type": "wait", "seconds": 0 } ] } }),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["error"]["fields"][0]["field"], "spec.steps[0].seconds");
}

async fn consent_caps_and_quiet_hours_hold_back_sends(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    let _sms = rig.sms_inbox().await;
    let key = tracking_key(&rig).await;
    let contact = giulia(&rig, &key, &whatsapp).await;
    // Quiet at night in Rome; one message a day.
    let (status, rules) =
        rig.app.put("/api/v1/journey-settings", json!({ "quiet_hours": { "from": "21:00", "to": "08:00" }, "daily_cap": 1 })).await;
    assert_eq!(status, 200, "{rules}");
    let (status, _) = rig.app.put("/api/v1/journey-settings", json!({ "quiet_hours": { "from": "25:00", "to": "08:00" } })).await;
    assert_eq!(status, 422);
    track(&rig, &key, "/v1/identify", json!({ "userId": "u-giulia", "context": { "timezone": "Europe/Rome" } })).await;
    let journey = create_live(
        &rig,
        json!({ "name": "Offers", "spec": {
            "trigger": { "type": "event", "name": "Wishlist Added" },
            "reentry": { "type": "after_exit" },
            "steps": [
                { "id": "offer", "type": "send", "channel": "sms", "purpose": "marketing", "text": "-10% oggi" },
                { "id": "care", "type": "send", "channel": "sms", "purpose": "service", "text": "Serve aiuto?" },
                { "id": "again", "type": "send", "channel": "sms", "purpose": "service", "text": "Ancora qui" }
            ] } }),
    )
    .await;
    // Move the clock to 23:30 Rome time, inside quiet hours.
    let state = &rig.app.server().state;
    let now = state.clock.now();
    let rome_offset = if (4..=10).contains(&(now.month() as u8)) { 2 } else { 1 };
    let local = now.to_offset(time::UtcOffset::from_hms(rome_offset, 0, 0).unwrap());
    let target = local.replace_time(time::Time::from_hms(23, 30, 0).unwrap());
    let target = if target < local { target + Duration::days(1) } else { target };
    later(&rig, target - local);
    track(&rig, &key, "/v1/track", json!({ "userId": "u-giulia", "event": "Wishlist Added" })).await;
    run_jobs(&rig).await;
    let run = runs(&rig, &journey).await[0].clone();
    let (_, detail) = rig.app.get(&format!("/api/v1/journeys/{journey}/runs/{}", run["id"].as_str().unwrap())).await;
    let steps = detail["steps"].as_array().unwrap();
    assert_eq!(steps[0]["step_id"], "offer");
    assert_eq!(steps[0]["outcome"], "skipped", "no marketing consent: {detail}");
    assert!(steps[0]["detail"].as_str().unwrap().contains("no marketing consent"));
    assert_eq!(run["status"], "waiting", "the service message waits out the night: {run}");
    assert_eq!(run["step_id"], "care");
    assert!(rig.provider.sends().is_empty());
    // Morning: the service message goes; the next one is over the day's cap.
    later(&rig, Duration::hours(9));
    run_jobs(&rig).await;
    rig.provider.wait_for_sends(1, 10).await;
    let (_, detail) = rig.app.get(&format!("/api/v1/journeys/{journey}/runs/{}", run["id"].as_str().unwrap())).await;
    let outcomes: Vec<(&str, &str)> =
        detail["steps"].as_array().unwrap().iter().map(|s| (s["step_id"].as_str().unwrap(), s["outcome"].as_str().unwrap())).collect();
    assert_eq!(outcomes, [("offer", "skipped"), ("care", "sent"), ("again", "skipped")]);
    assert!(detail["steps"][2]["detail"].as_str().unwrap().contains("cap"), "{detail}");
    assert_eq!(rig.provider.sends().len(), 1);
    let _ = contact;
}

async fn a_resolved_conversation_starts_a_follow_up(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    let journey = create_live(
        &rig,
        json!({ "name": "After the case", "spec": {
            "trigger": { "type": "conversation", "on": "resolved" },
            "steps": [ { "id": "check-in", "type": "task", "kind": "follow_up", "title": "Check in with {{name}}", "due_in_seconds": 172800 } ] } }),
    )
    .await;
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.case1", "Giulia Rossi", "Il pacco è arrivato rotto")).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    run_jobs(&rig).await;
    assert!(runs(&rig, &journey).await.is_empty(), "nothing until it is resolved");
    let (status, _) = rig.app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    run_jobs(&rig).await;
    let started = runs(&rig, &journey).await;
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["status"], "completed");
    let (_, tasks) = rig.app.get("/api/v1/tasks").await;
    assert_eq!(tasks[0]["title"], "Check in with Giulia Rossi");
    assert_eq!(tasks[0]["kind"], "follow_up");
}

/// The survey goes out on WhatsApp through Meta's API inside the
/// customer-service window; Giulia answers "4" in WhatsApp; the answer is
/// recorded (not a new case) and starts the journey on `survey_answered`.
async fn a_whatsapp_survey_answer_starts_a_journey(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    let (status, _) = rig.app.post("/api/v1/surveys", json!({ "name": "CSAT", "spec": { "kind": "csat" } })).await;
    assert_eq!(status, 201);
    let journey = create_live(
        &rig,
        json!({ "name": "Thank the happy ones", "spec": {
            "trigger": { "type": "conversation", "on": "survey_answered" },
            "steps": [ { "id": "thanks", "type": "task", "kind": "follow_up", "title": "Thank {{name}} for the rating", "due_in_seconds": 3600 } ] } }),
    )
    .await;
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.s1", "Giulia Rossi", "Il pacco è arrivato rotto")).await;
    assert_eq!(status, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = rig.app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    run_jobs(&rig).await;
    let sends = rig.provider.wait_for_sends(1, 10).await;
    let body = sends[0].json();
    assert_eq!((body["to"].as_str(), body["type"].as_str()), (Some(PHONE), Some("interactive")), "{body}");
    // She wrote in Italian: asked in Italian, with the scores to tap (a typed number counts too).
    assert!(
        body["interactive"]["body"]["text"]
            .as_str()
            .unwrap()
            .ends_with("Risponda con un numero da 1 (per niente soddisfatto) a 5 (molto soddisfatto)."),
        "{body}"
    );
    assert!(runs(&rig, &journey).await.is_empty());

    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.s2", "Giulia Rossi", "4")).await;
    assert_eq!(status, 200);
    assert_eq!(rig.conversations().await.len(), 1, "the answer is no new case");
    let (_, answered) = rig.app.get("/api/v1/surveys/responses").await;
    assert_eq!(answered[0]["score"], 4, "{answered}");
    assert_eq!(answered[0]["channel"], "whatsapp");
    run_jobs(&rig).await;
    let started = runs(&rig, &journey).await;
    assert_eq!(started.len(), 1);
    let (_, tasks) = rig.app.get("/api/v1/tasks").await;
    assert_eq!(tasks[0]["title"], "Thank Giulia Rossi for the rating");
}

/// Shopify's documented order (paid, with Giulia's phone number at
/// checkout) reaches the journeys: it meets the abandoned cart's goal, and
/// its delivery starts a check-in whose task names the order and carrier.
async fn a_shop_order_converts_the_abandoned_cart_and_its_delivery_starts_a_check_in(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    let key = tracking_key(&rig).await;
    let contact = giulia(&rig, &key, &whatsapp).await;
    let cart = create_live(&rig, abandoned_cart()).await;
    let check_in = create_live(
        &rig,
        json!({ "name": "After delivery", "spec": {
            "trigger": { "type": "event", "name": "Order Delivered" },
            "steps": [ { "id": "ask", "type": "task", "kind": "follow_up",
                         "title": "Ask {{name}} how order {{order.number}} went ({{order.carrier}}, {{order.status}})", "due_in_seconds": 3600 } ] } }),
    )
    .await;
    track(&rig, &key, "/v1/track", json!({ "userId": "u-giulia", "event": "Checkout Started" })).await;
    run_jobs(&rig).await;
    assert_eq!(runs(&rig, &cart).await[0]["status"], "waiting");

    let (status, shop) =
        rig.app.post("/api/v1/orders/sources", json!({ "kind": "shopify", "name": "Shop", "secret": "shpss_test_secret" })).await;
    assert_eq!(status, 201, "{shop}");
    let deliver = |topic: &'static str, body: Value| {
        let bytes = serde_json::to_vec(&body).unwrap();
        rig.http
            .post(shop["webhook_url"].as_str().unwrap())
            .header("Content-Type", "application/json")
            .header("X-Shopify-Topic", topic)
            .header("X-Shopify-Hmac-Sha256", threadline_channels::shops::sign("shpss_test_secret", &bytes))
            .body(bytes)
            .send()
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../threadline-channels/fixtures/shopify/orders_create.json");
    let mut order: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    // The documented sample is a cancelled, voided order: paid here, by Giulia.
    order["cancelled_at"] = Value::Null;
    order["financial_status"] = "paid".into();
    order["phone"] = format!("+{PHONE}").into();
    // Placed now, after the checkout the run started on.
    let now = time::OffsetDateTime::now_utc() + Duration::seconds(5);
    let rfc3339 = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    order["created_at"] = rfc3339(now).into();
    order["updated_at"] = rfc3339(now).into();
    let response = deliver("orders/create", order.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let (_, orders) = rig.app.get(&format!("/api/v1/contacts/{contact}/orders")).await;
    assert_eq!(orders[0]["number"], "#9999", "the order is Giulia's, found by her phone: {orders}");
    run_jobs(&rig).await;
    later(&rig, Duration::hours(2));
    run_jobs(&rig).await;
    assert_eq!(runs(&rig, &cart).await[0]["status"], "converted", "the shop's order met the goal");
    assert!(rig.provider.sends().is_empty(), "no reminder after the order");

    // Delivered: the check-in journey starts, with the order in its task.
    order["updated_at"] = rfc3339(now + Duration::hours(3)).into();
    order["fulfillment_status"] = "fulfilled".into();
    order["fulfillments"] = json!([{ "id": 123456, "order_id": 820982911946154508u64, "status": "success", "tracking_company": "UPS",
                                     "tracking_number": "1z827wk74630", "shipment_status": "delivered", "created_at": rfc3339(now + Duration::hours(1)) }]);
    assert_eq!(deliver("orders/updated", order).await.unwrap().status(), 200);
    run_jobs(&rig).await;
    assert_eq!(runs(&rig, &check_in).await.len(), 1);
    let (_, tasks) = rig.app.get("/api/v1/tasks").await;
    assert_eq!(tasks[0]["title"], "Ask Giulia Rossi how order #9999 went (UPS, delivered)", "{tasks}");
}
