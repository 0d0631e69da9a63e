//! The in-store page, for shop staff on a tablet: find the customer by
//! phone or e-mail (or add them with the visit), see who they are — their
//! latest orders and earlier visits — and record what brought them in. The
//! visit joins the customer's timeline, beside their messages and orders.
//! The form posts to `/api/v1/store-visits` like every workspace form.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use threadline_domain::ids::ContactId;
use threadline_domain::interaction::{InteractionKind, StoreVisitKind};
use threadline_domain::timeline::{TimelineEntry, TimelineFilter};
use threadline_store::ContactQuery;

use super::i18n::{Lang, Texts};
use super::{Top, page, signed_in, user_lang};
use crate::app::AppState;
use crate::error::ApiError;

/// The words of the in-store page.
pub struct StoreTexts {
    pub title: &'static str,
    pub find: &'static str,
    pub find_hint: &'static str,
    pub search: &'static str,
    pub no_match: &'static str,
    pub choose: &'static str,
    pub new_customer: &'static str,
    pub record: &'static str,
    pub what: &'static str,
    pub store: &'static str,
    pub order_number: &'static str,
    pub note: &'static str,
    pub orders: &'static str,
    pub visits: &'static str,
    pub none: &'static str,
    pub other_customer: &'static str,
    pub kinds: [(StoreVisitKind, &'static str); 5],
}

const EN: StoreTexts = StoreTexts {
    title: "In store",
    find: "Find the customer",
    find_hint: "Phone number, e-mail address or name",
    search: "Search",
    no_match: "Nobody matches. Record the visit below with their phone number or e-mail address: they are added.",
    choose: "Record a visit",
    new_customer: "A customer not found above",
    record: "Record",
    what: "What brought them in",
    store: "Shop",
    order_number: "Order (for a return or exchange)",
    note: "Note",
    orders: "Latest orders",
    visits: "Earlier visits",
    none: "None yet.",
    other_customer: "Another customer",
    kinds: [
        (StoreVisitKind::Visit, "A visit"),
        (StoreVisitKind::Purchase, "A purchase"),
        (StoreVisitKind::Return, "A return"),
        (StoreVisitKind::Exchange, "An exchange"),
        (StoreVisitKind::Repair, "A repair or warranty"),
    ],
};

const IT: StoreTexts = StoreTexts {
    title: "In negozio",
    find: "Trova il cliente",
    find_hint: "Telefono, e-mail o nome",
    search: "Cerca",
    no_match: "Nessun risultato. Registra la visita qui sotto con il suo telefono o e-mail: verrà aggiunto.",
    choose: "Registra una visita",
    new_customer: "Un cliente non trovato sopra",
    record: "Registra",
    what: "Perché è venuto",
    store: "Negozio",
    order_number: "Ordine (per un reso o un cambio)",
    note: "Nota",
    orders: "Ultimi ordini",
    visits: "Visite precedenti",
    none: "Ancora nessuna.",
    other_customer: "Un altro cliente",
    kinds: [
        (StoreVisitKind::Visit, "Una visita"),
        (StoreVisitKind::Purchase, "Un acquisto"),
        (StoreVisitKind::Return, "Un reso"),
        (StoreVisitKind::Exchange, "Un cambio"),
        (StoreVisitKind::Repair, "Una riparazione o garanzia"),
    ],
};

pub fn texts(lang: Lang) -> &'static StoreTexts {
    match lang {
        Lang::En => &EN,
        Lang::It => &IT,
    }
}

#[derive(Debug, Deserialize)]
pub struct Params {
    q: Option<String>,
    contact: Option<String>,
}

struct Found {
    id: ContactId,
    name: String,
    identities: String,
}

struct Chosen {
    id: ContactId,
    name: String,
    identities: String,
    /// (number, status, when placed)
    orders: Vec<(String, &'static str, String)>,
    /// (what, when)
    visits: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "store.html")]
struct StorePage<'a> {
    t: &'a Texts,
    lang: &'a str,
    top: Top<'a>,
    s: &'static StoreTexts,
    q: String,
    searched: bool,
    found: Vec<Found>,
    chosen: Option<Chosen>,
}

fn identities(contact: &threadline_domain::contact::Contact) -> String {
    contact
        .identities
        .iter()
        .filter(|i| matches!(i.kind, threadline_domain::IdentityKind::Email | threadline_domain::IdentityKind::Phone))
        .map(|i| i.value.as_str())
        .collect::<Vec<_>>()
        .join(" · ")
}

pub async fn store_page(State(state): State<AppState>, headers: HeaderMap, Query(p): Query<Params>) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let lang = user_lang(&session, &headers);
    let account_id = session.user.account_id;
    let now = state.clock.now();
    let q = p.q.as_deref().map(str::trim).unwrap_or("").chars().take(200).collect::<String>();
    let loaded = async {
        let found = if q.is_empty() {
            Vec::new()
        } else {
            state.store.contacts(account_id, &ContactQuery { search: Some(q.clone()), after: None, limit: 10 }).await?
        };
        let chosen = match p.contact.as_deref().and_then(|c| c.parse::<ContactId>().ok()) {
            None => None,
            Some(id) => {
                let contact = state.store.contact(account_id, id).await?;
                let orders = state.store.contact_orders(account_id, contact.id, 5).await?;
                let filter = TimelineFilter { messages: false, events: false, ..TimelineFilter::default() };
                let history = state.store.timeline(account_id, contact.id, None, 50, &filter).await?;
                Some((contact, orders, history.entries))
            }
        };
        Ok::<_, threadline_store::StoreError>((found, chosen))
    }
    .await;
    let (found, chosen) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let unknown = lang.texts().unknown_contact;
    page(&StorePage {
        t: lang.texts(),
        lang: lang.code(),
        top: Top::of(&session, lang),
        s: texts(lang),
        searched: !q.is_empty(),
        q,
        found: found
            .iter()
            .map(|c| Found { id: c.id, name: c.name.clone().unwrap_or_else(|| unknown.to_owned()), identities: identities(c) })
            .collect(),
        chosen: chosen.map(|(contact, orders, history)| Chosen {
            id: contact.id,
            name: contact.name.clone().unwrap_or_else(|| unknown.to_owned()),
            identities: identities(&contact),
            orders: orders
                .iter()
                .map(|o| {
                    (
                        o.facts.number.clone(),
                        threadline_domain::order::status_label(o.facts.status, lang.code()),
                        lang.ago(o.facts.placed_at, now),
                    )
                })
                .collect(),
            visits: history
                .iter()
                .filter_map(|e| match e {
                    TimelineEntry::Interaction(i) if i.kind == InteractionKind::ShopVisit => {
                        Some((i.summary.clone().unwrap_or_default(), lang.ago(i.occurred_at, now)))
                    }
                    _ => None,
                })
                .take(5)
                .collect(),
        }),
    })
}
