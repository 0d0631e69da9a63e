//! Push notifications: the requests Firebase Cloud Messaging (HTTP v1) and
//! the Apple Push Notification service take, and the signed tokens that
//! authorise them. No I/O: the server sends what is described here and
//! reads the answers with `threadline_domain::push`.
//!
//! - **FCM**: a service account's key signs a JWT (RS256) that Google's
//!   OAuth 2.0 token endpoint exchanges for an access token (grant type
//!   `urn:ietf:params:oauth:grant-type:jwt-bearer`, scope
//!   `https://www.googleapis.com/auth/firebase.messaging`, valid an hour);
//!   `POST {fcm}/v1/projects/{project_id}/messages:send` with it as bearer.
//! - **APNs**: the team's `.p8` key signs a provider token (ES256, `kid`
//!   the key's id, `iss` the team id, `iat`), good for an hour and to be
//!   renewed no more than every 20 minutes;
//!   `POST {apns}/3/device/{token}` over HTTP/2 with `apns-topic` (the
//!   app's bundle id), `apns-push-type: alert` and an `apns-id`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Deserialize;
use threadline_domain::push::Notification;

use crate::adapter::{HttpRequest, RequestBody};

/// The scope FCM's access tokens need.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// The OAuth 2.0 grant type of a signed JWT.
pub const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// FCM's API, unless configured otherwise.
pub const FCM_API: &str = "https://fcm.googleapis.com";
pub const APNS_PRODUCTION: &str = "https://api.push.apple.com";
pub const APNS_SANDBOX: &str = "https://api.sandbox.push.apple.com";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct KeyError(pub String);

/// A Google service account's key file, as downloaded from the Firebase
/// console (*Project settings → Service accounts*).
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    pub private_key: String,
    pub token_uri: String,
}

impl ServiceAccount {
    /// Reads and checks a key file: its fields, and that its key signs.
    pub fn parse(json: &str) -> Result<ServiceAccount, KeyError> {
        let account: ServiceAccount =
            serde_json::from_str(json).map_err(|e| KeyError(format!("is not a service account key file: {e}")))?;
        if account.project_id.trim().is_empty() || account.client_email.trim().is_empty() {
            return Err(KeyError("names no project_id or client_email".into()));
        }
        if !account.token_uri.starts_with("https://") && !account.token_uri.starts_with("http://") {
            return Err(KeyError("has no token_uri URL".into()));
        }
        rsa_key(&account.private_key)?;
        Ok(account)
    }

    /// The signed JWT to exchange for an access token, issued at `now`
    /// (Unix seconds) and valid an hour.
    pub fn assertion(&self, now: i64) -> Result<String, KeyError> {
        let mut header = serde_json::json!({ "alg": "RS256", "typ": "JWT" });
        if let Some(kid) = &self.private_key_id {
            header["kid"] = kid.clone().into();
        }
        let claims = serde_json::json!({
            "iss": self.client_email, "scope": FCM_SCOPE, "aud": self.token_uri, "iat": now, "exp": now + 3600,
        });
        let signing_input = signing_input(&header, &claims);
        let key = rsa_key(&self.private_key)?;
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
            .map_err(|_| KeyError("the private key could not sign".into()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// The request that exchanges an assertion for an access token.
    pub fn token_request(&self, assertion: &str) -> HttpRequest {
        HttpRequest {
            method: http::Method::POST,
            url: self.token_uri.clone(),
            headers: Vec::new(),
            body: RequestBody::Form(vec![("grant_type".into(), JWT_GRANT.into()), ("assertion".into(), assertion.into())]),
        }
    }
}

/// An access token from the token endpoint, and its lifetime in seconds.
pub fn read_access_token(status: u16, body: &[u8]) -> Result<(String, i64), String> {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match (status, json["access_token"].as_str()) {
        (200, Some(token)) if !token.is_empty() => Ok((token.to_owned(), json["expires_in"].as_i64().unwrap_or(3600))),
        _ => {
            let why = json["error_description"].as_str().or(json["error"].as_str()).unwrap_or("no reason given");
            Err(format!("Google's token endpoint answered {status}: {why}"))
        }
    }
}

/// FCM's `messages:send` for one device: the notification, and the data an
/// app needs to open the conversation (strings only, as FCM requires).
pub fn fcm_request(
    base: &str,
    project_id: &str,
    access_token: &str,
    device: &str,
    n: &Notification,
    data: &[(&str, String)],
) -> HttpRequest {
    let data: serde_json::Map<String, serde_json::Value> = data.iter().map(|(k, v)| ((*k).to_owned(), v.clone().into())).collect();
    let body = serde_json::json!({ "message": {
        "token": device,
        "notification": { "title": n.title, "body": n.body },
        "data": data,
        "android": { "priority": "high" },
    }});
    HttpRequest {
        method: http::Method::POST,
        url: format!("{}/v1/projects/{project_id}/messages:send", base.trim_end_matches('/')),
        headers: vec![("authorization".into(), format!("Bearer {access_token}"))],
        body: RequestBody::Json(body),
    }
}

/// An APNs signing key (the `.p8` file's text) and who it belongs to.
#[derive(Debug, Clone)]
pub struct ApnsKey {
    pub key_pem: String,
    pub key_id: String,
    pub team_id: String,
}

impl ApnsKey {
    /// Checks that the key is a P-256 key that signs.
    pub fn check(&self) -> Result<(), KeyError> {
        ec_key(&self.key_pem).map(|_| ())
    }

    /// The provider token, issued at `now` (Unix seconds).
    pub fn provider_token(&self, now: i64) -> Result<String, KeyError> {
        let header = serde_json::json!({ "alg": "ES256", "kid": self.key_id });
        let claims = serde_json::json!({ "iss": self.team_id, "iat": now });
        let signing_input = signing_input(&header, &claims);
        let signature = ec_key(&self.key_pem)?
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| KeyError("the APNs key could not sign".into()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref())))
    }
}

/// APNs's request for one device (send it over HTTP/2).
pub fn apns_request(
    base: &str,
    provider_token: &str,
    topic: &str,
    device: &str,
    apns_id: &str,
    n: &Notification,
    data: &[(&str, String)],
) -> HttpRequest {
    let mut body = serde_json::json!({ "aps": {
        "alert": { "title": n.title, "body": n.body },
        "sound": "default",
    }});
    for (key, value) in data {
        body[*key] = value.clone().into();
    }
    if let Some((_, conversation)) = data.iter().find(|(k, _)| *k == "conversation_id") {
        body["aps"]["thread-id"] = conversation.clone().into();
    }
    HttpRequest {
        method: http::Method::POST,
        url: format!("{}/3/device/{device}", base.trim_end_matches('/')),
        headers: vec![
            ("authorization".into(), format!("bearer {provider_token}")),
            ("apns-topic".into(), topic.to_owned()),
            ("apns-push-type".into(), "alert".into()),
            ("apns-priority".into(), "10".into()),
            ("apns-id".into(), apns_id.to_owned()),
        ],
        body: RequestBody::Json(body),
    }
}

fn signing_input(header: &serde_json::Value, claims: &serde_json::Value) -> String {
    format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
}

/// The DER inside a PEM block (`-----BEGIN PRIVATE KEY-----`…); keys pasted
/// with `\n` escapes (as in a JSON key file read by hand) are accepted.
pub fn pem_der(pem: &str) -> Result<Vec<u8>, KeyError> {
    let pem = pem.replace("\\n", "\n");
    let body: String = pem.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("-----")).collect();
    if !pem.contains("-----BEGIN") || body.is_empty() {
        return Err(KeyError("is not a PEM private key (-----BEGIN PRIVATE KEY-----)".into()));
    }
    STANDARD.decode(body).map_err(|_| KeyError("is not a PEM private key: its base64 does not decode".into()))
}

fn rsa_key(pem: &str) -> Result<RsaKeyPair, KeyError> {
    RsaKeyPair::from_pkcs8(&pem_der(pem)?).map_err(|e| KeyError(format!("is not an RSA private key in PKCS#8 ({e})")))
}

fn ec_key(pem: &str) -> Result<EcdsaKeyPair, KeyError> {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pem_der(pem)?, &SystemRandom::new())
        .map_err(|e| KeyError(format!("is not a P-256 private key in PKCS#8, as APNs keys are ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, KeyPair, UnparsedPublicKey};

    fn pem(der: &[u8]) -> String {
        let b64 = STANDARD.encode(der);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"))
    }

    #[test]
    fn apns_provider_tokens_verify_with_the_keys_public_half() {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        let key = ApnsKey { key_pem: pem(pkcs8.as_ref()), key_id: "ABC123DEFG".into(), team_id: "DEF123GHIJ".into() };
        key.check().unwrap();
        let token = key.provider_token(1_733_500_000).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({ "alg": "ES256", "kid": "ABC123DEFG" }));
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims, serde_json::json!({ "iss": "DEF123GHIJ", "iat": 1_733_500_000 }));
        let public = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &SystemRandom::new()).unwrap();
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public.public_key().as_ref())
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .unwrap();
    }

    #[test]
    fn keys_that_are_not_keys_are_refused_plainly() {
        assert!(pem_der("hello").unwrap_err().0.contains("not a PEM private key"));
        let bad = ApnsKey {
            key_pem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".into(),
            key_id: "k".into(),
            team_id: "t".into(),
        };
        assert!(bad.check().unwrap_err().0.contains("P-256"));
        assert!(ServiceAccount::parse("{}").unwrap_err().0.contains("not a service account key file"));
    }

    #[test]
    fn an_apns_request_carries_the_headers_apple_documents() {
        let n = Notification { title: "Bottega Aurora".into(), body: "Il pacco parte domani".into() };
        let request = apns_request(APNS_SANDBOX, "jwt", "com.example.shop", "ab12", "0193-uuid", &n, &[("conversation_id", "c1".into())]);
        assert_eq!(request.url, "https://api.sandbox.push.apple.com/3/device/ab12");
        let header = |name: &str| request.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(header("apns-push-type"), Some("alert"));
        assert_eq!(header("apns-topic"), Some("com.example.shop"));
        assert_eq!(header("authorization"), Some("bearer jwt"));
        let RequestBody::Json(body) = &request.body else { panic!("a JSON body") };
        assert_eq!(body["aps"]["alert"]["body"], "Il pacco parte domani");
        assert_eq!(body["aps"]["thread-id"], "c1");
        assert_eq!(body["conversation_id"], "c1");
    }
}
