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

/// The IVR builder's words.
pub struct IvrTexts {
    pub title: &'static str,
    pub intro: &'static str,
    pub languages: &'static str,
    pub english_first: &'static str,
    pub greeting: &'static str,
    pub menu: &'static str,
    pub key: &'static str,
    pub label: &'static str,
    pub words: &'static str,
    pub team: &'static str,
    pub inbox_queue: &'static str,
    pub add_option: &'static str,
    pub remove: &'static str,
    pub hours: &'static str,
    pub time_zone: &'static str,
    pub openings: &'static str,
    pub openings_hint: &'static str,
    pub closed: &'static str,
    pub hold_music: &'static str,
    pub max_wait: &'static str,
    pub callback: &'static str,
    pub ring: &'static str,
    pub record: &'static str,
    pub save: &'static str,
    pub back: &'static str,
}

const IVR_EN: IvrTexts = IvrTexts {
    title: "Phone menu",
    intro: "What callers hear: the greeting, the language choice (with more than one language), the menu by key or by speech, and which team's queue each choice leads to.",
    languages: "Languages (the first is the default)",
    english_first: "English first",
    greeting: "Greeting",
    menu: "Menu",
    key: "Key",
    label: "What is said",
    words: "Words that choose it (comma-separated)",
    team: "Queue",
    inbox_queue: "This line's queue",
    add_option: "Add an option",
    remove: "Remove",
    hours: "Opening hours (none: always open)",
    time_zone: "Time zone",
    openings: "Openings",
    openings_hint: "One per line: monday 09:00-18:00",
    closed: "When closed (then voicemail)",
    hold_music: "Hold music (address of a recording)",
    max_wait: "Longest wait before voicemail (seconds)",
    callback: "After the longest wait, offer a callback (one key) before voicemail",
    ring: "How long an agent's phone rings before the next agent's (seconds)",
    record: "Record answered calls (say so in the greeting); recordings are kept in the conversation",
    save: "Save the menu",
    back: "Administration",
};

const IVR_IT: IvrTexts = IvrTexts {
    title: "Menu telefonico",
    intro: "Che cosa sente chi chiama: il saluto, la scelta della lingua (con più lingue), il menu a tasti o a voce, e la coda del team a cui porta ogni scelta.",
    languages: "Lingue (la prima è quella predefinita)",
    english_first: "Prima l'inglese",
    greeting: "Saluto",
    menu: "Menu",
    key: "Tasto",
    label: "Che cosa si dice",
    words: "Parole che la scelgono (separate da virgole)",
    team: "Coda",
    inbox_queue: "La coda di questa linea",
    add_option: "Aggiungi una scelta",
    remove: "Togli",
    hours: "Orari (nessuno: sempre aperto)",
    time_zone: "Fuso orario",
    openings: "Aperture",
    openings_hint: "Una per riga: monday 09:00-18:00",
    closed: "Quando è chiuso (poi segreteria)",
    hold_music: "Musica d'attesa (indirizzo di una registrazione)",
    max_wait: "Attesa massima prima della segreteria (secondi)",
    callback: "Dopo l'attesa massima, proponi di essere richiamati (un tasto) prima della segreteria",
    ring: "Quanto squilla il telefono di un operatore prima di passare al successivo (secondi)",
    record: "Registra le chiamate con risposta (dillo nel saluto); le registrazioni restano nella conversazione",
    save: "Salva il menu",
    back: "Amministrazione",
};

pub fn ivr_texts(lang: Lang) -> &'static IvrTexts {
    match lang {
        Lang::En => &IVR_EN,
        Lang::It => &IVR_IT,
    }
}

/// One menu row as the builder shows it.
pub struct OptionRow {
    pub digit: String,
    pub label_it: String,
    pub label_en: String,
    pub words_it: String,
    pub words_en: String,
    pub team_id: String,
}

/// The builder's view of an IVR.
pub struct IvrForm {
    pub italian: bool,
    pub english: bool,
    pub english_first: bool,
    pub greeting_it: String,
    pub greeting_en: String,
    pub closed_it: String,
    pub closed_en: String,
    pub time_zone: String,
    pub openings: String,
    pub hold_music: String,
    pub max_wait: u64,
    pub callback: bool,
    pub ring_secs: u32,
    pub record: bool,
    pub options: Vec<OptionRow>,
}

pub fn ivr_form(ivr: &threadline_domain::voice::Ivr) -> IvrForm {
    let word = |w: &threadline_domain::voice::Words, l: &str| w.get(l).cloned().unwrap_or_default();
    IvrForm {
        italian: ivr.languages.iter().any(|l| l == "it"),
        english: ivr.languages.iter().any(|l| l == "en"),
        english_first: ivr.languages.len() > 1 && ivr.languages.first().is_some_and(|l| l == "en"),
        greeting_it: word(&ivr.greeting, "it"),
        greeting_en: word(&ivr.greeting, "en"),
        closed_it: word(&ivr.closed, "it"),
        closed_en: word(&ivr.closed, "en"),
        time_zone: ivr.hours.as_ref().map(|h| h.time_zone.clone()).unwrap_or_default(),
        openings: ivr
            .hours
            .as_ref()
            .map(|h| h.openings.iter().map(|o| format!("{} {}-{}", o.day, o.open, o.close)).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default(),
        hold_music: ivr.hold_music_url.clone().unwrap_or_default(),
        max_wait: ivr.max_wait_secs,
        callback: ivr.callback,
        record: ivr.record,
        ring_secs: ivr.ring_secs,
        options: ivr
            .menu
            .iter()
            .map(|o| OptionRow {
                digit: o.digit.clone(),
                label_it: word(&o.label, "it"),
                label_en: word(&o.label, "en"),
                words_it: o.words.get("it").map(|w| w.join(", ")).unwrap_or_default(),
                words_en: o.words.get("en").map(|w| w.join(", ")).unwrap_or_default(),
                team_id: o.team_id.map(|t| t.to_string()).unwrap_or_default(),
            })
            .collect(),
    }
}

#[derive(askama::Template)]
#[template(path = "ivr.html")]
struct IvrPage<'a> {
    t: &'a super::i18n::Texts,
    lang: &'a str,
    top: super::Top<'a>,
    v: &'static IvrTexts,
    inbox_id: threadline_domain::ids::InboxId,
    inbox_name: String,
    /// The inbox's other settings, kept as they are when the menu is saved.
    settings: String,
    f: IvrForm,
    teams: Vec<(String, String)>,
}

/// The IVR builder of a voice inbox (administrators): the form saves the
/// inbox's `ivr` setting through `PATCH /api/v1/inboxes/{id}`, its other
/// settings kept; refusals come back field by field.
pub async fn ivr_page(
    axum::extract::State(state): axum::extract::State<crate::app::AppState>,
    headers: axum::http::HeaderMap,
    axum::extract::Path(inbox_id): axum::extract::Path<threadline_domain::ids::InboxId>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let session = match super::signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let lang = super::user_lang(&session, &headers);
    if !session.user.role.allows(threadline_domain::role::Permission::Administer) {
        return (
            axum::http::StatusCode::FORBIDDEN,
            axum::response::Html(format!("<!doctype html><meta charset=utf-8><p>{}</p>", lang.texts().admin_only)),
        )
            .into_response();
    }
    let account_id = session.user.account_id;
    let loaded = async {
        let inbox = state.store.inbox(account_id, inbox_id).await?;
        let account = state.store.account(account_id).await?;
        let teams = state.store.teams(account_id).await?;
        Ok::<_, threadline_store::StoreError>((inbox, account, teams))
    }
    .await;
    let (inbox, account, teams) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    if inbox.channel != Channel::Voice {
        return crate::error::ApiError::NotFound.into_response();
    }
    let ivr = match crate::voice::ivr_of(&inbox, &account) {
        Ok(ivr) => ivr,
        Err(e) => return crate::error::ApiError::Internal(anyhow::anyhow!("the IVR cannot be read: {e}")).into_response(),
    };
    let mut others = inbox.settings.clone();
    others.remove("ivr");
    super::page(&IvrPage {
        t: lang.texts(),
        lang: lang.code(),
        top: super::Top::of(&session, lang),
        v: ivr_texts(lang),
        inbox_id,
        inbox_name: inbox.name.clone(),
        settings: serde_json::Value::Object(others).to_string(),
        f: ivr_form(&ivr),
        teams: teams.into_iter().map(|t| (t.id.to_string(), t.name)).collect(),
    })
}
