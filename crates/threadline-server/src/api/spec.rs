//! What every operation of the OpenAPI document answers beyond its own
//! responses, declared once here rather than on each handler, so that a
//! client generated from the document — or a schema-driven fuzzer — meets
//! no status the document does not name.
//!
//! The rules follow from the extractors every handler shares (`Body`,
//! `Query`, `Path`, `Caller`) and `ApiError`:
//!
//! - a JSON body: 400 (malformed JSON), 413 (larger than `max_body_bytes`),
//!   415 (not `application/json`), 422 (a field is invalid, named in
//!   `fields`);
//! - query parameters: 400 (an unreadable query string), 422;
//! - path parameters: 404 (also for ids that do not parse, or belong to
//!   another account);
//! - authentication (every operation not marked public): 401, 403;
//! - every change (POST, PUT, PATCH, DELETE): 409, when it conflicts with
//!   what is stored (a name or address already taken, a concurrent change);
//! - `limit` is 1–200 and `q` 1–200 characters wherever they appear.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Schema};

/// The longest search text (`q`) accepted.
pub const MAX_QUERY_CHARS: usize = 200;

pub struct ErrorResponses;

impl utoipa::Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.head, &mut item.options].into_iter().flatten() {
                declare(operation, false);
            }
            for operation in [&mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten() {
                declare(operation, true);
            }
        }
    }
}

fn declare(operation: &mut Operation, write: bool) {
    let mut add = |status: &str, description: &str| {
        operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
                    .build(),
            )
        });
    };
    let public = operation.security.as_ref().is_some_and(|s| s.iter().all(|r| r == &Default::default()));
    if !public {
        add("401", "no valid token or session");
        add("403", "the caller's role or token scope does not allow this, or a CSRF token is missing");
    }
    if write {
        add("409", "the change conflicts with what is stored (a name or address already taken, a concurrent change)");
    }
    let params = operation.parameters.as_deref().unwrap_or_default();
    let has_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
    let has_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
    if operation.request_body.is_some() {
        add("400", "malformed JSON");
        add("413", "the body is larger than the server accepts");
        add("415", "the body is not application/json");
        add("422", "invalid input; `fields` names each field and why");
    }
    if has_query {
        add("400", "an unreadable query string");
        add("422", "invalid input; `fields` names each field and why");
    }
    if has_path {
        add("404", "no such resource in the caller's account");
    }
    for param in operation.parameters.iter_mut().flatten() {
        if param.parameter_in != ParameterIn::Query {
            continue;
        }
        let Some(RefOr::T(Schema::Object(schema))) = param.schema.as_mut() else { continue };
        // Bounds a handler declared itself stand.
        match param.name.as_str() {
            "limit" if schema.maximum.is_none() => {
                schema.minimum = Some(1.into());
                schema.maximum = Some(200.into());
            }
            "q" if schema.max_length.is_none() => {
                schema.min_length = Some(1);
                schema.max_length = Some(MAX_QUERY_CHARS);
            }
            _ => {}
        }
    }
}
