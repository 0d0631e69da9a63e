//! Configuration: defaults, then an optional TOML file, then `THREADLINE_*`
//! environment variables (and `DATABASE_URL`), then command-line flags —
//! each layer overriding the one before. Unknown `THREADLINE_*` variables are
//! reported at start, because a typo in a deployment file should not pass in
//! silence.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use threadline_store::SqliteSync;

/// A secret value: `Debug` and `Display` never show it.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"********\"" })
    }
}

/// Where attachment bytes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentStore {
    #[default]
    Database,
    Disk,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Listen address of the HTTP server.
    pub bind: SocketAddr,
    /// Folder for the SQLite database, attachments on disk and the secret key.
    pub data: PathBuf,
    /// `postgres://…` to use PostgreSQL; empty for SQLite in `data`.
    pub database_url: Secret,
    /// SQLite durability: `normal` (survives process crashes) or `full`
    /// (also survives power loss, slower).
    pub sqlite_sync: SqliteSync,
    /// SQLite: milliseconds between the server's checkpoints of the WAL,
    /// made beside the commits instead of by one of them; 0 leaves them to
    /// SQLite (on the commit that takes the WAL past 1,000 pages).
    pub sqlite_checkpoint_ms: u64,
    /// SQLite: megabytes of memory SQLite keeps across all connections
    /// (mostly cached pages of the database) before it gives back the
    /// least recently used; 0 for no limit beyond each connection's cache.
    pub sqlite_memory_mb: u64,
    /// Connections in the database pool.
    pub database_max_connections: u32,
    /// Largest request body accepted, in bytes (413 above).
    pub max_body_bytes: usize,
    /// Largest single attachment accepted, in bytes.
    pub max_attachment_bytes: usize,
    pub attachment_store: AttachmentStore,
    /// 32-byte key, base64, that encrypts provider secrets at rest. When
    /// empty, a key is generated once in `data/secret.key`.
    pub secret_key: Secret,
    /// Operator token allowed to create accounts through the API
    /// (`POST /api/v1/accounts`). Disabled when empty.
    pub admin_token: Secret,
    /// Bearer token a Prometheus scraper sends to `/metrics` (the
    /// `admin_token` works too). `/metrics` is closed while both are empty.
    pub metrics_token: Secret,
    /// Webhook deliveries are retried this many times before they fail.
    pub webhook_max_attempts: u32,
    /// Seconds a webhook endpoint has to answer.
    pub webhook_timeout_secs: u64,
    /// Webhook deliveries a node makes at the same time (apart from other
    /// jobs, so endpoints that do not answer never hold up sends or bots).
    pub webhook_concurrency: usize,
    /// First retry delay in seconds; it doubles with each attempt (with jitter).
    pub webhook_retry_base_secs: u64,
    /// Web sessions last this many hours.
    pub session_hours: u64,
    /// Password sign-in attempts one client address may make per minute
    /// (429 above); 0 disables this budget.
    pub sign_in_rate_per_minute: u32,
    /// Consecutive wrong passwords for one login from one address before
    /// it is locked (30 s, doubling per further failure, at most an hour;
    /// from any address the login locks after four times as many, at most
    /// 15 minutes); 0 disables lockout.
    pub sign_in_lockout_after: u32,
    /// Password hashes (Argon2id, 19 MiB each) computed at once; 0 means
    /// one per CPU core.
    pub password_hash_concurrency: usize,
    /// Seconds a sign-in waits for its turn to hash before it is refused
    /// with 503.
    pub password_queue_timeout_secs: u64,
    /// The address customers and providers reach this server at, e.g.
    /// `https://support.example.com`. Providers' webhooks are configured
    /// under it (Twilio signs the exact URL), and outbound media links point
    /// at it. Default: `http://` + `bind`.
    pub public_url: String,
    /// Base URL of Twilio's REST API.
    pub twilio_api_url: String,
    /// Base URL of Meta's Graph API, with its version (WhatsApp, Messenger,
    /// Instagram).
    pub meta_graph_url: String,
    /// Base URL of Telegram's Bot API.
    pub telegram_api_url: String,
    /// Base URL of Firebase Cloud Messaging's HTTP v1 API.
    pub fcm_api_url: String,
    /// Base URL of the Apple Push Notification service; empty: Apple's
    /// production or sandbox host, as each in-app inbox says.
    pub apns_api_url: String,
    /// Attempts to send an outbound message before it is marked failed.
    pub send_max_attempts: u32,
    /// First delay before re-sending, in seconds; doubles per attempt (with jitter).
    pub send_retry_base_secs: u64,
    /// Seconds a provider has to answer a send or a media download.
    pub send_timeout_secs: u64,
    /// Web chat requests (sessions and messages) one client may make per
    /// minute per inbox; 0 disables the limit.
    pub chat_rate_per_minute: u32,
    /// Sign-in code requests and tries one client address may make per
    /// minute on the customer portal; 0 disables the limit.
    pub portal_rate_per_minute: u32,
    /// Take the client's address from the last `X-Forwarded-For` entry
    /// (set by your reverse proxy) instead of the connection. Only enable
    /// behind a proxy that sets it, or clients could pick their address.
    pub trust_forwarded_for: bool,
    /// Listen address of the inbound SMTP server, e.g. `0.0.0.0:25`;
    /// empty (the default) to receive no mail by SMTP.
    pub smtp_bind: Option<SocketAddr>,
    /// The name the SMTP server greets with. Default: the public URL's host.
    pub smtp_hostname: String,
    /// PEM certificate chain and private key for STARTTLS; without both,
    /// STARTTLS is not offered.
    pub smtp_tls_cert: PathBuf,
    pub smtp_tls_key: PathBuf,
    /// Largest message accepted by SMTP, in bytes (announced with `SIZE`;
    /// larger messages are refused with 552).
    pub smtp_max_message_bytes: usize,
    /// SMTP connections served at once; more wait to be accepted.
    pub smtp_max_connections: usize,
    /// Seconds between IMAP checks when the server has no IDLE (with IDLE,
    /// new mail is read as it arrives).
    pub imap_poll_secs: u64,
    /// Seconds between the router's sweeps of every team queue (it also
    /// routes at once when a conversation joins a queue on this node).
    pub routing_interval_secs: u64,
    /// Seconds between checks of open conversations' SLA clocks.
    pub sla_interval_secs: u64,
    /// Seconds between applications of the accounts' retention policies.
    pub retention_interval_secs: u64,
    /// Seconds between the job runner's looks at the job table when nothing
    /// wakes it (jobs queued by other nodes; its own are run at once).
    pub job_poll_secs: u64,
    /// Seconds a worker holds a job before another may take it (a worker
    /// that died holding one is noticed after this long).
    pub job_lease_secs: u64,
    /// Jobs a node runs at the same time (sends, bot turns, journey steps,
    /// segment looks…; webhook deliveries apart); a slow one holds one place.
    pub job_concurrency: usize,
    /// Seconds between sweeps of every customer against the segments (for
    /// conditions that lapse as time passes; changes to a customer are
    /// looked at as they happen).
    pub segment_sweep_secs: u64,
    /// Seconds between looks for customers whose date (birthday, warranty
    /// end) starts a journey; a run starts at most this late.
    pub date_scan_secs: u64,
    /// Seconds between measurements of the conversations that changed:
    /// how far reports may lag behind what happened.
    pub metrics_refresh_secs: u64,
    /// A changed conversation is measured once it has had no change for
    /// this many seconds…
    pub metrics_quiet_secs: u64,
    /// …or at the latest this many seconds after its first change: a busy
    /// conversation is not measured again on every refresh.
    pub metrics_max_lag_secs: u64,
    /// Seconds between storings of the days over that changed since:
    /// until a day is stored again, reports read its conversations.
    pub metrics_rollup_secs: u64,
    /// Seconds between reads of which optional work exists (segments,
    /// active surveys, enabled automation rules): how soon a node sees one
    /// created through another node.
    pub features_reload_secs: u64,
    /// Seconds between looks for pending conversations to resolve (the
    /// accounts' `auto_resolve_pending_days`).
    pub auto_resolve_scan_secs: u64,
    /// Seconds an external agent bot has to answer Threadline's post.
    pub agent_bot_timeout_secs: u64,
    /// Attempts to reach an external agent bot before the conversation is
    /// handed to people.
    pub agent_bot_max_attempts: u32,
    /// An OpenAI-compatible API (`…/v1`, with `/chat/completions` under it)
    /// for triage and handoff summaries instead of the built-in models;
    /// empty (the default) uses only what is built in.
    pub llm_url: String,
    /// The model asked, e.g. `gpt-4o-mini` or a local model's name.
    pub llm_model: String,
    pub llm_api_key: Secret,
    /// Seconds the LLM has to answer before the built-in result is used.
    pub llm_timeout_secs: u64,
    /// The operator's mail relay for Threadline's own mail (address
    /// verification codes): `smtp://user:pass@host:587` (STARTTLS),
    /// `smtps://…:465` (TLS) or `smtp+plain://…` (no TLS, for a relay on
    /// the same host). Empty: Threadline sends no mail of its own.
    pub system_smtp_url: Secret,
    /// The From address of Threadline's own mail. Default:
    /// `threadline@` + the public URL's host.
    pub system_mail_from: String,
    /// Networks Threadline may connect to although they are internal
    /// (loopback, private, link-local…): e.g. `["10.0.5.0/24"]` for a mail
    /// relay or a bot on the internal network. Empty: none.
    pub egress_allow: Vec<String>,
    /// `nats://host:4222` to share live events and typing between several
    /// nodes over NATS, and keep every domain event in a JetStream stream;
    /// empty (the default): this process is the only node.
    pub nats_url: Secret,
    /// First token of every subject Threadline uses on NATS (several
    /// installations can share one NATS server with different prefixes).
    pub nats_prefix: String,
    /// The JetStream stream that keeps the domain events (created if
    /// missing, on `<prefix>.events.>`).
    pub nats_stream: String,
    /// Hours the stream keeps an event.
    pub nats_stream_max_age_hours: u64,
    /// Milliseconds between the relay's looks for committed events that no
    /// commit in this process announced (left by a node that stopped, or
    /// by a command); its own commits are relayed at once.
    pub relay_poll_ms: u64,
    /// Logging filter, e.g. `info` or `threadline=debug,sqlx=warn`.
    pub log: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: PathBuf::from("data"),
            database_url: Secret::default(),
            sqlite_sync: SqliteSync::Normal,
            sqlite_checkpoint_ms: 250,
            sqlite_memory_mb: 128,
            database_max_connections: 16,
            max_body_bytes: 16 * 1024 * 1024,
            max_attachment_bytes: 10 * 1024 * 1024,
            attachment_store: AttachmentStore::Database,
            secret_key: Secret::default(),
            admin_token: Secret::default(),
            metrics_token: Secret::default(),
            webhook_max_attempts: 8,
            webhook_timeout_secs: 10,
            webhook_concurrency: 16,
            webhook_retry_base_secs: 10,
            session_hours: 12,
            sign_in_rate_per_minute: 20,
            sign_in_lockout_after: 5,
            password_hash_concurrency: 0,
            password_queue_timeout_secs: 5,
            public_url: String::new(),
            twilio_api_url: "https://api.twilio.com".into(),
            fcm_api_url: threadline_channels::push::FCM_API.into(),
            apns_api_url: String::new(),
            meta_graph_url: "https://graph.facebook.com/v21.0".into(),
            telegram_api_url: "https://api.telegram.org".into(),
            send_max_attempts: 6,
            send_retry_base_secs: 5,
            send_timeout_secs: 15,
            chat_rate_per_minute: 60,
            portal_rate_per_minute: 10,
            trust_forwarded_for: false,
            smtp_bind: None,
            smtp_hostname: String::new(),
            smtp_tls_cert: PathBuf::new(),
            smtp_tls_key: PathBuf::new(),
            smtp_max_message_bytes: 25 * 1024 * 1024,
            smtp_max_connections: 256,
            imap_poll_secs: 60,
            routing_interval_secs: 5,
            sla_interval_secs: 30,
            retention_interval_secs: 3600,
            job_poll_secs: 1,
            job_lease_secs: 60,
            job_concurrency: 32,
            segment_sweep_secs: 300,
            metrics_refresh_secs: 2,
            metrics_quiet_secs: 2,
            metrics_max_lag_secs: 3,
            metrics_rollup_secs: 60,
            features_reload_secs: 10,
            auto_resolve_scan_secs: 600,
            date_scan_secs: 900,
            agent_bot_timeout_secs: 10,
            agent_bot_max_attempts: 4,
            llm_url: String::new(),
            llm_model: String::new(),
            llm_api_key: Secret::default(),
            llm_timeout_secs: 5,
            system_smtp_url: Secret::default(),
            system_mail_from: String::new(),
            egress_allow: Vec::new(),
            nats_url: Secret::default(),
            nats_prefix: "threadline".into(),
            nats_stream: "THREADLINE_EVENTS".into(),
            nats_stream_max_age_hours: 24 * 7,
            relay_poll_ms: 1000,
            log: "info".into(),
        }
    }
}

/// The environment variables read, beside `DATABASE_URL`.
pub const ENV_VARS: &[&str] = &[
    "THREADLINE_CONFIG",
    "THREADLINE_BIND",
    "THREADLINE_DATA",
    "THREADLINE_SQLITE_SYNC",
    "THREADLINE_SQLITE_CHECKPOINT_MS",
    "THREADLINE_SQLITE_MEMORY_MB",
    "THREADLINE_AUTO_RESOLVE_SCAN_SECS",
    "THREADLINE_FEATURES_RELOAD_SECS",
    "THREADLINE_METRICS_MAX_LAG_SECS",
    "THREADLINE_METRICS_ROLLUP_SECS",
    "THREADLINE_METRICS_QUIET_SECS",
    "THREADLINE_METRICS_REFRESH_SECS",
    "THREADLINE_DATE_SCAN_SECS",
    "THREADLINE_SEGMENT_SWEEP_SECS",
    "THREADLINE_JOB_CONCURRENCY",
    "THREADLINE_METRICS_TOKEN",
    "THREADLINE_DATABASE_MAX_CONNECTIONS",
    "THREADLINE_MAX_BODY_BYTES",
    "THREADLINE_MAX_ATTACHMENT_BYTES",
    "THREADLINE_ATTACHMENT_STORE",
    "THREADLINE_SECRET_KEY",
    "THREADLINE_ADMIN_TOKEN",
    "THREADLINE_WEBHOOK_MAX_ATTEMPTS",
    "THREADLINE_WEBHOOK_TIMEOUT_SECS",
    "THREADLINE_WEBHOOK_CONCURRENCY",
    "THREADLINE_WEBHOOK_RETRY_BASE_SECS",
    "THREADLINE_SESSION_HOURS",
    "THREADLINE_SIGN_IN_RATE_PER_MINUTE",
    "THREADLINE_SIGN_IN_LOCKOUT_AFTER",
    "THREADLINE_PASSWORD_HASH_CONCURRENCY",
    "THREADLINE_PASSWORD_QUEUE_TIMEOUT_SECS",
    "THREADLINE_PUBLIC_URL",
    "THREADLINE_TWILIO_API_URL",
    "THREADLINE_META_GRAPH_URL",
    "THREADLINE_TELEGRAM_API_URL",
    "THREADLINE_FCM_API_URL",
    "THREADLINE_APNS_API_URL",
    "THREADLINE_SEND_MAX_ATTEMPTS",
    "THREADLINE_SEND_RETRY_BASE_SECS",
    "THREADLINE_SEND_TIMEOUT_SECS",
    "THREADLINE_CHAT_RATE_PER_MINUTE",
    "THREADLINE_PORTAL_RATE_PER_MINUTE",
    "THREADLINE_TRUST_FORWARDED_FOR",
    "THREADLINE_SMTP_BIND",
    "THREADLINE_SMTP_HOSTNAME",
    "THREADLINE_SMTP_TLS_CERT",
    "THREADLINE_SMTP_TLS_KEY",
    "THREADLINE_SMTP_MAX_MESSAGE_BYTES",
    "THREADLINE_SMTP_MAX_CONNECTIONS",
    "THREADLINE_IMAP_POLL_SECS",
    "THREADLINE_ROUTING_INTERVAL_SECS",
    "THREADLINE_SLA_INTERVAL_SECS",
    "THREADLINE_RETENTION_INTERVAL_SECS",
    "THREADLINE_JOB_POLL_SECS",
    "THREADLINE_JOB_LEASE_SECS",
    "THREADLINE_AGENT_BOT_TIMEOUT_SECS",
    "THREADLINE_AGENT_BOT_MAX_ATTEMPTS",
    "THREADLINE_LLM_URL",
    "THREADLINE_LLM_MODEL",
    "THREADLINE_LLM_API_KEY",
    "THREADLINE_LLM_TIMEOUT_SECS",
    "THREADLINE_SYSTEM_SMTP_URL",
    "THREADLINE_SYSTEM_MAIL_FROM",
    "THREADLINE_EGRESS_ALLOW",
    "THREADLINE_NATS_URL",
    "THREADLINE_NATS_PREFIX",
    "THREADLINE_NATS_STREAM",
    "THREADLINE_NATS_STREAM_MAX_AGE_HOURS",
    "THREADLINE_RELAY_POLL_MS",
    "THREADLINE_LOG",
    // Read by the test suite, not by the server.
    "THREADLINE_TEST_DATABASE_URL",
    "THREADLINE_TEST_NATS_URL",
    "THREADLINE_TEST_NATS_SERVER",
    "THREADLINE_TEST_HAPROXY",
    "THREADLINE_TEST_DOVECOT",
    "THREADLINE_TEST_PYTHON",
    "THREADLINE_TEST_CHROMIUM",
    "THREADLINE_TEST_CHROMEDRIVER",
    "THREADLINE_TEST_DATASETS",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("invalid value for {name}: {message}")]
    Env { name: String, message: String },
}

impl Settings {
    /// Defaults, then the TOML file (if any), then the environment.
    /// Returns the settings and warnings about unknown variables.
    pub fn load(file: Option<&Path>, env: &[(String, String)]) -> Result<(Settings, Vec<String>), ConfigError> {
        let file =
            file.map(Path::to_path_buf).or_else(|| env.iter().find(|(k, _)| k == "THREADLINE_CONFIG").map(|(_, v)| PathBuf::from(v)));
        let mut settings = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.clone(), source })?
            }
            None => Settings::default(),
        };
        let mut warnings = Vec::new();
        for (name, value) in env {
            if name == "DATABASE_URL" {
                settings.database_url = Secret(value.clone());
                continue;
            }
            let Some(key) = name.strip_prefix("THREADLINE_") else { continue };
            if !ENV_VARS.contains(&name.as_str()) {
                warnings.push(format!("unknown environment variable {name} ignored"));
                continue;
            }
            let bad = |message: String| ConfigError::Env { name: name.clone(), message };
            let number = |v: &str| v.parse::<u64>().map_err(|e| bad(e.to_string()));
            match key {
                "BIND" => settings.bind = value.parse().map_err(|e: std::net::AddrParseError| bad(e.to_string()))?,
                "DATA" => settings.data = PathBuf::from(value),
                "SQLITE_SYNC" => {
                    settings.sqlite_sync = match value.to_ascii_lowercase().as_str() {
                        "normal" => SqliteSync::Normal,
                        "full" => SqliteSync::Full,
                        _ => return Err(bad("expected normal or full".into())),
                    }
                }
                "SQLITE_CHECKPOINT_MS" => settings.sqlite_checkpoint_ms = number(value)?.min(60_000),
                "SQLITE_MEMORY_MB" => settings.sqlite_memory_mb = number(value)?.min(1 << 20),
                "DATABASE_MAX_CONNECTIONS" => settings.database_max_connections = number(value)?.clamp(1, 1000) as u32,
                "MAX_BODY_BYTES" => settings.max_body_bytes = number(value)? as usize,
                "MAX_ATTACHMENT_BYTES" => settings.max_attachment_bytes = number(value)? as usize,
                "ATTACHMENT_STORE" => {
                    settings.attachment_store = match value.to_ascii_lowercase().as_str() {
                        "database" => AttachmentStore::Database,
                        "disk" => AttachmentStore::Disk,
                        _ => return Err(bad("expected database or disk".into())),
                    }
                }
                "SECRET_KEY" => settings.secret_key = Secret(value.clone()),
                "ADMIN_TOKEN" => settings.admin_token = Secret(value.clone()),
                "METRICS_TOKEN" => settings.metrics_token = Secret(value.clone()),
                "WEBHOOK_MAX_ATTEMPTS" => settings.webhook_max_attempts = number(value)?.clamp(1, 100) as u32,
                "WEBHOOK_TIMEOUT_SECS" => settings.webhook_timeout_secs = number(value)?.max(1),
                "WEBHOOK_CONCURRENCY" => settings.webhook_concurrency = number(value)?.clamp(1, 256) as usize,
                "WEBHOOK_RETRY_BASE_SECS" => settings.webhook_retry_base_secs = number(value)?,
                "SESSION_HOURS" => settings.session_hours = number(value)?.max(1),
                "SIGN_IN_RATE_PER_MINUTE" => settings.sign_in_rate_per_minute = number(value)?.min(u64::from(u32::MAX)) as u32,
                "SIGN_IN_LOCKOUT_AFTER" => settings.sign_in_lockout_after = number(value)?.min(1000) as u32,
                "PASSWORD_HASH_CONCURRENCY" => settings.password_hash_concurrency = number(value)?.min(256) as usize,
                "PASSWORD_QUEUE_TIMEOUT_SECS" => settings.password_queue_timeout_secs = number(value)?.clamp(1, 300),
                "PUBLIC_URL" => settings.public_url = value.trim_end_matches('/').to_owned(),
                "TWILIO_API_URL" => settings.twilio_api_url = value.clone(),
                "FCM_API_URL" => settings.fcm_api_url = value.clone(),
                "APNS_API_URL" => settings.apns_api_url = value.clone(),
                "META_GRAPH_URL" => settings.meta_graph_url = value.clone(),
                "TELEGRAM_API_URL" => settings.telegram_api_url = value.clone(),
                "SEND_MAX_ATTEMPTS" => settings.send_max_attempts = number(value)?.clamp(1, 100) as u32,
                "SEND_RETRY_BASE_SECS" => settings.send_retry_base_secs = number(value)?,
                "SEND_TIMEOUT_SECS" => settings.send_timeout_secs = number(value)?.max(1),
                "CHAT_RATE_PER_MINUTE" => settings.chat_rate_per_minute = number(value)?.min(u64::from(u32::MAX)) as u32,
                "PORTAL_RATE_PER_MINUTE" => settings.portal_rate_per_minute = number(value)?.min(u64::from(u32::MAX)) as u32,
                "TRUST_FORWARDED_FOR" => {
                    settings.trust_forwarded_for = match value.to_ascii_lowercase().as_str() {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => return Err(bad("expected true or false".into())),
                    }
                }
                "SMTP_BIND" => {
                    settings.smtp_bind = match value.trim() {
                        "" => None,
                        v => Some(v.parse().map_err(|e: std::net::AddrParseError| bad(e.to_string()))?),
                    }
                }
                "SMTP_HOSTNAME" => settings.smtp_hostname = value.trim().to_owned(),
                "SMTP_TLS_CERT" => settings.smtp_tls_cert = PathBuf::from(value),
                "SMTP_TLS_KEY" => settings.smtp_tls_key = PathBuf::from(value),
                "SMTP_MAX_MESSAGE_BYTES" => settings.smtp_max_message_bytes = number(value)?.max(1024) as usize,
                "SMTP_MAX_CONNECTIONS" => settings.smtp_max_connections = number(value)?.clamp(1, 100_000) as usize,
                "IMAP_POLL_SECS" => settings.imap_poll_secs = number(value)?.max(1),
                "ROUTING_INTERVAL_SECS" => settings.routing_interval_secs = number(value)?.max(1),
                "SLA_INTERVAL_SECS" => settings.sla_interval_secs = number(value)?.max(1),
                "RETENTION_INTERVAL_SECS" => settings.retention_interval_secs = number(value)?.max(1),
                "JOB_POLL_SECS" => settings.job_poll_secs = number(value)?.max(1),
                "JOB_LEASE_SECS" => settings.job_lease_secs = number(value)?.max(1),
                "JOB_CONCURRENCY" => settings.job_concurrency = number(value)?.clamp(1, 256) as usize,
                "SEGMENT_SWEEP_SECS" => settings.segment_sweep_secs = number(value)?.max(10),
                "DATE_SCAN_SECS" => settings.date_scan_secs = number(value)?.max(10),
                "METRICS_REFRESH_SECS" => settings.metrics_refresh_secs = number(value)?.clamp(1, 3600),
                "METRICS_QUIET_SECS" => settings.metrics_quiet_secs = number(value)?.min(3600),
                "METRICS_MAX_LAG_SECS" => settings.metrics_max_lag_secs = number(value)?.clamp(1, 86_400),
                "METRICS_ROLLUP_SECS" => settings.metrics_rollup_secs = number(value)?.clamp(1, 86_400),
                "FEATURES_RELOAD_SECS" => settings.features_reload_secs = number(value)?.clamp(1, 3600),
                "AUTO_RESOLVE_SCAN_SECS" => settings.auto_resolve_scan_secs = number(value)?.max(10),
                "AGENT_BOT_TIMEOUT_SECS" => settings.agent_bot_timeout_secs = number(value)?.max(1),
                "AGENT_BOT_MAX_ATTEMPTS" => settings.agent_bot_max_attempts = number(value)?.clamp(1, 100) as u32,
                "LLM_URL" => settings.llm_url = value.trim().trim_end_matches('/').to_owned(),
                "LLM_MODEL" => settings.llm_model = value.trim().to_owned(),
                "LLM_API_KEY" => settings.llm_api_key = Secret(value.clone()),
                "LLM_TIMEOUT_SECS" => settings.llm_timeout_secs = number(value)?.max(1),
                "SYSTEM_SMTP_URL" => settings.system_smtp_url = Secret(value.trim().to_owned()),
                "SYSTEM_MAIL_FROM" => settings.system_mail_from = value.trim().to_owned(),
                "EGRESS_ALLOW" => {
                    settings.egress_allow = value.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect();
                    crate::egress::EgressPolicy::new(&settings.egress_allow).map_err(bad)?;
                }
                "NATS_URL" => settings.nats_url = Secret(value.trim().to_owned()),
                "NATS_PREFIX" => {
                    let prefix = value.trim();
                    if prefix.is_empty()
                        || !prefix.split('.').all(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                    {
                        return Err(bad("expected subject tokens of letters, digits, _ or - separated by dots".into()));
                    }
                    settings.nats_prefix = prefix.to_owned();
                }
                "NATS_STREAM" => {
                    let name = value.trim();
                    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                        return Err(bad("expected letters, digits, _ or -".into()));
                    }
                    settings.nats_stream = name.to_owned();
                }
                "NATS_STREAM_MAX_AGE_HOURS" => settings.nats_stream_max_age_hours = number(value)?.clamp(1, 24 * 365 * 10),
                "RELAY_POLL_MS" => settings.relay_poll_ms = number(value)?.clamp(10, 60_000),
                "LOG" => settings.log = value.clone(),
                _ => {}
            }
        }
        Ok((settings, warnings))
    }

    /// Password hashes computed at once: the setting, or one per core.
    pub fn effective_password_hash_concurrency(&self) -> usize {
        match self.password_hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The public base URL in effect, without a trailing slash.
    pub fn effective_public_url(&self) -> String {
        if self.public_url.is_empty() { format!("http://{}", self.bind) } else { self.public_url.trim_end_matches('/').to_owned() }
    }

    /// The database URL in effect: the configured one, or SQLite in `data`.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.0.is_empty() {
            format!("sqlite://{}?mode=rwc", self.data.join("threadline.db").display())
        } else {
            self.database_url.0.clone()
        }
    }

    /// The effective configuration as TOML, secrets masked.
    pub fn to_masked_toml(&self) -> String {
        let mut copy = self.clone();
        if !copy.database_url.0.is_empty() {
            copy.database_url.0 = mask_url(&copy.database_url.0);
        }
        if !copy.system_smtp_url.0.is_empty() {
            copy.system_smtp_url.0 = mask_url(&copy.system_smtp_url.0);
        }
        if !copy.nats_url.0.is_empty() {
            copy.nats_url.0 = mask_url(&copy.nats_url.0);
        }
        for secret in [&mut copy.secret_key, &mut copy.admin_token, &mut copy.metrics_token, &mut copy.llm_api_key] {
            if !secret.0.is_empty() {
                secret.0 = "********".into();
            }
        }
        toml::to_string_pretty(&copy).unwrap_or_default()
    }
}

/// Hides the password of a URL and its query string (which may carry one,
/// e.g. `?password=`), or the whole value if it is not a URL.
pub(crate) fn mask_url(value: &str) -> String {
    let (value, query) = match value.split_once('?') {
        Some((base, _)) => (base, "?********"),
        None => (value, ""),
    };
    let masked = match (value.find("://"), value.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &value[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:********@{}", &value[..scheme], &value[at + 1..])
        }
        (Some(_), None) => value.to_owned(),
        _ => return "********".to_owned(),
    };
    format!("{masked}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_variable_the_readme_documents_is_read() {
        let readme = include_str!("../../../README.md");
        // The configuration table's second column: `THREADLINE_…`.
        let documented: Vec<&str> = readme
            .lines()
            .filter(|l| l.starts_with("| `"))
            .filter_map(|l| l.split('|').nth(2))
            .flat_map(|cell| cell.split('`'))
            .filter(|w| w.starts_with("THREADLINE_"))
            .collect();
        assert!(documented.len() > 50, "the configuration table: {documented:?}");
        for name in documented {
            assert!(ENV_VARS.contains(&name), "{name} is documented but dropped as unknown");
            let (_, warnings) = Settings::load(None, &env(&[(name, "1")])).unwrap_or_default();
            assert!(warnings.iter().all(|w| !w.contains("unknown")), "{name}: {warnings:?}");
        }
    }

    #[test]
    fn layers_override_in_order() {
        let dir = std::env::temp_dir().join(format!("threadline-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("threadline.toml");
        std::fs::write(&file, "bind = \"0.0.0.0:9000\"\ndata = \"/srv/threadline\"\nwebhook_max_attempts = 3\n").unwrap();
        let (s, warnings) = Settings::load(
            Some(&file),
            &env(&[("THREADLINE_BIND", "127.0.0.1:7000"), ("DATABASE_URL", "postgres://u:pw@db/t"), ("THREADLINE_BOGUS", "1")]),
        )
        .unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:7000");
        assert_eq!(s.data, PathBuf::from("/srv/threadline"));
        assert_eq!(s.webhook_max_attempts, 3);
        assert_eq!(s.effective_database_url(), "postgres://u:pw@db/t");
        assert_eq!(warnings, vec!["unknown environment variable THREADLINE_BOGUS ignored"]);
        let masked = s.to_masked_toml();
        assert!(masked.contains("postgres://u:********@db/t"), "{masked}");
        assert!(!masked.contains("pw"));
    }

    #[test]
    fn the_mail_listener_is_off_until_given_an_address() {
        let (s, _) = Settings::load(None, &[]).unwrap();
        assert_eq!(s.smtp_bind, None);
        let dir = std::env::temp_dir().join(format!("threadline-config-smtp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("threadline.toml");
        std::fs::write(&file, "smtp_bind = \"0.0.0.0:2525\"\nsmtp_max_message_bytes = 1048576\n").unwrap();
        let (s, _) = Settings::load(Some(&file), &[]).unwrap();
        assert_eq!(s.smtp_bind.map(|a| a.port()), Some(2525));
        assert_eq!(s.smtp_max_message_bytes, 1_048_576);
        let (s, _) =
            Settings::load(Some(&file), &env(&[("THREADLINE_SMTP_BIND", "127.0.0.1:25"), ("THREADLINE_IMAP_POLL_SECS", "30")])).unwrap();
        assert_eq!(s.smtp_bind.map(|a| a.to_string()).as_deref(), Some("127.0.0.1:25"));
        assert_eq!(s.imap_poll_secs, 30);
        let (s, _) = Settings::load(Some(&file), &env(&[("THREADLINE_SMTP_BIND", "")])).unwrap();
        assert_eq!(s.smtp_bind, None, "an empty value turns the listener off");
        let error = Settings::load(None, &env(&[("THREADLINE_SMTP_BIND", "port 25")])).unwrap_err();
        assert!(error.to_string().contains("THREADLINE_SMTP_BIND"), "{error}");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Settings::load(None, &env(&[("THREADLINE_BIND", "nowhere")])).unwrap_err();
        assert!(err.to_string().contains("THREADLINE_BIND"));
        let dir = std::env::temp_dir().join(format!("threadline-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "bnid = \"x\"\n").unwrap();
        assert!(Settings::load(Some(&file), &[]).unwrap_err().to_string().contains("bnid"));
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret("hunter2".into())), "\"********\"");
        assert_eq!(mask_url("sekrit"), "********");
        assert_eq!(mask_url("postgres://h/db?password=pw"), "postgres://h/db?********");
    }

    #[test]
    fn default_database_is_sqlite_in_the_data_folder() {
        let (s, _) = Settings::load(None, &[]).unwrap();
        assert_eq!(s.effective_database_url(), "sqlite://data/threadline.db?mode=rwc");
    }
}
