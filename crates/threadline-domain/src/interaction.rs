//! Interactions that are not messages: a phone call, a shop visit, an order, a
//! page view, a survey answer. They sit in the contact's timeline beside the
//! messages, so whoever answers sees the whole relationship.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::conversation::string_enum;
use crate::ids::{ContactId, ConversationId, InteractionId};

string_enum! {
    InteractionKind {
        Call => "call",
        ShopVisit => "shop_visit",
        Order => "order",
        PageView => "page_view",
        AppEvent => "app_event",
        SurveyAnswer => "survey_answer",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Interaction {
    pub id: InteractionId,
    pub contact_id: ContactId,
    pub conversation_id: Option<ConversationId>,
    pub kind: InteractionKind,
    /// A one-line human summary ("Order #1042, €89.90").
    pub summary: Option<String>,
    /// Whatever the source recorded: order lines, call duration, page URL…
    pub data: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
}

string_enum! {
    /// What brought a customer into a physical shop, as staff record it.
    StoreVisitKind {
        Visit => "visit",
        Purchase => "purchase",
        Return => "return",
        Exchange => "exchange",
        /// Brought in for a repair or under warranty.
        Repair => "repair",
    }
}

/// A customer's visit to a shop, recorded by its staff (the in-store page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreVisit {
    pub kind: StoreVisitKind,
    /// Which shop, e.g. "Milano Centro".
    pub store: String,
    /// The order it is about (a return, an exchange), as the customer knows it.
    #[serde(default)]
    pub order_number: Option<String>,
    /// What happened, in the staff's words.
    #[serde(default)]
    pub note: Option<String>,
}

impl StoreVisit {
    /// Checks the fields, naming each bad one.
    pub fn check(&self) -> Result<(), crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::new();
        crate::validation::bounded_text(&self.store, "store", 100, &mut errors);
        for (value, field, max) in [(&self.order_number, "order_number", 100), (&self.note, "note", 1000)] {
            if let Some(text) = value.as_deref().filter(|t| !t.trim().is_empty()) {
                crate::validation::bounded_text(text, field, max, &mut errors);
            }
        }
        errors.into_result(())
    }

    /// The timeline's line for it, in Italian or English: "In-store return
    /// at Milano Centro, order #1001: wrong size".
    pub fn summary(&self, language: &str) -> String {
        let italian = language.starts_with("it");
        let what = match (self.kind, italian) {
            (StoreVisitKind::Visit, false) => "Shop visit",
            (StoreVisitKind::Visit, true) => "Visita in negozio",
            (StoreVisitKind::Purchase, false) => "In-store purchase",
            (StoreVisitKind::Purchase, true) => "Acquisto in negozio",
            (StoreVisitKind::Return, false) => "In-store return",
            (StoreVisitKind::Return, true) => "Reso in negozio",
            (StoreVisitKind::Exchange, false) => "In-store exchange",
            (StoreVisitKind::Exchange, true) => "Cambio in negozio",
            (StoreVisitKind::Repair, false) => "Brought in for repair",
            (StoreVisitKind::Repair, true) => "Portato in negozio per riparazione",
        };
        let at = if italian { "a" } else { "at" };
        let mut line = format!("{what} {at} {}", self.store.trim());
        if let Some(order) = self.order_number.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
            line.push_str(if italian { ", ordine " } else { ", order " });
            line.push_str(order);
        }
        if let Some(note) = self.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            line.push_str(": ");
            line.push_str(note);
        }
        crate::text::clip(&line, 500).to_owned()
    }
}

#[cfg(test)]
mod store_visit_tests {
    use super::*;

    #[test]
    fn a_visit_reads_as_one_line_in_the_staffs_language() {
        let visit = StoreVisit {
            kind: StoreVisitKind::Return,
            store: " Milano Centro ".into(),
            order_number: Some("#1001".into()),
            note: Some("taglia sbagliata".into()),
        };
        assert_eq!(visit.summary("it"), "Reso in negozio a Milano Centro, ordine #1001: taglia sbagliata");
        assert_eq!(visit.summary("en"), "In-store return at Milano Centro, order #1001: taglia sbagliata");
        let plain = StoreVisit { kind: StoreVisitKind::Visit, store: "Brera".into(), order_number: Some(" ".into()), note: None };
        assert_eq!(plain.summary("en"), "Shop visit at Brera");
        assert!(plain.check().is_ok());
        let nameless = StoreVisit { store: "  ".into(), ..plain };
        assert_eq!(nameless.check().unwrap_err().0[0].field, "store");
    }
}
