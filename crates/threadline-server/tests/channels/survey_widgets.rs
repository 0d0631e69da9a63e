//! Surveys asked natively: on WhatsApp within the 24 hours as an
//! interactive list of the scores (the customer taps one; a typed number
//! counts too), after them as the survey's approved template; on Telegram
//! with an inline keyboard whose press answers. Payloads as Meta's and
//! Telegram's documentation show them.

use serde_json::json;
use time::Duration;

use crate::channel_tests;
use crate::support::*;

channel_tests!(
    a_whatsapp_customer_taps_a_score_in_a_list,
    after_the_window_whatsapp_asks_with_the_surveys_template,
    a_telegram_customer_presses_a_score
);

const PHONE: &str = "393471234567";

async fn resolve_first(rig: &Rig) -> String {
    let id = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = rig.app.patch(&format!("/api/v1/conversations/{id}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    run_jobs(rig).await;
    id
}

async fn a_whatsapp_customer_taps_a_score_in_a_list(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    let (status, _) = rig.app.post("/api/v1/surveys", json!({ "name": "CSAT", "spec": { "kind": "csat" } })).await;
    assert_eq!(status, 201);
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.w1", "Giulia Rossi", "Il pacco è arrivato, grazie")).await;
    assert_eq!(status, 200);
    resolve_first(&rig).await;
    let sends = rig.provider.wait_for_sends(1, 10).await;
    let body = sends[0].json();
    assert_eq!((body["type"].as_str(), body["interactive"]["type"].as_str()), (Some("interactive"), Some("list")), "{body}");
    assert!(body["interactive"]["body"]["text"].as_str().unwrap().starts_with("Quanto è soddisfatto"), "{body}");
    assert_eq!(body["interactive"]["action"]["button"], "Scegli");
    let rows = body["interactive"]["action"]["sections"][0]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[4], json!({ "id": "score:5", "title": "5", "description": "Molto soddisfatto" }));

    // She taps "2" (a list reply, as the Cloud API reports it).
    let tapped = whatsapp_messages(
        PHONE,
        "Giulia Rossi",
        json!([{ "from": PHONE, "id": "wamid.w2", "timestamp": "1700000100", "type": "interactive",
                 "context": { "from": "15550783881", "id": "wamid.survey" },
                 "interactive": { "type": "list_reply", "list_reply": { "id": "score:2", "title": "2", "description": "Poco soddisfatto" } } }]),
    );
    assert_eq!(rig.meta_post(&whatsapp, &tapped).await.0, 200);
    assert_eq!(rig.conversations().await.len(), 1, "the answer is no new case");
    let (_, answered) = rig.app.get("/api/v1/surveys/responses").await;
    assert_eq!((answered[0]["score"].as_i64(), answered[0]["channel"].as_str()), (Some(2), Some("whatsapp")), "{answered}");
}

async fn after_the_window_whatsapp_asks_with_the_surveys_template(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    let (status, template) = rig
        .app
        .post(
            "/api/v1/templates",
            json!({ "channel": "whatsapp", "name": "survey_csat", "language": "it", "body": "Come valuta l'assistenza ricevuta? Risponda da 1 a 5." }),
        )
        .await;
    assert_eq!(status, 201, "{template}");
    let (status, survey) = rig
        .app
        .post(
            "/api/v1/surveys",
            json!({ "name": "CSAT", "spec": { "kind": "csat", "delay_hours": 30, "whatsapp_template": "survey_csat" } }),
        )
        .await;
    assert_eq!(status, 201, "{survey}");
    let (status, _) = rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.t1", "Giulia Rossi", "Tutto a posto")).await;
    assert_eq!(status, 200);
    resolve_first(&rig).await;
    assert!(rig.provider.sends().is_empty(), "asked 30 hours after");
    later(&rig, Duration::hours(31));
    rig.age_messages(31).await;
    run_jobs(&rig).await;
    let sends = rig.provider.wait_for_sends(1, 10).await;
    let body = sends[0].json();
    assert_eq!((body["type"].as_str(), body["template"]["name"].as_str()), (Some("template"), Some("survey_csat")), "{body}");
    // The customer answers by typing: the window opens again and the score counts.
    assert_eq!(rig.meta_post(&whatsapp, &whatsapp_text(PHONE, "wamid.t2", "Giulia Rossi", "4")).await.0, 200);
    let (_, answered) = rig.app.get("/api/v1/surveys/responses").await;
    assert_eq!(answered[0]["score"], 4, "{answered}");
}

async fn a_telegram_customer_presses_a_score(rig: Rig) {
    let telegram = rig.telegram_inbox().await;
    let (status, _) = rig.app.post("/api/v1/surveys", json!({ "name": "NPS", "spec": { "kind": "nps" } })).await;
    assert_eq!(status, 201);
    assert_eq!(rig.telegram_post(&telegram, &telegram_text(9001, 777_000_111, 1, "Ordine ricevuto"), Some(TELEGRAM_SECRET)).await.0, 200);
    resolve_first(&rig).await;
    let sends = rig.provider.wait_for_sends(1, 10).await;
    let body = sends[0].json();
    let keyboard = body["reply_markup"]["inline_keyboard"].as_array().unwrap();
    let sizes: Vec<usize> = keyboard.iter().map(|row| row.as_array().unwrap().len()).collect();
    assert_eq!(sizes, [6, 5], "0 to 10 in two rows: {body}");
    assert_eq!(keyboard[1][4], json!({ "text": "10", "callback_data": "10" }));
    // He presses 9: Telegram posts a callback query.
    let press = json!({
        "update_id": 9002,
        "callback_query": {
            "id": "4382bfdwdsb323b2d9",
            "from": { "id": 777_000_111, "is_bot": false, "first_name": "Marco", "last_name": "Bianchi", "language_code": "it" },
            "message": { "message_id": 2, "chat": { "id": 777_000_111, "type": "private" }, "date": 1_700_000_100, "text": "…" },
            "chat_instance": "-1234567890",
            "data": "9"
        }
    });
    assert_eq!(rig.telegram_post(&telegram, &press, Some(TELEGRAM_SECRET)).await.0, 200);
    let (_, answered) = rig.app.get("/api/v1/surveys/responses").await;
    assert_eq!((answered[0]["score"].as_i64(), answered[0]["channel"].as_str()), (Some(9), Some("telegram")), "{answered}");
}
