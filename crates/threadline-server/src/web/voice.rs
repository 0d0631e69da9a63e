//! The call button of a conversation's customer panel: click-to-call
//! through a voice inbox (`POST /api/v1/conversations/{id}/calls`, the
//! agent's phone rings first), or — for an agent who has not said where
//! they answer calls — the form that sets it (`PUT /api/v1/me/phone`).

use threadline_domain::channel::Channel;
use threadline_domain::contact::Contact;
use threadline_domain::identity::IdentityKind;
use threadline_store::{Inbox, User};

use super::i18n::Lang;

pub struct CallTexts {
    pub call: &'static str,
    pub ringing: &'static str,
    pub rings_on: &'static str,
    pub your_phone: &'static str,
    pub save: &'static str,
}

const EN: CallTexts = CallTexts {
    call: "Call",
    ringing: "Your phone is ringing: answer it, and the customer is called.",
    rings_on: "Your phone rings first:",
    your_phone: "The number you answer calls on",
    save: "Save",
};

const IT: CallTexts = CallTexts {
    call: "Chiama",
    ringing: "Squilla il tuo telefono: rispondi e chiamiamo il cliente.",
    rings_on: "Squilla prima il tuo telefono:",
    your_phone: "Il numero su cui rispondi alle chiamate",
    save: "Salva",
};

/// What the panel shows.
pub struct CallBox {
    pub t: &'static CallTexts,
    /// The customer's number.
    pub number: String,
    /// The agent's own, if set.
    pub mine: Option<String>,
}

/// The call box, when the account has a voice inbox to call through and
/// the customer a phone number.
pub fn call_box(lang: Lang, inboxes: &[Inbox], contact: &Contact, user: &User) -> Option<CallBox> {
    if !inboxes.iter().any(|i| i.channel == Channel::Voice && crate::channels::provider_connected(i)) {
        return None;
    }
    let number = contact.identities.iter().find(|i| matches!(i.kind, IdentityKind::Phone | IdentityKind::Whatsapp))?.value.clone();
    let t = match lang {
        Lang::En => &EN,
        Lang::It => &IT,
    };
    Some(CallBox { t, number, mine: user.phone.clone() })
}
