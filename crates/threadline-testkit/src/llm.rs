//! A stand-in for an OpenAI-compatible chat completions API
//! (`POST /v1/chat/completions`), answering in the documented response
//! shape (`choices[0].message.content`) with whatever the test sets, and
//! recording the requests. It can be told to fail, to check that
//! Threadline falls back to its built-in triage.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Inner {
    requests: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    /// The assistant's content to answer with; none answers 503.
    content: Arc<Mutex<Option<String>>>,
}

pub struct LlmStandIn {
    pub addr: SocketAddr,
    inner: Inner,
}

impl LlmStandIn {
    pub async fn start() -> LlmStandIn {
        let inner = Inner::default();
        let app = Router::new().route("/v1/chat/completions", post(complete)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the LLM stand-in");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        LlmStandIn { addr, inner }
    }

    /// The base URL to configure as `llm_url`.
    pub fn base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// What the model answers from now on; `None` makes it fail.
    pub fn answer(&self, content: Option<&str>) {
        *self.inner.content.lock().expect("lock") = content.map(str::to_owned);
    }

    pub fn requests(&self) -> Vec<(HeaderMap, Value)> {
        self.inner.requests.lock().expect("lock").clone()
    }
}

async fn complete(State(inner): State<Inner>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let model = body["model"].clone();
    inner.requests.lock().expect("lock").push((headers, body));
    let Some(content) = inner.content.lock().expect("lock").clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": { "message": "overloaded", "type": "server_error" } })))
            .into_response();
    };
    Json(json!({
        "id": "chatcmpl-threadline-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20 },
    }))
    .into_response()
}
