//! An agent schedules a message: it goes out through the provider when it
//! falls due (not before), can be cancelled until then, and a WhatsApp
//! message due after the customer-service window has closed fails with
//! the reason instead of going out.

use serde_json::json;

use crate::channel_tests;
use crate::support::*;

channel_tests!(a_scheduled_message_goes_out_when_due, a_scheduled_whatsapp_message_respects_the_window);

fn in_hours(hours: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::hours(hours)).format(&time::format_description::well_known::Rfc3339).unwrap()
}

async fn a_scheduled_message_goes_out_when_due(rig: Rig) {
    let sms = rig.sms_inbox().await;
    let inbound = [
        ("MessageSid", "SM00000000000000000000000000000b01"),
        ("From", "+393471112233"),
        ("To", SMS_NUMBER),
        ("Body", "Mi richiamate domani?"),
        ("NumMedia", "0"),
    ];
    assert_eq!(rig.twilio_post(&sms, &inbound).await.0, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/conversations/{conversation}/scheduled-messages");

    let (status, scheduled) =
        rig.app.post(&path, json!({ "text": "Buongiorno! Come promesso, la richiamiamo oggi.", "send_at": in_hours(15) })).await;
    assert_eq!(status, 201, "{scheduled}");
    assert_eq!(scheduled["status"], "scheduled");
    let (_, other) = rig.app.post(&path, json!({ "text": "Ignore this one", "send_at": in_hours(16) })).await;
    let (status, cancelled) =
        rig.app.call(reqwest::Method::DELETE, &format!("/api/v1/scheduled-messages/{}", other["id"].as_str().unwrap()), None).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")));

    run_jobs(&rig).await;
    assert!(rig.provider.sends().is_empty(), "not before its time");
    later(&rig, time::Duration::hours(17));
    run_jobs(&rig).await;
    let sends = rig.provider.wait_for_sends(1, 10).await;
    assert_eq!(sends[0].field("Body").as_deref(), Some("Buongiorno! Come promesso, la richiamiamo oggi."));
    assert_eq!(sends[0].field("To").as_deref(), Some("+393471112233"));
    let (_, list) = rig.app.get(&path).await;
    let statuses: Vec<&str> = list.as_array().unwrap().iter().map(|m| m["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["sent", "cancelled"]);
    assert!(list[0]["message_id"].is_string());
    assert_eq!(rig.provider.sends().len(), 1, "the cancelled one never went");
    let (status, _) =
        rig.app.call(reqwest::Method::DELETE, &format!("/api/v1/scheduled-messages/{}", list[0]["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 409, "sent is sent");

    // Checked at the door; another account's conversations are not there.
    for (body, field) in [
        (json!({ "text": "", "send_at": in_hours(1) }), "text"),
        (json!({ "text": "Hi", "send_at": in_hours(-1) }), "send_at"),
        (json!({ "text": "Hi", "send_at": "tomorrow at nine" }), "send_at"),
        (json!({ "text": "Hi", "send_at": in_hours(24 * 400) }), "send_at"),
    ] {
        let (status, error) = rig.app.post(&path, body).await;
        assert_eq!(status, 422, "{error}");
        assert_eq!(error["error"]["fields"][0]["field"], field);
    }
    let (_, _, other_token) = rig.app.create_account("Other shop", "boss@other.example").await;
    let (status, _) =
        rig.app.call_as(&other_token, reqwest::Method::POST, &path, Some(json!({ "text": "Hi", "send_at": in_hours(48) }))).await;
    assert_eq!(status, 404);
    let (status, _) = rig.app.call_as(&other_token, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 404);
}

async fn a_scheduled_whatsapp_message_respects_the_window(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    assert_eq!(
        rig.meta_post(&whatsapp, &whatsapp_text("393471234567", "wamid.sched1", "Giulia Rossi", "Ci sentiamo dopodomani")).await.0,
        200
    );
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/conversations/{conversation}/scheduled-messages");
    let (status, _) = rig.app.post(&path, json!({ "text": "Eccoci!", "send_at": in_hours(48) })).await;
    assert_eq!(status, 201);
    // Two days pass: the job falls due, and the customer's message is two days old.
    later(&rig, time::Duration::hours(49));
    rig.age_messages(49).await;
    run_jobs(&rig).await;
    let (_, list) = rig.app.get(&path).await;
    assert_eq!(list[0]["status"], "failed", "{list}");
    assert!(list[0]["failure"].as_str().unwrap().contains("customer-service window is closed"), "{list}");
    assert!(rig.provider.sends().is_empty());
    // Its author is told: a task on the customer, due now, at the top of their inbox.
    let (_, tasks) = rig.app.get("/api/v1/tasks").await;
    let title = tasks[0]["title"].as_str().unwrap();
    assert!(title.starts_with("Scheduled message not sent: ") && title.contains("window is closed"), "{tasks}");
    assert_eq!(tasks[0]["assignee_id"], rig.app.user_id.as_str());
}
