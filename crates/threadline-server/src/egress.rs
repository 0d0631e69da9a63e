//! Where Threadline may connect to: one egress policy for every outbound
//! HTTP, SMTP and IMAP connection.
//!
//! Account admins choose webhook, agent-bot, SMTP and IMAP addresses;
//! providers' webhooks name media URLs. Any of them could point Threadline
//! at the machine it runs on or the network behind it (a cloud's metadata
//! service at 169.254.169.254, an internal admin page) and have it fetch —
//! and sometimes show — the answer. So:
//!
//! - every name is resolved and **every** resolved address is checked;
//!   loopback, private (RFC 1918, unique-local), link-local, CGNAT,
//!   multicast, unspecified, reserved and documentation ranges — and the
//!   IPv4-mapped, -compatible, NAT64 and 6to4 forms of those — are
//!   refused, unless the operator allow-listed them (`egress_allow`);
//! - HTTP clients resolve through [`EgressResolver`], so the addresses
//!   checked are the ones connected to (a name cannot resolve to a public
//!   address for the check and a private one for the connection); IP
//!   literals, which skip resolution, are checked by [`EgressPolicy::check_url`]
//!   before each request; SMTP and IMAP connect to the addresses
//!   [`EgressPolicy::resolve`] returned;
//! - redirects are never followed (the one exception: media a provider's
//!   webhook names may redirect to that provider's media hosts, and each
//!   hop is still resolved through the policy);
//! - URLs with credentials (`user:pass@`) are refused.
//!
//! Registration checks the same rules and answers 422, so an admin learns
//! at once; delivery checks again, because DNS can change in between.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why a destination was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("must be an absolute http or https URL")]
    NotHttp,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must name a host")]
    NoHost,
    #[error("{host} is {kind}, which Threadline does not connect to (an operator can allow it with egress_allow)")]
    Forbidden { host: String, kind: &'static str },
    #[error("{host} cannot be resolved: {reason}")]
    Unresolvable { host: String, reason: String },
}

/// A network written as `address/prefix` (or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address: IpAddr = address
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or network"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{text:?} has a prefix outside 0–{max}"))?,
        };
        Ok(Network { address, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// What kind of address `ip` is, when it is one Threadline must not reach
/// unless allowed; `None` for an ordinary public address.
pub fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let kind = match (a, b, c) {
        (0, _, _) => "an unspecified address",
        (10, _, _) => "a private address",
        (100, 64..=127, _) => "a carrier-grade NAT address",
        (127, _, _) => "a loopback address",
        (169, 254, _) => "a link-local address",
        (172, 16..=31, _) => "a private address",
        (192, 0, 0) => "an IETF protocol address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (192, 88, 99) => "a 6to4 relay address",
        (192, 168, _) => "a private address",
        (198, 18..=19, _) => "a benchmarking address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved or broadcast address",
        _ => return None,
    };
    Some(kind)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    let bits = u128::from(ip);
    // IPv4 carried inside IPv6: judged as the IPv4 address it carries.
    let embedded_v4 = |low: u128| Ipv4Addr::from((low & 0xffff_ffff) as u32);
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    if bits >> 32 == 0xffff || bits >> 32 == 0 {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
        return forbidden_v4(embedded_v4(bits)).or(Some("an IPv4-compatible address"));
    }
    if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6] == [0, 0, 0, 0] {
        return forbidden_v4(embedded_v4(bits));
    }
    if segments[0] == 0x2002 {
        // 6to4: the IPv4 address is in bits 16–47.
        return forbidden_v4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    let kind = match segments[0] {
        s if s & 0xfe00 == 0xfc00 => "a unique-local (private) address",
        s if s & 0xffc0 == 0xfe80 => "a link-local address",
        s if s & 0xffc0 == 0xfec0 => "a site-local address",
        s if s & 0xff00 == 0xff00 => "a multicast address",
        0x2001 if segments[1] == 0x0db8 => "a documentation address",
        0x0100 if segments[1..4] == [0, 0, 0] => "a discard-only address",
        _ => return None,
    };
    Some(kind)
}

/// The policy: forbidden ranges, minus what the operator allowed.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allow: Vec<Network>,
}

impl EgressPolicy {
    /// `allow`: networks the operator lets Threadline reach anyway (an
    /// internal mail relay, a bot on the same machine).
    pub fn new(allow: &[String]) -> Result<Self, String> {
        Ok(EgressPolicy { allow: allow.iter().map(|a| Network::parse(a)).collect::<Result<_, _>>()? })
    }

    /// `Err(kind)` when `ip` may not be connected to.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), &'static str> {
        match forbidden_kind(ip) {
            Some(kind) if !self.allow.iter().any(|n| n.contains(ip)) => Err(kind),
            _ => Ok(()),
        }
    }

    /// Checks what can be checked without resolving: an absolute http(s)
    /// URL with a host and no credentials, and if the host is an IP
    /// literal (in any spelling the URL standard accepts: `127.1`,
    /// `2130706433`, `[::ffff:127.0.0.1]`), that address.
    pub fn check_url(&self, raw: &str) -> Result<reqwest::Url, EgressError> {
        let url = reqwest::Url::parse(raw.trim()).map_err(|_| EgressError::NotHttp)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EgressError::NotHttp);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EgressError::Credentials);
        }
        match url.host() {
            None => return Err(EgressError::NoHost),
            Some(url::Host::Ipv4(ip)) => self.check_literal(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_literal(IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) => {}
        }
        Ok(url)
    }

    fn check_literal(&self, ip: IpAddr) -> Result<(), EgressError> {
        self.check_ip(ip).map_err(|kind| EgressError::Forbidden { host: ip.to_string(), kind })
    }

    /// Resolves `host` and checks every address; returns them with `port`.
    /// A name with any forbidden address is refused whole.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, EgressError> {
        let bare = host.trim().trim_start_matches('[').trim_end_matches(']');
        if bare.is_empty() {
            return Err(EgressError::NoHost);
        }
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.check_literal(ip)?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| EgressError::Unresolvable { host: bare.to_owned(), reason: e.to_string() })?
            .collect();
        if addresses.is_empty() {
            return Err(EgressError::Unresolvable { host: bare.to_owned(), reason: "no addresses".into() });
        }
        for address in &addresses {
            self.check_ip(address.ip()).map_err(|kind| EgressError::Forbidden { host: format!("{bare} ({})", address.ip()), kind })?;
        }
        Ok(addresses)
    }

    /// [`Self::check_url`], then [`Self::resolve`] of its host: what
    /// registration checks (422), so an admin learns at once. A name that
    /// does not resolve (yet) is accepted: it is checked at every delivery.
    pub async fn check_url_resolved(&self, raw: &str) -> Result<reqwest::Url, EgressError> {
        let url = self.check_url(raw)?;
        if let Some(url::Host::Domain(name)) = url.host() {
            match self.resolve(name, url.port_or_known_default().unwrap_or(443)).await {
                Ok(_) | Err(EgressError::Unresolvable { .. }) => {}
                Err(refusal) => return Err(refusal),
            }
        }
        Ok(url)
    }

    /// [`Self::resolve`] for a host being registered: forbidden addresses
    /// are refused, a name that does not resolve (yet) is accepted.
    pub async fn check_host(&self, host: &str, port: u16) -> Result<(), EgressError> {
        match self.resolve(host, port).await {
            Ok(_) | Err(EgressError::Unresolvable { .. }) => Ok(()),
            Err(refusal) => Err(refusal),
        }
    }

    /// An HTTP client under this policy: names resolved through it, no
    /// redirects, no proxy from the environment. Callers still check IP
    /// literals with [`Self::check_url`] before each request.
    pub fn http_client(self: &Arc<Self>) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(EgressResolver { policy: self.clone() }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("Threadline/", env!("CARGO_PKG_VERSION")))
    }
}

/// Why a request failed, without its URL (which may carry a token): the
/// egress policy's refusal when that was the cause, else the innermost
/// cause ("Connection refused (os error 111)").
pub fn describe(e: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<EgressError>() {
            return format!("refused by the egress policy: {refusal}");
        }
        causes.push(cause.to_string());
        source = cause.source();
    }
    match causes.pop() {
        Some(innermost) => innermost,
        None if e.is_timeout() => "timed out".into(),
        None => "the request failed".into(),
    }
}

/// reqwest's name resolution under the policy.
pub struct EgressResolver {
    policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for EgressResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let addresses = policy.resolve(name.as_str(), 0).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &EgressPolicy, url: &str) -> bool {
        matches!(policy.check_url(url), Err(EgressError::Forbidden { .. } | EgressError::Credentials | EgressError::NoHost))
    }

    #[test]
    fn internal_addresses_in_every_spelling_are_refused() {
        let policy = EgressPolicy::default();
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[::1]/",
            "http://0.0.0.0/",
            "http://2130706433/",
            "http://127.1/",
            "http://0x7f.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[64:ff9b::a00:1]/",
            "http://[2002:7f00:1::]/",
            "http://100.64.0.1/",
            "http://192.168.1.1:8080/",
            "http://172.31.255.255/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[ff02::1]/",
            "http://[::]/",
            "http://user:pass@example.com/",
            "http://example.com@127.0.0.1/",
        ] {
            assert!(refused(&policy, url), "{url} was allowed");
        }
        for url in ["https://hooks.example.com/x", "http://93.184.216.34/", "http://[2606:4700:4700::1111]/", "http://172.32.0.1/"] {
            assert!(policy.check_url(url).is_ok(), "{url} was refused");
        }
        assert_eq!(policy.check_url("ftp://example.com/"), Err(EgressError::NotHttp));
        assert_eq!(policy.check_url("/relative"), Err(EgressError::NotHttp));
    }

    #[test]
    fn operators_allow_networks() {
        let policy = EgressPolicy::new(&["127.0.0.1".into(), "10.1.0.0/16".into(), "[fd00::]/8".into()]).unwrap();
        assert!(policy.check_url("http://127.0.0.1:9000/").is_ok());
        assert!(refused(&policy, "http://127.0.0.2/"), "only the address allowed");
        assert!(policy.check_url("http://10.1.200.3/").is_ok());
        assert!(refused(&policy, "http://10.2.0.1/"));
        assert!(policy.check_url("http://[fd12::1]/").is_ok());
        assert!(EgressPolicy::new(&["10.0.0.0/33".into()]).is_err());
        assert!(EgressPolicy::new(&["not an address".into()]).is_err());
        assert_eq!(Network::parse("0.0.0.0/0").map(|n| n.contains("8.8.8.8".parse().unwrap())), Ok(true));
    }

    #[tokio::test]
    async fn names_are_resolved_and_every_address_checked() {
        let policy = EgressPolicy::default();
        let refused = policy.resolve("localhost", 80).await.unwrap_err();
        assert!(matches!(refused, EgressError::Forbidden { .. }), "{refused:?}");
        assert!(policy.check_url_resolved("http://localhost:8080/hook").await.is_err());
        assert!(policy.check_url_resolved("http://no-such-host.invalid/hook").await.is_ok(), "checked again at delivery");
        assert!(matches!(policy.resolve("no-such-host.invalid", 80).await, Err(EgressError::Unresolvable { .. })));
        let allowed = EgressPolicy::new(&["127.0.0.0/8".into(), "::1".into()]).unwrap();
        assert!(!allowed.resolve("localhost", 25).await.unwrap().is_empty());
    }
}
