//! Workload and cost: an agent online for eight hours answers a customer
//! twice and leaves a note; handle time counts each from the message
//! before it (at most a quarter hour), occupancy is that over the time
//! online; with unit prices set, the messages and the minutes cost what
//! the prices say, per channel and per customer. Agents read their own
//! workload, not the costs; bad prices are refused. Days over are stored
//! and read back as the messages would give them, and a change (an
//! erasure) is seen at once; so are the spans of days stored merged for
//! long periods.

use serde_json::json;
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(
    handle_time_occupancy_and_cost_follow_the_messages,
    stored_days_give_the_numbers_the_messages_give,
    a_long_period_reads_stored_spans_of_days
);

const T0: i64 = 1_772_442_000_000_000; // 2026-03-02T09:00:00Z, in microseconds

/// Customer `who`'s question `i` on `inbox`, answered by the agent whose
/// token is `token` and resolved, placed at noon UTC on `day` with the
/// answer `gap` after it; its contact and conversation ids.
async fn answered(app: &TestApp, inbox: &str, token: &str, who: &str, i: usize, day: i64, gap: time::Duration) -> (String, String) {
    let state = &app.server().state;
    let account: threadline_domain::ids::AccountId = app.account_id.parse().unwrap();
    let outcome = app.inbound(inbox, json!([{ "kind": "email", "value": who }]), &format!("Question {i}")).await;
    let conversation = outcome["conversation"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let (status, _) = app.call_as(token, reqwest::Method::POST, &path, Some(json!({ "text": "Answered." }))).await;
    assert_eq!(status, 201);
    let (status, _) = app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    state.store.backdate_conversation(account, conversation.parse().unwrap(), noon(day), gap).await.unwrap();
    (outcome["contact_id"].as_str().unwrap().to_owned(), conversation)
}

/// Noon UTC on `day`: a conversation placed there stays on its day.
/// An agent's reply in `conversation` written since it was last measured:
/// the measuring is moved back to `measured_at` and the reply to `written_at`.
async fn late_reply(
    app: &TestApp,
    token: &str,
    conversation: &str,
    text: &str,
    measured_at: time::OffsetDateTime,
    written_at: time::OffsetDateTime,
) {
    let (status, reply) = app
        .call_as(token, reqwest::Method::POST, &format!("/api/v1/conversations/{conversation}/messages"), Some(json!({ "text": text })))
        .await;
    assert_eq!(status, 201, "{reply}");
    let micros = |t: time::OffsetDateTime| t.unix_timestamp_nanos() / 1000;
    app.sql(&format!("UPDATE conversation_metrics SET refreshed_at = {} WHERE conversation_id = '{conversation}'", micros(measured_at)))
        .await;
    app.sql(&format!("UPDATE messages SET created_at = {} WHERE id = '{}'", micros(written_at), reply["id"].as_str().unwrap())).await;
}

fn noon(day: i64) -> time::OffsetDateTime {
    threadline_domain::tally::day_start(day) + time::Duration::hours(12)
}

fn at(minutes: i64) -> i64 {
    T0 + minutes * 60_000_000
}

async fn handle_time_occupancy_and_cost_follow_the_messages(app: TestApp) {
    let inbox = app.create_inbox("api", "Shop").await;
    let (paolo, paolo_token) = app.create_user("paolo@acme.example", "Paolo Neri", "agent").await;
    let (status, _) = app.call_as(&paolo_token, reqwest::Method::PUT, "/api/v1/me/presence", Some(json!({ "status": "online" }))).await;
    assert_eq!(status, 204);
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "Where is my parcel?").await;
    let conversation = outcome["conversation"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let mut written = Vec::new();
    for body in
        [json!({ "text": "Let me check." }), json!({ "text": "Courier called", "kind": "note" }), json!({ "text": "It arrives tomorrow." })]
    {
        let (status, message) = app.call_as(&paolo_token, reqwest::Method::POST, &path, Some(body)).await;
        assert_eq!(status, 201, "{message}");
        written.push(message["id"].as_str().unwrap().to_owned());
    }
    // Put the day in place: the customer at 9:00, Paolo at 9:04, his note at 9:05, his answer at 9:40; online 8:00–16:00.
    app.sql(&format!("UPDATE messages SET created_at = {} WHERE conversation_id = '{conversation}' AND direction = 'inbound'", at(0)))
        .await;
    for (id, minute) in written.iter().zip([4, 5, 40]) {
        app.sql(&format!("UPDATE messages SET created_at = {} WHERE id = '{id}'", at(minute))).await;
    }
    app.sql(&format!("UPDATE presence_spans SET started_at = {}, last_seen_at = {} WHERE user_id = '{paolo}'", at(-60), at(7 * 60))).await;

    let period = "from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z";
    let (status, report) = app.get(&format!("/api/v1/reports/workload?{period}")).await;
    assert_eq!(status, 200, "{report}");
    let line = report["agents"].as_array().unwrap().iter().find(|a| a["agent_id"] == paolo.as_str()).unwrap().clone();
    assert_eq!((line["replies"].as_i64(), line["notes"].as_i64(), line["conversations"].as_i64()), (Some(2), Some(1), Some(1)), "{line}");
    assert_eq!(line["handle_secs"], 4 * 60 + 60 + 15 * 60, "9:40 is 35 minutes after the note: a quarter hour counts");
    assert_eq!(line["online_secs"], 8 * 3600);
    assert_eq!(line["occupancy"].as_f64().unwrap(), 1200.0 / 28800.0);

    // Prices: refused when wrong, then set.
    let (status, error) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/reports/unit-costs",
            Some(json!({ "currency": "euro", "channels": { "fax": { "message": -1 } } })),
        )
        .await;
    assert_eq!(status, 422, "{error}");
    let fields: Vec<&str> = error["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["currency", "channels.fax", "channels.fax.message"]);
    let prices = json!({ "currency": "EUR", "channels": { "api": { "message": 0.01, "agent_minute": 0.5 } } });
    let (status, saved) = app.call(reqwest::Method::PUT, "/api/v1/reports/unit-costs", Some(prices.clone())).await;
    assert_eq!((status, &saved), (200, &prices));
    let (status, costs) = app.get(&format!("/api/v1/reports/costs?{period}")).await;
    assert_eq!(status, 200, "{costs}");
    // Three messages (the note is not one) and 20 minutes of Paolo's time.
    assert_eq!((costs["messages"].as_i64(), costs["handle_secs"].as_i64(), costs["contacts"].as_i64()), (Some(3), Some(1200), Some(1)));
    let total = costs["total"].as_f64().unwrap();
    assert!((total - (3.0 * 0.01 + 20.0 * 0.5)).abs() < 1e-9, "{costs}");
    assert_eq!(costs["per_contact"].as_f64().unwrap(), total);
    assert_eq!(costs["currency"], "EUR");
    let response =
        app.client.get(app.url(&format!("/api/v1/reports/costs?{period}&format=csv"))).bearer_auth(&app.token).send().await.unwrap();
    let csv = response.text().await.unwrap();
    assert!(csv.contains("api,3,1200,0.0300,10.0000,10.0300,1,10.0300,EUR"), "{csv}");

    // Paolo reads his own workload; the costs are for supervisors.
    let (status, own) = app.call_as(&paolo_token, reqwest::Method::GET, &format!("/api/v1/reports/workload?{period}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(own["agents"].as_array().unwrap().len(), 1);
    let (status, _) = app.call_as(&paolo_token, reqwest::Method::GET, &format!("/api/v1/reports/costs?{period}"), None).await;
    assert_eq!(status, 403);
}

/// Workload and cost of days over come from their stored counts, which
/// give the numbers the messages give; erasing a customer marks the days
/// their messages were on, read from the messages until stored again.
async fn stored_days_give_the_numbers_the_messages_give(app: TestApp) {
    let state = &app.server().state;
    let account: threadline_domain::ids::AccountId = app.account_id.parse().unwrap();
    let inbox = app.create_inbox("api", "Shop").await;
    let (_, paolo_token) = app.create_user("paolo@acme.example", "Paolo Neri", "agent").await;
    let now = state.clock.now();
    let (mut contacts, mut conversations) = (Vec::new(), Vec::new());
    let people = [("ada@example.com", 3), ("bo@example.com", 2), ("ada@example.com", 2), ("cy@example.com", 3)];
    for (i, (who, days_ago)) in people.into_iter().enumerate() {
        let day = threadline_domain::tally::day_number(now) - days_ago;
        let (contact, conversation) = answered(&app, &inbox, &paolo_token, who, i, day, time::Duration::minutes(7)).await;
        contacts.push(contact);
        conversations.push(conversation);
    }
    threadline_server::metrics::refresh(state).await.unwrap();
    let today = threadline_domain::tally::day_start(threadline_domain::tally::day_number(now));
    let (from, to) = (today - time::Duration::days(7), today);
    let live = state.store.work_tally(account, from, to).await.unwrap().into_counts();
    assert!(threadline_server::metrics::roll(state).await.unwrap() >= 2);
    let (stored, stored_days) = state.store.work(account, from, to, now).await.unwrap();
    assert_eq!(stored_days, 2, "the two days with messages are stored (the others have nothing to read)");
    assert_eq!(stored, live, "stored days add up to what the messages give");
    let period = format!(
        "from={}&to={}",
        from.format(&time::format_description::well_known::Rfc3339).unwrap(),
        to.format(&time::format_description::well_known::Rfc3339).unwrap()
    );
    let (_, costs) = app.get(&format!("/api/v1/reports/costs?{period}")).await;
    assert_eq!(
        (costs["messages"].as_i64(), costs["contacts"].as_i64(), costs["conversations"].as_i64()),
        (Some(8), Some(3), Some(4)),
        "{costs}"
    );
    let (_, work) = app.get(&format!("/api/v1/reports/workload?{period}")).await;
    let line = work["agents"].as_array().unwrap().iter().find(|a| a["replies"] == 4).cloned();
    assert_eq!(line.map(|l| (l["conversations"].as_i64(), l["handle_secs"].as_i64())), Some((Some(4), Some(4 * 7 * 60))), "{work}");

    // A reply written in Ada's first conversation since it was last measured
    // (made to look as if that was two and a half days ago and the reply
    // came two days ago): its day is read again, and stored again with it.
    let first = &conversations[0];
    late_reply(&app, &paolo_token, first, "One more thing.", now - time::Duration::hours(60), now - time::Duration::days(2)).await;
    threadline_server::metrics::refresh(state).await.unwrap();
    let (_, stored_days) = state.store.work(account, from, to, now).await.unwrap();
    assert_eq!(stored_days, 0, "the reply's day is marked beside the conversation's own");
    threadline_server::metrics::roll(state).await.unwrap();
    let live = state.store.work_tally(account, from, to).await.unwrap().into_counts();
    assert_eq!(state.store.work(account, from, to, now).await.unwrap(), (live.clone(), 2));
    assert_eq!(live.agents.values().map(|a| a.replies).sum::<i64>(), 5);

    // Cy turns out to be Ada: the day of Cy's messages counts one customer.
    let (status, merged) = app.post(&format!("/api/v1/contacts/{}/merge", contacts[0]), json!({ "contact_id": contacts[3] })).await;
    assert_eq!(status, 200, "{merged}");
    let (after, stored_days) = state.store.work(account, from, to, now).await.unwrap();
    assert_eq!((stored_days, after.contacts.count()), (1, 2), "Cy's day is read again: Ada and Bo");
    threadline_server::metrics::roll(state).await.unwrap();
    assert_eq!(state.store.work(account, from, to, now).await.unwrap(), (after, 2), "and stored again so");

    // Bo is erased: the day of his messages is read again at once.
    let (status, report) = app.call(reqwest::Method::DELETE, &format!("/api/v1/contacts/{}", contacts[1]), None).await;
    assert_eq!(status, 200, "{report}");
    let (after, stored_days) = state.store.work(account, from, to, now).await.unwrap();
    assert_eq!(stored_days, 1, "Bo's day is not read from its stored counts");
    assert_eq!((after.contacts.count(), after.conversations.count()), (1, 3));
    threadline_server::metrics::roll(state).await.unwrap();
    assert_eq!(state.store.work(account, from, to, now).await.unwrap(), (after, 2), "and stored again without him");
}

/// Over the four spans of eight days before today's, workload comes from
/// the spans' stored counts: the same numbers the messages give. A change inside a span (an erasure) makes the span unused until
/// stored again; a span that cannot be read is read by its days.
async fn a_long_period_reads_stored_spans_of_days(app: TestApp) {
    let state = &app.server().state;
    let account: threadline_domain::ids::AccountId = app.account_id.parse().unwrap();
    let inbox = app.create_inbox("api", "Shop").await;
    let (_, paolo_token) = app.create_user("paolo@acme.example", "Paolo Neri", "agent").await;
    let now = state.clock.now();
    let today = threadline_domain::tally::day_number(now);
    let end = threadline_domain::workload::span_start(today);
    let first = end - 32;
    let (mut contacts, mut conversations) = (Vec::new(), Vec::new());
    // Days into the four spans: Di in the first, Bo and Ada in the second, Cy in the third, Ada again in the fourth.
    let people = [("ada@example.com", 12), ("bo@example.com", 9), ("ada@example.com", 30), ("cy@example.com", 20), ("di@example.com", 1)];
    for (i, (who, day)) in people.into_iter().enumerate() {
        let (contact, conversation) = answered(&app, &inbox, &paolo_token, who, i, first + day, time::Duration::minutes(5)).await;
        contacts.push(contact);
        conversations.push(conversation);
    }
    threadline_server::metrics::refresh(state).await.unwrap();
    threadline_server::metrics::roll(state).await.unwrap();
    let (from, to) = (threadline_domain::tally::day_start(first), threadline_domain::tally::day_start(end));
    let spans_sql = format!("SELECT day FROM metrics_rollups WHERE dim = 'work_span' AND day >= {first} AND day < {end} ORDER BY day");
    let spans = || app.sql_integers(&spans_sql);
    assert_eq!(spans().await, [first, first + 8, first + 16, first + 24], "each span with a stored day is stored");
    let live = state.store.work_tally(account, from, to).await.unwrap().into_counts();
    assert_eq!((live.contacts.count(), live.conversations.count()), (4, 5));
    let (stored, stored_days) = state.store.work(account, from, to, now).await.unwrap();
    assert_eq!(stored, live, "spans add up to what the messages give");
    assert_eq!(stored_days, 32, "four whole spans");

    // Bo is erased: his day's span is not used until stored again (its other days have nothing stored).
    let (status, report) = app.call(reqwest::Method::DELETE, &format!("/api/v1/contacts/{}", contacts[1]), None).await;
    assert_eq!(status, 200, "{report}");
    let (after, stored_days) = state.store.work(account, from, to, now).await.unwrap();
    assert_eq!(stored_days, 24 + 1, "three spans, and Ada's day in Bo's span");
    assert_eq!((after.contacts.count(), after.conversations.count()), (3, 4));
    assert_eq!(after, state.store.work_tally(account, from, to).await.unwrap().into_counts());
    threadline_server::metrics::roll(state).await.unwrap();
    assert_eq!(state.store.work(account, from, to, now).await.unwrap(), (after.clone(), 32), "stored again, span and all");
    assert_eq!(spans().await.len(), 4);

    // A reply in Ada's first conversation since it was last measured,
    // landing the day after it in the second span (a day with nothing
    // stored): measuring it marks that day, which keeps the span from
    // being read until it is stored again with the day.
    let ada = &conversations[0];
    late_reply(&app, &paolo_token, ada, "And one more.", noon(first + 12), noon(first + 13)).await;
    threadline_server::metrics::refresh(state).await.unwrap();
    let live = state.store.work_tally(account, from, to).await.unwrap().into_counts();
    assert_eq!(live.channels.values().map(|c| c.messages).sum::<i64>(), 9);
    assert_eq!(
        state.store.work(account, from, to, now).await.unwrap(),
        (live.clone(), 24 + 1),
        "three spans and Bo's day: the conversation's day and the reply's are read from their messages"
    );
    threadline_server::metrics::roll(state).await.unwrap();
    assert_eq!(state.store.work(account, from, to, now).await.unwrap(), (live.clone(), 32), "the span stored again with the reply's day");
    let after = live;

    // A span that cannot be read: its days are read instead.
    app.sql(&format!("UPDATE metrics_rollups SET tally = '{{' WHERE dim = 'work_span' AND day = {first}")).await;
    let (read, stored_days) = state.store.work(account, from, to, now).await.unwrap();
    assert_eq!((read, stored_days), (after, 24 + 1), "three spans, and Di's day");
    let (status, costs) = app
        .get(&format!(
            "/api/v1/reports/costs?from={}&to={}",
            from.format(&time::format_description::well_known::Rfc3339).unwrap(),
            to.format(&time::format_description::well_known::Rfc3339).unwrap()
        ))
        .await;
    assert_eq!(status, 200, "{costs}");
    assert_eq!((costs["messages"].as_i64(), costs["contacts"].as_i64()), (Some(9), Some(3)), "{costs}");
}
