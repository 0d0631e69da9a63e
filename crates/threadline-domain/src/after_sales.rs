//! After the purchase: returns, exchanges and warranty claims. Each
//! request is a conversation with the customer (so it is answered, routed
//! and measured like any other) and a status that moves along one
//! workflow:
//!
//! ```text
//! requested → approved → label_sent → received → refunded | replaced
//!     ↘ rejected   ↘ rejected                  ↘ rejected
//! ```
//!
//! A return ends refunded, an exchange or a warranty claim replaced (or
//! refunded, when there is nothing to replace it with); any request may be
//! rejected until it is settled. At every step the customer is told, on
//! their channel, in their language ([`notice`]).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::conversation::string_enum;
use crate::ids::{AfterSalesId, ContactId, ConversationId, OrderId};

string_enum! {
    /// What the customer asks for.
    RequestKind {
        Return => "return",
        Exchange => "exchange",
        /// A fault under warranty: repair or replace.
        Warranty => "warranty",
    }
}

string_enum! {
    RequestStatus {
        Requested => "requested",
        Approved => "approved",
        /// The return label (or the courier's pickup) was sent.
        LabelSent => "label_sent",
        /// The item is back at the shop.
        Received => "received",
        Refunded => "refunded",
        Replaced => "replaced",
        Rejected => "rejected",
    }
}

impl RequestStatus {
    /// Settled: nothing more happens to the request.
    pub fn is_final(self) -> bool {
        matches!(self, RequestStatus::Refunded | RequestStatus::Replaced | RequestStatus::Rejected)
    }
}

/// The statuses a request of `kind` may move to from `from`.
pub fn next_statuses(kind: RequestKind, from: RequestStatus) -> Vec<RequestStatus> {
    use RequestStatus::*;
    match from {
        Requested => vec![Approved, Rejected],
        Approved => vec![LabelSent, Received, Rejected],
        LabelSent => vec![Received, Rejected],
        Received => match kind {
            RequestKind::Return => vec![Refunded, Rejected],
            RequestKind::Exchange | RequestKind::Warranty => vec![Replaced, Refunded, Rejected],
        },
        Refunded | Replaced | Rejected => Vec::new(),
    }
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    #[error("the request is already {0}: nothing more can happen to it")]
    Settled(RequestStatus),
    #[error("a {kind} request cannot go from {from} to {to}; it can go to: {allowed}")]
    NotAllowed { kind: RequestKind, from: RequestStatus, to: RequestStatus, allowed: String },
}

/// Checks a move along the workflow.
pub fn check_move(kind: RequestKind, from: RequestStatus, to: RequestStatus) -> Result<(), MoveError> {
    if from.is_final() {
        return Err(MoveError::Settled(from));
    }
    let allowed = next_statuses(kind, from);
    if allowed.contains(&to) {
        Ok(())
    } else {
        let allowed = allowed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        Err(MoveError::NotAllowed { kind, from, to, allowed })
    }
}

/// A request's name for the customer: "Your return request for order
/// #1001" (an e-mail's subject, a notice's start).
pub fn subject(kind: RequestKind, order: Option<&str>, language: Option<&str>) -> String {
    let italian = language.is_some_and(|l| l.starts_with("it"));
    let what = match (kind, italian) {
        (RequestKind::Return, false) => "return",
        (RequestKind::Return, true) => "reso",
        (RequestKind::Exchange, false) => "exchange",
        (RequestKind::Exchange, true) => "cambio",
        (RequestKind::Warranty, false) => "warranty",
        (RequestKind::Warranty, true) => "garanzia",
    };
    match (order, italian) {
        (Some(o), false) => format!("Your {what} request for order {o}"),
        (Some(o), true) => format!("La tua richiesta di {what} per l'ordine {o}"),
        (None, false) => format!("Your {what} request"),
        (None, true) => format!("La tua richiesta di {what}"),
    }
}

/// What the customer is told when their request reaches `status`, in
/// Italian or English. `order` is the order's number, when the request
/// names one; `note` is what the agent added for the customer.
pub fn notice(kind: RequestKind, status: RequestStatus, order: Option<&str>, note: Option<&str>, language: Option<&str>) -> String {
    let italian = language.is_some_and(|l| l.starts_with("it"));
    let subject = subject(kind, order, language);
    let state = match (status, italian) {
        (RequestStatus::Requested, false) => "has reached us: we will let you know here as soon as it is approved.",
        (RequestStatus::Requested, true) => "ci è arrivata: ti scriveremo qui appena sarà approvata.",
        (RequestStatus::Approved, false) => "is approved. The next step is on its way.",
        (RequestStatus::Approved, true) => "è stata approvata. Il prossimo passo è in arrivo.",
        (RequestStatus::LabelSent, false) => "is ready to ship back: we have sent you the return label.",
        (RequestStatus::LabelSent, true) => "è pronta per la spedizione: ti abbiamo inviato l'etichetta di reso.",
        (RequestStatus::Received, false) => "has arrived back with us: we are checking it now.",
        (RequestStatus::Received, true) => "è tornata da noi: la stiamo controllando.",
        (RequestStatus::Refunded, false) => "is settled: we have issued your refund.",
        (RequestStatus::Refunded, true) => "è conclusa: abbiamo emesso il rimborso.",
        (RequestStatus::Replaced, false) => "is settled: your replacement is on its way.",
        (RequestStatus::Replaced, true) => "è conclusa: la sostituzione è in viaggio.",
        (RequestStatus::Rejected, false) => "could not be accepted.",
        (RequestStatus::Rejected, true) => "non è stata accettata.",
    };
    let mut text = format!("{subject} {state}");
    if let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) {
        text.push(' ');
        text.push_str(note);
    }
    text
}

/// A return, exchange or warranty claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AfterSalesRequest {
    pub id: AfterSalesId,
    pub contact_id: ContactId,
    /// The conversation it is handled in.
    pub conversation_id: ConversationId,
    pub order_id: Option<OrderId>,
    /// The order's number, as the customer knows it.
    pub order_number: Option<String>,
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestStatus::*;

    #[test]
    fn a_return_moves_along_its_workflow_and_stops_when_settled() {
        assert!(check_move(RequestKind::Return, Requested, Approved).is_ok());
        assert!(check_move(RequestKind::Return, Approved, LabelSent).is_ok());
        assert!(check_move(RequestKind::Return, LabelSent, Received).is_ok());
        assert!(check_move(RequestKind::Return, Received, Refunded).is_ok());
        assert_eq!(check_move(RequestKind::Return, Refunded, Rejected), Err(MoveError::Settled(Refunded)));
        // A return is refunded, not replaced; nothing skips approval.
        let refused = check_move(RequestKind::Return, Received, Replaced).unwrap_err();
        assert_eq!(refused.to_string(), "a return request cannot go from received to replaced; it can go to: refunded, rejected");
        assert!(check_move(RequestKind::Exchange, Requested, Received).is_err());
        assert!(check_move(RequestKind::Exchange, Received, Replaced).is_ok());
        assert!(check_move(RequestKind::Warranty, Requested, Rejected).is_ok());
        assert!(next_statuses(RequestKind::Warranty, Rejected).is_empty());
    }

    #[test]
    fn the_customer_is_told_each_step_in_their_language() {
        assert_eq!(
            notice(RequestKind::Return, LabelSent, Some("#1001"), None, Some("it")),
            "La tua richiesta di reso per l'ordine #1001 è pronta per la spedizione: ti abbiamo inviato l'etichetta di reso."
        );
        assert_eq!(
            notice(RequestKind::Warranty, Rejected, None, Some("The damage is not covered by the warranty."), Some("en-GB")),
            "Your warranty request could not be accepted. The damage is not covered by the warranty."
        );
    }
}
