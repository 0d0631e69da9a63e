//! `/metrics` in the Prometheus text format: closed without the token,
//! well-formed, and counting what happened.

use std::collections::BTreeMap;

use serde_json::json;
use threadline_testkit::{TestApp, backend_tests, spawn_app_with};

backend_tests!(metrics_are_closed_well_formed_and_count_what_happened,);

async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String, String) {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

/// Every sample line, `name{labels}` → value; checks each family has its
/// HELP and TYPE before its samples.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut typed = std::collections::BTreeSet::new();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&parts.next().unwrap()), "{line}");
            typed.insert(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).filter(|f| typed.contains(*f)).unwrap_or(name);
        assert!(typed.contains(family), "{name} has no TYPE before it");
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{name}");
        out.insert(series.to_owned(), value.parse::<f64>().unwrap_or_else(|_| panic!("{line}")));
    }
    out
}

async fn metrics_are_closed_well_formed_and_count_what_happened(app: TestApp) {
    assert_eq!(scrape(&app, None).await.0, 401);
    assert_eq!(scrape(&app, Some("not-the-token")).await.0, 401);
    assert_eq!(scrape(&app, Some(&app.token)).await.0, 401, "an account's API token is not the operator's");

    let inbox = app.create_inbox("api", "Shop").await;
    app.inbound(&inbox, json!([{ "kind": "email", "value": "ada@example.com" }]), "Hello").await;
    app.inbound(&inbox, json!([{ "kind": "email", "value": "bo@example.com" }]), "Hi").await;
    assert_eq!(app.get("/api/v1/no-such-thing").await.0, 404);

    let (status, kind, text) = scrape(&app, Some(&app.admin_token)).await;
    assert_eq!(status, 200, "{text}");
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let s = samples(&text);
    assert!(s[r#"threadline_events_total{kind="message.created"}"#] >= 2.0, "{text}");
    assert!(s[r#"threadline_events_total{kind="conversation.created"}"#] >= 2.0);
    // Requests are labelled by their route's pattern, not the path.
    let ingest = r#"threadline_http_requests_total{method="POST",route="/api/v1/inboxes/{id}/messages",status="2xx"}"#;
    assert_eq!(s.get(ingest), Some(&2.0), "{text}");
    let buckets = format!(
        "{}{}",
        r#"threadline_http_request_duration_seconds_bucket{method="POST",route="/api/v1/inboxes/{id}/messages",status="2xx","#,
        r#"le="+Inf"}"#
    );
    assert_eq!(s.get(&buckets), Some(&2.0));
    assert!(s.contains_key(r#"threadline_http_requests_total{method="GET",route="unmatched",status="4xx"}"#), "{text}");
    assert!(!text.contains("no-such-thing"), "unmatched paths stay out of the labels");
    for gauge in [
        r#"threadline_jobs{state="due"}"#,
        "threadline_job_lag_seconds",
        "threadline_outbox_waiting",
        "threadline_webhooks_waiting",
        "threadline_queue_waiting",
        "threadline_relay_waiting",
        r#"threadline_sockets{kind="agent"}"#,
        r#"threadline_db_pool_connections{state="idle"}"#,
        "threadline_db_pool_max_connections",
    ] {
        assert!(s.contains_key(gauge), "{gauge} missing:\n{text}");
    }
    // The two new conversations wait to be measured until the refresh runs.
    threadline_server::metrics::refresh(&app.server().state).await.unwrap();
    let s = samples(&scrape(&app, Some(&app.admin_token)).await.2);
    assert_eq!(s["threadline_measurement_waiting"], 0.0);

    // A scraper's own token, configured by the operator.
    let scraper =
        spawn_app_with(app.backend, |settings| settings.metrics_token = threadline_server::config::Secret("scraper-token".into())).await;
    assert_eq!(scrape(&scraper, Some("scraper-token")).await.0, 200);
}
