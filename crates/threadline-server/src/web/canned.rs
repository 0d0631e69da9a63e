//! A canned response on every channel, side by side (`/canned/{id}`): the
//! email as it is sent (HTML under the inbox's signature), the SMS with
//! the segments it costs, WhatsApp inside and outside the 24 hours (its
//! mapped template), chat and Telegram — for a conversation's customer
//! (`?conversation=`) or for anyone, in each of its languages.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use threadline_domain::ids::{CannedResponseId, ConversationId};
use threadline_domain::sms::Encoding;

use super::i18n::{Lang, Texts};
use super::{Top, page, signed_in, user_lang};
use crate::app::AppState;
use crate::channels::render::Rendering;
use crate::error::ApiError;

/// The words of the preview page.
pub struct PreviewTexts {
    pub preview: &'static str,
    pub default_language: &'static str,
    pub for_customer: &'static str,
    pub characters: &'static str,
    pub segments: &'static str,
    pub forced_by: &'static str,
    pub inside_window: &'static str,
    pub outside_window: &'static str,
    pub no_template: &'static str,
    pub not_now: &'static str,
}

const EN: PreviewTexts = PreviewTexts {
    preview: "On every channel",
    default_language: "Default",
    for_customer: "For this conversation's customer",
    characters: "characters",
    segments: "SMS",
    forced_by: "UCS-2 because of",
    inside_window: "Within 24 hours of the customer's last message: this text.",
    outside_window: "After 24 hours: the approved template",
    no_template: "After 24 hours nothing can be sent: map an approved template.",
    not_now: "Not now",
};

const IT: PreviewTexts = PreviewTexts {
    preview: "Su ogni canale",
    default_language: "Predefinita",
    for_customer: "Per il cliente di questa conversazione",
    characters: "caratteri",
    segments: "SMS",
    forced_by: "UCS-2 a causa di",
    inside_window: "Entro 24 ore dall'ultimo messaggio del cliente: questo testo.",
    outside_window: "Dopo 24 ore: il modello approvato",
    no_template: "Dopo 24 ore non si può inviare nulla: associate un modello approvato.",
    not_now: "Non ora",
};

pub fn texts(lang: Lang) -> &'static PreviewTexts {
    match lang {
        Lang::En => &EN,
        Lang::It => &IT,
    }
}

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    pub conversation: Option<ConversationId>,
    pub language: Option<String>,
}

#[derive(Template)]
#[template(path = "canned.html")]
struct PreviewPage<'a> {
    l: Lang,
    t: &'a Texts,
    p: &'static PreviewTexts,
    lang: &'a str,
    top: Top<'a>,
    title: String,
    shortcut: String,
    /// (link, label, current)
    languages: Vec<(String, String, bool)>,
    conversation: Option<ConversationId>,
    rendering: Rendering,
}

impl PreviewPage<'_> {
    fn channel_name(&self, channel: &threadline_domain::channel::Channel) -> &'static str {
        self.l.channel(*channel)
    }

    fn encoding(&self, e: &Encoding) -> &'static str {
        match e {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }
}

pub async fn preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<CannedResponseId>,
    Query(q): Query<PreviewQuery>,
) -> Response {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return redirect,
    };
    let lang = user_lang(&session, &headers);
    let p = texts(lang);
    let account_id = session.user.account_id;
    let canned = match state.store.canned_response(account_id, id).await {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let language = q.language.as_deref().filter(|l| !l.is_empty());
    let rendering = match crate::api::preview_canned(&state, account_id, &canned, q.conversation, language, &session.user.name).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let base = match q.conversation {
        Some(c) => format!("/canned/{id}?conversation={c}"),
        None => format!("/canned/{id}?"),
    };
    let sep = if q.conversation.is_some() { "&" } else { "" };
    let mut languages = vec![(format!("{base}{sep}language="), p.default_language.to_owned(), rendering.language.is_none())];
    for tag in canned.translations.keys() {
        let current = rendering.language.as_deref() == Some(tag.as_str());
        languages.push((format!("{base}{sep}language={tag}"), tag.clone(), current));
    }
    page(&PreviewPage {
        l: lang,
        t: lang.texts(),
        p,
        lang: lang.code(),
        top: Top::of(&session, lang),
        title: canned.title,
        shortcut: canned.shortcut,
        languages,
        conversation: q.conversation,
        rendering,
    })
}
