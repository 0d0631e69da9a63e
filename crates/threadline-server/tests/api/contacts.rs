//! Contacts: identities, consent, merge, duplicates, timeline.

use reqwest::Method;
use serde_json::{Value, json};
use threadline_testkit::{TestApp, WebhookReceiver, backend_tests};

backend_tests!(
    identities_are_validated_and_linked,
    merging_moves_everything_and_is_audited,
    duplicate_suggestions,
    timeline_pages_through_messages_and_interactions,
    consents_are_recorded,
    too_many_identities_are_refused_not_cut
);

async fn too_many_identities_are_refused_not_cut(app: TestApp) {
    // The production body limit (16 MB), which 100,000 identities fit in.
    let mut app = app;
    app.restart(|s| s.max_body_bytes = 16 * 1024 * 1024).await;
    let identities: Vec<serde_json::Value> =
        (0..100_000).map(|i| json!({ "kind": "external_id", "value": format!("customer-{i}") })).collect();
    let (status, body) = app.post("/api/v1/contacts", json!({ "name": "Many", "identities": identities })).await;
    assert_eq!((status, body["error"]["fields"][0]["field"].as_str()), (422, Some("identities")), "{body}");
    let twenty: Vec<serde_json::Value> = (0..20).map(|i| json!({ "kind": "external_id", "value": format!("c-{i}") })).collect();
    let (status, contact) = app.post("/api/v1/contacts", json!({ "name": "Twenty", "identities": twenty })).await;
    assert_eq!(status, 201);
    assert_eq!(contact["identities"].as_array().unwrap().len(), 20, "all twenty kept");
}

async fn identities_are_validated_and_linked(app: TestApp) {
    let (status, err) = app
        .post(
            "/api/v1/contacts",
            json!({ "name": "Luca", "identities": [{ "kind": "email", "value": "luca@" }, { "kind": "phone", "value": "12" }] }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["code"], "invalid_input");
    let fields: Vec<&str> = err["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["identities[0].value", "identities[1].value"]);
    assert!(err["error"]["fields"][1]["message"].as_str().unwrap().contains("phone"));
    let (_, list) = app.get("/api/v1/contacts").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "nothing may be half written");

    let (status, luca) = app
        .post(
            "/api/v1/contacts",
            json!({ "name": "Luca Conti", "language": "IT", "identities": [{ "kind": "email", "value": "LUCA@conti.example" }] }),
        )
        .await;
    assert_eq!(status, 201, "{luca}");
    assert_eq!(luca["language"], "it");
    let id = luca["id"].as_str().unwrap();
    let (status, linked) =
        app.post(&format!("/api/v1/contacts/{id}/identities"), json!({ "kind": "phone", "value": "+39 347 555 0101" })).await;
    assert_eq!(status, 200, "{linked}");
    assert!(linked["identities"].to_string().contains("+393475550101"));

    // An identity that belongs to someone else is a conflict naming them.
    let (_, other) = app.post("/api/v1/contacts", json!({ "name": "Other" })).await;
    let other_id = other["id"].as_str().unwrap();
    let (status, err) =
        app.post(&format!("/api/v1/contacts/{other_id}/identities"), json!({ "kind": "email", "value": "luca@conti.example" })).await;
    assert_eq!(status, 409);
    assert!(err["error"]["message"].as_str().unwrap().contains(id), "{err}");

    // Search finds by name and by identity.
    let (_, found) = app.get("/api/v1/contacts?q=conti").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    let (_, found) = app.get("/api/v1/contacts?q=%2B39347").await;
    assert_eq!(found["data"][0]["id"], id);
    // Search text is data, not a pattern.
    let (_, found) = app.get("/api/v1/contacts?q=%25").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 0);
}

async fn merging_moves_everything_and_is_audited(app: TestApp) {
    let email = app.create_inbox("email", "support").await;
    let sms = app.create_inbox("sms", "sms").await;
    let a = app.inbound(&email, json!([{ "kind": "email", "value": "giulia@example.it" }]), "email question").await;
    let b = app.inbound(&sms, json!([{ "kind": "phone", "value": "+39 333 765 4321" }]), "sms question").await;
    assert_ne!(a["contact_id"], b["contact_id"]);
    let (target, source) = (a["contact_id"].as_str().unwrap(), b["contact_id"].as_str().unwrap());
    let (status, _) = app
        .post(
            &format!("/api/v1/contacts/{source}/interactions"),
            json!({ "kind": "order", "summary": "Order #77", "data": { "total": 12.5 } }),
        )
        .await;
    assert_eq!(status, 201);

    // Agents may not merge; supervisors and admins may.
    let (_, agent) = app.post("/api/v1/users", json!({ "email": "agent@acme.example", "name": "Agent", "role": "agent" })).await;
    let (_, token) = app.post("/api/v1/api-tokens", json!({ "name": "agent", "user_id": agent["id"] })).await;
    let (status, _) = app
        .call_as(
            token["secret"].as_str().unwrap(),
            Method::POST,
            &format!("/api/v1/contacts/{target}/merge"),
            Some(json!({ "contact_id": source })),
        )
        .await;
    assert_eq!(status, 403);

    let receiver = WebhookReceiver::start(0).await;
    let (status, _) = app.post("/api/v1/webhooks", json!({ "url": receiver.url(), "events": ["contact.merged"] })).await;
    assert_eq!(status, 201);
    let (status, merged) = app.post(&format!("/api/v1/contacts/{target}/merge"), json!({ "contact_id": source })).await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["identities"].as_array().unwrap().len(), 2);
    // Subscribers are told which contact remains, as it now is, and why.
    let delivered = receiver.wait_for(10, |r| !r.is_empty()).await;
    let event: Value = serde_json::from_slice(&delivered.first().expect("contact.merged delivered").body).unwrap();
    assert_eq!(event["data"]["contact"]["id"], target);
    assert_eq!(event["data"]["contact"]["identities"].as_array().unwrap().len(), 2);
    assert_eq!((&event["data"]["merged_contact_id"], &event["data"]["reason"]), (&json!(source), &json!("manual")));

    let (status, gone) = app.get(&format!("/api/v1/contacts/{source}")).await;
    assert_eq!(status, 404);
    assert_eq!(gone["error"]["code"], "contact_merged");
    assert!(gone["error"]["message"].as_str().unwrap().contains(target));

    let (_, timeline) = app.get(&format!("/api/v1/contacts/{target}/timeline")).await;
    let entries = timeline["data"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "both conversations' messages and the order: {timeline}");
    let (_, conversations) = app.get(&format!("/api/v1/conversations?contact_id={target}")).await;
    assert_eq!(conversations["data"].as_array().unwrap().len(), 2);

    // The next SMS from the merged number reaches the surviving contact.
    let next = app.inbound(&sms, json!([{ "kind": "phone", "value": "3337654321" }]), "again").await;
    assert_eq!(next["contact_id"], target);

    let (_, audit) = app.get(&format!("/api/v1/audit-log?subject_id={target}")).await;
    let merge = audit["data"].as_array().unwrap().iter().find(|e| e["action"] == "contact.merge").expect("merge audited");
    assert_eq!(merge["data"]["source"]["id"], source);
    assert_eq!(merge["data"]["moved"]["conversations"], 1);

    let (status, _) = app.post(&format!("/api/v1/contacts/{target}/merge"), json!({ "contact_id": target })).await;
    assert_eq!(status, 409);
}

async fn duplicate_suggestions(mut app: TestApp) {
    let mk = |name: &str, identities: Value| json!({ "name": name, "identities": identities });
    let (_, a) = app.post("/api/v1/contacts", mk("Maria Rossi", json!([{ "kind": "phone", "value": "+39 333 111 2222" }]))).await;
    let (_, b) = app.post("/api/v1/contacts", mk("M. R.", json!([{ "kind": "whatsapp", "value": "393331112222" }]))).await;
    let (_, c) = app.post("/api/v1/contacts", mk("Giovanni Esposito", json!([{ "kind": "email", "value": "gio@example.it" }]))).await;
    let (_, d) = app.post("/api/v1/contacts", mk("Giovani Esposito", json!([{ "kind": "email", "value": "gio+shop@example.it" }]))).await;
    let (_, e) = app.post("/api/v1/contacts", mk("Lucia Verdi", json!([{ "kind": "email", "value": "l_v@example.it" }]))).await;
    // A `_` in an address is a character, not a LIKE wildcard.
    let (_, _f) = app.post("/api/v1/contacts", mk("Altro Nome", json!([{ "kind": "email", "value": "lxv+x@example.it" }]))).await;
    let (status, suggestions) = app.get("/api/v1/contacts/duplicates").await;
    assert_eq!(status, 200);
    let pairs: Vec<(Vec<String>, String)> = suggestions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut ids: Vec<String> = s["contact_ids"].as_array().unwrap().iter().map(|i| i.as_str().unwrap().to_owned()).collect();
            ids.sort();
            (ids, s["reason"].as_str().unwrap().to_owned())
        })
        .collect();
    let pair = |x: &Value, y: &Value| {
        let mut ids = vec![x["id"].as_str().unwrap().to_owned(), y["id"].as_str().unwrap().to_owned()];
        ids.sort();
        ids
    };
    assert!(pairs.iter().any(|(ids, reason)| *ids == pair(&a, &b) && reason.contains("phone")), "{suggestions}");
    assert!(pairs.iter().any(|(ids, reason)| *ids == pair(&c, &d) && reason.contains("email")), "{suggestions}");
    assert_eq!(pairs.len(), 2, "only the two real pairs: {suggestions}");

    // The same, looked up around one contact (the conversation page does this).
    let around = |id: &Value| format!("/api/v1/contacts/{}/duplicates", id["id"].as_str().unwrap());
    let (status, of_a) = app.get(&around(&a)).await;
    assert_eq!(status, 200);
    assert_eq!(of_a.as_array().unwrap().len(), 1, "{of_a}");
    assert_eq!(of_a[0]["contact"]["id"], b["id"]);
    assert!(of_a[0]["reason"].as_str().unwrap().contains("phone"), "{of_a}");
    let (_, of_d) = app.get(&around(&d)).await;
    assert_eq!(of_d.as_array().unwrap().len(), 1, "{of_d}");
    assert_eq!(of_d[0]["contact"]["id"], c["id"]);
    assert!(of_d[0]["reason"].as_str().unwrap().contains("email"), "{of_d}");
    let (_, of_e) = app.get(&around(&e)).await;
    assert_eq!(of_e, json!([]));
    let (status, _) = app.get("/api/v1/contacts/00000000-0000-0000-0000-000000000000/duplicates").await;
    assert_eq!(status, 404);

    // The same name in another order, case and accents.
    let (_, g) = app.post("/api/v1/contacts", mk("VERDI  Lucìa", json!([]))).await;
    let (_, of_e) = app.get(&around(&e)).await;
    assert_eq!(of_e.as_array().unwrap().len(), 1, "{of_e}");
    assert_eq!(of_e[0]["contact"]["id"], g["id"]);
    assert!(of_e[0]["reason"].as_str().unwrap().contains("same name"), "{of_e}");
    // Contacts stored before names had keys get theirs at the next start.
    app.sql("UPDATE contacts SET name_key = NULL").await;
    let (_, of_e) = app.get(&around(&e)).await;
    assert_eq!(of_e, json!([]));
    app.restart(|_| {}).await;
    let (_, of_e) = app.get(&around(&e)).await;
    assert_eq!(of_e.as_array().unwrap().len(), 1, "found again after the restart: {of_e}");
}

async fn timeline_pages_through_messages_and_interactions(app: TestApp) {
    let api = app.create_inbox("api", "shop integration").await;
    let first = app.inbound(&api, json!([{ "kind": "external_id", "value": "cust-9" }]), "message 0").await;
    let contact = first["contact_id"].as_str().unwrap();
    for i in 1..8 {
        app.inbound(&api, json!([{ "kind": "external_id", "value": "cust-9" }]), &format!("message {i}")).await;
        let kind = ["call", "shop_visit", "page_view", "survey_answer"][i % 4];
        let (status, body) =
            app.post(&format!("/api/v1/contacts/{contact}/interactions"), json!({ "kind": kind, "summary": format!("{kind} {i}") })).await;
        assert_eq!(status, 201, "{body}");
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/contacts/{contact}/timeline?limit=4&cursor={c}"),
            None => format!("/api/v1/contacts/{contact}/timeline?limit=4"),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for entry in page["data"].as_array().unwrap() {
            seen.push((
                entry["type"].as_str().unwrap().to_owned(),
                entry["id"].as_str().unwrap().to_owned(),
                entry.get("created_at").or(entry.get("occurred_at")).unwrap().as_str().unwrap().to_owned(),
            ));
        }
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 15, "8 messages and 7 interactions, each once");
    let mut ids: Vec<&String> = seen.iter().map(|(_, id, _)| id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 15);
    let times: Vec<&String> = seen.iter().map(|(_, _, at)| at).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    let (status, _) = app.get(&format!("/api/v1/contacts/{contact}/timeline?cursor=garbage")).await;
    assert_eq!(status, 422);
}

async fn consents_are_recorded(app: TestApp) {
    let (_, c) = app.post("/api/v1/contacts", json!({ "name": "Chiara" })).await;
    let id = c["id"].as_str().unwrap();
    let (status, updated) = app
        .call(
            Method::PUT,
            &format!("/api/v1/contacts/{id}/consents"),
            Some(json!({ "consents": [
                { "channel": "whatsapp", "purpose": "marketing", "granted": true, "source": "checkout form" },
                { "channel": "email", "purpose": "surveys", "granted": false }
            ] })),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["consents"].as_array().unwrap().len(), 2);
    let (_, updated) = app
        .call(
            Method::PUT,
            &format!("/api/v1/contacts/{id}/consents"),
            Some(json!({ "consents": [{ "channel": "whatsapp", "purpose": "marketing", "granted": false, "source": "STOP reply" }] })),
        )
        .await;
    let wa = updated["consents"].as_array().unwrap().iter().find(|c| c["channel"] == "whatsapp").unwrap();
    assert_eq!(wa["granted"], false);
    assert_eq!(wa["source"], "STOP reply");
    let (_, audit) = app.get(&format!("/api/v1/audit-log?subject_id={id}")).await;
    assert_eq!(audit["data"].as_array().unwrap().iter().filter(|e| e["action"] == "consent.set").count(), 3);

    let (status, _) = app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            json!({ "attributes": { "city": "Torino", "tier": "gold" }, "preferred_channels": { "billing": "email" } }),
        )
        .await;
    assert_eq!(status, 200);
    let (_, updated) = app.patch(&format!("/api/v1/contacts/{id}"), json!({ "attributes": { "tier": null } })).await;
    assert_eq!(updated["attributes"], json!({ "city": "Torino" }));
    assert_eq!(updated["preferred_channels"]["billing"], "email");
}
