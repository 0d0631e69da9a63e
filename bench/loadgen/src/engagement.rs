//! Tracking and journeys under load.
//!
//! - [`track_rate`]: single tracking calls at a fixed rate, open loop: each
//!   call's latency is counted from when it was due to be sent, so a stall
//!   on the server shows in the percentiles instead of slowing the sender.
//! - [`seed_waiting_runs`]: a live journey with many runs waiting on a
//!   timer, written straight into the database as the engine writes them
//!   (a run row and its job); a cohort of them falls due during the
//!   measurement, the rest much later. [`lateness`] reads, once the cohort
//!   is through, how late each of its timers fired.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use sqlx::any::AnyPoolOptions;

/// Sends one call every 1/`rate` s for `warmup` + `seconds` — to
/// Threadline at `url`/v1/page or /v1/track, or with `batch` to `url` as a
/// one-call batch — and reports the measured calls' latency from their due
/// time. The calls name `customers` users in turn: the first calls create
/// them, the rest return.
pub async fn track_rate(
    url: &str,
    key: Option<&str>,
    batch: bool,
    rate: u64,
    seconds: u64,
    warmup: u64,
    customers: u64,
) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let start = Instant::now() + Duration::from_millis(100);
    let total = rate * (warmup + seconds);
    let measured_from = rate * warmup;
    let mut tasks = tokio::task::JoinSet::new();
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let mut slowest: Vec<(u64, u64)> = Vec::new();
    let mut record = |(i, ok, took): (u64, bool, Duration)| {
        if i >= measured_from {
            if ok {
                latencies.push(took.as_micros() as u64);
                slowest.push((took.as_micros() as u64, i));
                if slowest.len() > 64 {
                    slowest.sort_unstable_by(|a, b| b.cmp(a));
                    slowest.truncate(8);
                }
            } else {
                errors += 1;
            }
        }
    };
    let key = key.map(str::to_owned);
    let url = Arc::new(url.to_owned());
    for i in 0..total {
        let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let call = if i % 5 == 4 {
            json!({ "type": "track", "userId": format!("r{}", i % customers), "event": "Product Added", "messageId": format!("rate-{i}"),
                    "properties": { "sku": format!("SKU-{}", i % 17), "price": 49.9 } })
        } else {
            json!({ "type": "page", "userId": format!("r{}", i % customers), "messageId": format!("rate-{i}"),
                    "properties": { "path": format!("/catalogue/{}", i % 23) } })
        };
        // Threadline takes each call at its type's path; the ceiling, one-call batches.
        let target = if batch { url.to_string() } else { format!("{url}/v1/{}", call["type"].as_str().unwrap_or("track")) };
        let body = if batch { json!({ "batch": [call] }) } else { call };
        let mut request = client.post(target).json(&body);
        if let Some(key) = &key {
            request = request.basic_auth(key, Some(""));
        }
        tasks.spawn(async move {
            let ok = matches!(request.send().await, Ok(r) if r.status().is_success());
            (i, ok, due.elapsed())
        });
        // Collect what finished, so finished tasks do not pile up.
        while let Some(done) = tasks.try_join_next() {
            record(done.context("a call task failed")?);
        }
    }
    while let Some(done) = tasks.join_next().await {
        record(done.context("a call task failed")?);
    }
    slowest.sort_unstable_by(|a, b| b.cmp(a));
    slowest.truncate(5);
    let mut out = report(latencies, errors, rate, seconds);
    // When the slowest calls were due (seconds from the start), to tell a
    // stall from a spread.
    out["slowest"] =
        json!(slowest.iter().map(|(us, i)| json!({ "at_s": *i as f64 / rate as f64, "ms": *us as f64 / 1000.0 })).collect::<Vec<_>>());
    Ok(out)
}

/// Percentiles of an open-loop run's latencies (microseconds), in milliseconds.
pub(crate) fn report(mut latencies: Vec<u64>, errors: u64, rate: u64, seconds: u64) -> serde_json::Value {
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or(0) as f64 / 1000.0
    };
    json!({
        "rate": rate,
        "seconds": seconds,
        "requests": latencies.len(),
        "errors": errors,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
    })
}

/// The journey the waiting runs belong to: one wait, then a label.
const SPEC: &str =
    r#"{"trigger":{"type":"event","name":"Bench Started"},"steps":[{"id":"wait","type":"wait","seconds":60},{"id":"done","type":"exit"}]}"#;

/// Writes a live journey and `runs` runs waiting on its `wait` step over
/// `contacts` customers: `cohort` of them due spread over `window` seconds
/// starting `lead` seconds after the seeding ends, the rest due 30 days on.
/// Prints the time the cohort starts falling due.
pub async fn seed_waiting_runs(
    database_url: &str,
    runs: usize,
    cohort: usize,
    contacts: usize,
    lead: u64,
    window: u64,
) -> anyhow::Result<serde_json::Value> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new().max_connections(1).connect(database_url).await?;
    let account: String = sqlx::query_scalar("SELECT id FROM accounts ORDER BY created_at LIMIT 1")
        .fetch_one(&pool)
        .await
        .context("no account: run the server once first")?;
    let now = time::OffsetDateTime::now_utc();
    let micros = |t: time::OffsetDateTime| (t.unix_timestamp_nanos() / 1000) as i64;
    let journey = uuid::Uuid::now_v7().to_string();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO journeys (id, account_id, name, status, version, live_version, created_at, updated_at) VALUES ($1, $2, 'Bench waits', 'live', 1, 1, $3, $3)")
        .bind(&journey)
        .bind(&account)
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO journey_versions (journey_id, version, spec, created_by, created_at) VALUES ($1, 1, $2, 'bench', $3)")
        .bind(&journey)
        .bind(SPEC)
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
    let mut contact_ids = Vec::with_capacity(contacts);
    for chunk in (0..contacts).collect::<Vec<_>>().chunks(500) {
        let mut sql = String::from(
            "INSERT INTO contacts (id, account_id, name, attributes, custom_attributes, preferred_channels, created_at, updated_at) VALUES ",
        );
        let mut ids = Vec::new();
        for (n, i) in chunk.iter().enumerate() {
            let id = uuid::Uuid::now_v7().to_string();
            if n > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("('{id}', '{account}', 'Bench {i}', '{{}}', '{{}}', '{{}}', {t}, {t})", t = micros(now)));
            ids.push(id);
        }
        sqlx::query(&sql).execute(&mut *tx).await?;
        contact_ids.extend(ids);
    }
    tx.commit().await?;
    // The runs due much later first, then the cohort, timed from when the
    // seeding ends (it takes a while with a million rows).
    let later = now + time::Duration::days(30);
    let started = Instant::now();
    let write = async |from: usize, to: usize, wake_of: &dyn Fn(usize) -> time::OffsetDateTime| -> anyhow::Result<()> {
        let mut written = from;
        while written < to {
            let n = (to - written).min(2000);
            let mut tx = pool.begin().await?;
            let mut run_sql = String::from(
                "INSERT INTO journey_runs (id, account_id, journey_id, version, contact_id, status, step_id, wake_at, entered_at, trigger_event_id) VALUES ",
            );
            let mut job_sql = String::from(
                "INSERT INTO jobs (id, kind, account_id, dedup_key, payload, run_at, attempts, generation, created_at) VALUES ",
            );
            for k in 0..n {
                let i = written + k;
                let wake = micros(wake_of(i));
                let run = uuid::Uuid::now_v7().to_string();
                let contact = &contact_ids[i % contact_ids.len()];
                if k > 0 {
                    run_sql.push(',');
                    job_sql.push(',');
                }
                let entered = wake - 60_000_000;
                run_sql.push_str(&format!(
                    "('{run}', '{account}', '{journey}', 1, '{contact}', 'waiting', 'wait', {wake}, {entered}, 'bench-{i}')"
                ));
                job_sql.push_str(&format!(
                    "('{}', 'journey.run', '{account}', 'journey-run:{run}', '{{\"run_id\":\"{run}\"}}', {wake}, 0, 0, {})",
                    uuid::Uuid::now_v7(),
                    micros(now)
                ));
            }
            sqlx::query(&run_sql).execute(&mut *tx).await?;
            sqlx::query(&job_sql).execute(&mut *tx).await?;
            tx.commit().await?;
            written += n;
            if written % 100_000 < n {
                eprintln!("seeded {written} waiting runs ({:.0} s)", started.elapsed().as_secs_f64());
            }
        }
        Ok(())
    };
    write(0, runs.saturating_sub(cohort), &|i| later + time::Duration::seconds((i % 86_400) as i64)).await?;
    let cohort_start = time::OffsetDateTime::now_utc() + time::Duration::seconds(lead as i64);
    let step = (window as i64) * 1_000_000 / cohort.max(1) as i64;
    let first = runs.saturating_sub(cohort);
    write(first, runs, &|i| cohort_start + time::Duration::microseconds((i - first) as i64 * step)).await?;
    Ok(json!({
        "journey": journey,
        "runs": runs,
        "cohort": cohort,
        "cohort_starts_at": cohort_start.unix_timestamp(),
        "window_secs": window,
        "seed_secs": started.elapsed().as_secs_f64(),
    }))
}

/// How late the cohort's timers fired: each `wait` step's execution time
/// against its run's wake time (entered + 60 s); waits until all are done
/// or `timeout` seconds pass.
pub async fn lateness(database_url: &str, journey: &str, cohort: usize, timeout: u64) -> anyhow::Result<serde_json::Value> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new().max_connections(1).connect(database_url).await?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut done = 0i64;
    while Instant::now() < deadline {
        done = sqlx::query_scalar("SELECT COUNT(*) FROM journey_steps WHERE journey_id = $1 AND step_id = 'wait'")
            .bind(journey)
            .fetch_one(&pool)
            .await?;
        if done as usize >= cohort {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT s.executed_at, r.entered_at FROM journey_steps s JOIN journey_runs r ON r.id = s.run_id WHERE s.journey_id = $1 AND s.step_id = 'wait'",
    )
    .bind(journey)
    .fetch_all(&pool)
    .await?;
    let mut late: Vec<u64> = rows.iter().map(|(executed, entered)| (executed - (entered + 60_000_000)).max(0) as u64).collect();
    let n = late.len();
    let mut out = report(std::mem::take(&mut late), (cohort as i64 - done).max(0) as u64, 0, 0);
    out["fired"] = json!(n);
    out["missing"] = json!(cohort.saturating_sub(n));
    Ok(out)
}
