//! Reports against docs/metrics.md: a golden fixture (conversations with
//! every case the definitions name, and the numbers worked out by hand,
//! in `metrics_golden.json`) loaded as stored history, and the same
//! numbers through the real write paths (messages, replies, resolution,
//! reopening) measured by the refresh job.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(
    the_golden_month_gives_the_numbers_of_the_definitions,
    reports_follow_what_happens_in_conversations,
    report_requests_are_checked,
    the_conversation_export_streams_every_conversation_once,
    a_busy_conversation_is_measured_when_it_settles_or_at_the_latest_after_the_lag,
    a_stored_day_is_read_again_when_it_changes_or_its_verdicts_ripen,
    the_backlog_adds_old_stored_days_to_what_it_counts,
);

/// The backlog (unresolved conversations by status and age) takes days
/// more than a week old from what the roll-up stored with them, and counts
/// the rest from the conversations — the last week, and any day changed
/// since it was stored; the numbers are the same either way.
async fn the_backlog_adds_old_stored_days_to_what_it_counts(app: TestApp) {
    let state = &app.server().state;
    let inbox = app.create_inbox("api", "Shop").await;
    let now = state.clock.now();
    let mut old = Vec::new();
    // Ada and Bea wrote twenty days ago, Cleo thirty; Cleo's is pending.
    for (name, days) in [("ada", 20), ("bea", 20), ("cleo", 30)] {
        let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": format!("{name}@example.com") }]), "Any news?").await;
        let conversation = outcome["conversation"]["id"].as_str().unwrap().to_owned();
        state
            .store
            .backdate_conversation(
                app.account_id.parse().unwrap(),
                conversation.parse().unwrap(),
                now - time::Duration::days(days),
                time::Duration::minutes(10),
            )
            .await
            .unwrap();
        old.push(conversation);
    }
    let (status, _) = app.patch(&format!("/api/v1/conversations/{}", old[2]), json!({ "status": "pending" })).await;
    assert_eq!(status, 200);
    // Dora writes now.
    let dora = app.inbound(&inbox, json!([{ "kind": "email", "value": "dora@example.com" }]), "Hello?").await;
    let dora = dora["conversation"]["id"].as_str().unwrap().to_owned();
    refresh(&app).await;
    let backlog = |report: &Value| {
        let b = &report["backlog"];
        (
            b["open"].as_i64().unwrap(),
            b["pending"].as_i64().unwrap(),
            b["by_age"][0][1].as_i64().unwrap(),
            b["by_age"][5][1].as_i64().unwrap(),
        )
    };
    let (_, counted) = app.get("/api/v1/reports/summary").await;
    assert_eq!(backlog(&counted), (3, 1, 1, 3), "open: Ada, Bea, Dora; pending: Cleo; under an hour: Dora: {}", counted["backlog"]);
    let oldest = counted["backlog"]["oldest_age_secs"].as_i64().unwrap();
    assert!((30 * 86_400..30 * 86_400 + 60).contains(&oldest), "Cleo's, thirty days: {oldest}");

    // Once their days are stored, the report reads them and gives the same.
    assert!(threadline_server::metrics::roll(state).await.unwrap() >= 2);
    let stored = "SELECT COUNT(*) FROM metrics_rollups WHERE dim = 'backlog' AND (tally LIKE '%\"open\":2,\"pending\":0%' \
                  OR tally LIKE '%\"open\":0,\"pending\":1%')";
    assert_eq!(app.sql_integers(stored).await, [2], "twenty days ago: two open; thirty: one pending");
    let (_, read) = app.get("/api/v1/reports/summary").await;
    assert_eq!(read["backlog"], counted["backlog"]);
    // Days stored before the backlog was stored with them get it from the
    // migration that brought it, the same as the roll-up stores it.
    app.sql("DELETE FROM metrics_rollups WHERE dim = 'backlog'").await;
    let migration = include_str!("../../../threadline-store/migrations/postgres/0047_backlog_rollups.sql");
    assert_eq!(migration, include_str!("../../../threadline-store/migrations/sqlite/0047_backlog_rollups.sql"));
    app.sql(&migration[migration.find("INSERT INTO metrics_rollups").unwrap()..]).await;
    assert_eq!(app.sql_integers(stored).await, [2]);
    let (_, read) = app.get("/api/v1/reports/summary").await;
    assert_eq!(read["backlog"], counted["backlog"]);
    // What is stored is what is read: the count is not taken twice.
    app.sql("UPDATE metrics_rollups SET tally = '{\"open\":7,\"pending\":0,\"snoozed\":0,\"oldest\":null}' WHERE dim = 'backlog' AND tally LIKE '%\"open\":2,%'")
        .await;
    let (_, read) = app.get("/api/v1/reports/summary").await;
    assert_eq!(backlog(&read), (8, 1, 1, 8));
    // A stored backlog that cannot be read: the day is counted from its
    // conversations, and stored again by the next roll-up.
    app.sql("UPDATE metrics_rollups SET tally = 'not a backlog' WHERE dim = 'backlog' AND tally LIKE '%\"open\":7,%'").await;
    let (_, read) = app.get("/api/v1/reports/summary").await;
    assert_eq!(read["backlog"], counted["backlog"]);
    assert_eq!(threadline_server::metrics::roll(state).await.unwrap(), 1, "the damaged day is stored again");
    assert_eq!(app.sql_integers(stored).await, [2]);

    // Ada's old conversation is resolved: its day is counted from the
    // conversations until stored again, and then stored as it now is.
    let (status, _) = app.patch(&format!("/api/v1/conversations/{}", old[0]), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    refresh(&app).await;
    let (_, resolved) = app.get("/api/v1/reports/summary").await;
    assert_eq!(backlog(&resolved), (2, 1, 1, 2), "{}", resolved["backlog"]);
    assert_eq!(threadline_server::metrics::roll(state).await.unwrap(), 1);
    let (_, read) = app.get("/api/v1/reports/summary").await;
    assert_eq!(read["backlog"], resolved["backlog"]);
    let one_open = "SELECT COUNT(*) FROM metrics_rollups WHERE dim = 'backlog' AND tally LIKE '%\"open\":1,\"pending\":0%'";
    assert_eq!(app.sql_integers(one_open).await, [1], "twenty days ago: Bea's alone");

    // Dora's conversation, measured already, turns out to be fifteen days
    // old: its new day is stored with it, and resolving it later marks
    // that day, not the one it was first measured in.
    state
        .store
        .backdate_conversation(
            app.account_id.parse().unwrap(),
            dora.parse().unwrap(),
            state.clock.now() - time::Duration::days(15),
            time::Duration::minutes(10),
        )
        .await
        .unwrap();
    refresh(&app).await;
    threadline_server::metrics::roll(state).await.unwrap();
    let (_, moved) = app.get("/api/v1/reports/summary").await;
    assert_eq!(backlog(&moved), (2, 1, 0, 3), "Dora's is over a week old now: {}", moved["backlog"]);
    let (status, _) = app.patch(&format!("/api/v1/conversations/{dora}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    refresh(&app).await;
    let (_, resolved) = app.get("/api/v1/reports/summary").await;
    assert_eq!(backlog(&resolved), (1, 1, 0, 2), "Bea's and Cleo's: {}", resolved["backlog"]);
}

/// Reports read a day's stored tallies only while they hold: a day a
/// later change touched, or whose pending verdicts' window has since
/// ended, is read from its conversations until it is stored again.
async fn a_stored_day_is_read_again_when_it_changes_or_its_verdicts_ripen(app: TestApp) {
    let state = &app.server().state;
    let inbox = app.create_inbox("api", "Shop").await;
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "Where is my parcel?").await;
    let conversation = outcome["conversation"]["id"].as_str().unwrap().to_owned();
    let (status, _) = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({ "text": "On its way." })).await;
    assert_eq!(status, 201);
    let (status, _) = app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    // It happened three days ago, at noon (so that its ten minutes stay
    // within one day whatever the hour the test runs): answered after ten
    // minutes, resolved then.
    let now = state.clock.now();
    let three_days_ago = (now - time::Duration::days(3)).replace_time(time::Time::from_hms(12, 0, 0).unwrap());
    state
        .store
        .backdate_conversation(app.account_id.parse().unwrap(), conversation.parse().unwrap(), three_days_ago, time::Duration::minutes(10))
        .await
        .unwrap();
    refresh(&app).await;
    assert!(threadline_server::metrics::roll(state).await.unwrap() >= 1);
    let summary = |report: &Value| report["current"]["summary"].clone();
    let (_, stored) = app.get("/api/v1/reports/summary").await;
    let stored_days = stored["freshness"]["stored_days"].as_i64().unwrap();
    assert!(stored_days >= 28, "{stored}");
    let s = summary(&stored);
    assert_eq!((s["conversations"].as_i64(), s["resolved"].as_i64()), (Some(1), Some(1)), "{s}");
    assert_eq!(s["first_contact_resolution"]["pending"], 1, "the week has not passed: {s}");

    // Reopened today: its day is read again at once, and stored again later.
    let (status, _) = app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "status": "open" })).await;
    assert_eq!(status, 200);
    refresh(&app).await;
    let (_, changed) = app.get("/api/v1/reports/summary").await;
    let s = summary(&changed);
    assert_eq!(changed["freshness"]["stored_days"].as_i64().unwrap(), stored_days - 1, "{changed}");
    assert_eq!((s["resolved"].as_i64(), s["reopen_rate"]["part"].as_i64()), (Some(0), Some(1)), "{s}");
    assert_eq!(s["first_contact_resolution"]["no"], 1, "{s}");
    threadline_server::metrics::roll(state).await.unwrap();
    let (_, restored) = app.get("/api/v1/reports/summary").await;
    assert_eq!(restored["freshness"]["stored_days"].as_i64().unwrap(), stored_days, "{restored}");
    assert_eq!(summary(&restored), s);

    // Another customer's conversation, resolved three days ago: its
    // first-contact verdict is pending. A week later it has ripened though
    // nothing changed: the stored day still holds, its verdict now a yes.
    let outcome = app.inbound(&inbox, json!([{ "kind": "email", "value": "bea@example.com" }]), "Do you ship to Malta?").await;
    let second = outcome["conversation"]["id"].as_str().unwrap().to_owned();
    let (status, _) = app.post(&format!("/api/v1/conversations/{second}/messages"), json!({ "text": "We do." })).await;
    assert_eq!(status, 201);
    let (status, _) = app.patch(&format!("/api/v1/conversations/{second}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    state
        .store
        .backdate_conversation(app.account_id.parse().unwrap(), second.parse().unwrap(), three_days_ago, time::Duration::minutes(10))
        .await
        .unwrap();
    refresh(&app).await;
    threadline_server::metrics::roll(state).await.unwrap();
    let period = {
        let f = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
        format!("from={}&to={}", f(now - time::Duration::days(30)), f(now))
    };
    let (_, before) = app.get(&format!("/api/v1/reports/summary?{period}")).await;
    let fcr = &summary(&before)["first_contact_resolution"];
    assert_eq!((fcr["yes"].as_i64(), fcr["no"].as_i64(), fcr["pending"].as_i64()), (Some(0), Some(1), Some(1)), "{before}");
    let stored_before = before["freshness"]["stored_days"].as_i64().unwrap();
    state.clock.advance(time::Duration::days(8));
    let (_, ripe) = app.get(&format!("/api/v1/reports/summary?{period}")).await;
    let fcr = &summary(&ripe)["first_contact_resolution"];
    assert_eq!((fcr["yes"].as_i64(), fcr["no"].as_i64(), fcr["pending"].as_i64()), (Some(1), Some(1), Some(0)), "{ripe}");
    assert_eq!(ripe["freshness"]["stored_days"].as_i64().unwrap(), stored_before, "the ripened day is still read stored: {ripe}");
    threadline_server::metrics::roll(state).await.unwrap();
    let (_, again) = app.get(&format!("/api/v1/reports/summary?{period}")).await;
    assert_eq!(summary(&again), summary(&ripe), "storing it again changes nothing");
}

async fn a_busy_conversation_is_measured_when_it_settles_or_at_the_latest_after_the_lag(mut app: TestApp) {
    // The server's own refresh waits an hour: the windows below are the test's.
    app.restart(|s| {
        s.metrics_quiet_secs = 3600;
        s.metrics_max_lag_secs = 3600;
    })
    .await;
    let store = &app.server().state.store;
    let inbox = app.create_inbox("api", "Shop").await;
    app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "Where is my order?").await;
    let now = threadline_store::now();
    let stale = |quiet: i64, lag: i64| {
        let settle = Some((now - time::Duration::seconds(quiet), now - time::Duration::seconds(lag)));
        async move { store.stale_metrics(100, settle).await.unwrap().len() }
    };
    assert_eq!(stale(5, 60).await, 0, "just changed: not yet");
    assert_eq!(stale(-5, 60).await, 1, "quiet for long enough");
    assert_eq!(stale(5, -5).await, 1, "first changed long enough ago");
    // It keeps changing: the mark moves, its first change does not.
    app.sql("UPDATE metrics_dirty SET first_marked = first_marked - 120000000").await;
    app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "Any news?").await;
    let now = threadline_store::now();
    let settle = Some((now - time::Duration::seconds(5), now - time::Duration::seconds(60)));
    assert_eq!(store.stale_metrics(100, settle).await.unwrap().len(), 1, "busy for two minutes: measured anyway");
    assert_eq!(store.stale_metrics(100, None).await.unwrap().len(), 1);
}

const GOLDEN: &str = include_str!("metrics_golden.json");

fn micros(rfc3339: &str) -> i64 {
    let at = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).unwrap();
    (at.unix_timestamp_nanos() / 1000) as i64
}

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Stores the fixture's conversations as their history would have left
/// them, and marks them for measuring; returns the customers by letter.
async fn load(app: &TestApp, golden: &Value, agent_id: &str) -> BTreeMap<String, String> {
    let account = &app.account_id;
    let mut contacts: BTreeMap<String, String> = BTreeMap::new();
    for c in golden["conversations"].as_array().unwrap() {
        let letter = c["contact"].as_str().unwrap().to_owned();
        let history = c["history"].as_array().unwrap();
        let created = micros(history[0][0].as_str().unwrap());
        let contact = match contacts.get(&letter) {
            Some(id) => id.clone(),
            None => {
                let contact = id();
                app.sql(&format!(
                    "INSERT INTO contacts (id, account_id, name, attributes, custom_attributes, preferred_channels, created_at, updated_at) \
                     VALUES ('{contact}', '{account}', 'Customer {letter}', '{{}}', '{{}}', '[]', {created}, {created})"
                ))
                .await;
                contacts.insert(letter, contact.clone());
                contact
            }
        };
        let conversation = id();
        let channel = c["channel"].as_str().unwrap();
        let (mut status, mut first_response, mut resolved, mut last) = ("open", None, None, created);
        let mut handler = if c["bot"] == true { "bot" } else { "human" };
        // Who writes the replies and notes (`writers` in the fixture).
        let writer = if c["assignee"] == "agent" { agent_id.to_owned() } else { app.user_id.clone() };
        // The conversation row first (messages refer to it), completed below.
        app.sql(&format!(
            "INSERT INTO conversations (id, account_id, contact_id, status, priority, labels, last_activity_at, created_at, updated_at, channel, handler) \
             VALUES ('{conversation}', '{account}', '{contact}', 'open', 'normal', '[]', {created}, {created}, {created}, '{channel}', 'human')"
        ))
        .await;
        if c["bot"] == true {
            app.sql(&format!(
                "INSERT INTO bot_sessions (conversation_id, account_id, bot, status, memory, started_at, updated_at) \
                 VALUES ('{conversation}', '{account}', 'builtin', 'active', '{{}}', {created}, {created})"
            ))
            .await;
        }
        for entry in history {
            let at = micros(entry[0].as_str().unwrap());
            let kind = entry[1].as_str().unwrap();
            let on = entry.get(2).and_then(Value::as_str).unwrap_or(channel);
            last = last.max(at);
            let message = |direction: &str, sender: &str, kind: &str, automated: &str| {
                let sender_id = if sender == "user" { format!("'{writer}'") } else { "NULL".into() };
                format!(
                    "INSERT INTO messages (id, account_id, conversation_id, contact_id, kind, direction, channel, sender_kind, sender_id, \
                     body_text, delivery_status, automated, created_at) VALUES ('{}', '{account}', '{conversation}', '{contact}', '{kind}', \
                     '{direction}', '{on}', '{sender}', {sender_id}, 'text', 'sent', {automated}, {at})",
                    id()
                )
            };
            let change = |change: &str, by: &str| {
                format!(
                    "INSERT INTO conversation_changes (id, account_id, conversation_id, change, actor_kind, at) \
                     VALUES ('{}', '{account}', '{conversation}', '{change}', '{by}', {at})",
                    id()
                )
            };
            let sql = match kind {
                "customer" => message("inbound", "contact", "message", "NULL"),
                "automatic" => message("outbound", "system", "message", "NULL"),
                "agent" => {
                    first_response.get_or_insert(at);
                    message("outbound", "user", "message", "NULL")
                }
                "note" => message("outbound", "user", "note", "NULL"),
                "bot" => message("outbound", "bot", "message", "NULL"),
                "resolved" => {
                    (status, resolved) = ("resolved", Some(at));
                    change("resolved", entry[2].as_str().unwrap())
                }
                "reopened" => {
                    (status, resolved) = ("open", None);
                    change("reopened", entry[2].as_str().unwrap())
                }
                "handed_off" => {
                    handler = "human";
                    change("handed_off", "bot")
                }
                other => panic!("unknown history entry {other}"),
            };
            app.sql(&sql).await;
        }
        let assignee = match c["assignee"].as_str() {
            Some("agent") => format!("'{agent_id}'"),
            _ => "NULL".into(),
        };
        let opt = |v: Option<i64>| v.map_or("NULL".to_owned(), |v| v.to_string());
        app.sql(&format!(
            "UPDATE conversations SET status = '{status}', handler = '{handler}', assignee_id = {assignee}, first_response_at = {}, \
             resolved_at = {}, last_activity_at = {last}, updated_at = {last} WHERE id = '{conversation}'",
            opt(first_response),
            opt(resolved)
        ))
        .await;
        app.sql(&format!(
            "INSERT INTO metrics_dirty (conversation_id, account_id, since) VALUES ('{conversation}', '{account}', {last}) \
             ON CONFLICT (conversation_id) DO UPDATE SET since = excluded.since"
        ))
        .await;
    }
    contacts
}

async fn refresh(app: &TestApp) {
    threadline_server::metrics::refresh(&app.server().state).await.unwrap();
}

/// Every number `expected` names equals the report's (floats to 1e-9).
fn assert_matches(expected: &Value, actual: &Value, path: &str) {
    match expected {
        Value::Object(fields) => {
            for (key, value) in fields {
                assert_matches(value, &actual[key], &format!("{path}.{key}"));
            }
        }
        Value::Number(n) if n.is_f64() => {
            let got = actual.as_f64().unwrap_or_else(|| panic!("{path}: expected {n}, got {actual}"));
            assert!((got - n.as_f64().unwrap()).abs() < 1e-9, "{path}: expected {n}, got {got}");
        }
        other => assert_eq!(other, actual, "{path}"),
    }
}

/// Checks every report of the golden month against the fixture; returns
/// them, to compare with the same reports read another way.
async fn golden_reports(app: &TestApp, golden: &Value, agent_token: &str) -> (Vec<Value>, i64) {
    let expected = &golden["expected"];
    let period = format!("from={}&to={}", golden["period"]["from"].as_str().unwrap(), golden["period"]["to"].as_str().unwrap());

    let (status, report) = app.get(&format!("/api/v1/reports/summary?{period}")).await;
    assert_eq!(status, 200, "{report}");
    assert_matches(&expected["summary"], &report["current"]["summary"], "summary");
    assert_eq!(report["previous"]["summary"]["conversations"], expected["previous_conversations"]);
    assert_eq!(report["previous"]["to"], golden["period"]["from"], "the previous period ends where this one starts");
    assert_eq!(report["backlog"]["open"], 1, "C5 is still open: {}", report["backlog"]);
    assert_eq!(report["backlog"]["by_age"][5], json!([">7d", 1]));
    assert_eq!(report["freshness"]["waiting"], 0);

    let (status, volume) = app.get(&format!("/api/v1/reports/volume?{period}&by=channel")).await;
    assert_eq!(status, 200, "{volume}");
    let rows = volume["data"].as_array().unwrap();
    assert_eq!(rows.len(), expected["volume_by_channel"].as_array().unwrap().len(), "{volume}");
    for (want, got) in expected["volume_by_channel"].as_array().unwrap().iter().zip(rows) {
        assert_matches(want, got, "volume_by_channel");
    }

    let (_, hours) = app.get(&format!("/api/v1/reports/volume?{period}&by=hour_of_week&tz=Europe/Rome")).await;
    let hours = hours["data"].as_array().unwrap();
    assert_eq!(hours.len(), 168, "every hour of the week is there");
    let busy: BTreeMap<String, i64> = hours
        .iter()
        .filter(|h| h["conversations"].as_i64().unwrap() > 0)
        .map(|h| (h["key"].as_str().unwrap().to_owned(), h["conversations"].as_i64().unwrap()))
        .collect();
    let want: BTreeMap<String, i64> = serde_json::from_value(expected["hours_of_week_rome"].clone()).unwrap();
    assert_eq!(busy, want);

    let (_, flow) = app.get(&format!("/api/v1/reports/channels?{period}")).await;
    assert_eq!(flow["first_to_answer"], expected["first_to_answer"], "{flow}");

    let (_, sms) = app.get(&format!("/api/v1/reports/summary?{period}&channel=sms")).await;
    assert_matches(&expected["sms_only"], &sms["current"]["summary"], "sms_only");

    // An agent reads their own conversations only, and no one else's.
    let (status, own) = app.call_as(agent_token, reqwest::Method::GET, &format!("/api/v1/reports/summary?{period}"), None).await;
    assert_eq!(status, 200, "{own}");
    assert_matches(&expected["agent_own"], &own["current"]["summary"], "agent_own");
    let (status, other) =
        app.call_as(agent_token, reqwest::Method::GET, &format!("/api/v1/reports/summary?{period}&agent_id={}", app.user_id), None).await;
    assert_eq!(status, 403, "{other}");

    // The same table as CSV.
    let response = app
        .client
        .get(app.url(&format!("/api/v1/reports/volume?{period}&by=channel&format=csv")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "key,conversations,resolved,first_response_median_secs");
    assert_eq!(lines[1], "web_chat,3,3,300");
    assert_eq!(lines.len(), 6, "{csv}");

    let stored_days = report["freshness"]["stored_days"].as_i64().unwrap();
    (
        vec![
            report["current"].clone(),
            report["previous"].clone(),
            volume,
            json!(hours),
            flow,
            sms["current"].clone(),
            own["current"].clone(),
        ],
        stored_days,
    )
}

/// Workload, cost and journey conversion of the golden month (read from
/// messages, presence and runs; not stored per day).
/// Checks the golden month's workload and costs.
async fn workload_and_costs(app: &TestApp, golden: &Value, agent_id: &str, agent_token: &str) {
    let expected = &golden["expected"];
    let period = format!("from={}&to={}", golden["period"]["from"].as_str().unwrap(), golden["period"]["to"].as_str().unwrap());
    let person = |who: &str| if who == "agent" { agent_id.to_owned() } else { app.user_id.clone() };
    let (status, workload) = app.get(&format!("/api/v1/reports/workload?{period}")).await;
    assert_eq!(status, 200, "{workload}");
    let lines = workload["agents"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{workload}");
    for who in ["admin", "agent"] {
        let line = lines.iter().find(|l| l["agent_id"] == person(who).as_str()).unwrap_or_else(|| panic!("{who}: {workload}"));
        assert_matches(&expected["workload"][who], line, &format!("workload.{who}"));
    }
    // An agent reads their own line only.
    let (status, own) = app.call_as(agent_token, reqwest::Method::GET, &format!("/api/v1/reports/workload?{period}"), None).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["agents"].as_array().unwrap().len(), 1, "{own}");
    assert_matches(&expected["workload"]["agent"], &own["agents"][0], "own workload");

    let (status, saved) = app.put("/api/v1/reports/unit-costs", golden["unit_costs"].clone()).await;
    assert_eq!(status, 200, "{saved}");
    let (status, costs) = app.get(&format!("/api/v1/reports/costs?{period}")).await;
    assert_eq!(status, 200, "{costs}");
    let (want, got) = (expected["costs"]["channels"].as_array().unwrap(), costs["channels"].as_array().unwrap());
    assert_eq!(got.len(), want.len(), "every channel with a message, and no other: {costs}");
    for (want, got) in want.iter().zip(got) {
        assert_matches(want, got, &format!("costs.{}", want["channel"]));
    }
    let mut totals = expected["costs"].clone();
    totals.as_object_mut().unwrap().remove("channels");
    assert_matches(&totals, &costs, "costs");
}

async fn work_and_journey_reports(app: &TestApp, golden: &Value, contacts: &BTreeMap<String, String>, agent_id: &str, agent_token: &str) {
    let (account, expected) = (&app.account_id, &golden["expected"]);
    let period = format!("from={}&to={}", golden["period"]["from"].as_str().unwrap(), golden["period"]["to"].as_str().unwrap());
    let person = |who: &str| if who == "agent" { agent_id.to_owned() } else { app.user_id.clone() };

    for span in golden["presence"].as_array().unwrap() {
        let (from, to) = (micros(span["from"].as_str().unwrap()), micros(span["to"].as_str().unwrap()));
        app.sql(&format!(
            "INSERT INTO presence_spans (id, account_id, user_id, status, started_at, last_seen_at) \
             VALUES ('{}', '{account}', '{}', 'online', {from}, {to})",
            id(),
            person(span["who"].as_str().unwrap())
        ))
        .await;
    }
    workload_and_costs(app, golden, agent_id, agent_token).await;

    // The journey, a draft (nothing runs it here), and its runs as the engine leaves them.
    let spec = &golden["journey"]["spec"];
    let (status, created) = app.post("/api/v1/journeys", json!({ "name": "Abandoned cart", "spec": spec })).await;
    assert_eq!(status, 201, "{created}");
    let journey = created["id"].as_str().unwrap();
    for run in golden["journey"]["runs"].as_array().unwrap() {
        let (run_id, entered) = (id(), micros(run["entered"].as_str().unwrap()));
        let contact = &contacts[run["contact"].as_str().unwrap()];
        app.sql(&format!(
            "INSERT INTO journey_runs (id, account_id, journey_id, version, contact_id, status, entered_at) \
             VALUES ('{run_id}', '{account}', '{journey}', 1, '{contact}', '{}', {entered})",
            run["status"].as_str().unwrap()
        ))
        .await;
        for (i, step) in run["steps"].as_array().unwrap().iter().enumerate() {
            let channel = step.get(2).and_then(Value::as_str).map_or("NULL".to_owned(), |c| format!("'{c}'"));
            app.sql(&format!(
                "INSERT INTO journey_steps (run_id, step_id, account_id, journey_id, outcome, channel, executed_at) \
                 VALUES ('{run_id}', '{}', '{account}', '{journey}', '{}', {channel}, {})",
                step[0].as_str().unwrap(),
                step[1].as_str().unwrap(),
                entered + (i as i64 + 1) * 3_600_000_000
            ))
            .await;
        }
    }
    let (status, report) = app.get(&format!("/api/v1/reports/journeys?{period}")).await;
    assert_eq!(status, 200, "{report}");
    let row = &report["journeys"][0];
    let want = &expected["journey"];
    for key in ["entered", "running", "completed", "converted", "exited", "failed", "conversion", "channels"] {
        assert_matches(&want[key], &row[key], &format!("journey.{key}"));
    }
    assert_eq!(row["channels"].as_array().unwrap().len(), 3, "every channel with a send, and no other: {row}");
    let steps: Vec<Value> = row["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!({ "step_id": s["step_id"], "reached": s["reached"], "dropped": s["dropped"] }))
        .collect();
    assert_eq!(Value::from(steps), want["steps"], "steps in the journey's order, arms after their branch");
}

async fn the_golden_month_gives_the_numbers_of_the_definitions(mut app: TestApp) {
    // The month's SLA outcomes are measured by the refresh; a background
    // SLA scan recording C5's breach meanwhile would mark it changed again.
    app.restart(|s| s.sla_interval_secs = 86_400).await;
    let golden: Value = serde_json::from_str(GOLDEN).unwrap();
    let (status, saved) =
        app.post("/api/v1/sla/policies", json!({ "name": "Office hours", "policy": golden["sla_policy"], "is_default": true })).await;
    assert_eq!(status, 201, "{saved}");
    let (agent_id, agent_token) = app.create_user("ana@example.com", "Ana", "agent").await;
    let contacts = load(&app, &golden, &agent_id).await;
    refresh(&app).await;
    let (raw, read_stored) = golden_reports(&app, &golden, &agent_token).await;
    work_and_journey_reports(&app, &golden, &contacts, &agent_id, &agent_token).await;
    // Days with conversations are not stored yet: they are read from the conversations.
    assert_eq!(read_stored, 23, "only March's days without conversations need nothing read");
    // The same numbers once the days are stored (a year's report reads them).
    let state = &app.server().state;
    let stored = threadline_server::metrics::roll(state).await.unwrap();
    assert_eq!(stored, 8, "the eight days with conversations are stored");
    let now = state.clock.now();
    assert!(state.store.days_to_roll(threadline_domain::tally::day_number(now), now, 10).await.unwrap().is_empty());
    let (rolled, read_stored) = golden_reports(&app, &golden, &agent_token).await;
    assert_eq!(read_stored, 31, "March is read from its stored days");
    assert_eq!(rolled, raw, "stored days give the numbers the conversations give");
    // Spans of eight stored days are stored where they hold conversations
    // (28 February–7 March, 8–15 March); March's workload reads the second whole.
    let spans = app.sql_integers("SELECT day FROM metrics_rollups WHERE dim = 'work_span' ORDER BY day").await;
    assert_eq!(spans, [20_512, 20_520]);
    workload_and_costs(&app, &golden, &agent_id, &agent_token).await;
    // A stored day that cannot be read is read from its conversations (the
    // report does not fail) and stored again by the next roll-up.
    app.sql(
        "UPDATE metrics_rollups SET tally = 'not a tally' WHERE dim = '' \
         AND day = (SELECT MIN(day) FROM metrics_rollups WHERE dim = '' AND day >= 20513)",
    )
    .await;
    let (again, read_stored) = golden_reports(&app, &golden, &agent_token).await;
    assert_eq!((&again, read_stored), (&raw, 30), "the damaged day is read from its conversations");
    assert_eq!(threadline_server::metrics::roll(state).await.unwrap(), 1, "the damaged day is stored again");
    let (again, read_stored) = golden_reports(&app, &golden, &agent_token).await;
    assert_eq!((&again, read_stored), (&raw, 31));
    // The same for a span's stored tallies: its eight days are read from
    // their conversations, and the span is stored again with them.
    let whole_span = "SELECT COUNT(*) FROM metrics_rollups WHERE dim = 'whole_span' AND day = 20520 AND tally <> 'not a tally'";
    assert_eq!(app.sql_integers(whole_span).await, [1], "8–15 March's tallies are stored merged");
    app.sql("UPDATE metrics_rollups SET tally = 'not a tally' WHERE dim = 'whole_span' AND day = 20520").await;
    let (again, read_stored) = golden_reports(&app, &golden, &agent_token).await;
    assert_eq!((&again, read_stored), (&raw, 31 - 8), "the span's days are read from their conversations");
    threadline_server::metrics::roll(state).await.unwrap();
    let (again, read_stored) = golden_reports(&app, &golden, &agent_token).await;
    assert_eq!((&again, read_stored), (&raw, 31));
    assert_eq!(app.sql_integers(whole_span).await, [1], "stored again");
    let period = format!("from={}&to={}", golden["period"]["from"].as_str().unwrap(), golden["period"]["to"].as_str().unwrap());

    // Every conversation as a row of its own, oldest first.
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/reports/conversations?{period}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(lines.len(), 9, "{csv}");
    let col = |name: &str| lines[0].iter().position(|c| *c == name).unwrap();
    let c2 = lines.iter().find(|l| l[col("reopens")] == "1").unwrap();
    assert_eq!((c2[col("first_channel")], c2[col("status")]), ("sms", "resolved"));
    assert_eq!((c2[col("first_response_secs")], c2[col("first_response_business_secs")]), ("232200", "5400"));
    assert_eq!((c2[col("resolutions")], c2[col("reopens")], c2[col("sla_clocks")], c2[col("sla_met")]), ("2", "1", "2", "1"));
    assert_eq!(lines[2][col("resolved_by_bot")], "1", "C3, the second oldest");
    assert!(lines[1..].windows(2).all(|w| w[0][col("created_at")] <= w[1][col("created_at")]), "oldest first");

    // Measuring again changes nothing.
    app.sql(
        "INSERT INTO metrics_dirty (conversation_id, account_id, since) SELECT conversation_id, account_id, 1 FROM conversation_metrics \
         WHERE true ON CONFLICT (conversation_id) DO UPDATE SET since = excluded.since",
    )
    .await;
    refresh(&app).await;
    let (_, again) = app.get(&format!("/api/v1/reports/summary?{period}")).await;
    assert_eq!(again["current"], raw[0]);
}

async fn reports_follow_what_happens_in_conversations(app: TestApp) {
    let inbox = app.create_inbox("api", "Shop").await;
    let customer = json!([{ "kind": "email", "value": "ada@example.com" }]);
    let outcome = app.inbound(&inbox, customer.clone(), "Where is my parcel?").await;
    let conversation = outcome["conversation"]["id"].as_str().unwrap().to_owned();
    let (status, _) = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({ "text": "On its way." })).await;
    assert_eq!(status, 201);
    let (status, _) = app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);

    // Not measured until the refresh runs; then everything is there.
    let (_, before) = app.get("/api/v1/reports/summary").await;
    assert!(before["freshness"]["waiting"].as_i64().unwrap() >= 1, "{before}");
    refresh(&app).await;
    let (_, report) = app.get("/api/v1/reports/summary").await;
    let s = &report["current"]["summary"];
    assert_eq!((s["conversations"].as_i64(), s["resolved"].as_i64()), (Some(1), Some(1)), "{s}");
    assert_eq!(s["first_response"]["count"], 1);
    assert_eq!(s["response_rate"]["rate"], 1.0);
    assert_eq!(s["first_contact_resolution"]["pending"], 1, "a week has not passed: {s}");
    assert_eq!(s["reopen_rate"]["part"], 0);

    // An agent reopens it: the reopening is counted.
    let (status, _) = app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "status": "open" })).await;
    assert_eq!(status, 200);
    refresh(&app).await;
    let (_, report) = app.get("/api/v1/reports/summary").await;
    let s = &report["current"]["summary"];
    assert_eq!((s["reopen_rate"]["part"].as_i64(), s["reopen_rate"]["whole"].as_i64()), (Some(1), Some(1)), "{s}");
    assert_eq!(s["first_contact_resolution"]["no"], 1, "{s}");
    assert_eq!(s["resolved"], 0, "open again: no resolution time");
    assert_eq!(report["backlog"]["open"], 1);
    assert_eq!(report["freshness"]["waiting"], 0);

    // The refresh is a job like any other: queued at start, done by the runner.
    let (status, _) = app.patch(&format!("/api/v1/conversations/{conversation}"), json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    let report = app.wait_for("/api/v1/reports/summary", 15, |r| r["current"]["summary"]["resolved"] == 1).await;
    assert_eq!(report["current"]["summary"]["resolution"]["count"], 1);
}

async fn report_requests_are_checked(app: TestApp) {
    for (query, field) in [
        ("from=yesterday", "from"),
        ("from=2026-03-10T00:00:00Z&to=2026-03-01T00:00:00Z", "from"),
        ("from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("format=xlsx", "format"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/reports/summary?{query}")).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["error"]["fields"][0]["field"], field, "{query}: {body}");
    }
    let (status, body) = app.get("/api/v1/reports/volume?by=weather").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = app.get("/api/v1/reports/volume?by=hour_of_week&tz=Mars/Olympus").await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app.get("/api/v1/reports/summary?unknown=1").await;
    assert_eq!(status, 400, "{body}");
    // Another account sees nothing of this one's conversations.
    let inbox = app.create_inbox("api", "Shop").await;
    app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "Hello").await;
    refresh(&app).await;
    let (_, ours) = app.get("/api/v1/reports/summary").await;
    assert_eq!(ours["current"]["summary"]["conversations"], 1, "{ours}");
    let (_, _, other_token) = app.create_account("Other shop", "boss@other.example").await;
    let (status, theirs) = app.call_as(&other_token, reqwest::Method::GET, "/api/v1/reports/summary", None).await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["current"]["summary"]["conversations"], 0);
}

async fn the_conversation_export_streams_every_conversation_once(app: TestApp) {
    // 2,500 measured conversations: three pages of the export.
    let account = &app.account_id;
    app.sql(&format!(
        "INSERT INTO contacts (id, account_id, name, attributes, custom_attributes, preferred_channels, created_at, updated_at) \
         VALUES ('export-contact', '{account}', 'Ada', '{{}}', '{{}}', '[]', 1, 1)"
    ))
    .await;
    let numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)";
    let start = micros("2026-03-01T00:00:00Z");
    app.sql(&format!(
        "{numbers} INSERT INTO conversations (id, account_id, contact_id, status, priority, labels, last_activity_at, created_at, updated_at) \
         SELECT 'conv-' || i, '{account}', 'export-contact', 'open', 'normal', '[]', {start} + CAST(i AS BIGINT) * 1000000, {start} + CAST(i AS BIGINT) * 1000000, {start} FROM n"
    ))
    .await;
    app.sql(&format!(
        "{numbers} INSERT INTO conversation_metrics (conversation_id, account_id, contact_id, created_at, status, priority, first_channel, \
         reply_waits, reply_secs, reply_business_secs, customer_messages, agent_messages, bot_messages, automatic_messages, channel_switches, \
         resolutions, reopens, customer_after_resolution, bot_involved, handed_off, resolved_by_bot, sla_clocks, sla_met, refreshed_at) \
         SELECT 'conv-' || i, '{account}', 'export-contact', {start} + CAST(i / 2 AS BIGINT) * 1000000, 'open', 'normal', 'sms', \
         0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, {start} FROM n"
    ))
    .await;
    let response = app
        .client
        .get(app.url("/api/v1/reports/conversations?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z&channel=sms"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"conversations.csv\"");
    let csv = response.text().await.unwrap();
    let ids: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids.len(), 2500, "every conversation, across pages (two share each second)");
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 2500, "none twice at a page boundary");
    let times: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').nth(1).unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    // Filters apply: no email conversation here.
    let (status, _) = app.get("/api/v1/reports/conversations?channel=email").await;
    assert_eq!(status, 200);
}
