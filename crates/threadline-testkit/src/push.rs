//! A stand-in for the push services, speaking their documented formats:
//! Google's OAuth 2.0 token endpoint (a JWT-bearer assertion signed RS256
//! by a service account's key, checked against the key's public half),
//! FCM HTTP v1's `messages:send` (bearer access tokens it issued; errors as
//! FCM writes them), and APNs's `POST /3/device/{token}` over HTTP/2 only
//! (an ES256 provider token checked against the APNs key; `{"reason": …}`
//! errors). Keys are made at start: RSA by `openssl` (Debian's package),
//! P-256 by ring.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair,
    UnparsedPublicKey,
};
use serde_json::{Value, json};

pub const FCM_PROJECT: &str = "threadline-test";
pub const FCM_CLIENT: &str = "push@threadline-test.iam.gserviceaccount.com";
pub const APNS_KEY_ID: &str = "ABC123DEFG";
pub const APNS_TEAM: &str = "DEF123GHIJ";
pub const APNS_TOPIC: &str = "com.example.shop";

/// One notification a device was sent.
#[derive(Debug, Clone)]
pub struct Push {
    /// `fcm` or `apns`.
    pub platform: &'static str,
    pub device: String,
    pub title: String,
    pub body: String,
    /// FCM's `message` or APNs's whole payload.
    pub payload: Value,
    pub headers: Vec<(String, String)>,
}

#[derive(Default)]
struct Inner {
    rsa_public: Vec<u8>,
    ec_public: Vec<u8>,
    token_uri: String,
    access_tokens: Mutex<Vec<String>>,
    unregistered: Mutex<HashSet<String>>,
    unavailable: Mutex<usize>,
    pushes: Mutex<Vec<Push>>,
    refusals: Mutex<Vec<String>>,
}

pub struct PushStandIn {
    pub addr: SocketAddr,
    rsa_pem: String,
    ec_pem: String,
    inner: Arc<Inner>,
}

fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"))
}

fn der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("a PEM body")
}

impl PushStandIn {
    /// Starts on a free loopback port. Fails (never skips) without openssl.
    pub async fn start() -> PushStandIn {
        let output = std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl ({e}); `scripts/test` installs it"));
        assert!(output.status.success(), "openssl genpkey failed: {}", String::from_utf8_lossy(&output.stderr));
        let rsa_pem = String::from_utf8(output.stdout).expect("PEM text");
        let rsa = RsaKeyPair::from_pkcs8(&der(&rsa_pem)).expect("openssl's key reads as PKCS#8 RSA");
        let rng = SystemRandom::new();
        let ec_der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("a P-256 key");
        let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec_der.as_ref(), &rng).expect("the key reads back");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the push stand-in");
        let addr = listener.local_addr().expect("address");
        let inner = Arc::new(Inner {
            rsa_public: rsa.public().as_ref().to_vec(),
            ec_public: ec.public_key().as_ref().to_vec(),
            token_uri: format!("http://{addr}/token"),
            ..Inner::default()
        });
        let app = Router::new().fallback(handle).with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PushStandIn { addr, rsa_pem, ec_pem: pem(ec_der.as_ref()), inner }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Points a server's push URLs at this stand-in.
    pub fn configure(&self, settings: &mut threadline_server::Settings) {
        settings.fcm_api_url = self.base();
        settings.apns_api_url = self.base();
    }

    /// A service account key file, as the Firebase console gives it.
    pub fn service_account(&self) -> String {
        json!({
            "type": "service_account", "project_id": FCM_PROJECT, "private_key_id": "5f8e0c3e2a1b",
            "private_key": self.rsa_pem, "client_email": FCM_CLIENT, "client_id": "103654093285347016530",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": self.inner.token_uri,
        })
        .to_string()
    }

    /// The APNs key's `.p8` text.
    pub fn apns_key(&self) -> String {
        self.ec_pem.clone()
    }

    /// The push service no longer knows this device token.
    pub fn unregister(&self, token: &str) {
        self.inner.unregistered.lock().expect("lock").insert(token.to_owned());
    }

    /// The next `count` pushes answer 503.
    pub fn fail_next(&self, count: usize) {
        *self.inner.unavailable.lock().expect("lock") = count;
    }

    /// Access tokens issued by the token endpoint.
    pub fn access_tokens_issued(&self) -> usize {
        self.inner.access_tokens.lock().expect("lock").len()
    }

    pub fn pushes(&self) -> Vec<Push> {
        self.inner.pushes.lock().expect("lock").clone()
    }

    /// Why requests were refused (bad signatures, unknown tokens…).
    pub fn refusals(&self) -> Vec<String> {
        self.inner.refusals.lock().expect("lock").clone()
    }

    pub async fn wait_for_pushes(&self, count: usize, secs: u64) -> Vec<Push> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let pushes = self.pushes();
            if pushes.len() >= count || tokio::time::Instant::now() > deadline {
                return pushes;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// The JWT's claims if its signature verifies with `key` under `algorithm`.
fn verified(jwt: &str, algorithm: &'static dyn ring::signature::VerificationAlgorithm, key: &[u8]) -> Option<(Value, Value)> {
    let mut parts = jwt.split('.');
    let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    UnparsedPublicKey::new(algorithm, key).verify(format!("{header}.{claims}").as_bytes(), &signature).ok()?;
    let decode = |part: &str| serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(part).ok()?).ok();
    Some((decode(header)?, decode(claims)?))
}

fn refuse(inner: &Inner, status: StatusCode, why: &str, body: Value) -> Response {
    inner.refusals.lock().expect("lock").push(why.to_owned());
    (status, axum::Json(body)).into_response()
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let version = request.version();
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 1024 * 1024).await.unwrap_or_default();
    if path == "/token" {
        token(&inner, &body)
    } else if let Some(rest) = path.strip_prefix("/v1/projects/") {
        fcm_send(&inner, rest, &headers, &body)
    } else if let Some(device) = path.strip_prefix("/3/device/") {
        if version != Version::HTTP_2 {
            return refuse(&inner, StatusCode::HTTP_VERSION_NOT_SUPPORTED, "APNs over HTTP/1", json!({}));
        }
        apns_send(&inner, device, &headers, &body)
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

fn token(inner: &Inner, body: &Bytes) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let invalid = |why: &str| refuse(inner, StatusCode::BAD_REQUEST, why, json!({ "error": "invalid_grant", "error_description": why }));
    if field("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return invalid("unsupported grant type");
    }
    let Some((header, claims)) = verified(&field("assertion"), &RSA_PKCS1_2048_8192_SHA256, &inner.rsa_public) else {
        return invalid("Invalid JWT Signature.");
    };
    let now = time_now();
    let fits = header["alg"] == "RS256"
        && claims["iss"] == FCM_CLIENT
        && claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
        && claims["aud"] == inner.token_uri.as_str()
        && claims["iat"].as_i64().is_some_and(|iat| (iat - now).abs() < 300)
        && claims["exp"].as_i64().is_some_and(|exp| exp > now && exp - claims["iat"].as_i64().unwrap_or(0) <= 3600);
    if !fits {
        return invalid("Invalid JWT: claims");
    }
    let mut tokens = inner.access_tokens.lock().expect("lock");
    let token = format!("ya29.stand-in-{}", tokens.len() + 1);
    tokens.push(token.clone());
    axum::Json(json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" })).into_response()
}

fn time_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn take_unavailable(inner: &Inner) -> bool {
    let mut left = inner.unavailable.lock().expect("lock");
    if *left > 0 {
        *left -= 1;
        return true;
    }
    false
}

fn fcm_send(inner: &Inner, rest: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    let project = rest.strip_suffix("/messages:send").unwrap_or("");
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    if !inner.access_tokens.lock().expect("lock").iter().any(|t| t == bearer) {
        let error =
            json!({ "error": { "code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED" } });
        return refuse(inner, StatusCode::UNAUTHORIZED, "FCM without an access token", error);
    }
    if project != FCM_PROJECT {
        return refuse(inner, StatusCode::FORBIDDEN, "another project", json!({ "error": { "code": 403, "status": "PERMISSION_DENIED" } }));
    }
    if take_unavailable(inner) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "error": { "code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE" } })),
        )
            .into_response();
    }
    let json: Value = serde_json::from_slice(body).unwrap_or_default();
    let message = &json["message"];
    let device = message["token"].as_str().unwrap_or("").to_owned();
    if inner.unregistered.lock().expect("lock").contains(&device) {
        // As FCM documents it: 404, NOT_FOUND, with the FcmError UNREGISTERED.
        let error = json!({ "error": { "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
            "details": [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED" }] } });
        return refuse(inner, StatusCode::NOT_FOUND, "unregistered FCM token", error);
    }
    let all_strings = message["data"].as_object().is_none_or(|d| d.values().all(Value::is_string));
    if !all_strings {
        let error = json!({ "error": { "code": 400, "message": "Invalid value at 'message.data[0].value' (TYPE_STRING)", "status": "INVALID_ARGUMENT" } });
        return refuse(inner, StatusCode::BAD_REQUEST, "FCM data values must be strings", error);
    }
    let mut pushes = inner.pushes.lock().expect("lock");
    pushes.push(Push {
        platform: "fcm",
        device,
        title: message["notification"]["title"].as_str().unwrap_or_default().to_owned(),
        body: message["notification"]["body"].as_str().unwrap_or_default().to_owned(),
        payload: message.clone(),
        headers: Vec::new(),
    });
    axum::Json(json!({ "name": format!("projects/{FCM_PROJECT}/messages/0:{}", 1_500_415_314_455_276u64 + pushes.len() as u64) }))
        .into_response()
}

fn apns_send(inner: &Inner, device: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let reason = |status: StatusCode, why: &str| refuse(inner, status, why, json!({ "reason": why }));
    let jwt = header("authorization");
    let Some(jwt) = jwt.strip_prefix("bearer ") else { return reason(StatusCode::FORBIDDEN, "MissingProviderToken") };
    match verified(jwt, &ECDSA_P256_SHA256_FIXED, &inner.ec_public) {
        Some((h, c))
            if h["alg"] == "ES256"
                && h["kid"] == APNS_KEY_ID
                && c["iss"] == APNS_TEAM
                && c["iat"].as_i64().is_some_and(|iat| (iat - time_now()).abs() < 3600) => {}
        _ => return reason(StatusCode::FORBIDDEN, "InvalidProviderToken"),
    }
    if header("apns-topic") != APNS_TOPIC {
        return reason(StatusCode::BAD_REQUEST, "DeviceTokenNotForTopic");
    }
    if header("apns-push-type") != "alert" {
        return reason(StatusCode::BAD_REQUEST, "InvalidPushType");
    }
    if take_unavailable(inner) {
        return reason(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable");
    }
    if inner.unregistered.lock().expect("lock").contains(device) {
        inner.refusals.lock().expect("lock").push("Unregistered".into());
        return (StatusCode::GONE, axum::Json(json!({ "reason": "Unregistered", "timestamp": time_now() * 1000 }))).into_response();
    }
    let payload: Value = serde_json::from_slice(body).unwrap_or_default();
    let apns_id = header("apns-id");
    inner.pushes.lock().expect("lock").push(Push {
        platform: "apns",
        device: device.to_owned(),
        title: payload["aps"]["alert"]["title"].as_str().unwrap_or_default().to_owned(),
        body: payload["aps"]["alert"]["body"].as_str().unwrap_or_default().to_owned(),
        payload,
        headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned())).collect(),
    });
    ([("apns-id", apns_id)], StatusCode::OK).into_response()
}
