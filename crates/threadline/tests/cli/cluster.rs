//! Several nodes: three `threadline serve` processes on one PostgreSQL
//! database and one NATS server, behind HAProxy, as an operator runs them.
//!
//! - A message posted through node A shows on an agent's socket on node C
//!   (each of 200, with the delay printed as p50/p99), and whatever the
//!   load balancer sends to which node, a socket opened through it hears of
//!   every message.
//! - NATS restarted under load: live notices resume by themselves, and the
//!   JetStream stream ends up with every committed event exactly once.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use threadline_testkit::{Backend, fresh_database};
use tokio_tungstenite::tungstenite;

use crate::durability::{Server, account_with_inbox, start_server};

const OPERATOR: &str = "operator-cluster";

/// A child process killed when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn tool(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| panic!("{variable} is not set: scripts/test sets it up"))
}

/// Waits until something accepts connections on `port`.
async fn listening(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing listens on {port}");
}

/// HAProxy in front of `nodes`, round robin, WebSockets passed through.
async fn haproxy(folder: &std::path::Path, nodes: &[&Server]) -> (Process, String) {
    let port = free_port();
    let servers: String = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| format!("    server node{i} {} check inter 1s\n", node.base.trim_start_matches("http://")))
        .collect();
    let config = format!(
        "global\n    maxconn 4096\n\
         defaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n    timeout tunnel 1h\n\
         frontend threadline\n    bind 127.0.0.1:{port}\n    default_backend nodes\n\
         backend nodes\n    balance roundrobin\n    option httpchk GET /readyz\n{servers}"
    );
    let path = folder.join("haproxy.cfg");
    std::fs::File::create(&path).unwrap().write_all(config.as_bytes()).unwrap();
    let child = Command::new(tool("THREADLINE_TEST_HAPROXY"))
        .args(["-db", "-f", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting haproxy");
    listening(port).await;
    (Process(child), format!("http://127.0.0.1:{port}"))
}

/// A private NATS server with JetStream on `port`, keeping its stream in `store`.
async fn nats_server(port: u16, store: &std::path::Path) -> Process {
    let child = Command::new(tool("THREADLINE_TEST_NATS_SERVER"))
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd", store.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting nats-server");
    listening(port).await;
    Process(child)
}

struct Cluster {
    folder: std::path::PathBuf,
    database_url: String,
    nodes: Vec<Server>,
    inbox: Inbox,
    stream: String,
}

/// Where customers' messages are posted, and the token that may.
#[derive(Clone)]
struct Inbox {
    id: String,
    token: String,
}

/// `count` nodes on a fresh PostgreSQL database and `nats`, one after the
/// other (the first migrates), sharing the data folder (its secret key);
/// an account with an API inbox.
async fn cluster(count: usize, nats: &str) -> Cluster {
    cluster_with(count, nats, str::to_owned).await
}

/// Like [`cluster`], the nodes reaching the database at `route(url)`.
async fn cluster_with(count: usize, nats: &str, route: impl Fn(&str) -> String) -> Cluster {
    let folder = std::env::temp_dir().join(format!("threadline-cluster-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&folder).unwrap();
    let database_url = fresh_database(Backend::Postgres, &folder).await;
    let routed = route(&database_url);
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let (prefix, stream) = (format!("tl{tag}"), format!("TL_{tag}"));
    let env = [
        ("THREADLINE_NATS_URL", nats),
        ("THREADLINE_NATS_PREFIX", prefix.as_str()),
        ("THREADLINE_NATS_STREAM", stream.as_str()),
        ("THREADLINE_RELAY_POLL_MS", "200"),
        // The machine's NATS keeps test streams an hour at most.
        ("THREADLINE_NATS_STREAM_MAX_AGE_HOURS", "1"),
        // A job a dead node held is taken over soon.
        ("THREADLINE_JOB_LEASE_SECS", "5"),
    ];
    let nodes: Vec<Server> = (0..count).map(|_| start_server(&folder, &routed, OPERATOR, &env)).collect();
    let (token, inbox) = account_with_inbox(&nodes[0].base, OPERATOR, "lead@example.com").await;
    let inbox = Inbox { id: inbox, token };
    Cluster { folder, database_url, nodes, inbox, stream }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An agent's workspace socket through `base` (a node, or the balancer).
async fn agent_socket(base: &str) -> Socket {
    let client = reqwest::Client::new();
    let signed_in = client
        .post(format!("{base}/api/v1/sessions"))
        .json(&json!({ "email": "lead@example.com", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut request =
        tungstenite::client::IntoClientRequest::into_client_request(format!("{}/live", base.replacen("http", "ws", 1))).unwrap();
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    request.headers_mut().insert("origin", base.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("opening the live socket");
    socket
}

/// Posts a customer's message through `base`; returns its conversation's id.
async fn post(client: &reqwest::Client, base: &str, inbox: &Inbox, n: usize) -> Option<String> {
    let body = json!({
        "sender": { "identities": [{ "kind": "phone", "value": format!("+39 347 {:03} {:04}", n / 10_000, n % 10_000) }] },
        "text": format!("message {n}"),
        "provider_message_id": format!("cluster-{n}"),
    });
    let response =
        client.post(format!("{base}/api/v1/inboxes/{}/messages", inbox.id)).bearer_auth(&inbox.token).json(&body).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let outcome: Value = response.json().await.ok()?;
    outcome["conversation"]["id"].as_str().map(str::to_owned)
}

/// Reads the socket until a `message.created` notice for `conversation`.
async fn notice_for(socket: &mut Socket, conversation: &str, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        while let Some(Ok(frame)) = socket.next().await {
            if let tungstenite::Message::Text(text) = frame {
                let notice: Value = serde_json::from_str(&text).unwrap_or_default();
                if notice["type"] == "message.created" && notice["conversation_id"] == conversation {
                    return true;
                }
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_one_node_hears_of_messages_stored_on_another() {
    let nats = tool("THREADLINE_TEST_NATS_URL");
    let cluster = cluster(3, &nats).await;
    let (a, c) = (&cluster.nodes[0], &cluster.nodes[2]);
    let client = reqwest::Client::new();

    // Posted on A, heard on C: each message, one at a time.
    let mut socket = agent_socket(&c.base).await;
    let mut delays = Vec::new();
    for n in 0..200 {
        let started = Instant::now();
        let conversation = post(&client, &a.base, &cluster.inbox, n).await.expect("node A stored the message");
        assert!(notice_for(&mut socket, &conversation, Duration::from_secs(10)).await, "message {n} never reached node C's socket");
        delays.push(started.elapsed());
    }
    delays.sort();
    println!(
        "cluster: node A → agent socket on node C, 200 messages: p50 {:?}, p99 {:?}, max {:?} (post and notice)",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays[delays.len() - 1]
    );

    // Through HAProxy: the socket lands on one node, the posts on all three.
    let (_proxy, balancer) = haproxy(&cluster.folder, &cluster.nodes.iter().collect::<Vec<_>>()).await;
    let mut socket = agent_socket(&balancer).await;
    for n in 1000..1030 {
        let conversation = post(&client, &balancer, &cluster.inbox, n).await.expect("stored through the balancer");
        assert!(notice_for(&mut socket, &conversation, Duration::from_secs(10)).await, "message {n} never reached the balanced socket");
    }
    let _ = socket.close(None).await;
    drop_stream(&nats, &cluster.stream).await;
}

/// Polls `/readyz` until it answers `status` (at most 10 s); returns the body.
async fn readiness(base: &str, status: u16) -> String {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && response.status().as_u16() == status
        {
            return response.text().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base}/readyz never answered {status}");
}

/// The number of messages the stream holds.
async fn stream_messages(nats: &str, stream: &str) -> u64 {
    let client = async_nats::connect(nats).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(stream).await.unwrap();
    stream.info().await.unwrap().state.messages
}

/// Removes a test's stream from the machine's NATS.
async fn drop_stream(nats: &str, stream: &str) {
    let client = async_nats::connect(nats).await.unwrap();
    let _ = async_nats::jetstream::new(client).delete_stream(stream).await;
}

/// The events committed to the database, read with psql.
fn events_committed(database_url: &str) -> u64 {
    let out = Command::new("psql").args(["-At", "-d", database_url, "-c", "SELECT COUNT(*) FROM events"]).output().expect("running psql");
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarted_under_load_loses_no_event_and_live_notices_resume() {
    let folder = std::env::temp_dir().join(format!("threadline-nats-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&folder).unwrap();
    let port = free_port();
    let nats = format!("nats://127.0.0.1:{port}");
    let mut server = nats_server(port, &folder).await;
    let cluster = cluster(2, &nats).await;
    let (a, b) = (cluster.nodes[0].base.clone(), cluster.nodes[1].base.clone());
    let mut socket = agent_socket(&b).await;

    // Load on node A for the whole test.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, client, a, inbox) = (stop.clone(), reqwest::Client::new(), a.clone(), cluster.inbox.clone());
        tokio::spawn(async move {
            // When each post was answered, and whether it was stored.
            let mut answers = Vec::new();
            for n in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let stored = post(&client, &a, &inbox, n).await.is_some();
                answers.push((Instant::now(), stored));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            answers
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    // NATS goes away for three seconds, then comes back on the same port
    // with the same store.
    let away = Instant::now();
    drop(server);
    // The balancer is told: node A is not ready while NATS is away.
    assert_eq!(readiness(&a, 503).await, "NATS unavailable");
    tokio::time::sleep(Duration::from_secs(2)).await;
    server = nats_server(port, &folder).await;
    let back = Instant::now();
    assert_eq!(readiness(&a, 200).await, "ready");

    // A message posted from now on reaches node B's socket by itself.
    let client = reqwest::Client::new();
    let mut resumed = None;
    for n in 900_000.. {
        let conversation = post(&client, &a, &cluster.inbox, n).await.expect("node A keeps storing while NATS is away");
        if notice_for(&mut socket, &conversation, Duration::from_millis(500)).await {
            resumed = Some(back.elapsed());
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(60), "live notices never resumed after NATS came back");
    }
    println!("cluster: live notices resumed {:?} after NATS came back", resumed.unwrap());
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = load.await.unwrap();
    let refused = answers.iter().filter(|(_, stored)| !stored).count();
    assert_eq!(refused, 0, "node A refused {refused} of {} messages around the NATS restart", answers.len());
    let while_away = answers.iter().filter(|(at, _)| *at > away && *at < back).count();
    assert!(while_away >= 10, "node A stored only {while_away} messages while NATS was away");

    // Every committed event is in the stream once: the relay kept what NATS
    // could not take and published it when NATS was back.
    let mut last = 0;
    let expected = events_committed(&cluster.database_url);
    for _ in 0..100 {
        last = stream_messages(&nats, &cluster.stream).await;
        if last == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(last, expected, "events in the stream vs committed");
    drop(server);
}

/// One number from the database, read with psql.
fn psql_number(database_url: &str, sql: &str) -> i64 {
    let out = Command::new("psql").args(["-At", "-d", database_url, "-c", sql]).output().expect("running psql");
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

/// A node killed with `kill -9` while customers' messages pour in through
/// the balancer: every message a client was told is stored is there once,
/// retries of the ones in flight are recognised as duplicates, the events
/// the dead node committed and had not relayed go out through the others,
/// and no job stays stuck with it. `THREADLINE_CLUSTER_MESSAGES` (default
/// 3,000) makes it larger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_minus_nine_of_a_node_loses_and_doubles_nothing() {
    let total: usize =
        std::env::var("THREADLINE_CLUSTER_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000).clamp(500, 1_000_000);
    let nats = tool("THREADLINE_TEST_NATS_URL");
    let mut cluster = cluster(3, &nats).await;
    let (_proxy, balancer) = haproxy(&cluster.folder, &cluster.nodes.iter().collect::<Vec<_>>()).await;

    let workers = 16;
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let (client, balancer, inbox, acknowledged) =
            (reqwest::Client::new(), balancer.clone(), cluster.inbox.clone(), acknowledged.clone());
        clients.spawn(async move {
            let mut duplicates = 0;
            for n in (worker..total).step_by(workers) {
                // A client retries until it is told the message is stored.
                let mut tries = 0;
                loop {
                    tries += 1;
                    let body = json!({
                        "sender": { "identities": [{ "kind": "phone", "value": format!("+39 347 {:03} {:04}", n / 10_000, n % 10_000) }] },
                        "text": format!("message {n}"),
                        "provider_message_id": format!("kill-{n}"),
                    });
                    let url = format!("{balancer}/api/v1/inboxes/{}/messages", inbox.id);
                    match client.post(&url).bearer_auth(&inbox.token).json(&body).send().await {
                        Ok(r) if r.status().is_success() => {
                            let outcome: Value = r.json().await.unwrap_or_default();
                            if outcome["duplicate"] == true {
                                duplicates += 1;
                            }
                            acknowledged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            break;
                        }
                        _ if tries < 100 => tokio::time::sleep(Duration::from_millis(100)).await,
                        other => panic!("message {n} never stored: {other:?}"),
                    }
                }
            }
            duplicates
        });
    }
    // A third of the way in, node B dies without warning.
    while acknowledged.load(std::sync::atomic::Ordering::Relaxed) < total / 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.nodes[1].child.kill().unwrap();
    cluster.nodes[1].child.wait().unwrap();
    let killed_at = acknowledged.load(std::sync::atomic::Ordering::Relaxed);
    let mut retried = 0;
    while let Some(duplicates) = clients.join_next().await {
        retried += duplicates.unwrap();
    }
    println!("cluster: {total} messages through HAProxy, node B killed after {killed_at}; {retried} retries found already stored");

    let url = &cluster.database_url;
    let stored = psql_number(url, "SELECT COUNT(*) FROM messages WHERE provider_message_id LIKE 'kill-%'");
    let distinct = psql_number(url, "SELECT COUNT(DISTINCT provider_message_id) FROM messages WHERE provider_message_id LIKE 'kill-%'");
    assert_eq!(distinct, total as i64, "every acknowledged message is stored");
    assert_eq!(stored, distinct, "none is stored twice");
    let created = psql_number(url, "SELECT COUNT(*) FROM events WHERE kind = 'message.created'");
    assert_eq!(created, total as i64, "one message.created per message");

    // What the dead node committed and had not relayed goes out through
    // the others; nothing it held stays stuck once its lease is over.
    let mut left = (0, 0);
    for _ in 0..150 {
        let now = now_micros();
        left = (
            psql_number(url, "SELECT COUNT(*) FROM event_relay"),
            psql_number(
                url,
                &format!(
                    "SELECT COUNT(*) FROM jobs WHERE dead = 0 AND run_at < {} AND (lease_until IS NULL OR lease_until < {now})",
                    now - 10_000_000
                ),
            ),
        );
        if left == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(left, (0, 0), "(relay rows left, jobs overdue by 10 s)");
    assert_eq!(psql_number(url, "SELECT COUNT(*) FROM jobs WHERE dead = 1"), 0, "no job gave up");
    let stream = stream_messages(&nats, &cluster.stream).await;
    assert_eq!(stream, events_committed(url), "every committed event reached the stream once");
    drop_stream(&nats, &cluster.stream).await;
}

/// `host:port` of a `postgres://user@host:port/db` URL.
fn host_and_port(url: &str) -> &str {
    let rest = &url[url.find("://").map_or(0, |i| i + 3)..];
    let rest = &rest[rest.find('@').map_or(0, |i| i + 1)..];
    &rest[..rest.find(['/', '?']).unwrap_or(rest.len())]
}

/// A TCP path to PostgreSQL the test can cut: while cut, every connection
/// through it is dropped and new ones are closed at once, as when the
/// database server is down.
struct Cable {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Cable {
    async fn to(upstream: String) -> Cable {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::<tokio::task::AbortHandle>::new()));
        let (accepting, held) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection closes
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                held.lock().unwrap().push(link.abort_handle());
            }
        });
        Cable { port, up, links }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn mend(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// PostgreSQL unreachable for 30 s (`THREADLINE_PG_OUTAGE_SECS`) under
/// load: no request is answered 2xx unless it was stored, the nodes say
/// they are not ready, and they recover by themselves when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_away_under_load_stores_what_it_acknowledged_and_recovers() {
    let outage = Duration::from_secs(std::env::var("THREADLINE_PG_OUTAGE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(30));
    let nats = tool("THREADLINE_TEST_NATS_URL");
    let base = tool("THREADLINE_TEST_DATABASE_URL");
    let cable = Cable::to(host_and_port(&base).to_owned()).await;
    let port = cable.port;
    let cluster = cluster_with(2, &nats, move |direct| direct.replacen(host_and_port(direct), &format!("127.0.0.1:{port}"), 1)).await;
    let nodes: Vec<String> = cluster.nodes.iter().map(|n| n.base.clone()).collect();

    // Four clients post all along, to both nodes; each answer is noted.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for worker in 0..4usize {
        let (stop, client, nodes, inbox) = (stop.clone(), reqwest::Client::new(), nodes.clone(), cluster.inbox.clone());
        clients.spawn(async move {
            let mut answers = Vec::new();
            for n in (worker..).step_by(4) {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let body = json!({
                    "sender": { "identities": [{ "kind": "phone", "value": format!("+39 347 {:03} {:04}", n / 10_000, n % 10_000) }] },
                    "text": format!("message {n}"),
                    "provider_message_id": format!("outage-{n}"),
                });
                let url = format!("{}/api/v1/inboxes/{}/messages", nodes[n % nodes.len()], inbox.id);
                let status = match client.post(&url).bearer_auth(&inbox.token).json(&body).timeout(Duration::from_secs(60)).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                answers.push((n, status, Instant::now()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            answers
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    cable.cut();
    let cut_at = Instant::now();
    for node in &nodes {
        assert_eq!(readiness(node, 503).await, "database unavailable");
    }
    tokio::time::sleep(outage.saturating_sub(cut_at.elapsed())).await;
    cable.mend();
    let mended_at = Instant::now();
    for node in &nodes {
        assert_eq!(readiness(node, 200).await, "ready");
    }
    println!("cluster: PostgreSQL away for {:?}; both nodes ready again {:?} after", outage, mended_at.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answers = Vec::new();
    while let Some(part) = clients.join_next().await {
        answers.extend(part.unwrap());
    }

    let direct = &cluster.database_url;
    let stored: std::collections::HashSet<String> = {
        let out = Command::new("psql")
            .args(["-At", "-d", direct, "-c", "SELECT provider_message_id FROM messages WHERE provider_message_id LIKE 'outage-%'"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    };
    let acknowledged: Vec<usize> = answers.iter().filter(|(_, status, _)| (200..300).contains(status)).map(|(n, _, _)| *n).collect();
    let refused = answers.iter().filter(|(_, status, _)| !(200..300).contains(status)).count();
    let lost: Vec<usize> = acknowledged.iter().copied().filter(|n| !stored.contains(&format!("outage-{n}"))).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert!(refused > 0, "the outage was felt");
    let after = answers.iter().filter(|(_, status, at)| *at > mended_at && (200..300).contains(status)).count();
    assert!(after > 0, "messages are stored again after the outage, without a restart");
    let statuses: std::collections::BTreeSet<u16> = answers.iter().map(|(_, s, _)| *s).filter(|s| !(200..300).contains(s)).collect();
    println!("cluster: {} answers, {} acknowledged (all stored), {refused} refused with {statuses:?}", answers.len(), acknowledged.len());
    assert!(statuses.iter().all(|s| *s == 503 || *s == 0), "refusals say the database is unavailable: {statuses:?}");
    drop_stream(&nats, &cluster.stream).await;
}
