//! In-store visits: shop staff record that a customer came in — a visit,
//! a purchase, a return, an exchange, a repair — on the customer's record,
//! found by phone or e-mail (or added) on the workspace's in-store page, so
//! the visit joins the same timeline as their messages, calls and orders.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::ids::ContactId;
use threadline_domain::interaction::{Interaction, InteractionKind, StoreVisit, StoreVisitKind};
use threadline_domain::order::OrderCustomer;
use threadline_domain::validation::ValidationErrors;
use threadline_store::NewInteraction;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Body;
use crate::app::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(record_visit))
}

/// A customer the staff found or met: by e-mail address or phone number.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalkIn {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreVisitRequest {
    /// The customer, when already found.
    pub contact_id: Option<ContactId>,
    /// Or the customer by e-mail address or phone number: the one who has
    /// either, or a new customer with them.
    pub customer: Option<WalkIn>,
    pub kind: StoreVisitKind,
    /// Which shop, e.g. "Milano Centro".
    pub store: String,
    /// The order it is about, as the customer knows it.
    pub order_number: Option<String>,
    /// What happened.
    pub note: Option<String>,
    /// The language of the timeline's line (`it` or `en`; default: the
    /// recording user's).
    pub language: Option<String>,
}

/// Records a customer's visit to a shop (any signed-in user): a
/// `shop_visit` interaction on their record whose summary reads as one
/// line ("In-store return at Milano Centro, order #1001: wrong size") and
/// whose data keeps the fields and who recorded it.
#[utoipa::path(post, path = "/store-visits", tag = "contacts", request_body = StoreVisitRequest,
    responses((status = 201, body = Interaction), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_visit(
    State(state): State<AppState>,
    caller: Caller,
    Body(req): Body<StoreVisitRequest>,
) -> ApiResult<(StatusCode, Json<Interaction>)> {
    let blank = |t: Option<String>| t.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let visit =
        StoreVisit { kind: req.kind, store: req.store.trim().to_owned(), order_number: blank(req.order_number), note: blank(req.note) };
    let mut errors = match visit.check() {
        Ok(()) => ValidationErrors::new(),
        Err(e) => e,
    };
    let account = state.store.account(caller.account_id()).await?;
    let region = Region::parse(&account.default_region).unwrap_or_default();
    let walk_in = match (req.contact_id, req.customer) {
        (Some(_), Some(_)) => {
            errors.push("customer", "give contact_id or customer, not both");
            None
        }
        (None, None) => {
            errors.push("contact_id", "name the customer: contact_id, or customer with an e-mail address or phone number");
            None
        }
        (Some(_), None) => None,
        (None, Some(c)) => {
            let (name, email, phone) = (blank(c.name), blank(c.email), blank(c.phone));
            if let Some(n) = &name {
                threadline_domain::validation::bounded_text(n, "customer.name", threadline_domain::contact::MAX_NAME_CHARS, &mut errors);
            }
            if let Some(e) = &email
                && NormalizedIdentity::parse(IdentityKind::Email, e, region).is_err()
            {
                errors.push("customer.email", "is not an e-mail address");
            }
            if let Some(p) = &phone
                && NormalizedIdentity::parse(IdentityKind::Phone, p, region).is_err()
            {
                errors.push("customer.phone", "is not a phone number");
            }
            if email.is_none() && phone.is_none() {
                errors.push("customer", "needs an e-mail address or a phone number");
            }
            Some(OrderCustomer { email, phone, name, reference: None, postcode: None })
        }
    };
    errors.into_result(())?;
    let contact_id = match (req.contact_id, walk_in) {
        (Some(id), _) => id,
        (None, Some(customer)) => state.store.customer_by_identities(caller.account_id(), &customer, region).await?,
        (None, None) => return Err(ApiError::invalid("contact_id", "name the customer")),
    };
    let language = req.language.as_deref().or(caller.user.language.as_deref()).unwrap_or("en");
    let mut data = serde_json::to_value(&visit).map_err(|e| ApiError::Internal(e.into()))?;
    data["recorded_by"] = serde_json::json!({ "id": caller.user.id, "name": caller.user.name });
    let new = NewInteraction {
        kind: InteractionKind::ShopVisit,
        conversation_id: None,
        summary: Some(visit.summary(language)),
        data,
        occurred_at: None,
    };
    let interaction = state.store.record_interaction(caller.account_id(), contact_id, new).await?;
    Ok((StatusCode::CREATED, Json(interaction)))
}
