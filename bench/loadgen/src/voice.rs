//! Voice webhooks under load: calls arriving at a fixed rate, open loop
//! (each answer's latency counted from when the call was due), each a
//! signed Twilio "A call comes in" webhook answered with TwiML — or, for
//! the ceiling, the same rate of single inserts into the ceiling server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

/// Sends a call's first webhook every 1/`rate` s for `warmup` + `seconds`
/// to the voice inbox at `url` (signed with `auth_token`), from `callers`
/// numbers in turn; with `ceiling`, `url` is the ceiling server's
/// `…/insert`. Reports the measured calls' latency and how many answers
/// were not TwiML.
pub async fn call_rate(
    url: &str,
    auth_token: Option<&str>,
    ceiling: bool,
    rate: u64,
    seconds: u64,
    warmup: u64,
    callers: u64,
) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let start = Instant::now() + Duration::from_millis(100);
    let total = rate * (warmup + seconds);
    let measured_from = rate * warmup;
    let mut tasks = tokio::task::JoinSet::new();
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let url = Arc::new(url.to_owned());
    let token = auth_token.map(str::to_owned);
    let run = uuid::Uuid::now_v7().simple().to_string();
    for i in 0..total {
        let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let from = format!("+3934{:08}", i % callers);
        let sid = format!("CA{}{:016x}", &run[..16], i);
        let request = if ceiling {
            let body = json!({ "sender": { "name": null, "identities": [{ "kind": "phone", "value": from }] }, "text": format!("📞 Call from {from}") });
            client.post(url.as_str()).json(&body)
        } else {
            let params: Vec<(String, String)> = vec![
                ("AccountSid".into(), "ACbench0000000000000000000000000000".into()),
                ("ApiVersion".into(), "2010-04-01".into()),
                ("CallSid".into(), sid),
                ("CallStatus".into(), "ringing".into()),
                ("Direction".into(), "inbound".into()),
                ("From".into(), from),
                ("To".into(), "+390212345678".into()),
            ];
            let signature = threadline_channels::twilio::signature(token.as_deref().unwrap_or(""), &url, &params);
            client.post(url.as_str()).header("x-twilio-signature", signature).form(&params)
        };
        tasks.spawn(async move {
            let ok = match request.send().await {
                Ok(r) if r.status().is_success() => ceiling || r.text().await.is_ok_and(|t| t.contains("<Response>")),
                _ => false,
            };
            (i, ok, due.elapsed())
        });
        while let Some(done) = tasks.try_join_next() {
            let (i, ok, took) = done.context("a call task failed")?;
            if i >= measured_from {
                if ok { latencies.push(took.as_micros() as u64) } else { errors += 1 }
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        let (i, ok, took) = done.context("a call task failed")?;
        if i >= measured_from {
            if ok { latencies.push(took.as_micros() as u64) } else { errors += 1 }
        }
    }
    Ok(crate::engagement::report(latencies, errors, rate, seconds))
}
