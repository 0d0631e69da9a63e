//! Reading an existing mailbox over IMAP (RFC 9051/3501), for businesses
//! whose mail stays where it is.
//!
//! Each email inbox with an `imap_host` setting gets one poller. It reads
//! every message whose UID is above the inbox's cursor, stores it, and
//! moves the cursor after each stored message — so nothing is missed across
//! restarts and nothing is read twice (a message stored just before a crash,
//! read again after it, is recognised by its Message-ID). A new
//! `UIDVALIDITY` (the mailbox was rebuilt) starts from the beginning under
//! the same protection. Messages are fetched with `BODY.PEEK[]`, so they
//! stay unread for people who also use the mailbox.
//!
//! With IDLE (RFC 2177) new mail is read as it arrives; otherwise the
//! mailbox is checked every `imap_poll_secs`. A lost connection is retried
//! with a growing delay (up to five minutes).
//!
//! Inbox settings: `imap_host`, `imap_port` (default 993 with `tls`, 143
//! otherwise), `imap_security` (`tls`, the default; `starttls`; `none` for
//! a server on a trusted network), `imap_mailbox` (default `INBOX`).
//! Secrets: `imap_username`, `imap_password`.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use async_imap::extensions::idle::IdleResponse;
use async_imap::types::UnsolicitedResponse;
use futures_util::TryStreamExt;
use threadline_domain::ids::{AccountId, InboxId};
use threadline_store::{ImapCursor, Inbox};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

use super::RawMail;
use crate::app::AppState;

/// How an inbox's mailbox reading is going, as shown on the inbox
/// (`GET /api/v1/inboxes/{id}`, field `mailbox`), so an administrator sees a
/// wrong password or an unreachable server without reading logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct MailboxStatus {
    /// `connecting`, `reading`, `waiting` (for new mail) or `failing`.
    pub state: String,
    /// Whether the server pushes new mail (IDLE) or is checked every `imap_poll_secs`.
    pub idle: bool,
    /// The last failure, until a connection succeeds again.
    pub last_error: Option<String>,
    /// When the mailbox was last read to its end.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_read_at: Option<time::OffsetDateTime>,
    /// Messages stored from the mailbox since this server started.
    pub messages_stored: u64,
}

fn report(state: &AppState, inbox_id: InboxId, change: impl FnOnce(&mut MailboxStatus)) {
    let mut all = state.mailboxes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    change(all.entry(inbox_id).or_default());
}

/// How often the set of IMAP inboxes is checked for additions and changes.
const RECONCILE_EVERY: Duration = Duration::from_secs(5);
/// Each IMAP command's time limit (IDLE waits are separate).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// RFC 2177 asks clients to re-issue IDLE at least every 29 minutes.
const IDLE_MAX: Duration = Duration::from_secs(25 * 60);

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Stream for T {}
type Session = async_imap::Session<Box<dyn Stream>>;

/// Where and how to read one inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MailboxConfig {
    host: String,
    port: u16,
    security: String,
    mailbox: String,
    username: String,
    password: String,
}

fn config(state: &AppState, inbox: &Inbox) -> Option<MailboxConfig> {
    let setting = |name: &str| inbox.settings.get(name).and_then(|v| v.as_str()).map(str::trim).filter(|v| !v.is_empty());
    let host = setting("imap_host")?.to_owned();
    let security = setting("imap_security").unwrap_or("tls").to_owned();
    let port = inbox
        .settings
        .get("imap_port")
        .and_then(|p| p.as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(if security == "tls" { 993 } else { 143 });
    let secrets = crate::channels::open_secrets(state, inbox).unwrap_or_default();
    Some(MailboxConfig {
        host,
        port,
        security,
        mailbox: setting("imap_mailbox").unwrap_or("INBOX").to_owned(),
        username: secrets.get("imap_username").cloned().unwrap_or_default(),
        password: secrets.get("imap_password").cloned().unwrap_or_default(),
    })
}

/// Runs one poller per IMAP inbox until `stop` is set, starting, restarting
/// and stopping them as inboxes are added, changed and removed.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut pollers: HashMap<InboxId, (MailboxConfig, JoinHandle<()>)> = HashMap::new();
    loop {
        match state.store.email_inboxes().await {
            Ok(inboxes) => {
                let mut wanted: HashMap<InboxId, (AccountId, MailboxConfig)> = HashMap::new();
                for (account_id, inbox) in &inboxes {
                    if let Some(config) = config(&state, inbox) {
                        wanted.insert(inbox.id, (*account_id, config));
                    }
                }
                pollers.retain(|id, (config, task)| {
                    let keep = wanted.get(id).is_some_and(|(_, c)| c == config) && !task.is_finished();
                    if !keep {
                        task.abort();
                        state.mailboxes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(id);
                    }
                    keep
                });
                for (inbox_id, (account_id, config)) in wanted {
                    if pollers.contains_key(&inbox_id) {
                        continue;
                    }
                    let task = tokio::spawn(poll(state.clone(), account_id, inbox_id, config.clone()));
                    pollers.insert(inbox_id, (config, task));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list the IMAP inboxes"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RECONCILE_EVERY) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    for (_, (_, task)) in pollers {
        task.abort();
    }
}

/// Reads one mailbox for ever, reconnecting after failures.
async fn poll(state: AppState, account_id: AccountId, inbox_id: InboxId, config: MailboxConfig) {
    let mut delay = Duration::from_secs(5);
    loop {
        report(&state, inbox_id, |s| s.state = "connecting".into());
        match session(&state, account_id, inbox_id, &config).await {
            Ok(()) => delay = Duration::from_secs(5),
            Err(e) => {
                report(&state, inbox_id, |s| {
                    s.state = "failing".into();
                    s.last_error = Some(format!("{e:#}"));
                });
                tracing::warn!(inbox = %inbox_id, host = %config.host, error = format!("{e:#}"), retry_in_secs = delay.as_secs(), "IMAP polling failed");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(300));
            }
        }
    }
}

async fn timed<T, E: Into<anyhow::Error>>(what: &str, f: impl Future<Output = Result<T, E>>) -> anyhow::Result<T> {
    match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
        Ok(result) => result.map_err(Into::into).with_context(|| what.to_owned()),
        Err(_) => Err(anyhow!("{what}: no answer within {} s", COMMAND_TIMEOUT.as_secs())),
    }
}

fn tls_connector() -> anyhow::Result<tokio_rustls::TlsConnector> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn connect(state: &AppState, config: &MailboxConfig) -> anyhow::Result<Session> {
    // Resolved and checked under the egress policy; the connection goes to
    // the checked addresses (TLS still verifies the server's name).
    let addresses = state.egress.resolve(&config.host, config.port).await.map_err(|e| anyhow!("the IMAP server: {e}"))?;
    let tcp = timed("connecting", TcpStream::connect(&addresses[..])).await?;
    let server_name = || rustls::pki_types::ServerName::try_from(config.host.clone()).context("the IMAP host is not a valid name");
    let client = match config.security.as_str() {
        "none" => {
            let mut client = async_imap::Client::new(Box::new(tcp) as Box<dyn Stream>);
            timed("reading the greeting", client.read_response()).await?.ok_or_else(|| anyhow!("the server closed the connection"))?;
            client
        }
        "starttls" => {
            let mut plain = async_imap::Client::new(tcp);
            timed("reading the greeting", plain.read_response()).await?.ok_or_else(|| anyhow!("the server closed the connection"))?;
            timed("STARTTLS", plain.run_command_and_check_ok("STARTTLS", None)).await?;
            let tls = timed("the TLS handshake", tls_connector()?.connect(server_name()?, plain.into_inner())).await?;
            async_imap::Client::new(Box::new(tls) as Box<dyn Stream>)
        }
        _ => {
            let tls = timed("the TLS handshake", tls_connector()?.connect(server_name()?, tcp)).await?;
            let mut client = async_imap::Client::new(Box::new(tls) as Box<dyn Stream>);
            timed("reading the greeting", client.read_response()).await?.ok_or_else(|| anyhow!("the server closed the connection"))?;
            client
        }
    };
    let session = tokio::time::timeout(COMMAND_TIMEOUT, client.login(&config.username, &config.password))
        .await
        .map_err(|_| anyhow!("logging in: no answer"))?
        .map_err(|(e, _)| anyhow!("logging in as {:?}: {e}", config.username))?;
    Ok(session)
}

/// One connection: read what is new, then wait for more, until it fails.
async fn session(state: &AppState, account_id: AccountId, inbox_id: InboxId, config: &MailboxConfig) -> anyhow::Result<()> {
    let mut session = connect(state, config).await?;
    let mailbox = timed("selecting the mailbox", session.select(&config.mailbox)).await?;
    let uid_validity = mailbox.uid_validity.ok_or_else(|| anyhow!("the server gave no UIDVALIDITY for {}", config.mailbox))?;
    let idle = timed("asking for capabilities", session.capabilities()).await?.has_str("IDLE");
    tracing::info!(inbox = %inbox_id, host = %config.host, mailbox = %config.mailbox, idle, "reading the IMAP mailbox");
    // Updates the server sends outside IDLE's wait (new mail announced
    // while a fetch ran or while IDLE was starting) land in this channel.
    let updates = session.unsolicited_responses.clone();
    // Empties that channel: whether any update said the mailbox grew.
    let new_mail_announced = || {
        let mut announced = false;
        while let Ok(update) = updates.try_recv() {
            announced |= matches!(update, UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_));
        }
        announced
    };
    loop {
        report(state, inbox_id, |s| s.state = "reading".into());
        // What was announced before this read is read by it.
        new_mail_announced();
        read_new(state, account_id, inbox_id, config, &mut session, uid_validity).await?;
        report(state, inbox_id, |s| {
            s.state = "waiting".into();
            s.idle = idle;
            s.last_error = None;
            s.last_read_at = Some(threadline_store::now());
        });
        if idle {
            let mut handle = session.idle();
            timed("starting IDLE", handle.init()).await?;
            // Mail that arrived after the fetch may have been announced
            // before IDLE began: then IDLE itself would wait in vain.
            let response = if new_mail_announced() {
                None
            } else {
                let (wait, _interrupt) = handle.wait_with_timeout(IDLE_MAX);
                Some(wait.await?)
            };
            session = timed("ending IDLE", handle.done()).await?;
            if matches!(response, Some(IdleResponse::ManualInterrupt)) {
                // The server closed the connection during IDLE.
                return Err(anyhow!("the server ended the IDLE session"));
            }
        } else {
            tokio::time::sleep(Duration::from_secs(state.settings.imap_poll_secs)).await;
            timed("NOOP", session.noop()).await?;
        }
    }
}

/// Stores every message above the cursor, moving it after each one.
async fn read_new(
    state: &AppState,
    account_id: AccountId,
    inbox_id: InboxId,
    config: &MailboxConfig,
    session: &mut Session,
    uid_validity: u32,
) -> anyhow::Result<()> {
    let stored = state.store.imap_cursor(account_id, inbox_id, &config.mailbox).await?;
    let mut cursor = match stored {
        Some(c) if c.uid_validity == uid_validity => c,
        Some(_) => {
            tracing::warn!(inbox = %inbox_id, "the mailbox's UIDVALIDITY changed: reading it again from the start (messages seen before are recognised)");
            ImapCursor { uid_validity, last_uid: 0 }
        }
        None => ImapCursor { uid_validity, last_uid: 0 },
    };
    let (inbox, account) = state.inbox_and_account(account_id, inbox_id).await?;
    let mut fetches = timed("fetching new messages", session.uid_fetch(format!("{}:*", cursor.last_uid + 1), "(UID BODY.PEEK[])")).await?;
    while let Some(fetch) = timed("reading a message", fetches.try_next()).await? {
        // `n:*` also returns the newest message when nothing is above n.
        let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else { continue };
        if uid <= cursor.last_uid {
            continue;
        }
        super::receive(state, &account, &inbox, RawMail { raw: body, envelope_sender: None, recipient: None }).await?;
        report(state, inbox_id, |s| s.messages_stored += 1);
        cursor.last_uid = uid;
        state.store.set_imap_cursor(account_id, inbox_id, &config.mailbox, cursor).await?;
    }
    drop(fetches);
    if stored.is_none_or(|s| s != cursor) {
        state.store.set_imap_cursor(account_id, inbox_id, &config.mailbox, cursor).await?;
    }
    Ok(())
}
