//! The agent workspace under load.
//!
//! - `pages` signs in like a browser (session cookie) and fetches one
//!   workspace page from N concurrent clients for a fixed time, reading
//!   each whole body: the inbox, a search, or a conversation chosen at
//!   random among the stored ones. Beside it, `asset` fetches the
//!   workspace's script through the same server: the stack's floor.
//! - `live` posts new customers' messages at a fixed rate (open loop)
//!   while a workspace socket (`/live`) listens as an open inbox does, and
//!   measures, per message, the time from the API's acknowledgement to the
//!   socket's notice, and to the end of the inbox fetch that the notice
//!   starts — what `assets/app.js` does before the message is on screen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Signs in through the API; returns the `Cookie` header a browser would send.
pub async fn sign_in(client: &reqwest::Client, base: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let response = client.post(format!("{base}/api/v1/sessions")).json(&json!({ "email": email, "password": password })).send().await?;
    anyhow::ensure!(response.status().is_success(), "signing in: {}", response.status());
    let cookie = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("threadline_session="))
        .context("no session cookie")?;
    Ok(cookie.split(';').next().unwrap_or_default().to_owned())
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1))).copied().unwrap_or(0) as f64 / 1000.0
}

/// Fetches `paths` (one chosen per request) for the time asked; latencies
/// and body sizes as JSON.
pub async fn pages(base: &str, cookie: &str, paths: Vec<String>, load: super::Load) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(!paths.is_empty(), "nothing to fetch");
    let client = reqwest::Client::builder().pool_max_idle_per_host(load.concurrency).build()?;
    let paths = Arc::new(paths);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(load.warmup);
    let end = measure_from + Duration::from_secs(load.seconds);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..load.concurrency {
        let (client, paths, base, cookie) = (client.clone(), paths.clone(), base.to_owned(), cookie.to_owned());
        workers.spawn(async move {
            let (mut latencies, mut sizes, mut errors) = (Vec::new(), Vec::new(), 0u64);
            let mut n = worker * 7919;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    return (latencies, sizes, errors);
                }
                let path = &paths[n % paths.len()];
                n = n.wrapping_mul(31).wrapping_add(17);
                let answer = client.get(format!("{base}{path}")).header(reqwest::header::COOKIE, &cookie).send().await;
                let body = match answer {
                    Ok(r) if r.status().is_success() => r.bytes().await.ok(),
                    _ => None,
                };
                if sent >= measure_from {
                    match body {
                        Some(body) => {
                            latencies.push(sent.elapsed().as_micros() as u32);
                            sizes.push(body.len());
                        }
                        None => errors += 1,
                    }
                }
            }
        });
    }
    let (mut latencies, mut sizes, mut errors) = (Vec::new(), Vec::new(), 0);
    while let Some(done) = workers.join_next().await {
        let (l, s, e) = done.context("a load worker failed")?;
        latencies.extend(l);
        sizes.extend(s);
        errors += e;
    }
    latencies.sort_unstable();
    sizes.sort_unstable();
    Ok(json!({
        "requests": latencies.len(),
        "errors": errors,
        "seconds": load.seconds,
        "concurrency": load.concurrency,
        "per_second": latencies.len() as f64 / load.seconds as f64,
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
        "max_ms": latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
        "median_bytes": sizes.get(sizes.len() / 2).copied().unwrap_or(0),
        "max_bytes": sizes.last().copied().unwrap_or(0),
    }))
}

/// What happened to one message: when the API acknowledged it, when the
/// socket told of it, when an inbox fetch begun after that notice ended.
#[derive(Default, Clone, Copy)]
struct Seen {
    acked: Option<Instant>,
    noticed: Option<Instant>,
    shown: Option<Instant>,
}

#[allow(clippy::too_many_arguments)]
pub async fn live(
    base: &str,
    token: &str,
    inbox: &str,
    cookie: &str,
    rate: u64,
    seconds: u64,
    warmup: u64,
) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();

    // The open inbox page: its socket, and the fetch each notice starts.
    let ws_url = format!("{}/live", base.replacen("http://", "ws://", 1));
    let mut request = ws_url.into_client_request()?;
    request.headers_mut().insert("cookie", cookie.parse()?);
    let host = base.trim_start_matches("http://").to_owned();
    request.headers_mut().insert("origin", format!("http://{host}").parse()?);
    let (socket, _) = tokio_tungstenite::connect_async(request).await.context("opening the live socket")?;
    let (_, mut incoming) = socket.split();
    let (notices, mut pending) = tokio::sync::mpsc::unbounded_channel::<Vec<String>>();
    let listener = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = incoming.next().await {
                let Ok(text) = frame.into_text() else { continue };
                let Ok(notice) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
                let Some(id) = notice["conversation_id"].as_str() else { continue };
                let now = Instant::now();
                seen.lock().unwrap_or_else(|p| p.into_inner()).entry(id.to_owned()).or_default().noticed.get_or_insert(now);
                let _ = notices.send(vec![id.to_owned()]);
            }
        })
    };
    // As `app.js`: one fetch at a time; notices that come meanwhile are
    // gathered into the next.
    let page = {
        let (seen, client, base, cookie) = (seen.clone(), client.clone(), base.to_owned(), cookie.to_owned());
        tokio::spawn(async move {
            while let Some(mut ids) = pending.recv().await {
                while let Ok(more) = pending.try_recv() {
                    ids.extend(more);
                }
                let ok = match client.get(format!("{base}/inbox")).header(reqwest::header::COOKIE, &cookie).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    let now = Instant::now();
                    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                    for id in ids {
                        seen.entry(id).or_default().shown.get_or_insert(now);
                    }
                }
            }
        })
    };

    // The traffic: new customers at `rate` per second, open loop.
    let url = format!("{base}/api/v1/inboxes/{inbox}/messages");
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(warmup);
    let end = measure_from + Duration::from_secs(seconds);
    let mut ticks = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let measured: Arc<Mutex<Vec<String>>> = Arc::default();
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut sends = tokio::task::JoinSet::new();
    let mut n = 0u64;
    while Instant::now() < end {
        ticks.tick().await;
        n += 1;
        let (client, url, token, seen, measured, errors) =
            (client.clone(), url.clone(), token.to_owned(), seen.clone(), measured.clone(), errors.clone());
        let counted = Instant::now() >= measure_from;
        sends.spawn(async move {
            let body = json!({
                "sender": { "name": "Cliente Prova", "identities": [{ "kind": "external_id", "value": format!("live-{n}-{}", uuid::Uuid::now_v7().simple()) }] },
                "text": "Buongiorno, il mio ordine non è ancora arrivato: potete verificare?",
            });
            let answer = client.post(&url).bearer_auth(&token).json(&body).send().await;
            let outcome = match answer {
                Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
                _ => None,
            };
            let acked = Instant::now();
            match outcome.as_ref().and_then(|o| o["conversation"]["id"].as_str()) {
                Some(id) => {
                    seen.lock().unwrap_or_else(|p| p.into_inner()).entry(id.to_owned()).or_default().acked = Some(acked);
                    if counted {
                        measured.lock().unwrap_or_else(|p| p.into_inner()).push(id.to_owned());
                    }
                }
                None if counted => {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                None => {}
            }
        });
    }
    while sends.join_next().await.is_some() {}
    // Let the last notices and fetches land.
    tokio::time::sleep(Duration::from_secs(2)).await;
    listener.abort();
    page.abort();

    let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let measured = measured.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (mut to_notice, mut to_screen, mut missing) = (Vec::new(), Vec::new(), 0u64);
    for id in &measured {
        let Some(s) = seen.get(id) else { continue };
        let Some(acked) = s.acked else { continue };
        match (s.noticed, s.shown) {
            (Some(noticed), Some(shown)) => {
                to_notice.push(noticed.saturating_duration_since(acked).as_micros() as u32);
                to_screen.push(shown.saturating_duration_since(acked).as_micros() as u32);
            }
            _ => missing += 1,
        }
    }
    to_notice.sort_unstable();
    to_screen.sort_unstable();
    Ok(json!({
        "rate": rate,
        "sent": measured.len(),
        "achieved_per_second": measured.len() as f64 / seconds as f64,
        "errors": errors.load(std::sync::atomic::Ordering::Relaxed),
        "never_shown": missing,
        "notice_p50_ms": percentile(&to_notice, 0.50),
        "notice_p99_ms": percentile(&to_notice, 0.99),
        "shown_p50_ms": percentile(&to_screen, 0.50),
        "shown_p99_ms": percentile(&to_screen, 0.99),
    }))
}
