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

use crate::durability::{Server, start_server};

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
    let folder = std::env::temp_dir().join(format!("threadline-cluster-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&folder).unwrap();
    let database_url = fresh_database(Backend::Postgres, &folder).await;
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let (prefix, stream) = (format!("tl{tag}"), format!("TL_{tag}"));
    let env = [
        ("THREADLINE_NATS_URL", nats),
        ("THREADLINE_NATS_PREFIX", prefix.as_str()),
        ("THREADLINE_NATS_STREAM", stream.as_str()),
        ("THREADLINE_RELAY_POLL_MS", "200"),
    ];
    let nodes: Vec<Server> = (0..count).map(|_| start_server(&folder, &database_url, OPERATOR, &env)).collect();
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{}/api/v1/accounts", nodes[0].base))
        .bearer_auth(OPERATOR)
        .json(&json!({ "name": "Cluster", "admin": { "email": "lead@example.com", "name": "Lead", "password": "correct horse battery" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    let inbox: Value = client
        .post(format!("{}/api/v1/inboxes", nodes[1 % count].base))
        .bearer_auth(&token)
        .json(&json!({ "channel": "api", "name": "load" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let inbox = Inbox { id: inbox["id"].as_str().unwrap().to_owned(), token };
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
            let mut stored = 0;
            for n in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                if post(&client, &a, &inbox, n).await.is_some() {
                    stored += 1;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            stored
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    // NATS goes away for three seconds, then comes back on the same port
    // with the same store.
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
    let stored = load.await.unwrap();
    assert!(stored > 100, "the load ran: {stored}");

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
