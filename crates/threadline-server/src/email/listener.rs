//! Threadline's own SMTP server (RFC 5321): where the business's MX, or a
//! forwarding rule, delivers customers' mail.
//!
//! - Recipients are mapped to email inboxes by address (a `+tag` is
//!   ignored for the mapping and kept for threading); mail for any other
//!   address is refused with 550 — this is not an open relay.
//! - `SIZE` is announced (RFC 1870); a larger `MAIL FROM … SIZE=` or a
//!   message that turns out larger is refused with 552 and nothing is kept.
//! - `STARTTLS` (RFC 3207) is offered when a certificate is configured.
//!   Whatever the client sent after the command, before the handshake, is
//!   discarded, so no command can be smuggled into the encrypted session.
//! - The final `250` after `DATA` is sent only once the message is
//!   committed to the database; a storage failure answers 451 so the
//!   sending server keeps the message and tries again.
//! - `PIPELINING`, `8BITMIME`, `SMTPUTF8` and `ENHANCEDSTATUSCODES` are
//!   supported; `AUTH` and `BDAT` are not (mail is received, not relayed).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use super::{RawMail, route};
use crate::app::AppState;
use threadline_domain::ids::{AccountId, InboxId};

/// Longest command line accepted (RFC 5321 §4.5.3.1.4 says 512; some
/// clients send long `MAIL FROM` parameters).
const MAX_COMMAND: u64 = 4096;
/// Recipients per message (RFC 5321 §4.5.3.1.8 asks for at least 100).
const MAX_RECIPIENTS: usize = 100;
/// Failed commands before the connection is closed.
const MAX_ERRORS: u32 = 20;
/// How long the server waits for a command (RFC 5321 §4.5.3.2.7: 5 minutes).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
/// How long it waits for the next chunk of a message's data (§4.5.3.2.5).
const DATA_TIMEOUT: Duration = Duration::from_secs(180);

/// Any stream a session can run over: TCP, then TLS after STARTTLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Loads the STARTTLS certificate and key (PEM).
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    use anyhow::Context;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the SMTP certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read the SMTP certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("cannot read the SMTP private key {}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the SMTP certificate and key do not form a usable pair")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts SMTP connections until `stop` is set.
pub async fn serve(state: AppState, listener: TcpListener, tls: Option<TlsAcceptor>, mut stop: watch::Receiver<bool>) {
    let hostname = hostname(&state);
    let permits = Arc::new(Semaphore::new(state.settings.smtp_max_connections));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "could not accept an SMTP connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let session = Session::new(state.clone(), hostname.clone(), tls.clone(), peer);
        tokio::spawn(async move {
            if let Err(e) = session.run(Box::new(stream)).await {
                tracing::debug!(%peer, error = %e, "SMTP session ended with an error");
            }
            drop(permit);
        });
    }
}

fn hostname(state: &AppState) -> String {
    if !state.settings.smtp_hostname.is_empty() {
        return state.settings.smtp_hostname.clone();
    }
    let url = state.settings.effective_public_url();
    let host = url.split("://").nth(1).unwrap_or(&url).split(['/', ':']).next().unwrap_or_default();
    if host.is_empty() { "localhost".into() } else { host.to_owned() }
}

struct Recipient {
    address: String,
    account_id: AccountId,
    inbox_id: InboxId,
}

struct Session {
    state: AppState,
    hostname: String,
    tls: Option<TlsAcceptor>,
    secure: bool,
    peer: SocketAddr,
    greeted: bool,
    /// `MAIL FROM`, once given: `""` for the null sender.
    sender: Option<String>,
    recipients: Vec<Recipient>,
    errors: u32,
}

enum Flow {
    Continue,
    Close,
    StartTls,
}

impl Session {
    fn new(state: AppState, hostname: String, tls: Option<TlsAcceptor>, peer: SocketAddr) -> Self {
        Session { state, hostname, tls, secure: false, peer, greeted: false, sender: None, recipients: Vec::new(), errors: 0 }
    }

    async fn run(mut self, stream: Box<dyn Io>) -> std::io::Result<()> {
        let mut io = BufReader::new(stream);
        write(&mut io, &format!("220 {} ESMTP Threadline ready", self.hostname)).await?;
        loop {
            let mut line = Vec::new();
            let read = tokio::time::timeout(COMMAND_TIMEOUT, (&mut io).take(MAX_COMMAND).read_until(b'\n', &mut line)).await;
            let n = match read {
                Ok(n) => n?,
                Err(_) => {
                    write(&mut io, "421 4.4.2 Timeout waiting for a command, closing").await?;
                    return Ok(());
                }
            };
            if n == 0 {
                return Ok(());
            }
            let flow = if !line.ends_with(b"\n") && n as u64 >= MAX_COMMAND {
                self.error(&mut io, "500 5.5.6 Command line too long").await?
            } else {
                let text = String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_owned();
                self.command(&mut io, &text).await?
            };
            match flow {
                Flow::Continue => {}
                Flow::Close => return Ok(()),
                Flow::StartTls => {
                    let Some(acceptor) = self.tls.clone() else { continue };
                    // Anything pipelined behind STARTTLS is dropped with the buffer.
                    let plain = io.into_inner();
                    let secured = acceptor.accept(plain).await?;
                    io = BufReader::new(Box::new(secured) as Box<dyn Io>);
                    self.secure = true;
                    self.greeted = false;
                    self.reset();
                }
            }
        }
    }

    fn reset(&mut self) {
        self.sender = None;
        self.recipients.clear();
    }

    async fn error(&mut self, io: &mut BufReader<Box<dyn Io>>, reply: &str) -> std::io::Result<Flow> {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            write(io, "421 4.7.0 Too many errors, closing").await?;
            return Ok(Flow::Close);
        }
        write(io, reply).await?;
        Ok(Flow::Continue)
    }

    async fn command(&mut self, io: &mut BufReader<Box<dyn Io>>, line: &str) -> std::io::Result<Flow> {
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if arg.is_empty() => self.error(io, "501 5.5.4 Say who you are: EHLO <domain>").await,
            "EHLO" => {
                self.greeted = true;
                self.reset();
                let mut lines = vec![
                    format!("{} greets {arg}", self.hostname),
                    "PIPELINING".into(),
                    format!("SIZE {}", self.state.settings.smtp_max_message_bytes),
                    "8BITMIME".into(),
                    "SMTPUTF8".into(),
                    "ENHANCEDSTATUSCODES".into(),
                ];
                if self.tls.is_some() && !self.secure {
                    lines.push("STARTTLS".into());
                }
                let last = lines.len() - 1;
                let reply: Vec<String> =
                    lines.iter().enumerate().map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' })).collect();
                write(io, &reply.join("\r\n")).await?;
                Ok(Flow::Continue)
            }
            "HELO" => {
                self.greeted = true;
                self.reset();
                write(io, &format!("250 {}", self.hostname)).await?;
                Ok(Flow::Continue)
            }
            "STARTTLS" if self.tls.is_none() => self.error(io, "502 5.5.1 STARTTLS is not available").await,
            "STARTTLS" if self.secure => self.error(io, "503 5.5.1 TLS is already active").await,
            "STARTTLS" => {
                write(io, "220 2.0.0 Ready to start TLS").await?;
                Ok(Flow::StartTls)
            }
            "MAIL" => self.mail(io, arg).await,
            "RCPT" => self.rcpt(io, arg).await,
            "DATA" => self.data(io).await,
            "RSET" => {
                self.reset();
                write(io, "250 2.0.0 Reset").await?;
                Ok(Flow::Continue)
            }
            "NOOP" => {
                write(io, "250 2.0.0 OK").await?;
                Ok(Flow::Continue)
            }
            "VRFY" => {
                write(io, "252 2.5.2 Cannot verify the user, but will accept mail for known inboxes").await?;
                Ok(Flow::Continue)
            }
            "HELP" => {
                write(io, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT STARTTLS").await?;
                Ok(Flow::Continue)
            }
            "QUIT" => {
                write(io, "221 2.0.0 Bye").await?;
                Ok(Flow::Close)
            }
            "AUTH" | "BDAT" | "ETRN" | "EXPN" | "TURN" => self.error(io, "502 5.5.1 Command not implemented").await,
            _ => self.error(io, "500 5.5.2 Command not recognised").await,
        }
    }

    async fn mail(&mut self, io: &mut BufReader<Box<dyn Io>>, arg: &str) -> std::io::Result<Flow> {
        if !self.greeted {
            return self.error(io, "503 5.5.1 Send EHLO first").await;
        }
        if self.sender.is_some() {
            return self.error(io, "503 5.5.1 A transaction is already in progress; RSET first").await;
        }
        let Some((address, params)) = path_argument(arg, "FROM:") else {
            return self.error(io, "501 5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        for param in params.split_whitespace() {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            if name.eq_ignore_ascii_case("SIZE")
                && value.parse::<u64>().is_ok_and(|size| size > self.state.settings.smtp_max_message_bytes as u64)
            {
                return self.error(io, "552 5.3.4 Message size exceeds the fixed maximum message size").await;
            }
        }
        self.sender = Some(address.to_owned());
        write(io, "250 2.1.0 Sender OK").await?;
        Ok(Flow::Continue)
    }

    async fn rcpt(&mut self, io: &mut BufReader<Box<dyn Io>>, arg: &str) -> std::io::Result<Flow> {
        if self.sender.is_none() {
            return self.error(io, "503 5.5.1 Send MAIL FROM first").await;
        }
        let Some((address, _)) = path_argument(arg, "TO:").filter(|(a, _)| a.contains('@')) else {
            return self.error(io, "501 5.5.4 Syntax: RCPT TO:<address>").await;
        };
        if self.recipients.len() >= MAX_RECIPIENTS {
            write(io, "452 4.5.3 Too many recipients").await?;
            return Ok(Flow::Continue);
        }
        match route(&self.state, address).await {
            Ok(Some((account_id, inbox_id))) => {
                self.recipients.push(Recipient { address: address.to_owned(), account_id, inbox_id });
                write(io, "250 2.1.5 Recipient OK").await?;
                Ok(Flow::Continue)
            }
            Ok(None) => self.error(io, "550 5.1.1 No such mailbox here").await,
            Err(e) => {
                tracing::warn!(error = %e, "could not look up an SMTP recipient");
                write(io, "451 4.3.0 Temporary failure, try again later").await?;
                Ok(Flow::Continue)
            }
        }
    }

    async fn data(&mut self, io: &mut BufReader<Box<dyn Io>>) -> std::io::Result<Flow> {
        if self.sender.is_none() || self.recipients.is_empty() {
            return self.error(io, "503 5.5.1 Need MAIL FROM and RCPT TO first").await;
        }
        write(io, "354 End data with <CR><LF>.<CR><LF>").await?;
        let max = self.state.settings.smtp_max_message_bytes;
        let mut raw = Vec::with_capacity(16 * 1024);
        let mut too_big = false;
        let mut at_line_start = true;
        loop {
            let mut chunk = Vec::new();
            let n = match tokio::time::timeout(DATA_TIMEOUT, (&mut *io).take(64 * 1024).read_until(b'\n', &mut chunk)).await {
                Ok(n) => n?,
                Err(_) => {
                    write(io, "421 4.4.2 Timeout waiting for data, closing").await?;
                    return Ok(Flow::Close);
                }
            };
            if n == 0 {
                // The connection closed mid-message: nothing was accepted.
                return Ok(Flow::Close);
            }
            if at_line_start && (chunk == b".\r\n" || chunk == b".\n") {
                break;
            }
            // Dot-stuffing (RFC 5321 §4.5.2): a leading dot was doubled.
            let body = if at_line_start && chunk.first() == Some(&b'.') { &chunk[1..] } else { &chunk[..] };
            if raw.len() + body.len() > max {
                too_big = true;
            } else if !too_big {
                raw.extend_from_slice(body);
            }
            at_line_start = chunk.ends_with(b"\n");
        }
        let sender = self.sender.take().unwrap_or_default();
        let recipients = std::mem::take(&mut self.recipients);
        if too_big {
            write(io, "552 5.3.4 Message size exceeds the fixed maximum message size").await?;
            return Ok(Flow::Continue);
        }
        // One copy per inbox, whatever the number of its addresses.
        let mut inboxes: BTreeMap<(AccountId, InboxId), &str> = BTreeMap::new();
        for r in &recipients {
            inboxes.entry((r.account_id, r.inbox_id)).or_insert(&r.address);
        }
        for ((account_id, inbox_id), recipient) in inboxes {
            let stored = async {
                let (inbox, account) = self.state.inbox_and_account(account_id, inbox_id).await?;
                super::receive(
                    &self.state,
                    &account,
                    &inbox,
                    RawMail { raw: &raw, envelope_sender: Some(&sender), recipient: Some(recipient) },
                )
                .await
            }
            .await;
            if let Err(e) = stored {
                tracing::warn!(error = %e, peer = %self.peer, inbox = %inbox_id, "could not store a received mail");
                write(io, "451 4.3.0 Could not store the message, try again later").await?;
                return Ok(Flow::Continue);
            }
        }
        write(io, "250 2.0.0 Message accepted").await?;
        Ok(Flow::Continue)
    }
}

/// `FROM:<a@b> SIZE=1` → (`a@b`, `SIZE=1`). Tolerates a space after the
/// colon and a missing pair of brackets, as many clients send them.
fn path_argument<'a>(arg: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        let address = inner[..end].trim();
        // A source route (`<@relay:user@host>`) names the mailbox after the colon.
        let address = address.rsplit_once(':').filter(|_| address.starts_with('@')).map_or(address, |(_, a)| a);
        Some((address, inner[end + 1..].trim()))
    } else {
        let (address, params) = rest.split_once(' ').unwrap_or((rest, ""));
        Some((address.trim(), params.trim()))
    }
}

async fn write(io: &mut BufReader<Box<dyn Io>>, reply: &str) -> std::io::Result<()> {
    let stream = io.get_mut();
    stream.write_all(format!("{reply}\r\n").as_bytes()).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::path_argument;

    #[test]
    fn paths_are_read_as_clients_send_them() {
        assert_eq!(
            path_argument("FROM:<a@example.com> SIZE=100 BODY=8BITMIME", "FROM:"),
            Some(("a@example.com", "SIZE=100 BODY=8BITMIME"))
        );
        assert_eq!(path_argument("from: <a@example.com>", "FROM:"), Some(("a@example.com", "")));
        assert_eq!(path_argument("FROM:<>", "FROM:"), Some(("", "")));
        assert_eq!(path_argument("TO:<@relay.example:b@example.com>", "TO:"), Some(("b@example.com", "")));
        assert_eq!(path_argument("TO:b@example.com", "TO:"), Some(("b@example.com", "")));
        assert_eq!(path_argument("TO b@example.com", "TO:"), None);
        assert_eq!(path_argument("FROM:<unclosed", "FROM:"), None);
    }
}
