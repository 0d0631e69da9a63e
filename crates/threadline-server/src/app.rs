//! Assembling and running the server.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::bus::EventBus;
use crate::cache::TtlCache;
use crate::config::Settings;
use crate::error::ApiError;
use crate::secrets::SecretBox;
use threadline_domain::ids::{AccountId, InboxId};
use threadline_store::{Account, Inbox, Store, User};

/// Events a socket may fall behind the bus before it is told to resync.
const BUS_CAPACITY: usize = 4096;

/// How long request-path lookups are cached (see [`TtlCache`]).
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Everything a request handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Store,
    pub settings: Settings,
    pub secrets: SecretBox,
    pub bus: EventBus,
    /// API token hash → its user, for a few seconds.
    pub token_cache: TtlCache<String, (User, Vec<threadline_domain::role::Scope>)>,
    /// Inbox id → the inbox and its account, for the ingest path.
    pub inbox_cache: TtlCache<(AccountId, InboxId), (Inbox, Account)>,
    /// Inbox id → its account, for requests that name only the inbox
    /// (providers' webhooks, the web chat).
    pub inbox_accounts: TtlCache<InboxId, AccountId>,
    /// The client and endpoints for providers' APIs.
    pub providers: crate::channels::Providers,
    /// The client that delivers webhooks (under the egress policy).
    pub webhook_client: reqwest::Client,
    /// Which chat visitors have the chat open, on any node.
    pub chat_presence: crate::widget::presence::ChatPresence,
    /// Email recipient addresses → their inboxes.
    pub mail_routes: TtlCache<(), crate::email::MailRoutes>,
    /// How each IMAP mailbox's reading is going (this process's pollers).
    pub mailboxes: std::sync::Mutex<std::collections::HashMap<InboxId, crate::email::imap::MailboxStatus>>,
    /// Password hashing, a few at a time.
    pub passwords: crate::auth::PasswordHasher,
    /// Sign-in budgets per address and lockouts per login.
    pub sign_in: crate::auth::throttle::SignInThrottle,
    /// Web chat requests per client address and inbox.
    pub chat_limiter: crate::rate_limit::RateLimiter<(std::net::IpAddr, InboxId)>,
    /// The customer portal's sign-in budget per client address.
    pub portal_limiter: crate::rate_limit::RateLimiter<std::net::IpAddr>,
    /// Push services' access tokens, per in-app inbox.
    pub push_tokens: crate::push::PushTokens,
    /// Each account's rules and model for reading messages.
    pub triage: crate::triage::TriageCache,
    /// Each account's routing rules, for a few seconds.
    pub routing_rules: TtlCache<AccountId, std::sync::Arc<Vec<threadline_store::RoutingRule>>>,
    /// The knowledge base's search index.
    pub knowledge: crate::knowledge::Knowledge,
    /// Tracking write key hash → its source and account, for a few seconds.
    pub tracking_keys: TtlCache<String, threadline_store::SourceContext>,
    /// Account → whether it has live or paused journeys or any segment
    /// (tracked events are handed to journeys and segments only then).
    pub engagement_active: TtlCache<AccountId, bool>,
    /// The time background work goes by (tests move it forward).
    pub clock: crate::clock::Clock,
    /// Where outbound connections may go.
    pub egress: Arc<crate::egress::EgressPolicy>,
    /// Counters and gauges for `/metrics`.
    pub telemetry: crate::telemetry::Telemetry,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Forgets cached users and inboxes after a change to them, here and
    /// (told over the bus) on the other nodes.
    pub fn invalidate_caches(&self) {
        self.forget_cached();
        self.bus.tell_nodes(crate::bus::NodeSignal::CachesChanged { node: self.bus.node().to_owned() });
    }

    /// Forgets this node's cached users, tokens, inboxes and rules.
    pub fn forget_cached(&self) {
        self.token_cache.clear();
        self.inbox_cache.clear();
        self.inbox_accounts.clear();
        self.mail_routes.clear();
        self.routing_rules.clear();
        self.tracking_keys.clear();
        self.engagement_active.clear();
    }

    /// An inbox and its account, cached briefly (the ingest path needs both
    /// on every message).
    pub async fn inbox_and_account(
        &self,
        account_id: AccountId,
        inbox_id: InboxId,
    ) -> Result<(Inbox, Account), threadline_store::StoreError> {
        if let Some(hit) = self.inbox_cache.get(&(account_id, inbox_id)) {
            return Ok(hit);
        }
        let inbox = self.store.inbox(account_id, inbox_id).await?;
        let account = self.store.account(account_id).await?;
        self.inbox_cache.insert((account_id, inbox_id), (inbox.clone(), account.clone()));
        Ok((inbox, account))
    }

    /// An inbox named only by its id (a provider's webhook, the web chat),
    /// with its account; cached like [`Self::inbox_and_account`].
    pub async fn inbox_by_id(&self, inbox_id: InboxId) -> Result<(Inbox, Account), threadline_store::StoreError> {
        let account_id = match self.inbox_accounts.get(&inbox_id) {
            Some(account_id) => account_id,
            None => {
                let (account_id, _) = self.store.inbox_for_webhook(inbox_id).await?;
                self.inbox_accounts.insert(inbox_id, account_id);
                account_id
            }
        };
        self.inbox_and_account(account_id, inbox_id).await
    }

    /// State with the in-process bus (commands, and servers without NATS).
    pub fn new(store: Store, settings: Settings, secrets: SecretBox) -> anyhow::Result<Self> {
        Self::with_bus(store, settings, secrets, EventBus::in_process(BUS_CAPACITY))
    }

    pub fn with_bus(store: Store, settings: Settings, secrets: SecretBox, bus: EventBus) -> anyhow::Result<Self> {
        let chat_presence = crate::widget::presence::ChatPresence::new(bus.clone());
        let sign_in = crate::auth::throttle::SignInThrottle::new(settings.sign_in_rate_per_minute, settings.sign_in_lockout_after)
            .shared_over(bus.clone());
        let egress = Arc::new(crate::egress::EgressPolicy::new(&settings.egress_allow).map_err(|e| anyhow::anyhow!("egress_allow: {e}"))?);
        Ok(AppState(Arc::new(Shared {
            store,
            secrets,
            bus,
            token_cache: TtlCache::new(CACHE_TTL, 10_000),
            inbox_cache: TtlCache::new(CACHE_TTL, 10_000),
            inbox_accounts: TtlCache::new(CACHE_TTL, 10_000),
            mail_routes: TtlCache::new(CACHE_TTL, 1),
            mailboxes: Default::default(),
            providers: crate::channels::Providers::new(&settings, &egress).context("while creating the providers' HTTP clients")?,
            webhook_client: crate::webhook_dispatcher::client(&settings, &egress).context("while creating the webhooks' HTTP client")?,
            chat_presence,
            chat_limiter: crate::rate_limit::RateLimiter::new(settings.chat_rate_per_minute),
            portal_limiter: crate::rate_limit::RateLimiter::new(settings.portal_rate_per_minute),
            push_tokens: crate::push::PushTokens::default(),
            passwords: crate::auth::PasswordHasher::new(
                settings.effective_password_hash_concurrency(),
                std::time::Duration::from_secs(settings.password_queue_timeout_secs),
            ),
            sign_in,
            triage: Default::default(),
            routing_rules: TtlCache::new(CACHE_TTL, 10_000),
            knowledge: crate::knowledge::Knowledge::new().context("while creating the knowledge base's search index")?,
            tracking_keys: TtlCache::new(CACHE_TTL, 10_000),
            engagement_active: TtlCache::new(CACHE_TTL, 10_000),
            clock: Default::default(),
            egress,
            telemetry: Default::default(),
            settings,
        })))
    }
}

/// The HTTP application: the API router with its limits and safety nets.
pub fn router(state: AppState) -> Router {
    let api = crate::api::router()
        .merge(crate::channels::hooks::router())
        .merge(crate::widget::router())
        .merge(crate::web::router())
        .merge(crate::tracking::router())
        .merge(crate::orders::router())
        .merge(crate::voice::router());
    let max_body = state.settings.max_body_bytes;
    api.route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(ready))
        .route("/metrics", axum::routing::get(crate::telemetry::exposition))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::BadRequest("method not allowed on this path".into()) })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::Internal(anyhow::anyhow!("handler panicked")))
        }))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::telemetry::track))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Readiness (`/readyz`): 200 when this node can serve — the database
/// answers and, with several nodes, NATS is connected; 503 saying what is
/// missing otherwise. `/healthz` is liveness: 200 while the process answers.
async fn ready(axum::extract::State(state): axum::extract::State<AppState>) -> (axum::http::StatusCode, &'static str) {
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "readiness check: the database does not answer");
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
    }
    if !state.bus.connected() {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "NATS unavailable");
    }
    (axum::http::StatusCode::OK, "ready")
}

/// A running server and its workers.
pub struct Running {
    pub addr: SocketAddr,
    /// The SMTP listener's address, when `smtp_bind` is set.
    pub smtp_addr: Option<SocketAddr>,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests, lets in-flight ones finish, stops workers.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Waits until the server stops (after a shutdown signal).
    pub async fn wait(mut self) {
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }

    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Binds `settings.bind` (port 0 picks a free port) and serves until shutdown.
pub async fn start(mut settings: Settings, store: Store, secrets: SecretBox) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(settings.bind).await.with_context(|| format!("while binding {}", settings.bind))?;
    let addr = listener.local_addr()?;
    if settings.public_url.is_empty() {
        // Port 0 binds a free port: the public URL names the real one.
        settings.public_url = format!("http://{addr}");
        tracing::info!(
            public_url = %settings.public_url,
            "public_url is not set: providers' webhooks (Twilio signs the URL it calls), media links and the chat script use the listen address; set THREADLINE_PUBLIC_URL to the address the outside world reaches"
        );
    }
    // The SMTP listener binds before anything starts, so a taken port or an
    // unreadable certificate stops the start with a clear error.
    let smtp = match settings.smtp_bind {
        Some(bind) => {
            let listener = TcpListener::bind(bind).await.with_context(|| format!("while binding the SMTP listener to {bind}"))?;
            let tls = match (settings.smtp_tls_cert.as_os_str().is_empty(), settings.smtp_tls_key.as_os_str().is_empty()) {
                (true, true) => None,
                (false, false) => Some(crate::email::listener::tls_acceptor(&settings.smtp_tls_cert, &settings.smtp_tls_key)?),
                _ => anyhow::bail!("STARTTLS needs both smtp_tls_cert and smtp_tls_key"),
            };
            Some((listener, tls))
        }
        None => None,
    };
    let bus = EventBus::from_settings(&settings, BUS_CAPACITY).await?;
    tracing::info!(transport = bus.transport(), "event bus ready");
    let state = AppState::with_bus(store, settings, secrets, bus)?;
    let (shutdown, _) = watch::channel(false);

    let app = router(state.clone());
    let mut server_stop = shutdown.subscribe();
    let server = tokio::spawn(async move {
        let result = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "server stopped with an error");
        }
    });
    let mut tasks = vec![server];
    tasks.push(tokio::spawn(crate::relay::run(state.clone(), shutdown.subscribe())));
    tasks.push(tokio::spawn(crate::checkpoints::run(state.clone(), shutdown.subscribe())));
    tasks.push(tokio::spawn(crate::widget::presence::run(state.clone(), shutdown.subscribe())));
    tasks.push(tokio::spawn(crate::nodes::listen(state.clone(), shutdown.subscribe())));
    tasks.push(tokio::spawn(crate::routing::wake(state.clone(), shutdown.subscribe())));
    // Commits queue segment, survey and rule work only once one exists.
    if let Err(e) = state.store.load_features().await {
        tracing::warn!(error = %e, "could not read whether segments, surveys or rules exist; read again shortly");
    }
    tasks.push(tokio::spawn(reload_features(state.clone(), shutdown.subscribe())));
    // The sweeps, one pending job each for all nodes (queuing one again
    // keeps the earlier time).
    let now = state.clock.now();
    let sweeps = [
        (crate::auto_resolve::job(now), "the look for pending conversations to resolve"),
        (crate::routing::job(now), "the router"),
        (crate::sla::job(now), "the SLA check"),
        (crate::retention::job(now + time::Duration::seconds(state.settings.retention_interval_secs.max(1) as i64)), "the retention purge"),
        (crate::bot::resolve_quiet_job(now), "the look for conversations the bot resolved"),
    ];
    for (job, what) in sweeps {
        if let Err(e) = state.store.enqueue_job(job).await {
            tracing::warn!(error = %e, "could not queue {what}; it is queued at the next start");
        }
    }
    // Reports read facts the refresh job keeps up to date (one job for all nodes).
    if let Err(e) = state.store.enqueue_job(crate::metrics::job(state.clock.now())).await {
        tracing::warn!(error = %e, "could not queue the metrics refresh; reports wait for the next start");
    }
    if let Err(e) = state.store.enqueue_job(crate::metrics::rollup_job(state.clock.now())).await {
        tracing::warn!(error = %e, "could not queue the metrics roll-up; reports read every conversation until the next start");
    }
    tasks.push(tokio::spawn(crate::jobs::run(state.clone(), shutdown.subscribe())));
    {
        // The knowledge base's index, filled in the background.
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            match state.knowledge.sync(&state.store).await {
                Ok(n) => tracing::debug!(articles = n, "knowledge base indexed"),
                Err(e) => tracing::warn!(error = %e, "could not index the knowledge base yet; it is read again at the next search"),
            }
        }));
    }
    let mut smtp_addr = None;
    if let Some((listener, tls)) = smtp {
        smtp_addr = Some(listener.local_addr()?);
        tracing::info!(addr = ?smtp_addr, starttls = tls.is_some(), "receiving mail by SMTP");
        tasks.push(tokio::spawn(crate::email::listener::serve(state.clone(), listener, tls, shutdown.subscribe())));
    }
    tasks.push(tokio::spawn(crate::email::imap::run(state.clone(), shutdown.subscribe())));
    tracing::info!(%addr, "threadline listening");
    Ok(Running { addr, smtp_addr, state, shutdown, tasks })
}

/// Reads again, every `features_reload_secs`, which optional work commits
/// must queue (segments, surveys, rules), so what another node created is
/// seen here too.
async fn reload_features(state: AppState, mut stop: watch::Receiver<bool>) {
    let interval = std::time::Duration::from_secs(state.settings.features_reload_secs.max(1));
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(interval) => {}
        }
        if let Err(e) = state.store.load_features().await {
            tracing::warn!(error = %e, "could not read whether segments, surveys or rules exist; read again at the next interval");
        }
    }
}
