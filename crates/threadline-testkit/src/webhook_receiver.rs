//! A stand-in for an integrator's webhook endpoint (or an external agent
//! bot): records every request, can be told to fail the first N with a 500
//! to exercise retries, and can answer with a JSON body.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

#[derive(Debug, Clone)]
pub struct ReceivedWebhook {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status the receiver answered with.
    pub answered: u16,
}

#[derive(Clone, Default)]
struct Inner {
    received: Arc<Mutex<Vec<ReceivedWebhook>>>,
    fail_first: Arc<AtomicUsize>,
    /// The body successful answers carry (none: empty).
    answer: Arc<Mutex<Option<serde_json::Value>>>,
    /// Answer 302 with this `Location` instead.
    redirect: Arc<Mutex<Option<String>>>,
}

pub struct WebhookReceiver {
    pub addr: SocketAddr,
    inner: Inner,
}

impl WebhookReceiver {
    /// Starts a receiver that fails its first `fail_first` requests.
    pub async fn start(fail_first: usize) -> WebhookReceiver {
        Self::start_at("127.0.0.1", fail_first).await
    }

    /// The same on another loopback address (e.g. `127.0.0.2`, to stand for
    /// an internal host the egress policy must keep Threadline away from).
    pub async fn start_at(ip: &str, fail_first: usize) -> WebhookReceiver {
        let inner = Inner { fail_first: Arc::new(AtomicUsize::new(fail_first)), ..Default::default() };
        let app = Router::new().route("/hook", post(receive).get(receive)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("binding the receiver");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver { addr, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answers the next requests with this JSON (as an agent bot may).
    pub fn answer_with(&self, body: Option<serde_json::Value>) {
        *self.inner.answer.lock().expect("lock") = body;
    }

    /// Answers the next requests with `302 Found` to `location`.
    pub fn redirect_to(&self, location: Option<String>) {
        *self.inner.redirect.lock().expect("lock") = location;
    }

    pub fn received(&self) -> Vec<ReceivedWebhook> {
        self.inner.received.lock().expect("lock").clone()
    }

    /// Waits until `predicate` holds for the received requests (at most `secs`).
    pub async fn wait_for(&self, secs: u64, predicate: impl Fn(&[ReceivedWebhook]) -> bool) -> Vec<ReceivedWebhook> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let got = self.received();
            if predicate(&got) || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

async fn receive(State(inner): State<Inner>, headers: HeaderMap, body: Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let redirect = inner.redirect.lock().expect("lock").clone();
    let fail = redirect.is_none() && inner.fail_first.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let status = match (&redirect, fail) {
        (Some(_), _) => StatusCode::FOUND,
        (None, true) => StatusCode::INTERNAL_SERVER_ERROR,
        (None, false) => StatusCode::OK,
    };
    inner.received.lock().expect("lock").push(ReceivedWebhook { headers, body, answered: status.as_u16() });
    if let Some(location) = redirect {
        return (status, [(axum::http::header::LOCATION, location)]).into_response();
    }
    match inner.answer.lock().expect("lock").clone() {
        Some(answer) if !fail => (status, axum::Json(answer)).into_response(),
        _ => status.into_response(),
    }
}
