//! `threadline-bench`: the load side of `bench/run.sh`.
//!
//! - `ingest` posts inbound messages through the generic API channel from
//!   N concurrent clients for a fixed time, a mix of new and returning
//!   customers, and prints messages/s with latency percentiles as JSON.
//! - `ceiling-server` is the yardstick: the same HTTP stack (axum, tokio,
//!   sqlx `Any` with the same SQLite pragmas and single-writer gate) doing one
//!   bare INSERT per request into the same kind of database.
//! - `ceiling` drives it exactly like `ingest` drives Threadline.
//! - `webhook` posts the same traffic as a provider would: Twilio's
//!   form-encoded SMS webhook, a WhatsApp Cloud API, Messenger or Telegram
//!   webhook, each signed the way its provider signs it.
//! - `smtp` delivers mail to Threadline's SMTP listener from N concurrent
//!   connections, as sending mail servers do (EHLO once, then pipelined
//!   MAIL/RCPT/DATA per message), with bodies of a chosen size.
//! - `seed` fills an account with a large history straight in the database
//!   (see `seed.rs`); `pages` and `live` load the agent workspace (see
//!   `pages.rs`).
//! - `classify`, `route` and `bot` measure triage, routing and the bot
//!   in-process on one core (see `understand.rs`).
//! - `sign-in-flood` and `export` measure hardening and privacy (see
//!   `privacy.rs`).
//! - `dashboard` fetches report requests in turn and `report-export`
//!   streams the conversation export while sampling the server's memory
//!   (see `reports.rs`).
//! - `tracking` loads the Segment-compatible collector with batches of
//!   calls; `ceiling-batch` sends the same batches to the ceiling server,
//!   which inserts them as rows in one transaction.
//! - `track-rate` sends single calls at a fixed rate (open loop);
//!   `seed-waiting-runs` and `lateness` measure journey timers with many
//!   runs waiting (see `engagement.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;

mod engagement;
mod pages;
mod privacy;
mod reports;
mod seed;
mod understand;
mod voice;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load Threadline's `POST /api/v1/inboxes/{id}/messages`.
    Ingest {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        inbox: String,
        #[command(flatten)]
        load: Load,
        /// Share of messages from customers who wrote before (0–1).
        #[arg(long, default_value_t = 0.7)]
        returning: f64,
    },
    /// Serve `POST /insert`: one bare INSERT per request.
    CeilingServer {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value = "127.0.0.1:0")]
        bind: String,
        #[arg(long, default_value = "normal")]
        sqlite_sync: String,
    },
    /// Load an inbox's provider webhook (`/hooks/{inbox}`), signed.
    Webhook {
        /// The inbox's `webhook_url`.
        #[arg(long)]
        url: String,
        /// twilio, whatsapp, messenger or telegram.
        #[arg(long)]
        format: String,
        /// Twilio's auth token, Meta's app secret or Telegram's webhook secret.
        #[arg(long)]
        secret: String,
        #[command(flatten)]
        load: Load,
        #[arg(long, default_value_t = 0.7)]
        returning: f64,
    },
    /// Deliver mail to the SMTP listener.
    Smtp {
        /// host:port of the listener.
        #[arg(long)]
        addr: String,
        /// The inbox's address.
        #[arg(long)]
        to: String,
        /// Body size in bytes.
        #[arg(long, default_value_t = 10_240)]
        body_bytes: usize,
        #[command(flatten)]
        load: Load,
        #[arg(long, default_value_t = 0.7)]
        returning: f64,
    },
    /// Fill the database's first account with customers, conversations and messages.
    Seed {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 100_000)]
        conversations: usize,
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
        /// How far back the history goes.
        #[arg(long, default_value_t = 6)]
        months: u32,
        /// Also write each conversation's measured facts (for reports).
        #[arg(long)]
        measured: bool,
    },
    /// Fetch report requests (API paths, or workspace pages with `--email`) in turn.
    Dashboard {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        /// Sign in as this user for workspace pages.
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        password: Option<String>,
        #[arg(long, default_value_t = 30)]
        rounds: usize,
        /// Paths to fetch, after the base URL.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Stream a CSV export while sampling the server's memory.
    ReportExport {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        pid: u32,
        #[arg(long)]
        path: String,
    },
    /// Fetch a workspace page, signed in: inbox, search, conversation or asset.
    Pages {
        #[arg(long)]
        base: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long, value_parser = ["inbox", "search", "conversation", "asset"])]
        page: String,
        /// Where to pick conversations from (`--page conversation`).
        #[arg(long)]
        database_url: Option<String>,
        #[command(flatten)]
        load: Load,
    },
    /// New messages at a fixed rate while an inbox listens on `/live`.
    Live {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        inbox: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        /// Messages per second.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, default_value_t = 2)]
        warmup: u64,
    },
    /// Load Threadline's tracking collector: `POST /v1/batch` with `--calls`
    /// track and page calls each, from customers of whom most come back.
    Tracking {
        #[arg(long)]
        base: String,
        /// A tracking source's write key.
        #[arg(long)]
        key: String,
        #[arg(long, default_value_t = 100)]
        calls: usize,
        #[command(flatten)]
        load: Load,
    },
    /// Single tracking calls at a fixed rate, latency from each call's due time.
    TrackRate {
        /// Threadline's base URL, or the ceiling server's `…/insert-batch` (with `--batch`).
        #[arg(long)]
        url: String,
        /// The write key (Basic auth); none for the ceiling server.
        #[arg(long)]
        key: Option<String>,
        /// Wrap each call in a one-call batch (what the ceiling server takes).
        #[arg(long)]
        batch: bool,
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        /// Distinct customers: the first this many calls create them, the rest return.
        #[arg(long, default_value_t = 5000)]
        customers: u64,
    },
    /// Calls arriving at a voice inbox at a fixed rate (each its signed first
    /// webhook, answered with TwiML), latency from each call's due time.
    CallRate {
        /// The voice inbox's webhook URL, or the ceiling server's `…/insert` (with `--ceiling`).
        #[arg(long)]
        url: String,
        /// The inbox's Twilio auth token, to sign with.
        #[arg(long)]
        auth_token: Option<String>,
        #[arg(long)]
        ceiling: bool,
        #[arg(long, default_value_t = 200)]
        rate: u64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        /// Distinct callers: the first calls create them, the rest return.
        #[arg(long, default_value_t = 2000)]
        callers: u64,
    },
    /// Write a live journey with many runs waiting on a timer.
    SeedWaitingRuns {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 1_000_000)]
        runs: usize,
        /// How many fall due during the measurement.
        #[arg(long, default_value_t = 20_000)]
        cohort: usize,
        #[arg(long, default_value_t = 10_000)]
        contacts: usize,
        /// Seconds from now until the cohort starts falling due.
        #[arg(long, default_value_t = 60)]
        lead: u64,
        /// Seconds over which the cohort falls due.
        #[arg(long, default_value_t = 60)]
        window: u64,
    },
    /// How late the cohort's timers fired (waits until all have).
    Lateness {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        journey: String,
        #[arg(long)]
        cohort: usize,
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Load the ceiling server's `/insert-batch` with the same batches.
    CeilingBatch {
        #[arg(long)]
        base: String,
        #[arg(long, default_value_t = 100)]
        calls: usize,
        #[command(flatten)]
        load: Load,
    },
    /// Load the ceiling server the same way.
    Ceiling {
        #[arg(long)]
        base: String,
        #[command(flatten)]
        load: Load,
    },
    /// Train the category model on DATASET/train.csv, report accuracy on
    /// DATASET/test.csv and messages per second on one core.
    Classify {
        #[arg(long)]
        dataset: std::path::PathBuf,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Training passes (default: Threadline's).
        #[arg(long)]
        epochs: Option<usize>,
        /// The first pass's step size (default: Threadline's).
        #[arg(long)]
        learning_rate: Option<f32>,
    },
    /// Routing decisions among N agents with M conversations waiting.
    Route {
        #[arg(long, default_value_t = 1000)]
        agents: usize,
        #[arg(long, default_value_t = 10000)]
        waiting: usize,
        #[arg(long, default_value_t = 2000)]
        decisions: usize,
    },
    /// Wrong passwords from one or many addresses while a real user signs
    /// in from another; the server's memory sampled throughout.
    SignInFlood {
        #[arg(long)]
        base: String,
        /// The server's process id (its memory is read from /proc).
        #[arg(long)]
        pid: u32,
        /// The login the flood guesses at.
        #[arg(long)]
        target: String,
        /// Another user, who signs in meanwhile.
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long, default_value_t = 1000)]
        attempts: u64,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Loopback addresses the flood comes from (127.0.1.1…).
        #[arg(long, default_value_t = 1)]
        addresses: u8,
    },
    /// One customer with N messages, then the time of their export.
    Export {
        #[arg(long)]
        base: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        inbox: String,
        #[arg(long, default_value_t = 10_000)]
        messages: u64,
    },
    /// The bot's answer with N articles in the knowledge base.
    Bot {
        #[arg(long, default_value_t = 10000)]
        articles: usize,
        #[arg(long, default_value_t = 2000)]
        queries: usize,
    },
}

#[derive(clap::Args, Clone, Copy)]
struct Load {
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::SignInFlood { base, pid, target, email, password, attempts, concurrency, addresses } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            println!("{}", rt.block_on(privacy::sign_in_flood(&base, pid, &target, &email, &password, attempts, concurrency, addresses))?);
        }
        Command::Export { base, token, inbox, messages } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            println!("{}", rt.block_on(privacy::export(&base, &token, &inbox, messages))?);
        }
        // The load generator gets one core; the server under test the rest.
        Command::Ingest { base, token, inbox, load, returning } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let url = format!("{base}/api/v1/inboxes/{inbox}/messages");
            let report = rt.block_on(drive(load, move |client, worker, n| {
                // Returning customers cycle through a fixed pool per worker;
                // new ones have never been seen.
                let returning_customer = (n as f64 * 0.61803).fract() < returning;
                let identity = if returning_customer {
                    format!("returning-{worker}-{}", n % 50)
                } else {
                    format!("new-{worker}-{n}-{}", uuid::Uuid::now_v7().simple())
                };
                let body = json!({
                    "sender": { "name": "Cliente Prova", "identities": [{ "kind": "external_id", "value": identity }] },
                    "text": "Buongiorno, il mio ordine non è ancora arrivato: potete verificare? Grazie.",
                    "provider_message_id": format!("bench-{worker}-{n}-{}", uuid::Uuid::now_v7().simple()),
                });
                client.post(&url).bearer_auth(&token).json(&body)
            }))?;
            println!("{report}");
        }
        Command::Webhook { url, format, secret, load, returning } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let fresh = Arc::new(AtomicU64::new(0));
            let report = rt.block_on(drive(load, move |client, worker, n| {
                // The same mix as `ingest`: a pool of returning customers per
                // worker, and new ones with numbers never seen.
                let customer = if (n as f64 * 0.61803).fract() < returning {
                    (worker as u64) * 100 + n % 50
                } else {
                    1_000_000 + fresh.fetch_add(1, Ordering::Relaxed)
                };
                webhook_request(client, &url, &format, &secret, worker, n, customer)
            }))?;
            println!("{report}");
        }
        Command::Tracking { base, key, calls, load } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let url = format!("{base}/v1/batch");
            let report = rt.block_on(drive(load, move |client, worker, n| {
                client.post(&url).basic_auth(&key, Some("")).json(&tracking_batch(worker, n, calls))
            }))?;
            println!("{}", per_call(report, calls));
        }
        Command::TrackRate { url, key, batch, rate, seconds, warmup, customers } => {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            println!("{}", rt.block_on(engagement::track_rate(&url, key.as_deref(), batch, rate, seconds, warmup, customers.max(1)))?);
        }
        Command::CallRate { url, auth_token, ceiling, rate, seconds, warmup, callers } => {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            println!("{}", rt.block_on(voice::call_rate(&url, auth_token.as_deref(), ceiling, rate, seconds, warmup, callers.max(1)))?);
        }
        Command::SeedWaitingRuns { database_url, runs, cohort, contacts, lead, window } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            println!("{}", rt.block_on(engagement::seed_waiting_runs(&database_url, runs, cohort, contacts, lead, window))?);
        }
        Command::Lateness { database_url, journey, cohort, timeout } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            println!("{}", rt.block_on(engagement::lateness(&database_url, &journey, cohort, timeout))?);
        }
        Command::CeilingBatch { base, calls, load } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let url = format!("{base}/insert-batch");
            let report = rt.block_on(drive(load, move |client, worker, n| client.post(&url).json(&tracking_batch(worker, n, calls))))?;
            println!("{}", per_call(report, calls));
        }
        Command::Ceiling { base, load } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let url = format!("{base}/insert");
            let report = rt.block_on(drive(load, move |client, worker, n| {
                let body = json!({
                    "sender": { "name": "Cliente Prova", "identities": [{ "kind": "external_id", "value": format!("c-{worker}-{n}") }] },
                    "text": "Buongiorno, il mio ordine non è ancora arrivato: potete verificare? Grazie.",
                });
                client.post(&url).json(&body)
            }))?;
            println!("{report}");
        }
        Command::Smtp { addr, to, body_bytes, load, returning } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            println!("{}", rt.block_on(smtp::drive(&addr, &to, body_bytes, load, returning))?);
        }
        Command::Seed { database_url, conversations, messages, months, measured } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            println!("{}", rt.block_on(seed::seed(&database_url, conversations, messages, months, measured))?);
        }
        Command::Dashboard { base, token, email, password, rounds, paths } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            println!(
                "{}",
                rt.block_on(async {
                    let cookie = match (&email, &password) {
                        (Some(email), Some(password)) => Some(pages::sign_in(&reqwest::Client::new(), &base, email, password).await?),
                        _ => None,
                    };
                    reports::dashboard(&base, &token, cookie.as_deref(), &paths, rounds).await
                })?
            );
        }
        Command::ReportExport { base, token, pid, path } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            println!("{}", rt.block_on(reports::export(&base, &token, &path, pid))?);
        }
        Command::Pages { base, email, password, page, database_url, load } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let report = rt.block_on(async {
                let cookie = pages::sign_in(&reqwest::Client::new(), &base, &email, &password).await?;
                let paths: Vec<String> = match page.as_str() {
                    "inbox" => vec!["/inbox".into(), "/inbox?assignee=unassigned".into(), "/inbox?status=resolved".into()],
                    "search" => {
                        ["rimborso", "Rossi", "A-10042", "pacco", "refund", "A-99999"].iter().map(|q| format!("/inbox?q={q}")).collect()
                    }
                    "conversation" => {
                        let url = database_url.as_deref().context("--database-url names where to pick conversations from")?;
                        sqlx::any::install_default_drivers();
                        let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await?;
                        let ids: Vec<String> =
                            sqlx::query_scalar("SELECT id FROM conversations ORDER BY random() LIMIT 2000").fetch_all(&pool).await?;
                        pool.close().await;
                        ids.into_iter().map(|id| format!("/conversations/{id}")).collect()
                    }
                    _ => vec!["/assets/app.js".into()],
                };
                pages::pages(&base, &cookie, paths, load).await
            })?;
            println!("{report}");
        }
        Command::Live { base, token, inbox, email, password, rate, seconds, warmup } => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let report = rt.block_on(async {
                let cookie = pages::sign_in(&reqwest::Client::new(), &base, &email, &password).await?;
                pages::live(&base, &token, &inbox, &cookie, rate, seconds, warmup).await
            })?;
            println!("{report}");
        }
        Command::Classify { dataset, rounds, epochs, learning_rate } => {
            let defaults = threadline_domain::triage::intent::TrainOptions::default();
            let options = threadline_domain::triage::intent::TrainOptions {
                epochs: epochs.unwrap_or(defaults.epochs),
                learning_rate: learning_rate.unwrap_or(defaults.learning_rate),
                ..defaults
            };
            println!("{}", understand::classify(&dataset, rounds, options)?)
        }
        Command::Route { agents, waiting, decisions } => println!("{}", understand::route(agents, waiting, decisions)?),
        Command::Bot { articles, queries } => println!("{}", understand::bot(articles, queries)?),
        Command::CeilingServer { database_url, bind, sqlite_sync } => {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(ceiling::serve(&database_url, &bind, &sqlite_sync))?;
        }
    }
    Ok(())
}

const TEXT: &str = "Buongiorno, il mio ordine non è ancora arrivato: potete verificare? Grazie.";

/// One provider webhook carrying one customer message, signed.
fn webhook_request(
    client: &reqwest::Client,
    url: &str,
    format: &str,
    secret: &str,
    worker: usize,
    n: u64,
    customer: u64,
) -> reqwest::RequestBuilder {
    // Italian mobile numbers (+39 347…), one per customer.
    let phone = format!("+39347{:07}", customer % 10_000_000);
    let id = format!("{worker}-{n}-{}", uuid::Uuid::now_v7().simple());
    match format {
        "twilio" => {
            let params: Vec<(String, String)> = [
                ("MessageSid", format!("SM{}", &uuid::Uuid::now_v7().simple().to_string())),
                ("AccountSid", "ACbench0000000000000000000000000000".to_owned()),
                ("From", phone),
                ("To", "+15005550006".to_owned()),
                ("Body", TEXT.to_owned()),
                ("NumMedia", "0".to_owned()),
                ("SmsStatus", "received".to_owned()),
                ("ApiVersion", "2010-04-01".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let signature = threadline_channels::twilio::signature(secret, url, &params);
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &params {
                form.append_pair(k, v);
            }
            client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-twilio-signature", signature)
                .body(form.finish())
        }
        "telegram" => {
            let chat = 100_000_000 + customer as i64;
            let body = json!({ "update_id": n, "message": { "message_id": n, "date": 1_700_000_000,
                "from": { "id": chat, "is_bot": false, "first_name": "Cliente" }, "chat": { "id": chat, "type": "private" }, "text": TEXT } });
            client.post(url).header("x-telegram-bot-api-secret-token", secret).json(&body)
        }
        meta => {
            let body = if meta == "whatsapp" {
                let wa_id = phone.trim_start_matches('+').to_owned();
                json!({ "object": "whatsapp_business_account", "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
                    "messaging_product": "whatsapp", "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
                    "contacts": [{ "profile": { "name": "Cliente Prova" }, "wa_id": wa_id }],
                    "messages": [{ "from": wa_id, "id": format!("wamid.{id}"), "timestamp": "1700000000", "type": "text", "text": { "body": TEXT } }] } }] }] })
            } else {
                json!({ "object": "page", "entry": [{ "id": "103512345678901", "time": 1_700_000_000_000u64, "messaging": [{
                    "sender": { "id": format!("{}", 7_000_000_000u64 + customer) }, "recipient": { "id": "103512345678901" },
                    "timestamp": 1_700_000_000_000u64, "message": { "mid": format!("m_{id}"), "text": TEXT } }] }] })
            };
            let raw = serde_json::to_vec(&body).unwrap_or_default();
            let signature = threadline_channels::meta::sign(secret, &raw);
            client.post(url).header("content-type", "application/json").header("x-hub-signature-256", signature).body(raw)
        }
    }
}

/// A batch of `calls` Segment calls from one browsing customer: page views
/// and, now and then, a product added; one customer in three is new.
fn tracking_batch(worker: usize, n: u64, calls: usize) -> serde_json::Value {
    let customer = if n.is_multiple_of(3) { format!("w{worker}-n{n}") } else { format!("w{worker}-r{}", n % 50) };
    let batch: Vec<serde_json::Value> = (0..calls)
        .map(|i| {
            if i % 10 == 9 {
                json!({ "type": "track", "userId": customer, "event": "Product Added", "messageId": format!("{worker}-{n}-{i}"),
                        "properties": { "sku": format!("SKU-{}", i % 17), "price": 49.9 } })
            } else {
                json!({ "type": "page", "userId": customer, "messageId": format!("{worker}-{n}-{i}"),
                        "properties": { "path": format!("/catalogue/{}", i % 23), "title": "Catalogue" } })
            }
        })
        .collect();
    json!({ "batch": batch })
}

/// A batch report in calls per second as well as requests.
fn per_call(mut report: serde_json::Value, calls: usize) -> serde_json::Value {
    let per_second = report["per_second"].as_f64().unwrap_or(0.0);
    report["calls_per_request"] = json!(calls);
    report["events_per_second"] = json!(per_second * calls as f64);
    report
}

async fn drive(
    load: Load,
    request: impl Fn(&reqwest::Client, usize, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> anyhow::Result<serde_json::Value> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(load.concurrency).build()?;
    let request = Arc::new(request);
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(load.warmup);
    let end = measure_from + Duration::from_secs(load.seconds);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..load.concurrency {
        let (client, request, errors) = (client.clone(), request.clone(), errors.clone());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    return latencies;
                }
                let ok = matches!(request(&client, worker, n).send().await, Ok(r) if r.status().is_success());
                let took = sent.elapsed();
                if sent >= measure_from {
                    if ok {
                        latencies.push(took.as_micros() as u32);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += 1;
            }
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = workers.join_next().await {
        latencies.extend(done.context("a load worker failed")?);
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or(0) as f64 / 1000.0
    };
    Ok(json!({
        "requests": latencies.len(),
        "errors": errors.load(Ordering::Relaxed),
        "seconds": load.seconds,
        "concurrency": load.concurrency,
        "per_second": latencies.len() as f64 / load.seconds as f64,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
    }))
}

mod ceiling {
    use std::sync::Arc;

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    use sqlx::Executor;
    use sqlx::any::AnyPoolOptions;
    use tokio::sync::Mutex;

    #[derive(Clone)]
    struct Ceiling {
        pool: sqlx::AnyPool,
        /// The same single-writer gate Threadline's store uses on SQLite.
        gate: Option<Arc<Mutex<()>>>,
        sqlite: bool,
    }

    pub async fn serve(url: &str, bind: &str, sync: &str) -> anyhow::Result<()> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pragmas = format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -32000; PRAGMA temp_store = MEMORY;",
            if sync == "full" { "FULL" } else { "NORMAL" }
        );
        let mut options = AnyPoolOptions::new().max_connections(16);
        if sqlite {
            options = options.after_connect(move |conn, _| {
                let pragmas = pragmas.clone();
                Box::pin(async move {
                    conn.execute(pragmas.as_str()).await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS ceiling (id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at BIGINT NOT NULL)")
            .execute(&pool)
            .await?;
        let state = Ceiling { pool, gate: sqlite.then(|| Arc::new(Mutex::new(()))), sqlite };
        let app = axum::Router::new().route("/insert", post(insert)).route("/insert-batch", post(insert_batch)).with_state(state);
        let listener = tokio::net::TcpListener::bind(bind).await?;
        println!("ceiling listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    }

    /// A batch's calls as rows, in one transaction with one multi-row INSERT
    /// per 100 rows: the least a store of events must do.
    async fn insert_batch(State(state): State<Ceiling>, axum::Json(body): axum::Json<serde_json::Value>) -> StatusCode {
        let _guard = match &state.gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let calls = body["batch"].as_array().cloned().unwrap_or_default();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0);
        let result = async {
            let mut tx = state.pool.begin().await?;
            for chunk in calls.chunks(100) {
                // Plain `?` on SQLite, as Threadline's store binds them (numbered
                // parameters cost a search per bind).
                let values: Vec<String> = (0..chunk.len())
                    .map(
                        |i| if state.sqlite { "(?, ?, ?)".to_owned() } else { format!("(${}, ${}, ${})", i * 3 + 1, i * 3 + 2, i * 3 + 3) },
                    )
                    .collect();
                let sql = format!("INSERT INTO ceiling (id, body, created_at) VALUES {}", values.join(", "));
                let mut query = sqlx::query(&sql);
                for call in chunk {
                    query = query.bind(uuid::Uuid::now_v7().to_string()).bind(call.to_string()).bind(now);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await
        }
        .await;
        if result.is_ok() { StatusCode::CREATED } else { StatusCode::INTERNAL_SERVER_ERROR }
    }

    async fn insert(State(state): State<Ceiling>, axum::Json(body): axum::Json<serde_json::Value>) -> StatusCode {
        let _guard = match &state.gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let result = sqlx::query("INSERT INTO ceiling (id, body, created_at) VALUES ($1, $2, $3)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(body.to_string())
            .bind(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0))
            .execute(&state.pool)
            .await;
        if result.is_ok() { StatusCode::CREATED } else { StatusCode::INTERNAL_SERVER_ERROR }
    }
}

mod smtp {
    //! An SMTP client as sending servers behave: one connection per worker,
    //! EHLO once, each message's MAIL, RCPT and DATA pipelined, its content
    //! sent after the 354, and the time counted until the final 250 — which
    //! Threadline sends only once the message is committed.

    use std::time::{Duration, Instant};

    use anyhow::{Context, bail};
    use serde_json::json;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;

    use super::Load;

    async fn reply(reader: &mut BufReader<TcpStream>) -> anyhow::Result<u16> {
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await? == 0 {
                bail!("the server closed the connection");
            }
            // Multi-line replies continue with "250-"; the last has a space.
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return line.get(..3).and_then(|c| c.parse().ok()).context("a malformed reply");
            }
        }
    }

    fn message(worker: usize, n: u64, customer: u64, to: &str, body_bytes: usize) -> String {
        let line = "Buongiorno, il mio ordine non e' ancora arrivato: potete verificare? Grazie mille per l'aiuto.\r\n";
        let body: String = line.repeat(body_bytes / line.len() + 1)[..body_bytes].to_owned();
        format!(
            "From: Cliente {customer} <cliente{customer}@example.com>\r\nTo: {to}\r\nSubject: Ordine {n}\r\n\
             Message-ID: <bench-{worker}-{n}-{}@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n.\r\n",
            uuid::Uuid::now_v7().simple()
        )
    }

    pub async fn drive(addr: &str, to: &str, body_bytes: usize, load: Load, returning: f64) -> anyhow::Result<serde_json::Value> {
        let start = Instant::now();
        let warm_until = start + Duration::from_secs(load.warmup);
        let end = warm_until + Duration::from_secs(load.seconds);
        let mut tasks = Vec::new();
        for worker in 0..load.concurrency {
            let (addr, to) = (addr.to_owned(), to.to_owned());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let stream = TcpStream::connect(&addr).await?;
                stream.set_nodelay(true)?;
                let mut reader = BufReader::new(stream);
                if reply(&mut reader).await? != 220 {
                    bail!("no greeting");
                }
                reader.get_mut().write_all(b"EHLO bench.example.org\r\n").await?;
                reply(&mut reader).await?;
                let mut n = 0u64;
                while Instant::now() < end {
                    n += 1;
                    let customer = if (n as f64 * 0.61803).fract() < returning {
                        worker as u64 * 100 + n % 50
                    } else {
                        1_000_000 + worker as u64 * 1_000_000 + n
                    };
                    let sent = Instant::now();
                    reader
                        .get_mut()
                        .write_all(format!("MAIL FROM:<cliente{customer}@example.com>\r\nRCPT TO:<{to}>\r\nDATA\r\n").as_bytes())
                        .await?;
                    let (mail, rcpt, data) = (reply(&mut reader).await?, reply(&mut reader).await?, reply(&mut reader).await?);
                    if (mail, rcpt, data) != (250, 250, 354) {
                        errors += 1;
                        reader.get_mut().write_all(b"RSET\r\n").await?;
                        reply(&mut reader).await?;
                        continue;
                    }
                    reader.get_mut().write_all(message(worker, n, customer, &to, body_bytes).as_bytes()).await?;
                    let done = reply(&mut reader).await?;
                    if sent >= warm_until && Instant::now() <= end {
                        if done == 250 {
                            latencies.push(sent.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                }
                let _ = reader.get_mut().write_all(b"QUIT\r\n").await;
                Ok((latencies, errors))
            }));
        }
        let mut latencies = Vec::new();
        let mut errors = 0;
        for task in tasks {
            let (l, e) = task.await??;
            latencies.extend(l);
            errors += e;
        }
        latencies.sort();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Ok(json!({
            "requests": latencies.len(),
            "per_second": latencies.len() as f64 / load.seconds as f64,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "errors": errors,
            "body_bytes": body_bytes,
        }))
    }
}
