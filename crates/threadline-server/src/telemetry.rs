//! `/metrics` for operators, in the Prometheus text format (version
//! 0.0.4): HTTP requests by route and status class with their durations,
//! domain events committed, live sockets, the database pool, and the
//! backlogs read from the database at each scrape (jobs, outbox, webhook
//! deliveries, team queues, measurement). Counters are this process's
//! since it started; backlogs are the installation's (every node sees the
//! same database). The bearer token is `metrics_token` (or the operator's
//! `admin_token`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::auth::constant_time_eq;
use crate::error::ApiError;

/// Upper bounds of the request duration histogram, in seconds.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Per bucket (not cumulative); the last slot is +Inf.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

/// This process's counters and gauges.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// (method, route, status class) → durations.
    requests: Mutex<BTreeMap<(String, String, &'static str), Histogram>>,
    /// Agents' workspace sockets and web chat visitors' sockets open now.
    pub agent_sockets: Arc<AtomicI64>,
    pub chat_sockets: Arc<AtomicI64>,
}

/// Counts a socket while it lives.
pub struct SocketGuard(Arc<AtomicI64>);

impl SocketGuard {
    pub fn new(gauge: &Arc<AtomicI64>) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Self(gauge.clone())
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Telemetry {
    fn record(&self, method: &str, route: &str, status: StatusCode, secs: f64) {
        let class = match status.as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let slot = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let h = requests.entry((method.to_owned(), route.to_owned(), class)).or_default();
        h.counts[slot] += 1;
        h.sum += secs;
    }
}

/// Middleware: times every request under its route's pattern (paths that
/// match no route are one label, so the label set stays bounded).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state.telemetry.record(&method, &route, response.status(), started.elapsed().as_secs_f64());
    response
}

fn authorised(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(sent) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) else {
        return false;
    };
    let sent = sent.trim().as_bytes();
    [&state.settings.metrics_token.0, &state.settings.admin_token.0]
        .iter()
        .any(|expected| !expected.is_empty() && constant_time_eq(sent, expected.as_bytes()))
}

/// Escapes a label value (backslash, quote, newline).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `GET /metrics`.
pub async fn exposition(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if !authorised(&state, &headers) {
        return Err(ApiError::Unauthorized);
    }
    let backlogs = state.store.backlogs(state.clock.now()).await?;
    let mut out = String::with_capacity(16 * 1024);

    metric(&mut out, "threadline_http_requests_total", "counter", "HTTP requests answered, by method, route and status class.");
    let requests = state.telemetry.requests.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut durations = String::new();
    for ((method, route, class), h) in &requests {
        let labels = format!("method=\"{}\",route=\"{}\",status=\"{class}\"", label(method), label(route));
        let total: u64 = h.counts.iter().sum();
        let _ = writeln!(out, "threadline_http_requests_total{{{labels}}} {total}");
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(h.counts.iter()) {
            cumulative += n;
            let _ = writeln!(durations, "threadline_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(durations, "threadline_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {total}");
        let _ = writeln!(durations, "threadline_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
        let _ = writeln!(durations, "threadline_http_request_duration_seconds_count{{{labels}}} {total}");
    }
    metric(&mut out, "threadline_http_request_duration_seconds", "histogram", "Time to answer HTTP requests.");
    out.push_str(&durations);

    metric(
        &mut out,
        "threadline_events_total",
        "counter",
        "Domain events committed by this process, by kind (message.created counts ingested and sent messages).",
    );
    for (kind, n) in state.store.committed_events() {
        let _ = writeln!(out, "threadline_events_total{{kind=\"{kind}\"}} {n}");
    }

    metric(&mut out, "threadline_sockets", "gauge", "Live sockets open on this process: agents' workspaces and web chat visitors.");
    let _ = writeln!(out, "threadline_sockets{{kind=\"agent\"}} {}", state.telemetry.agent_sockets.load(Ordering::Relaxed));
    let _ = writeln!(out, "threadline_sockets{{kind=\"chat\"}} {}", state.telemetry.chat_sockets.load(Ordering::Relaxed));

    let (size, idle) = state.store.pool_connections();
    metric(&mut out, "threadline_db_pool_connections", "gauge", "Database connections the pool holds, in use or idle.");
    let _ = writeln!(out, "threadline_db_pool_connections{{state=\"in_use\"}} {}", (size as usize).saturating_sub(idle));
    let _ = writeln!(out, "threadline_db_pool_connections{{state=\"idle\"}} {idle}");
    metric(&mut out, "threadline_db_pool_max_connections", "gauge", "The pool's limit (database_max_connections).");
    let _ = writeln!(out, "threadline_db_pool_max_connections {}", state.settings.database_max_connections);

    let jobs = &backlogs.jobs;
    metric(&mut out, "threadline_jobs", "gauge", "Background jobs by state: due, scheduled for later, running, dead (failed too often).");
    for (name, n) in [("due", jobs.due), ("scheduled", jobs.scheduled), ("running", jobs.running), ("dead", jobs.dead)] {
        let _ = writeln!(out, "threadline_jobs{{state=\"{name}\"}} {n}");
    }
    metric(&mut out, "threadline_job_lag_seconds", "gauge", "How long the oldest due job has waited past its time.");
    let _ = writeln!(out, "threadline_job_lag_seconds {}", jobs.lag_secs);

    for (name, help, backlog) in [
        ("outbox", "Outbound messages queued or being sent to providers.", backlogs.outbox),
        ("webhooks", "Webhook deliveries not done yet.", backlogs.webhooks),
        ("queue", "Conversations waiting in a team's queue for an agent.", backlogs.queues),
        ("measurement", "Conversations changed and not measured for reports yet.", backlogs.measurement),
        ("relay", "Commits whose events have not reached the event bus yet (live pages; NATS's stream).", backlogs.relay),
    ] {
        metric(&mut out, &format!("threadline_{name}_waiting"), "gauge", help);
        let _ = writeln!(out, "threadline_{name}_waiting {}", backlog.waiting);
        metric(&mut out, &format!("threadline_{name}_oldest_seconds"), "gauge", "Age of the oldest of them (0 when none waits).");
        let _ = writeln!(out, "threadline_{name}_oldest_seconds {}", backlog.oldest_secs.unwrap_or(0));
    }
    metric(&mut out, "threadline_outbox_dead", "gauge", "Outbound messages given up on after their last attempt.");
    let _ = writeln!(out, "threadline_outbox_dead {}", backlogs.outbox_dead);

    if let Some(rss) = resident_bytes() {
        metric(&mut out, "process_resident_memory_bytes", "gauge", "Resident memory of this process.");
        let _ = writeln!(out, "process_resident_memory_bytes {rss}");
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response())
}

/// Resident set size from `/proc/self/statm` (Linux), in bytes.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
