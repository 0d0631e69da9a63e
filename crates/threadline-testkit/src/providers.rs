//! A stand-in for the messaging providers Threadline calls (Twilio, Meta's
//! Graph API, Telegram's Bot API), which cannot be reached from a test.
//!
//! It answers the documented endpoints with the documented shapes: Twilio's
//! Message resource for `POST /2010-04-01/Accounts/{sid}/Messages.json`,
//! the Cloud API's `{messaging_product, contacts, messages}` and the Send
//! API's `{recipient_id, message_id}` for `POST /{version}/{id}/messages`,
//! the Graph media lookup `{url, mime_type, …}`, and Telegram's
//! `{ok, result}` envelopes for `send*` and `getFile`. Every request is
//! recorded, and failures can be injected to exercise retries.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The Graph API version the stand-in serves under.
pub const GRAPH_VERSION: &str = "v21.0";

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ProviderRequest {
    /// The body as form fields (Twilio), in order.
    pub fn form(&self) -> Vec<(String, String)> {
        url_form(&self.body)
    }

    /// The first form field of that name.
    pub fn field(&self, name: &str) -> Option<String> {
        self.form().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The body as JSON (Graph, Telegram).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The parts of a `multipart/form-data` body (Telegram uploads).
    pub fn multipart(&self) -> Vec<MultipartPart> {
        let Some(boundary) = self.header("content-type").and_then(|c| c.split("boundary=").nth(1)).map(|b| b.trim_matches('"').to_owned())
        else {
            return Vec::new();
        };
        let delimiter = format!("--{boundary}").into_bytes();
        let body = self.body.as_ref();
        let mut starts = Vec::new();
        let mut i = 0;
        while i + delimiter.len() <= body.len() {
            if body[i..].starts_with(&delimiter) {
                starts.push(i);
                i += delimiter.len();
            } else {
                i += 1;
            }
        }
        starts
            .windows(2)
            .filter_map(|w| {
                let raw = &body[w[0] + delimiter.len()..w[1]];
                let raw = raw.strip_prefix(b"\r\n").unwrap_or(raw);
                let raw = raw.strip_suffix(b"\r\n").unwrap_or(raw);
                let split = raw.windows(4).position(|x| x == b"\r\n\r\n")?;
                let head = String::from_utf8_lossy(&raw[..split]).into_owned();
                let value = |key: &str| head.split(&format!("{key}=\"")).nth(1).and_then(|v| v.split('"').next()).map(str::to_owned);
                let content_type =
                    head.lines().find_map(|l| l.to_ascii_lowercase().starts_with("content-type:").then(|| l[13..].trim().to_owned()));
                Some(MultipartPart { name: value("name")?, filename: value("filename"), content_type, data: raw[split + 4..].to_vec() })
            })
            .collect()
    }

    /// A text field of a multipart body.
    pub fn multipart_field(&self, name: &str) -> Option<String> {
        self.multipart().into_iter().find(|p| p.name == name && p.filename.is_none()).map(|p| String::from_utf8_lossy(&p.data).into_owned())
    }
}

/// One part of a multipart body.
#[derive(Debug, Clone)]
pub struct MultipartPart {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

fn url_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// An injected failure: the next matching sends answer this.
#[derive(Debug, Clone)]
struct Failure {
    status: u16,
    body: Value,
}

#[derive(Default)]
struct Inner {
    requests: Mutex<Vec<ProviderRequest>>,
    failures: Mutex<Vec<Failure>>,
    /// Hold the next successful send's answer this long (its id is known
    /// before the answer leaves: see `issued`).
    hold_next: Mutex<Option<std::time::Duration>>,
    /// Message ids handed out by sends, in order, as soon as they exist.
    issued: Mutex<Vec<String>>,
    media: Mutex<HashMap<String, (String, Vec<u8>)>>,
    counter: AtomicU64,
}

/// The running stand-in.
pub struct ProviderStandIn {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl ProviderStandIn {
    pub async fn start() -> ProviderStandIn {
        let inner = Arc::new(Inner::default());
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the provider stand-in");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ProviderStandIn { addr, inner }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Points a server's provider URLs at this stand-in.
    pub fn configure(&self, settings: &mut threadline_server::Settings) {
        settings.twilio_api_url = self.base();
        settings.meta_graph_url = format!("{}/{GRAPH_VERSION}", self.base());
        settings.telegram_api_url = self.base();
        settings.send_retry_base_secs = 0;
    }

    /// The next `count` sends answer `status` with `body`.
    pub fn fail_next(&self, count: usize, status: u16, body: Value) {
        let mut failures = self.inner.failures.lock().expect("lock");
        for _ in 0..count {
            failures.push(Failure { status, body: body.clone() });
        }
    }

    /// Holds the next successful send's answer for `delay`, as a slow
    /// provider would; its message id shows in [`Self::issued_ids`] at once.
    pub fn hold_next_send(&self, delay: std::time::Duration) {
        *self.inner.hold_next.lock().expect("lock") = Some(delay);
    }

    /// The message ids sends were given, as soon as they were given.
    pub fn issued_ids(&self) -> Vec<String> {
        self.inner.issued.lock().expect("lock").clone()
    }

    /// Makes a media file available under `id`: a Graph media id, a Telegram
    /// file id, or the last path segment of a URL under `/files/`.
    pub fn put_media(&self, id: &str, content_type: &str, bytes: Vec<u8>) {
        self.inner.media.lock().expect("lock").insert(id.to_owned(), (content_type.to_owned(), bytes));
    }

    pub fn media_url(&self, id: &str) -> String {
        format!("{}/files/{id}", self.base())
    }

    pub fn requests(&self) -> Vec<ProviderRequest> {
        self.inner.requests.lock().expect("lock").clone()
    }

    /// The sends received so far (requests that deliver a message).
    pub fn sends(&self) -> Vec<ProviderRequest> {
        self.requests().into_iter().filter(is_send).collect()
    }

    /// Waits until at least `count` sends arrived (at most `secs`).
    pub async fn wait_for_sends(&self, count: usize, secs: u64) -> Vec<ProviderRequest> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let sends = self.sends();
            if sends.len() >= count || tokio::time::Instant::now() > deadline {
                return sends;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}

fn is_send(r: &ProviderRequest) -> bool {
    r.method == Method::POST && (r.path.ends_with("/Messages.json") || r.path.ends_with("/messages") || r.path.contains("/send"))
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = ProviderRequest { method, path: uri.path().to_owned(), query: query.unwrap_or_default(), headers, body };
    inner.requests.lock().expect("lock").push(request.clone());
    if is_send(&request) {
        let failure = {
            let mut failures = inner.failures.lock().expect("lock");
            (!failures.is_empty()).then(|| failures.remove(0))
        };
        if let Some(failure) = failure {
            return (StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(failure.body))
                .into_response();
        }
    }
    let n = inner.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let path = request.path.as_str();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let response = route(&inner, &request, &segments, n);
    if is_send(&request) {
        let hold = inner.hold_next.lock().expect("lock").take();
        if let Some(delay) = hold {
            tokio::time::sleep(delay).await;
        }
    }
    response
}

/// Answers a request as the provider documents it.
fn route(inner: &Inner, request: &ProviderRequest, segments: &[&str], n: u64) -> Response {
    match (request.method.as_str(), segments) {
        ("POST", ["2010-04-01", "Accounts", sid, "Messages.json"]) => twilio_send(inner, request, sid, n),
        ("POST", ["2010-04-01", "Accounts", sid, "Calls.json"]) => twilio_call(request, sid, n),
        ("POST", ["2010-04-01", "Accounts", sid, "Calls", call]) => twilio_call_update(request, sid, call.trim_end_matches(".json")),
        ("POST", [GRAPH_VERSION, _, "messages"]) => graph_send(inner, request, n),
        ("GET", [GRAPH_VERSION, media_id]) => graph_media(inner, request, media_id),
        ("POST", [bot, method]) if bot.starts_with("bot") && method.starts_with("send") => telegram_send(inner, request, n),
        ("GET", [bot, "getFile"]) if bot.starts_with("bot") => telegram_get_file(inner, request),
        ("GET", ["file", bot, rest @ ..]) if bot.starts_with("bot") => {
            let id = rest.last().and_then(|f| f.split('.').next()).unwrap_or_default();
            serve_media(inner, id)
        }
        ("GET", ["files", id]) => serve_media(inner, id),
        _ => (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "the stand-in does not serve this path" }))).into_response(),
    }
}

fn issue(inner: &Inner, id: &str) {
    inner.issued.lock().expect("lock").push(id.to_owned());
}

/// Twilio Voice's answer to placing a call: the Call resource, queued.
fn twilio_call(request: &ProviderRequest, sid: &str, n: u64) -> Response {
    if !request.header("authorization").is_some_and(|a| a.starts_with("Basic ")) {
        let body =
            json!({ "code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401 });
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let call_sid = format!("CA{:032x}", n);
    let body = json!({
        "account_sid": sid,
        "api_version": "2010-04-01",
        "direction": "outbound-api",
        "from": request.field("From"),
        "to": request.field("To"),
        "sid": call_sid,
        "status": "queued",
        "uri": format!("/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json"),
    });
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// Twilio Voice's answer to updating a call (`Status=canceled` stops one
/// still ringing): the Call resource as it now is.
fn twilio_call_update(request: &ProviderRequest, sid: &str, call_sid: &str) -> Response {
    if !request.header("authorization").is_some_and(|a| a.starts_with("Basic ")) {
        let body =
            json!({ "code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401 });
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let body = json!({
        "account_sid": sid,
        "api_version": "2010-04-01",
        "direction": "outbound-api",
        "sid": call_sid,
        "status": request.field("Status").unwrap_or_else(|| "queued".into()),
        "uri": format!("/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json"),
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn twilio_send(inner: &Inner, request: &ProviderRequest, sid: &str, n: u64) -> Response {
    if !request.header("authorization").is_some_and(|a| a.starts_with("Basic ")) {
        let body =
            json!({ "code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401 });
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let message_sid = format!("SM{:032x}", n);
    issue(inner, &message_sid);
    let media = request.form().iter().filter(|(k, _)| k == "MediaUrl").count();
    let body = json!({
        "account_sid": sid,
        "api_version": "2010-04-01",
        "body": request.field("Body").unwrap_or_default(),
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
        "date_sent": null,
        "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": request.field("From"),
        "messaging_service_sid": request.field("MessagingServiceSid"),
        "num_media": media.to_string(),
        "num_segments": "1",
        "price": null,
        "price_unit": null,
        "sid": message_sid,
        "status": "queued",
        "subresource_uris": { "media": format!("/2010-04-01/Accounts/{sid}/Messages/{message_sid}/Media.json") },
        "to": request.field("To"),
        "uri": format!("/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json"),
    });
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

fn graph_send(inner: &Inner, request: &ProviderRequest, n: u64) -> Response {
    if !request.header("authorization").is_some_and(|a| a.starts_with("Bearer ")) {
        let body = json!({ "error": { "message": "An access token is required to request this resource.", "type": "OAuthException", "code": 104, "fbtrace_id": "AbCdEf" } });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let body = request.json();
    if body["messaging_product"] == "whatsapp" {
        let to = body["to"].as_str().unwrap_or_default();
        let id = format!("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI{n:08X}");
        issue(inner, &id);
        let answer = json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": to, "wa_id": to }],
            "messages": [{ "id": id }],
        });
        return axum::Json(answer).into_response();
    }
    let recipient = body["recipient"]["id"].as_str().unwrap_or_default();
    let id = format!("m_standin{n:08}");
    issue(inner, &id);
    axum::Json(json!({ "recipient_id": recipient, "message_id": id })).into_response()
}

fn graph_media(inner: &Inner, request: &ProviderRequest, media_id: &str) -> Response {
    let media = inner.media.lock().expect("lock");
    let Some((content_type, bytes)) = media.get(media_id) else {
        let body = json!({ "error": { "message": "Unsupported get request.", "type": "GraphMethodException", "code": 100 } });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let host = request.header("host").unwrap_or("127.0.0.1");
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("http://{host}/files/{media_id}"),
        "mime_type": content_type,
        "sha256": "",
        "file_size": bytes.len(),
        "id": media_id,
    }))
    .into_response()
}

fn telegram_send(inner: &Inner, request: &ProviderRequest, n: u64) -> Response {
    let body = request.json();
    let chat_id = match request.multipart_field("chat_id").and_then(|c| c.parse::<i64>().ok()) {
        Some(id) => json!(id),
        None => body["chat_id"].clone(),
    };
    issue(inner, &format!("{chat_id}:{}", 1_000_000 + n));
    // Telegram numbers a chat's messages in one sequence for both parties;
    // the stand-in keeps its ids clear of the customers' in tests.
    axum::Json(json!({
        "ok": true,
        "result": {
            "message_id": 1_000_000 + n,
            "from": { "id": 7000000001u64, "is_bot": true, "first_name": "Threadline", "username": "threadline_bot" },
            "chat": { "id": chat_id, "first_name": "Customer", "type": "private" },
            "date": 1_700_000_000,
            "text": body["text"],
        }
    }))
    .into_response()
}

fn telegram_get_file(inner: &Inner, request: &ProviderRequest) -> Response {
    let file_id = url_form(request.query.as_bytes()).into_iter().find(|(k, _)| k == "file_id").map(|(_, v)| v).unwrap_or_default();
    let media = inner.media.lock().expect("lock");
    match media.get(&file_id) {
        Some((_, bytes)) => axum::Json(json!({
            "ok": true,
            "result": { "file_id": file_id, "file_unique_id": "AgADBAAD", "file_size": bytes.len(), "file_path": format!("photos/{file_id}.jpg") }
        }))
        .into_response(),
        None => (StatusCode::BAD_REQUEST, axum::Json(json!({ "ok": false, "error_code": 400, "description": "Bad Request: invalid file_id" })))
            .into_response(),
    }
}

fn serve_media(inner: &Inner, id: &str) -> Response {
    match inner.media.lock().expect("lock").get(id) {
        Some((content_type, bytes)) => ([(header::CONTENT_TYPE, content_type.clone())], bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
