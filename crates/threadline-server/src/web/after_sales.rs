//! Returns, exchanges and warranty claims in the workspace: on a
//! request's conversation, its status and the moves the workflow allows
//! (with a note for the customer); in the customer panel, a form to open
//! one for one of their orders. Both post to `/api/v1/after-sales`.

use threadline_domain::after_sales::{RequestKind, RequestStatus, next_statuses};
use threadline_store::AfterSalesRequest;

use super::i18n::Lang;

/// The words of the after-sales parts of the conversation page.
pub struct AfterSalesTexts {
    pub open: &'static str,
    pub reason: &'static str,
    pub order: &'static str,
    pub no_order: &'static str,
    pub move_to: &'static str,
    pub note_for_customer: &'static str,
    pub apply: &'static str,
    pub settled: &'static str,
    pub kinds: [(RequestKind, &'static str); 3],
}

const EN: AfterSalesTexts = AfterSalesTexts {
    open: "Open a return, exchange or warranty request",
    reason: "Reason, in the customer's words",
    order: "Order",
    no_order: "No order",
    move_to: "Move to",
    note_for_customer: "Note for the customer (optional)",
    apply: "Move",
    settled: "Settled",
    kinds: [(RequestKind::Return, "Return"), (RequestKind::Exchange, "Exchange"), (RequestKind::Warranty, "Warranty")],
};

const IT: AfterSalesTexts = AfterSalesTexts {
    open: "Apri un reso, un cambio o una garanzia",
    reason: "Motivo, con le parole del cliente",
    order: "Ordine",
    no_order: "Nessun ordine",
    move_to: "Porta a",
    note_for_customer: "Nota per il cliente (facoltativa)",
    apply: "Aggiorna",
    settled: "Conclusa",
    kinds: [(RequestKind::Return, "Reso"), (RequestKind::Exchange, "Cambio"), (RequestKind::Warranty, "Garanzia")],
};

pub fn texts(lang: Lang) -> &'static AfterSalesTexts {
    match lang {
        Lang::En => &EN,
        Lang::It => &IT,
    }
}

/// A status as staff read it.
pub fn status_label(status: RequestStatus, lang: Lang) -> &'static str {
    match (status, lang) {
        (RequestStatus::Requested, Lang::En) => "requested",
        (RequestStatus::Requested, Lang::It) => "richiesta",
        (RequestStatus::Approved, Lang::En) => "approved",
        (RequestStatus::Approved, Lang::It) => "approvata",
        (RequestStatus::LabelSent, Lang::En) => "label sent",
        (RequestStatus::LabelSent, Lang::It) => "etichetta inviata",
        (RequestStatus::Received, Lang::En) => "received",
        (RequestStatus::Received, Lang::It) => "ricevuta",
        (RequestStatus::Refunded, Lang::En) => "refunded",
        (RequestStatus::Refunded, Lang::It) => "rimborsata",
        (RequestStatus::Replaced, Lang::En) => "replaced",
        (RequestStatus::Replaced, Lang::It) => "sostituita",
        (RequestStatus::Rejected, Lang::En) => "rejected",
        (RequestStatus::Rejected, Lang::It) => "respinta",
    }
}

/// A request on its conversation's page.
pub struct RequestBox {
    pub id: String,
    /// "Return · order #1001"
    pub title: String,
    pub status: &'static str,
    pub status_code: &'static str,
    pub reason: String,
    /// The moves allowed now: (status, label).
    pub moves: Vec<(&'static str, &'static str)>,
}

pub fn request_box(request: &AfterSalesRequest, lang: Lang) -> RequestBox {
    let t = texts(lang);
    let kind = t.kinds.iter().find(|(k, _)| *k == request.kind).map_or("", |(_, l)| *l);
    let title = match &request.order_number {
        Some(n) => format!("{kind} · {} {n}", t.order.to_lowercase()),
        None => kind.to_owned(),
    };
    RequestBox {
        id: request.id.to_string(),
        title,
        status: status_label(request.status, lang),
        status_code: request.status.as_str(),
        reason: request.reason.clone(),
        moves: next_statuses(request.kind, request.status).into_iter().map(|s| (s.as_str(), status_label(s, lang))).collect(),
    }
}
