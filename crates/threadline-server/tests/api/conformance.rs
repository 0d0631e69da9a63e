//! A schema-driven fuzzer over the whole API: every operation of the
//! served OpenAPI document gets requests built from its own schema — as
//! written, without credentials, with unknown ids, missing and mistyped
//! fields, malformed JSON, the wrong content type, out-of-range `limit`,
//! empty and overlong `q`, NUL characters — and every answer must be a
//! status the document declares for that operation, never a 5xx, and
//! errors must have the documented body.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use threadline_testkit::{TestApp, backend_tests};

backend_tests!(every_answer_is_one_the_document_declares);

/// A request to make: what it tries, its path and query, its body and
/// content type, and the bearer token (none: anonymous).
type Case<'a> = (String, String, Option<(String, &'static str)>, Option<&'a str>);

/// One request and what came back, for the failure report.
struct Finding {
    what: String,
    status: u16,
    body: String,
}

struct Doc {
    doc: Value,
}

impl Doc {
    /// Follows a `$ref` to `#/components/schemas/…`.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or_default();
                &self.doc["components"]["schemas"][name]
            }
            None => schema,
        }
    }

    /// A value that satisfies `schema` as far as a generator can tell:
    /// required properties filled, enums and formats respected.
    fn sample(&self, schema: &Value, depth: usize) -> Value {
        let schema = self.resolve(schema);
        if depth > 6 {
            return Value::Null;
        }
        if let Some(values) = schema.get("enum").and_then(|e| e.as_array()) {
            return values.first().cloned().unwrap_or(Value::Null);
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(first) =
                schema.get(key).and_then(|v| v.as_array()).and_then(|v| v.iter().find(|s| s.get("type") != Some(&json!("null"))))
            {
                return self.sample(first, depth + 1);
            }
        }
        let kind = match schema.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(types)) => types.iter().filter_map(|t| t.as_str()).find(|t| *t != "null").unwrap_or("null").to_owned(),
            _ if schema.get("properties").is_some() => "object".into(),
            _ => "string".into(),
        };
        match kind.as_str() {
            "object" => {
                let mut out = Map::new();
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(|r| r.as_array())
                    .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                if let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) {
                    for (name, property) in properties {
                        if required.contains(&name.as_str()) {
                            out.insert(name.clone(), self.sample(property, depth + 1));
                        }
                    }
                }
                Value::Object(out)
            }
            "array" => Value::Array(Vec::new()),
            "integer" => json!(schema.get("minimum").and_then(|m| m.as_i64()).unwrap_or(1).max(1)),
            "number" => json!(0.5),
            "boolean" => json!(true),
            "null" => Value::Null,
            _ => match schema.get("format").and_then(|f| f.as_str()) {
                Some("uuid") => json!(uuid::Uuid::now_v7().to_string()),
                Some("date-time") => json!("2026-12-05T10:00:00Z"),
                Some("email") => json!("fuzz@example.com"),
                _ => json!("fuzz"),
            },
        }
    }
}

async fn every_answer_is_one_the_document_declares(app: TestApp) {
    let doc: Value = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let doc = Doc { doc };
    // Things for ids to point at, so some requests reach past "not found".
    let inbox = app.create_inbox("api", "fuzz").await;
    app.inbound(&inbox, json!([{ "kind": "email", "value": "fuzz@example.com" }]), "hello").await;
    let (_, conversations) = app.get("/api/v1/conversations").await;
    let conversation = conversations["data"][0]["id"].as_str().unwrap().to_owned();
    let contact = conversations["data"][0]["contact_id"].as_str().unwrap().to_owned();
    let known: BTreeMap<&str, String> = [("inboxes", inbox), ("conversations", conversation), ("contacts", contact)].into_iter().collect();

    let mut findings: Vec<Finding> = Vec::new();
    let mut requests = 0;
    let paths = doc.doc["paths"].as_object().unwrap().clone();
    for (template, item) in &paths {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            // Taking the test's own credentials or account away would end it.
            if (method == "delete"
                && (template.contains("api-tokens") || template.contains("users/{id}") || template == "/api/v1/sessions"))
                || template.ends_with("/accounts")
            {
                continue;
            }
            let declared: Vec<String> = operation["responses"].as_object().unwrap().keys().cloned().collect();
            let params: Vec<Value> = operation["parameters"].as_array().cloned().unwrap_or_default();
            let fill = |random: bool| {
                let mut path = template.clone();
                for p in params.iter().filter(|p| p["in"] == "path") {
                    let name = p["name"].as_str().unwrap();
                    let collection = template.split('/').take_while(|s| *s != format!("{{{name}}}")).last().unwrap_or_default();
                    let value = match known.get(collection) {
                        Some(id) if !random && name == "id" => id.clone(),
                        _ => uuid::Uuid::now_v7().to_string(),
                    };
                    path = path.replace(&format!("{{{name}}}"), &value);
                }
                path
            };
            let body_schema = operation["requestBody"]["content"]["application/json"]["schema"].clone();
            let has_body = !body_schema.is_null();
            let sample = if has_body { doc.sample(&body_schema, 0) } else { Value::Null };

            let mut cases: Vec<Case> = Vec::new();
            let json_body = |v: &Value| Some((v.to_string(), "application/json"));
            let token = Some(app.token.as_str());
            cases.push(("as documented".into(), fill(false), has_body.then(|| (sample.to_string(), "application/json")), token));
            cases.push(("unknown ids".into(), fill(true), has_body.then(|| (sample.to_string(), "application/json")), token));
            cases.push(("no credentials".into(), fill(false), has_body.then(|| (sample.to_string(), "application/json")), None));
            if has_body {
                cases.push(("malformed JSON".into(), fill(false), Some(("{\"oops\":".into(), "application/json")), token));
                cases.push(("wrong content type".into(), fill(false), Some((sample.to_string(), "text/plain")), token));
                cases.push(("empty object".into(), fill(false), json_body(&json!({})), token));
                cases.push(("an array".into(), fill(false), json_body(&json!([1, 2])), token));
                if let Value::Object(fields) = &sample {
                    let mut extra = fields.clone();
                    extra.insert("surely_not_a_field".into(), json!(1));
                    cases.push(("an unknown field".into(), fill(false), json_body(&Value::Object(extra)), token));
                    for (name, value) in fields {
                        let mut wrong = fields.clone();
                        let swapped = match value {
                            Value::String(_) => json!(12345),
                            _ => json!("not the right type"),
                        };
                        wrong.insert(name.clone(), swapped);
                        cases.push((format!("{name} mistyped"), fill(false), json_body(&Value::Object(wrong)), token));
                        if value.is_string() {
                            let mut long = fields.clone();
                            long.insert(name.clone(), json!("x".repeat(20_000)));
                            cases.push((format!("{name} 20,000 characters"), fill(false), json_body(&Value::Object(long)), token));
                            let mut nul = fields.clone();
                            nul.insert(name.clone(), json!("a\u{0}b"));
                            cases.push((format!("{name} with NUL"), fill(false), json_body(&Value::Object(nul)), token));
                        }
                    }
                }
            }
            for p in params.iter().filter(|p| p["in"] == "query") {
                let name = p["name"].as_str().unwrap();
                let values: &[&str] = match name {
                    "limit" => &["0", "201", "-1", "abc", "99999999999999999999"],
                    "q" => &["", "%00", "a", &"q".repeat(300)],
                    _ => &["", "zz", "%00", "-1"],
                };
                for value in values {
                    let path = format!("{}?{name}={value}", fill(false));
                    cases.push((format!("query {name}={}", &value[..value.len().min(20)]), path, None, token));
                }
            }
            cases.push(("an unknown query parameter".into(), format!("{}?surely_not_a_parameter=1", fill(false)), None, token));

            for (what, path, body, token) in cases {
                requests += 1;
                let mut request = app.client.request(method.to_uppercase().parse().unwrap(), app.url(&path));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if let Some((body, content_type)) = body {
                    request = request.header("content-type", content_type).body(body);
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                let declared_here = declared.iter().any(|d| d == &status.to_string());
                let error_body_ok = status < 400
                    || serde_json::from_str::<Value>(&text)
                        .is_ok_and(|v| v["error"]["code"].is_string() && v["error"]["message"].is_string());
                if !declared_here || status >= 500 || !error_body_ok {
                    findings.push(Finding {
                        what: format!("{} {template} ({what}): declared {declared:?}", method.to_uppercase()),
                        status,
                        body: text.chars().take(300).collect(),
                    });
                }
            }
        }
    }
    assert!(requests > 900, "the document was walked: {requests} requests");
    let report: Vec<String> = findings.iter().map(|f| format!("{} → {}: {}", f.what, f.status, f.body)).collect();
    assert!(findings.is_empty(), "{} answers outside the document:\n{}", findings.len(), report.join("\n"));
}
