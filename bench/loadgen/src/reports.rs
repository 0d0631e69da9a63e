//! Reports on a year of history: each dashboard request fetched in turn
//! (one client: the time the server takes), latencies per request as
//! JSON; and the conversation export of the whole year streamed while the
//! server's memory is sampled.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::privacy::{percentile, rss_mb};

/// Fetches each of `paths` `rounds` times in turn (bearer `token`, or the
/// session `cookie` for workspace pages) after one warm-up round; p50/p99
/// per path and over all.
pub async fn dashboard(
    base: &str,
    token: &str,
    cookie: Option<&str>,
    paths: &[String],
    rounds: usize,
) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::new();
    let fetch = |path: &str| {
        let mut request = client.get(format!("{base}{path}")).bearer_auth(token);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        request.send()
    };
    let mut per_path: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let mut sizes = vec![0usize; paths.len()];
    for round in 0..=rounds {
        for (i, path) in paths.iter().enumerate() {
            let sent = Instant::now();
            let response = fetch(path).await.with_context(|| format!("GET {path}"))?;
            let status = response.status();
            let body = response.bytes().await?;
            anyhow::ensure!(status.is_success(), "GET {path}: {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]));
            if round > 0 {
                per_path[i].push(sent.elapsed().as_secs_f64() * 1000.0);
                sizes[i] = body.len();
            }
        }
    }
    let mut all: Vec<f64> = per_path.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let rows: Vec<serde_json::Value> = paths
        .iter()
        .zip(per_path.iter_mut())
        .zip(&sizes)
        .map(|((path, latencies), size)| {
            latencies.sort_by(f64::total_cmp);
            json!({ "path": path, "p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99), "bytes": size })
        })
        .collect();
    Ok(json!({
        "requests": all.len(),
        "p50_ms": percentile(&all, 0.5),
        "p99_ms": percentile(&all, 0.99),
        "max_ms": all.last().copied().unwrap_or(0.0),
        "paths": rows,
    }))
}

/// Streams `path` (a CSV export) to nowhere, counting rows, while the
/// server's (`pid`) resident memory is sampled every 50 ms.
pub async fn export(base: &str, token: &str, path: &str, pid: u32) -> anyhow::Result<serde_json::Value> {
    let before = rss_mb(pid);
    let started = Instant::now();
    let response = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().await?;
    anyhow::ensure!(response.status().is_success(), "GET {path}: {}", response.status());
    let mut response = response;
    let (mut bytes, mut lines, mut peak) = (0u64, 0u64, before);
    let mut next_sample = Instant::now();
    let mut first_byte_ms = None;
    while let Some(chunk) = response.chunk().await.context("the export was cut short")? {
        first_byte_ms.get_or_insert_with(|| started.elapsed().as_secs_f64() * 1000.0);
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        if Instant::now() >= next_sample {
            peak = peak.max(rss_mb(pid));
            next_sample = Instant::now() + Duration::from_millis(50);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(json!({
        "rows": lines.saturating_sub(1),
        "megabytes": bytes as f64 / 1_048_576.0,
        "seconds": seconds,
        "rows_per_second": lines as f64 / seconds,
        "first_byte_ms": first_byte_ms,
        "rss_before_mb": before,
        "rss_peak_mb": peak,
        "rss_growth_mb": peak - before,
    }))
}
