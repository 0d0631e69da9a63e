//! Voice inboxes on both databases, driven by a stand-in for Twilio Voice
//! that sends Twilio's signed webhooks and executes the TwiML answered:
//! whole calls through the IVR (language, menu by key and by speech), the
//! queue (position announcements, hold music, the longest wait) and
//! voicemail (the recording stored, the transcript kept), the caller known
//! by their number, and one call record in their timeline.

use serde_json::{Value, json};
use threadline_testkit::{CallScript, Input, VoiceCaller};

use crate::channel_tests;
use crate::support::*;

channel_tests!(
    a_caller_goes_through_the_ivr_and_the_queue_to_voicemail,
    known_callers_go_to_their_team_and_a_closed_line_takes_a_message,
    an_agent_calls_the_customer_from_the_conversation,
    a_call_rings_one_agent_at_a_time_and_a_caller_can_ask_to_be_called_back,
    fifty_calls_at_once_each_keep_their_keys_and_are_logged_once
);

const LINE: &str = "+390212345678";

async fn team(rig: &Rig, name: &str) -> String {
    let (status, team) = rig.app.post("/api/v1/teams", json!({ "name": name })).await;
    assert_eq!(status, 201, "{team}");
    team["id"].as_str().unwrap().to_owned()
}

fn ivr(orders_team: &str) -> Value {
    json!({
        "languages": ["it", "en"],
        "greeting": { "it": "Benvenuto da Bottega Aurora.", "en": "Welcome to Bottega Aurora." },
        "menu": [
            { "digit": "1", "label": { "it": "Per gli ordini", "en": "For orders" },
              "words": { "it": ["ordine"], "en": ["order"] }, "team_id": orders_team },
            { "digit": "2", "label": { "it": "Per tutto il resto", "en": "For anything else" } }
        ],
        "closed": { "it": "Siamo chiusi.", "en": "We are closed." },
        "hold_music_url": "https://example.com/attesa.mp3",
        "max_wait_secs": 60
    })
}

/// A voice inbox; its voice URL.
async fn voice_inbox(rig: &Rig, ivr: Value) -> (String, String) {
    let (status, inbox) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "voice", "name": "Telefono", "settings": { "account_sid": TWILIO_SID, "from": LINE, "ivr": ivr },
                    "secrets": { "auth_token": TWILIO_TOKEN } }),
        )
        .await;
    assert_eq!(status, 201, "{inbox}");
    assert_eq!(inbox["provider_connected"], true);
    let id = inbox["id"].as_str().unwrap().to_owned();
    let url = inbox["webhook_url"].as_str().unwrap().to_owned();
    assert!(url.ends_with(&format!("/hooks/voice/{id}")), "{url}");
    (id, url)
}

async fn a_caller_goes_through_the_ivr_and_the_queue_to_voicemail(rig: Rig) {
    // Giulia wrote on WhatsApp last week; the matter is closed.
    let whatsapp = rig.whatsapp_inbox().await;
    assert_eq!(rig.meta_post(&whatsapp, &whatsapp_text("393471112233", "wamid.v1", "Giulia Rossi", "Grazie!")).await.0, 200);
    let earlier = rig.conversations().await[0].clone();
    let giulia = earlier["contact_id"].as_str().unwrap().to_owned();
    let (status, _) =
        rig.app.patch(&format!("/api/v1/conversations/{}", earlier["id"].as_str().unwrap()), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);

    let orders = team(&rig, "Ordini").await;
    let (inbox, url) = voice_inbox(&rig, ivr(&orders)).await;
    rig.provider.put_media("RE0f1e2d3c4b5a69788796a5b4c3d2e1f0.mp3", "audio/mpeg", b"ID3\x04\0\0\0\0\0\0voicemail".to_vec());
    // Paolo takes the orders team's calls: online, with his phone.
    let (_, me) = rig.app.get("/api/v1/me").await;
    let paolo = me["id"].as_str().unwrap().to_owned();
    assert_eq!(rig.app.put(&format!("/api/v1/teams/{orders}/members/{paolo}"), json!({})).await.0, 200);
    assert_eq!(rig.app.put("/api/v1/me/phone", json!({ "phone": "+39 347 000 1111" })).await.0, 200);
    assert_eq!(rig.app.put("/api/v1/me/presence", json!({ "status": "online" })).await.0, 204);

    // A request without Twilio's signature is refused, and nothing is stored.
    let caller = VoiceCaller::new(TWILIO_SID, "not-the-token");
    let script = CallScript::new("CA0000", "+393471112233", LINE, vec![]);
    assert_eq!(caller.post(&url, &script, "ringing", &[]).await.0, 401);
    assert_eq!(rig.conversations().await.len(), 1);

    // She calls, chooses English, says what it is about, waits, and leaves a message.
    let caller = VoiceCaller::new(TWILIO_SID, TWILIO_TOKEN);
    let mut script = CallScript::new(
        "CA0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "+393471112233",
        LINE,
        vec![Input::Digits("2".into()), Input::Speech("I have a question about my order".into())],
    );
    script.voicemail = Some((
        rig.provider.media_url("RE0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        23,
        Some("Hi, it's Giulia, my order 1001 has not arrived yet.".into()),
    ));
    let log = caller.call(&url, script).await;
    assert!(log.requests.iter().all(|(_, code)| *code == 200), "{:?}", log.requests);
    assert_eq!(log.said[0], ("it-IT".to_owned(), "Benvenuto da Bottega Aurora.".to_owned()));
    assert!(log.heard("Per l'italiano premi 1.") && log.heard("For English, press 2."), "{log:?}");
    assert!(log.heard("For orders, press 1 or say \"order\"."), "the menu, in English: {log:?}");
    assert_eq!(log.enqueued.as_deref(), Some(format!("team-{orders}").as_str()), "by speech, to the orders team");
    assert_eq!(log.waits, 3, "announced at 0 and 30 s, and left at the longest wait (60 s): {log:?}");
    assert!(log.heard("You are in the queue. There are 0 callers ahead of you."), "{log:?}");
    assert!(log.played.iter().all(|p| p == "https://example.com/attesa.mp3") && log.played.len() == 2, "{log:?}");
    assert!(log.recorded && log.heard("Please leave a message after the tone"), "{log:?}");
    assert!(log.heard("Thank you, goodbye."));

    // Once queued, she was offered to Paolo: his phone rang, his workspace was told.
    let offered = rig.provider.requests().into_iter().find(|r| r.path.ends_with("/Calls.json")).expect("Paolo's phone rang");
    assert_eq!(offered.field("To").as_deref(), Some("+393470001111"));
    let answer_url = offered.field("Url").unwrap();
    assert!(answer_url.starts_with(&format!("{url}?step=answer&for=CA0f1e2d3c4b5a69788796a5b4c3d2e1f0")), "{answer_url}");
    assert_eq!(offered.field("Timeout").as_deref(), Some("20"), "his phone rings for the IVR's ring time");
    // She left the queue for voicemail before he answered: the call is
    // offered to nobody any more, and his phone was stopped (Twilio's call update).
    assert_eq!(rig.app.sql_integers("SELECT COUNT(*) FROM calls WHERE agent_id IS NOT NULL").await, [0]);
    let stopped = rig.provider.requests().into_iter().find(|r| r.path.contains("/Calls/CA")).expect("his ringing phone stopped");
    assert_eq!(stopped.field("Status").as_deref(), Some("canceled"));
    // Had he answered after she hung up, he would have been told so.
    let agent_leg = CallScript::new("CA9999", LINE, "+393470001111", vec![]);
    let (code, twiml) = caller.post(&answer_url, &agent_leg, "in-progress", &[]).await;
    assert_eq!(code, 200);
    assert!(twiml.contains("<Say language=\"en-GB\">The caller has hung up.</Say><Hangup/>"), "{twiml}");

    // The call is Giulia's, in a conversation of the voice channel, with her voicemail.
    let conversations = rig.conversations().await;
    let call = conversations.iter().find(|c| c["id"] != earlier["id"]).expect("the call's conversation");
    assert_eq!(call["contact_id"], giulia.as_str(), "known by her number: {call}");
    let messages = rig.messages(call["id"].as_str().unwrap()).await;
    let texts: Vec<&str> = messages.iter().filter(|m| m["direction"] == "inbound").map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["📞 Call from +393471112233", "🎙 Voicemail (0:23)", "Hi, it's Giulia, my order 1001 has not arrived yet."]);
    assert!(messages.iter().all(|m| m["direction"] != "inbound" || m["channel"] == "voice"));
    let voicemail = messages.iter().find(|m| m["text"] == "🎙 Voicemail (0:23)").unwrap();
    assert_eq!(voicemail["attachments"][0]["content_type"], "audio/mpeg", "{voicemail}");
    assert_eq!(voicemail["attachments"][0]["filename"], "voicemail.mp3");

    // One call record in her timeline, even when the final status comes twice.
    let script = CallScript::new("CA0f1e2d3c4b5a69788796a5b4c3d2e1f0", "+393471112233", LINE, vec![]);
    let (code, _) = caller.post(&format!("{url}?step=status"), &script, "completed", &[("CallDuration", "95".into())]).await;
    assert_eq!(code, 200);
    let (_, timeline) = rig.app.get(&format!("/api/v1/contacts/{giulia}/timeline?types=interaction")).await;
    let calls: Vec<&Value> = timeline["data"].as_array().unwrap().iter().filter(|e| e["kind"] == "call").collect();
    assert_eq!(calls.len(), 1, "{timeline}");
    let summary = calls[0]["summary"].as_str().unwrap();
    assert!(summary.starts_with("Incoming call, ") && summary.ends_with("60 s in the queue, voicemail"), "{summary}");
    assert_eq!(calls[0]["data"]["team_id"], orders.as_str());
    assert_eq!(calls[0]["data"]["language"], "en");
    assert_eq!(calls[0]["conversation_id"], call["id"]);
    let _ = inbox;

    // A call as Twilio documents its request (`fixtures/twilio/voice_incoming.form`), signed.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../threadline-channels/fixtures").join("twilio/voice_incoming.form");
    let form = std::fs::read_to_string(path).unwrap();
    let params: Vec<(String, String)> = form_urlencoded::parse(form.trim_end().as_bytes()).into_owned().collect();
    let signature = threadline_channels::twilio::signature(TWILIO_TOKEN, &url, &params);
    let response = rig.http.post(&url).header("X-Twilio-Signature", signature).form(&params).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/xml; charset=utf-8");
    let twiml = response.text().await.unwrap();
    assert!(twiml.contains("<Say language=\"it-IT\">Benvenuto da Bottega Aurora.</Say><Gather input=\"dtmf speech\""), "{twiml}");
    let caller = rig.conversations().await.into_iter().find(|c| c["id"] != earlier["id"] && c["id"] != call["id"]).expect("a new caller");
    let messages = rig.messages(caller["id"].as_str().unwrap()).await;
    assert_eq!(messages[0]["text"], "📞 Call from +14017122661");
}

async fn known_callers_go_to_their_team_and_a_closed_line_takes_a_message(rig: Rig) {
    let orders = team(&rig, "Ordini").await;
    let returns = team(&rig, "Resi").await;
    // An IVR that cannot work is refused, field by field.
    let mut bad = ivr(&orders);
    bad["languages"] = json!(["fr"]);
    bad["menu"][1]["digit"] = "1".into();
    let (status, body) = rig
        .app
        .post(
            "/api/v1/inboxes",
            json!({ "channel": "voice", "name": "Telefono", "settings": { "account_sid": TWILIO_SID, "ivr": bad },
                    "secrets": { "auth_token": TWILIO_TOKEN } }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"settings.ivr.languages") && fields.contains(&"settings.ivr.menu[1].digit"), "{fields:?}");

    // Marco's return is open with the returns team: his call goes straight there.
    let whatsapp = rig.whatsapp_inbox().await;
    assert_eq!(rig.meta_post(&whatsapp, &whatsapp_text("393339998877", "wamid.v2", "Marco Bianchi", "Il reso?")).await.0, 200);
    let open = rig.conversations().await[0].clone();
    let (status, _) =
        rig.app.patch(&format!("/api/v1/conversations/{}", open["id"].as_str().unwrap()), json!({ "team_id": returns })).await;
    assert_eq!(status, 200);
    let (_, url) = voice_inbox(&rig, ivr(&orders)).await;
    let caller = VoiceCaller::new(TWILIO_SID, TWILIO_TOKEN);
    let log = caller.call(&url, CallScript::new("CA1111", "+39 333 999 8877", LINE, vec![Input::Digits("1".into())])).await;
    assert!(log.heard("Ti passiamo a chi segue la tua richiesta."), "{log:?}");
    assert_eq!(log.enqueued.as_deref(), Some(format!("team-{returns}").as_str()), "his team, not the menu's");
    let calls: Vec<Value> = rig.conversations().await;
    assert_eq!(calls.len(), 1, "the call continues his open conversation");

    // A closed line: the greeting, the closed message, and voicemail (he hangs up).
    let today = time::OffsetDateTime::now_utc().weekday();
    let other_day =
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"][(today.number_days_from_monday() as usize + 3) % 7];
    let mut closed = ivr(&orders);
    closed["hours"] = json!({ "time_zone": "Europe/Rome", "openings": [{ "day": other_day, "open": "09:00", "close": "18:00" }] });
    let (_, url) = voice_inbox(&rig, closed).await;
    let log = caller.call(&url, CallScript::new("CA2222", "+390298765432", LINE, vec![])).await;
    assert!(log.heard("Benvenuto da Bottega Aurora.") && log.heard("Siamo chiusi.") && log.heard("Lascia un messaggio"), "{log:?}");
    assert!(log.enqueued.is_none() && !log.recorded);
}

async fn an_agent_calls_the_customer_from_the_conversation(rig: Rig) {
    let whatsapp = rig.whatsapp_inbox().await;
    assert_eq!(rig.meta_post(&whatsapp, &whatsapp_text("393471112233", "wamid.v3", "Giulia Rossi", "Mi chiamate?")).await.0, 200);
    let conversation = rig.conversations().await[0]["id"].as_str().unwrap().to_owned();
    let calls = format!("/api/v1/conversations/{conversation}/calls");

    // Without a voice inbox, or a number of their own, the agent is told why.
    let (status, body) = rig.app.post(&calls, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("no_phone")), "{body}");
    let (status, body) = rig.app.put("/api/v1/me/phone", json!({ "phone": "not a number" })).await;
    assert_eq!(status, 422, "{body}");
    let (status, me) = rig.app.put("/api/v1/me/phone", json!({ "phone": "347 000 1111" })).await;
    assert_eq!((status, me["phone"].as_str()), (200, Some("+393470001111")), "{me}");
    let (status, body) = rig.app.post(&calls, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("no_inbox")), "{body}");

    let (_, url) = voice_inbox(&rig, ivr(&team(&rig, "Ordini").await)).await;
    let (status, call) = rig.app.post(&calls, json!({})).await;
    assert_eq!(status, 201, "{call}");
    assert_eq!((call["direction"].as_str(), call["to_number"].as_str()), (Some("outbound"), Some("+393471112233")), "her WhatsApp number");
    // Twilio is asked to ring the agent first, showing the line's number.
    let placed = rig.provider.requests().into_iter().find(|r| r.path.ends_with("/Calls.json")).expect("a call placed");
    assert_eq!(placed.field("To").as_deref(), Some("+393470001111"));
    assert_eq!(placed.field("From").as_deref(), Some(LINE));
    let twiml_url = placed.field("Url").unwrap();
    assert!(twiml_url.starts_with(&format!("{url}?step=bridge")), "{twiml_url}");
    assert_eq!(placed.field("StatusCallback").as_deref(), Some(format!("{url}?step=status").as_str()));

    // The agent answers; Giulia is dialled, they talk, the call is recorded.
    rig.provider.put_media(
        &format!("RE{}.mp3", call["call_sid"].as_str().unwrap().trim_start_matches("CA")),
        "audio/mpeg",
        b"ID3call".to_vec(),
    );
    let mut script = CallScript::new(call["call_sid"].as_str().unwrap(), LINE, "+393470001111", vec![]);
    script.dial_answer = Some((42, rig.provider.media_url(&format!("RE{}", call["call_sid"].as_str().unwrap().trim_start_matches("CA")))));
    let caller = VoiceCaller::new(TWILIO_SID, TWILIO_TOKEN);
    let log = caller.call(&twiml_url, script.clone()).await;
    assert!(log.requests.iter().all(|(_, code)| *code == 200), "{:?}", log.requests);
    assert_eq!(log.dialled, ["+393471112233"]);
    assert!(log.heard("Connecting you to the customer."), "{log:?}");

    // A redelivered recording callback stores nothing twice.
    let recording = [
        ("RecordingSid", format!("RE{}", call["call_sid"].as_str().unwrap().trim_start_matches("CA"))),
        ("RecordingUrl", rig.provider.media_url("unused")),
        ("RecordingStatus", "completed".to_owned()),
        ("RecordingDuration", "42".to_owned()),
    ];
    assert_eq!(caller.post(&format!("{url}?step=dialed&lang=en&recording=1"), &script, "completed", &recording).await.0, 200);
    let messages = rig.messages(&conversation).await;
    let notes: Vec<&Value> = messages.iter().filter(|m| m["kind"] == "note").collect();
    assert_eq!(notes.len(), 1, "{messages:?}");
    assert_eq!(notes[0]["text"], "🎙 Call recording (0:42), +390212345678 → +393471112233");
    assert_eq!(notes[0]["attachments"][0]["content_type"], "audio/mpeg");

    // The call is logged once in her timeline.
    let giulia = rig.conversations().await[0]["contact_id"].as_str().unwrap().to_owned();
    let (_, timeline) = rig.app.get(&format!("/api/v1/contacts/{giulia}/timeline?types=interaction")).await;
    let logged: Vec<&Value> = timeline["data"].as_array().unwrap().iter().filter(|e| e["kind"] == "call").collect();
    assert_eq!(logged.len(), 1, "{timeline}");
    let summary = logged[0]["summary"].as_str().unwrap();
    assert!(summary.starts_with("Outgoing call, ") && summary.ends_with(", 0:42 talking, completed"), "{summary}");
    assert_eq!(logged[0]["data"]["talk_secs"], 42);
    assert_eq!(logged[0]["data"]["to"], "+393471112233");
}

/// A call's row, found through its conversation's calls.
async fn call_of(rig: &Rig, call_sid: &str) -> Value {
    for conversation in rig.conversations().await {
        let (status, calls) = rig.app.get(&format!("/api/v1/conversations/{}/calls", conversation["id"].as_str().unwrap())).await;
        assert_eq!(status, 200, "{calls}");
        if let Some(call) = calls.as_array().unwrap().iter().find(|c| c["call_sid"] == call_sid) {
            return call.clone();
        }
    }
    panic!("no call {call_sid}");
}

async fn a_call_rings_one_agent_at_a_time_and_a_caller_can_ask_to_be_called_back(rig: Rig) {
    let orders = team(&rig, "Ordini").await;
    let mut line = ivr(&orders);
    line["callback"] = json!(true);
    line["ring_secs"] = json!(15);
    line["record"] = json!(true);
    let (_, url) = voice_inbox(&rig, line).await;
    let status_url = format!("{url}?step=status");

    // Paolo (signed in here) and Anna take the orders team's calls.
    let (_, me) = rig.app.get("/api/v1/me").await;
    let paolo = me["id"].as_str().unwrap().to_owned();
    assert_eq!(rig.app.put("/api/v1/me/phone", json!({ "phone": "+39 347 000 1111" })).await.0, 200);
    assert_eq!(rig.app.put("/api/v1/me/presence", json!({ "status": "online" })).await.0, 204);
    let (status, anna) = rig
        .app
        .post("/api/v1/users", json!({ "email": "anna@acme.example", "name": "Anna", "role": "agent", "password": "agent password 1" }))
        .await;
    assert_eq!(status, 201, "{anna}");
    let anna = anna["id"].as_str().unwrap().to_owned();
    for user in [&paolo, &anna] {
        assert_eq!(rig.app.put(&format!("/api/v1/teams/{orders}/members/{user}"), json!({})).await.0, 200);
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000;
    rig.app.sql(&format!("UPDATE users SET phone = '+393470002222' WHERE id = '{anna}'")).await;
    rig.app
        .sql(&format!(
            "INSERT INTO agent_presence (user_id, account_id, status, updated_at) SELECT id, account_id, 'online', {now} FROM users WHERE id = '{anna}'"
        ))
        .await;
    let phone_of = |agent: &Value| if agent.as_str() == Some(paolo.as_str()) { "+393470001111" } else { "+393470002222" };
    let rung = || {
        rig.provider.requests().into_iter().filter(|r| r.path.ends_with("/Calls.json")).map(|r| r.field("To").unwrap()).collect::<Vec<_>>()
    };

    // Giulia, then Marco, choose the orders queue.
    let caller = VoiceCaller::new(TWILIO_SID, TWILIO_TOKEN);
    let giulia = CallScript::new("CA1111", "+393471112233", LINE, vec![]);
    let marco = CallScript::new("CA2222", "+393471114444", LINE, vec![]);
    for script in [&giulia, &marco] {
        assert_eq!(caller.post(&url, script, "ringing", &[]).await.0, 200);
        let (code, twiml) = caller.post(&format!("{url}?step=choice&lang=en"), script, "in-progress", &[("Digits", "1".into())]).await;
        assert_eq!(code, 200);
        assert!(twiml.contains(&format!(">team-{orders}</Enqueue>")), "{twiml}");
    }
    // Each rings a different agent: a call fills an agent's voice capacity.
    let first = rung();
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first.contains(&"+393470001111".to_owned()) && first.contains(&"+393470002222".to_owned()), "{first:?}");
    let g = call_of(&rig, "CA1111").await;
    let m = call_of(&rig, "CA2222").await;
    assert_eq!(first[0], phone_of(&g["agent_id"]), "{g}");
    assert_ne!(g["agent_id"], m["agent_id"]);
    let (giulias_agent, marcos_agent) = (g["agent_id"].clone(), m["agent_id"].clone());

    // Giulia's agent lets it ring out; the other is taken by Marco's call, so nobody else rings.
    let ring_out = |sid: &str, to: &str| CallScript::new(sid, LINE, to, vec![]);
    let leg = ring_out(g["offer_sid"].as_str().unwrap(), phone_of(&giulias_agent));
    assert_eq!(caller.post(&status_url, &leg, "no-answer", &[]).await.0, 200);
    assert_eq!(caller.post(&status_url, &leg, "no-answer", &[]).await.0, 200, "a redelivered status changes nothing");
    assert_eq!(rung().len(), 2);
    let g = call_of(&rig, "CA1111").await;
    assert!(g["agent_id"].is_null() && g["declined"] == json!([giulias_agent]), "{g}");

    // Marco hangs up while his agent's phone rings: it stops, and that agent is free.
    assert_eq!(caller.post(&status_url, &marco, "completed", &[("CallDuration", "40".into())]).await.0, 200);
    let stopped =
        rig.provider.requests().into_iter().find(|r| r.path.ends_with(&format!("/Calls/{}.json", m["offer_sid"].as_str().unwrap())));
    assert_eq!(stopped.expect("Marco's agent's phone stopped").field("Status").as_deref(), Some("canceled"));

    // At Giulia's next wait, the free agent who has not let her ring out is rung.
    let wait = |secs: u64| [("QueuePosition", "1".to_owned()), ("QueueTime", secs.to_string()), ("CurrentQueueSize", "1".to_owned())];
    let (code, twiml) = caller.post(&format!("{url}?step=wait&lang=en"), &giulia, "in-progress", &wait(20)).await;
    assert!(code == 200 && twiml.contains("You are in the queue."), "{twiml}");
    assert_eq!(rung().len(), 3);
    assert_eq!(rung()[2], phone_of(&marcos_agent));
    let g = call_of(&rig, "CA1111").await;
    assert_eq!(g["agent_id"], marcos_agent);
    assert_eq!(g["offer_sid"].as_str().map(|s| s.starts_with("CA")), Some(true), "{g}");
    // They let it ring out too: nobody is left until the next wait, which starts over.
    let leg = ring_out(g["offer_sid"].as_str().unwrap(), phone_of(&marcos_agent));
    assert_eq!(caller.post(&status_url, &leg, "busy", &[]).await.0, 200);
    assert_eq!(rung().len(), 3);
    assert_eq!(caller.post(&format!("{url}?step=wait&lang=en"), &giulia, "in-progress", &wait(40)).await.0, 200);
    assert_eq!(rung().len(), 4, "everyone let it ring once: start over");
    let g = call_of(&rig, "CA1111").await;
    assert!(!g["agent_id"].is_null() && g["declined"] == json!([]), "{g}");

    // After the longest wait she is offered a callback, and takes it.
    let (_, twiml) = caller.post(&format!("{url}?step=wait&lang=en"), &giulia, "in-progress", &wait(60)).await;
    assert!(twiml.contains("<Leave/>"), "{twiml}");
    let left = [("QueueResult", "leave".to_owned()), ("QueueTime", "60".to_owned())];
    let (_, twiml) = caller.post(&format!("{url}?step=left&lang=en"), &giulia, "in-progress", &left).await;
    assert!(twiml.contains("To be called back on this number, press 1 or say yes") && twiml.contains("<Record "), "{twiml}");
    let (_, twiml) = caller.post(&format!("{url}?step=callback&lang=en"), &giulia, "in-progress", &[("Digits", "1".into())]).await;
    assert!(twiml.contains("We will call you back on this number") && twiml.ends_with("<Hangup/></Response>"), "{twiml}");
    assert_eq!(caller.post(&format!("{url}?step=callback&lang=en"), &giulia, "in-progress", &[("Digits", "1".into())]).await.0, 200);
    assert_eq!(caller.post(&status_url, &giulia, "completed", &[("CallDuration", "75".into())]).await.0, 200);
    assert!(rig.provider.requests().iter().filter(|r| r.path.contains("/Calls/CA")).count() == 2, "the last ringing phone stopped too");

    // One task for the team to call her back, once; her timeline says so.
    let (_, tasks) = rig.app.get("/api/v1/tasks").await;
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = &tasks[0];
    assert_eq!((task["kind"].as_str(), task["team_id"].as_str()), (Some("call"), Some(orders.as_str())), "{task}");
    assert_eq!(task["title"], "Richiamare +393471112233 (in attesa per 1:00)", "in the line's first language");
    let (_, timeline) = rig.app.get(&format!("/api/v1/contacts/{}/timeline?types=interaction", g["contact_id"].as_str().unwrap())).await;
    let logged: Vec<&Value> = timeline["data"].as_array().unwrap().iter().filter(|e| e["kind"] == "call").collect();
    assert_eq!(logged.len(), 1);
    assert!(logged[0]["summary"].as_str().unwrap().ends_with("60 s in the queue, callback requested"), "{}", logged[0]);

    // Paolo calls her back from the task: his phone rings, then hers, in her conversation.
    let (status, back) = rig.app.post(&format!("/api/v1/tasks/{}/calls", task["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(status, 201, "{back}");
    assert_eq!((back["to_number"].as_str(), back["conversation_id"].clone()), (Some("+393471112233"), g["conversation_id"].clone()));
    let placed = rig.provider.requests().into_iter().filter(|r| r.path.ends_with("/Calls.json")).last().unwrap();
    assert_eq!(placed.field("To").as_deref(), Some("+393470001111"));
    assert!(placed.field("Url").unwrap().starts_with(&format!("{url}?step=bridge")));
    assert_eq!(placed.field("Timeout"), None, "his own call rings as long as Twilio lets it");

    // A journey's task on a customer with no conversation: the call opens one, on the phone, his.
    let (_, luca) =
        rig.app.post("/api/v1/contacts", json!({ "name": "Luca", "identities": [{ "kind": "phone", "value": "+393479998888" }] })).await;
    let due = (time::OffsetDateTime::now_utc()).format(&time::format_description::well_known::Rfc3339).unwrap();
    let (status, task) =
        rig.app.post("/api/v1/tasks", json!({ "contact_id": luca["id"], "kind": "call", "title": "Call Luca", "due_at": due })).await;
    assert_eq!(status, 201, "{task}");
    let (status, call) = rig.app.post(&format!("/api/v1/tasks/{}/calls", task["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(status, 201, "{call}");
    let (_, opened) = rig.app.get(&format!("/api/v1/conversations/{}", call["conversation_id"].as_str().unwrap())).await;
    assert_eq!((opened["channel"].as_str(), opened["assignee_id"].as_str()), (Some("voice"), Some(paolo.as_str())), "{opened}");
    assert_eq!(opened["contact_id"], luca["id"]);
    let (status, body) = rig.app.post(&format!("/api/v1/tasks/{}/calls", threadline_domain::ids::TaskId::new()), json!({})).await;
    assert_eq!(status, 404, "{body}");

    // Sara's call is answered: her record says how long she waited and whom she talked with.
    let sara = CallScript::new("CA3333", "+393475556666", LINE, vec![]);
    assert_eq!(caller.post(&url, &sara, "ringing", &[]).await.0, 200);
    assert_eq!(caller.post(&format!("{url}?step=choice&lang=en"), &sara, "in-progress", &[("Digits", "1".into())]).await.0, 200);
    let offer = rig.provider.requests().into_iter().filter(|r| r.path.ends_with("/Calls.json")).last().unwrap();
    assert!(offer.field("Url").unwrap().contains("for=CA3333"));
    let s = call_of(&rig, "CA3333").await;
    let leg = ring_out(s["offer_sid"].as_str().unwrap(), phone_of(&s["agent_id"]));
    // The agent answers: Sara herself (not whoever is at the front of the
    // queue) is taken out of it into a room of theirs, recorded.
    let (code, twiml) = caller.post(&offer.field("Url").unwrap(), &leg, "in-progress", &[]).await;
    assert_eq!(code, 200);
    let callback = format!("{url}?step=dialed&lang=en&recording=1&for=CA3333");
    assert!(
        twiml.contains(&format!(" record=\"record-from-start\" recordingStatusCallback=\"{}\"", callback.replace('&', "&amp;"))),
        "{twiml}"
    );
    assert!(twiml.ends_with(">call-CA3333</Conference></Dial></Response>"), "{twiml}");
    let moved = rig.provider.requests().into_iter().find(|r| r.path.ends_with("/Calls/CA3333.json")).expect("Sara taken out of the queue");
    let join = moved.field("Url").unwrap();
    assert!(join.starts_with(&format!("{url}?step=join")), "{join}");
    let (_, twiml) = caller.post(&join, &sara, "in-progress", &[]).await;
    assert!(twiml.ends_with(">call-CA3333</Conference></Dial></Response>"), "{twiml}");
    // Her queue's own callback says she was redirected: no voicemail for her.
    let redirected = [("QueueResult", "redirected".to_owned()), ("QueueTime", "4".to_owned())];
    let (_, twiml) = caller.post(&format!("{url}?step=left&lang=en"), &sara, "in-progress", &redirected).await;
    assert!(!twiml.contains("<Record") && !twiml.contains("<Gather"), "{twiml}");
    // The conference's recording (its callback names no call) is kept once, on her conversation.
    rig.provider.put_media("RE9999.mp3", "audio/mpeg", b"ID3\x04\0\0\0\0\0\0answered".to_vec());
    let recording = [
        ("ConferenceSid", "CF0123".to_owned()),
        ("RecordingSid", "RE9999".to_owned()),
        ("RecordingUrl", rig.provider.media_url("RE9999")),
        ("RecordingStatus", "completed".to_owned()),
        ("RecordingDuration", "95".to_owned()),
    ];
    let conversations_before = rig.conversations().await.len();
    assert_eq!(caller.post(&callback, &leg, "completed", &recording).await.0, 200);
    assert_eq!(caller.post(&callback, &leg, "completed", &recording).await.0, 200, "a redelivery");
    assert_eq!(rig.conversations().await.len(), conversations_before, "the agent's leg is no caller of its own");
    let notes: Vec<Value> =
        rig.messages(s["conversation_id"].as_str().unwrap()).await.into_iter().filter(|m| m["kind"] == "note").collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["text"], "🎙 Call recording (1:35), +393475556666 → +390212345678");
    assert_eq!(caller.post(&status_url, &leg, "completed", &[("CallDuration", "3".into())]).await.0, 200, "the agent hangs up");
    assert_eq!(caller.post(&status_url, &sara, "completed", &[("CallDuration", "9".into())]).await.0, 200);
    let s = call_of(&rig, "CA3333").await;
    let (_, taken) = rig.app.get(&format!("/api/v1/conversations/{}", s["conversation_id"].as_str().unwrap())).await;
    assert_eq!(taken["assignee_id"], s["agent_id"], "the agent who answered has her conversation");
    assert!(s["answered_at"].is_string() && s["talk_secs"].is_i64() && s["queue_secs"].is_i64(), "{s}");
    let name = if s["agent_id"] == paolo.as_str() { "Admin" } else { "Anna" };
    let (_, timeline) = rig.app.get(&format!("/api/v1/contacts/{}/timeline?types=interaction", s["contact_id"].as_str().unwrap())).await;
    let summary = timeline["data"][0]["summary"].as_str().unwrap().to_owned();
    assert!(
        summary.starts_with("Incoming call, 0:09, 4 s in the queue, 0:0") && summary.ends_with(&format!(" with {name}, completed")),
        "{summary}"
    );
}

/// Fifty callers at once through the IVR and the queue: each one's keys
/// lead to the queue they chose, and each call is logged exactly once.
async fn fifty_calls_at_once_each_keep_their_keys_and_are_logged_once(rig: Rig) {
    let orders = team(&rig, "Ordini").await;
    let (_, url) = voice_inbox(&rig, ivr(&orders)).await;
    let calls = (0..50u32).map(|n| {
        let url = url.clone();
        async move {
            let caller = VoiceCaller::new(TWILIO_SID, TWILIO_TOKEN);
            // Even callers press 1 (orders), odd ones 2; half speak Italian, half English.
            let language = if n % 4 < 2 { "1" } else { "2" };
            let choice = if n % 2 == 0 { "1" } else { "2" };
            let mut script = CallScript::new(
                &format!("CA{n:032}"),
                &format!("+39347{n:07}"),
                LINE,
                vec![Input::Digits(language.into()), Input::Digits(choice.into())],
            );
            script.wait_step_secs = 60;
            (n, caller.call(&url, script).await)
        }
    });
    let logs = futures_util::future::join_all(calls).await;
    for (n, log) in &logs {
        assert!(log.requests.iter().all(|(_, code)| *code == 200), "call {n}: {:?}", log.requests);
        let expected = if n % 2 == 0 { format!("team-{orders}") } else { "inbox".to_owned() };
        assert_eq!(log.enqueued.as_deref(), Some(expected.as_str()), "call {n} kept its key: {log:?}");
        let spoken = if n % 4 < 2 { "it-IT" } else { "en-GB" };
        assert!(log.said.iter().skip(3).all(|(language, _)| language == spoken), "call {n} kept its language: {log:?}");
    }
    assert_eq!(rig.app.sql_integers("SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL").await, [50]);
    assert_eq!(rig.app.sql_integers("SELECT COUNT(*) FROM interactions WHERE kind = 'call'").await, [50]);
    assert_eq!(rig.app.sql_integers("SELECT COUNT(DISTINCT contact_id) FROM calls").await, [50]);
}
