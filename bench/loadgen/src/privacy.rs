//! Hardening and privacy figures: a flood of wrong sign-ins against the
//! server's memory while a real user signs in elsewhere, and how long a
//! customer's export takes.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

/// The server's resident memory now, in MB (Linux /proc).
pub fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1).min(sorted.len() - 1)]
}

/// `attempts` wrong passwords at `concurrency`, from `addresses` loopback
/// addresses (127.0.1.x), half of them for `target` and half for logins
/// that do not exist; meanwhile another user signs in from 127.0.0.2
/// every 3.5 seconds (within a person's budget of 20 a minute). Samples the server's RSS every 20 ms, and once more
/// ten seconds after the flood.
#[allow(clippy::too_many_arguments)]
pub async fn sign_in_flood(
    base: &str,
    pid: u32,
    target: &str,
    email: &str,
    password: &str,
    attempts: u64,
    concurrency: usize,
    addresses: u8,
) -> anyhow::Result<serde_json::Value> {
    let before = rss_mb(pid);
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(before.to_bits()));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let now = rss_mb(pid);
                if now > f64::from_bits(peak.load(Ordering::Relaxed)) {
                    peak.store(now.to_bits(), Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let user = {
        let (done, base, email, password) = (done.clone(), base.to_owned(), email.to_owned(), password.to_owned());
        tokio::spawn(async move {
            let client = reqwest::Client::builder().local_address(Some("127.0.0.2".parse::<IpAddr>().unwrap())).build().unwrap();
            let (mut ok, mut failed, mut latencies) = (0u64, 0u64, Vec::new());
            while !done.load(Ordering::Relaxed) {
                let started = Instant::now();
                let response =
                    client.post(format!("{base}/api/v1/sessions")).json(&json!({ "email": email, "password": password })).send().await;
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                match response {
                    Ok(r) if r.status().is_success() => ok += 1,
                    _ => failed += 1,
                }
                tokio::time::sleep(Duration::from_millis(3500)).await;
            }
            latencies.sort_by(f64::total_cmp);
            (ok, failed, percentile(&latencies, 0.99))
        })
    };
    let clients: Vec<reqwest::Client> = (0..addresses.max(1))
        .map(|i| {
            let ip: IpAddr = format!("127.0.1.{}", i.saturating_add(1)).parse().unwrap();
            reqwest::Client::builder().local_address(Some(ip)).build().unwrap()
        })
        .collect();
    let counts: Arc<std::sync::Mutex<std::collections::BTreeMap<u16, u64>>> = Default::default();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..attempts {
        let permit = semaphore.clone().acquire_owned().await?;
        let client = clients[(n as usize) % clients.len()].clone();
        let (base, target, counts) = (base.to_owned(), target.to_owned(), counts.clone());
        tasks.push(tokio::spawn(async move {
            let login = if n % 2 == 0 { target } else { format!("nobody{n}@example.com") };
            let status = match client
                .post(format!("{base}/api/v1/sessions"))
                .json(&json!({ "email": login, "password": format!("wrong guess {n}") }))
                .send()
                .await
            {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            };
            *counts.lock().unwrap().entry(status).or_default() += 1;
            drop(permit);
        }));
    }
    for task in tasks {
        task.await?;
    }
    let flood_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(10)).await;
    done.store(true, Ordering::Relaxed);
    sampler.await?;
    let (user_ok, user_failed, user_p99) = user.await?;
    let statuses: serde_json::Map<String, serde_json::Value> =
        counts.lock().unwrap().iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    Ok(json!({
        "attempts": attempts,
        "addresses": addresses,
        "flood_seconds": flood_secs,
        "statuses": statuses,
        "rss_before_mb": before,
        "rss_peak_mb": f64::from_bits(peak.load(Ordering::Relaxed)),
        "rss_after_10s_mb": rss_mb(pid),
        "user_sign_ins_ok": user_ok,
        "user_sign_ins_failed": user_failed,
        "user_sign_in_p99_ms": user_p99,
    }))
}

/// Stores `messages` messages from one customer (with a small file every
/// hundredth), then times `GET /contacts/{id}/export`.
pub async fn export(base: &str, token: &str, inbox: &str, messages: u64) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/inboxes/{inbox}/messages");
    let semaphore = Arc::new(tokio::sync::Semaphore::new(16));
    let contact = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut tasks = Vec::new();
    for n in 0..messages {
        let permit = semaphore.clone().acquire_owned().await?;
        let (client, url, token, contact) = (client.clone(), url.clone(), token.to_owned(), contact.clone());
        tasks.push(tokio::spawn(async move {
            let mut body = json!({
                "sender": { "name": "Cliente Esportato", "identities": [{ "kind": "email", "value": "export@example.com" }] },
                "text": format!("Messaggio numero {n}: il mio ordine non è ancora arrivato, potete verificare?"),
            });
            if n % 100 == 0 {
                use base64::Engine;
                let data = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 20_000]);
                body["attachments"] =
                    json!([{ "filename": format!("scontrino-{n}.txt"), "content_type": "text/plain", "data_base64": data }]);
            }
            let answer: serde_json::Value = client.post(&url).bearer_auth(&token).json(&body).send().await?.json().await?;
            if let Some(id) = answer["message"]["contact_id"].as_str() {
                contact.lock().unwrap().get_or_insert_with(|| id.to_owned());
            }
            drop(permit);
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let contact = contact.lock().unwrap().clone().ok_or_else(|| anyhow::anyhow!("no message was stored"))?;
    let started = Instant::now();
    let response = client.get(format!("{base}/api/v1/contacts/{contact}/export")).bearer_auth(token).send().await?;
    anyhow::ensure!(response.status().is_success(), "export answered {}", response.status());
    let bytes = response.bytes().await?;
    Ok(json!({ "messages": messages, "export_seconds": started.elapsed().as_secs_f64(), "zip_bytes": bytes.len() }))
}
