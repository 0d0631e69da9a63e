//! The customer portal on the help pages (`/help/{inbox}/account`): a
//! customer signs in with a one-time code sent to their e-mail address or
//! phone (`crate::portal`), sees their orders, requests and conversations,
//! and starts a return, exchange or warranty request with photos — a
//! conversation of its own in the workspace (`crate::after_sales`).
//!
//! Forms work without JavaScript. Before signing in, the forms carry a
//! double-submit token (against signing a victim in as someone else);
//! after, the session's own token. The session cookie is scoped to the
//! help pages of the inbox it was opened on.

use std::net::SocketAddr;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use threadline_domain::after_sales::RequestKind;
use threadline_domain::identity::{IdentityKind, Region};
use threadline_domain::ids::{ConversationId, InboxId, OrderId};
use threadline_domain::message::{Direction, MessageKind};
use threadline_domain::portal::{CodeCheck, MAX_PHOTOS, MAX_REASON_CHARS, check_photo, read_address, typed_code};
use threadline_store::{Account, CodeTry, ConversationQuery, NewAfterSales, PortalSession};

use super::i18n::Lang;
use super::{lang, page};
use crate::app::AppState;
use crate::auth::{constant_time_eq, hash_token, new_token};
use crate::error::ApiError;
use crate::portal::{COOKIE, Sent, code_hash, send_code};

/// The largest request form: its photos and a little more for the words.
pub const MAX_UPLOAD_BYTES: usize = MAX_PHOTOS * threadline_domain::portal::MAX_PHOTO_BYTES + 256 * 1024;

/// The sign-in forms' double-submit token.
const FORM_COOKIE: &str = "threadline_portal_form";

pub struct PortalTexts {
    pub title: &'static str,
    pub intro: &'static str,
    pub address: &'static str,
    pub send_code: &'static str,
    pub code_sent: &'static str,
    pub code: &'static str,
    pub sign_in: &'static str,
    pub another_address: &'static str,
    pub no_code_hint: &'static str,
    pub bad_address: &'static str,
    pub bad_code: &'static str,
    pub wrong_code: &'static str,
    pub no_code: &'static str,
    pub no_way_email: &'static str,
    pub no_way_phone: &'static str,
    pub slow_down: &'static str,
    pub expired_form: &'static str,
    pub hello: &'static str,
    pub sign_out: &'static str,
    pub orders: &'static str,
    pub no_orders: &'static str,
    pub track: &'static str,
    pub requests: &'static str,
    pub conversations: &'static str,
    pub no_conversations: &'static str,
    pub new_request: &'static str,
    pub kind: &'static str,
    pub order: &'static str,
    pub no_order: &'static str,
    pub reason: &'static str,
    pub photos: &'static str,
    pub photos_hint: &'static str,
    pub send_request: &'static str,
    pub received: &'static str,
    pub you: &'static str,
    pub us: &'static str,
    pub back: &'static str,
    pub status_open: &'static str,
    pub status_closed: &'static str,
    pub help: &'static str,
}

const EN: PortalTexts = PortalTexts {
    title: "Your orders and requests",
    intro: "Sign in with the e-mail address or phone number you gave us: we send you a code.",
    address: "E-mail address or phone number",
    send_code: "Send me a code",
    code_sent: "If {address} is one of our customers' addresses, a 6-digit code is on its way to it. It is valid for 10 minutes.",
    code: "Code",
    sign_in: "Sign in",
    another_address: "Use another address",
    no_code_hint: "No code? Check the address and ask again; an address can be sent 3 codes in 15 minutes.",
    bad_address: "Enter an e-mail address or a phone number.",
    bad_code: "The code has 6 digits.",
    wrong_code: "That code is not right. Tries left: {left}.",
    no_code: "That code has expired or was used up. Ask for a new one.",
    no_way_email: "We cannot send codes by e-mail: use your phone number.",
    no_way_phone: "We cannot send codes by text message: use your e-mail address.",
    slow_down: "Too many tries from here. Wait a minute and try again.",
    expired_form: "The page was open too long. Please try again.",
    hello: "Hello",
    sign_out: "Sign out",
    orders: "Your orders",
    no_orders: "No orders yet.",
    track: "Track the parcel",
    requests: "Your returns, exchanges and warranty requests",
    conversations: "Your conversations with us",
    no_conversations: "No conversations yet.",
    new_request: "Start a return, exchange or warranty request",
    kind: "What do you need?",
    order: "Order",
    no_order: "Not about an order",
    reason: "What happened?",
    photos: "Photos",
    photos_hint: "Up to 5 photos (JPEG, PNG, GIF, WebP or HEIC), 10 MB each.",
    send_request: "Send the request",
    received: "We received your request. We will keep you posted on every step.",
    you: "You",
    us: "Us",
    back: "Back to your account",
    status_open: "open",
    status_closed: "closed",
    help: "Help",
};

const IT: PortalTexts = PortalTexts {
    title: "I tuoi ordini e le tue richieste",
    intro: "Accedi con l'indirizzo e-mail o il numero di telefono che ci hai dato: ti inviamo un codice.",
    address: "Indirizzo e-mail o numero di telefono",
    send_code: "Inviami un codice",
    code_sent: "Se {address} è l'indirizzo di un nostro cliente, gli stiamo inviando un codice di 6 cifre. Vale 10 minuti.",
    code: "Codice",
    sign_in: "Accedi",
    another_address: "Usa un altro indirizzo",
    no_code_hint: "Nessun codice? Controlla l'indirizzo e chiedilo di nuovo; a un indirizzo si possono inviare 3 codici in 15 minuti.",
    bad_address: "Scrivi un indirizzo e-mail o un numero di telefono.",
    bad_code: "Il codice ha 6 cifre.",
    wrong_code: "Il codice non è giusto. Tentativi rimasti: {left}.",
    no_code: "Il codice è scaduto o esaurito. Chiedine uno nuovo.",
    no_way_email: "Non possiamo inviare codici per e-mail: usa il tuo numero di telefono.",
    no_way_phone: "Non possiamo inviare codici per SMS: usa il tuo indirizzo e-mail.",
    slow_down: "Troppi tentativi da qui. Aspetta un minuto e riprova.",
    expired_form: "La pagina è rimasta aperta troppo a lungo. Riprova.",
    hello: "Ciao",
    sign_out: "Esci",
    orders: "I tuoi ordini",
    no_orders: "Ancora nessun ordine.",
    track: "Segui il pacco",
    requests: "I tuoi resi, cambi e richieste di garanzia",
    conversations: "Le tue conversazioni con noi",
    no_conversations: "Ancora nessuna conversazione.",
    new_request: "Chiedi un reso, un cambio o la garanzia",
    kind: "Di che cosa hai bisogno?",
    order: "Ordine",
    no_order: "Non riguarda un ordine",
    reason: "Che cosa è successo?",
    photos: "Foto",
    photos_hint: "Fino a 5 foto (JPEG, PNG, GIF, WebP o HEIC), 10 MB ciascuna.",
    send_request: "Invia la richiesta",
    received: "Abbiamo ricevuto la tua richiesta. Ti aggiorneremo a ogni passo.",
    you: "Tu",
    us: "Noi",
    back: "Torna al tuo account",
    status_open: "aperta",
    status_closed: "chiusa",
    help: "Aiuto",
};

fn texts(lang: Lang) -> &'static PortalTexts {
    match lang {
        Lang::En => &EN,
        Lang::It => &IT,
    }
}

/// The request kinds as a customer reads them.
fn kinds(lang: Lang) -> [(&'static str, &'static str); 3] {
    match lang {
        Lang::En => [("return", "A return"), ("exchange", "An exchange"), ("warranty", "A repair or replacement under warranty")],
        Lang::It => [("return", "Un reso"), ("exchange", "Un cambio"), ("warranty", "Una riparazione o sostituzione in garanzia")],
    }
}

#[derive(Template)]
#[template(path = "portal_sign_in.html")]
struct SignInPage<'a> {
    p: &'a PortalTexts,
    lang: &'a str,
    account: String,
    inbox_id: InboxId,
    form_token: String,
    /// Set once a code was asked for: the code step.
    address: Option<String>,
    error: Option<String>,
}

struct OrderView {
    id: String,
    number: String,
    placed: String,
    status: &'static str,
    total: String,
    items: String,
    tracking: Option<String>,
}

struct RequestView {
    title: String,
    status: &'static str,
    conversation: String,
    opened: String,
}

struct ConversationView {
    id: String,
    preview: String,
    open: bool,
    when: String,
}

#[derive(Template)]
#[template(path = "portal.html")]
struct HomePage<'a> {
    p: &'a PortalTexts,
    lang: &'a str,
    account: String,
    inbox_id: InboxId,
    csrf: String,
    name: String,
    orders: Vec<OrderView>,
    requests: Vec<RequestView>,
    conversations: Vec<ConversationView>,
    kinds: [(&'static str, &'static str); 3],
    notice: Option<&'static str>,
    error: Option<String>,
    /// What the form held, when it comes back with an error.
    reason: String,
}

struct MessageView {
    mine: bool,
    text: String,
    when: String,
    files: Vec<String>,
}

#[derive(Template)]
#[template(path = "portal_conversation.html")]
struct ConversationPage<'a> {
    p: &'a PortalTexts,
    lang: &'a str,
    account: String,
    inbox_id: InboxId,
    messages: Vec<MessageView>,
}

/// The session a request's cookie names, for this inbox's account.
async fn session(state: &AppState, account: &Account, headers: &HeaderMap) -> Result<Option<PortalSession>, ApiError> {
    let Some(token) = crate::auth::cookie(headers, COOKIE) else { return Ok(None) };
    Ok(state.store.portal_session(account.id, &hash_token(&token), state.clock.now()).await?)
}

fn secure(state: &AppState) -> &'static str {
    if state.settings.effective_public_url().starts_with("https://") { "; Secure" } else { "" }
}

fn with_cookie(mut response: Response, cookie: String) -> Response {
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn sign_in_page(
    state: &AppState,
    lang: Lang,
    account: &Account,
    inbox_id: InboxId,
    address: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let form_token = new_token("");
    let mut response = page(&SignInPage {
        p: texts(lang),
        lang: lang.code(),
        account: account.name.clone(),
        inbox_id,
        form_token: form_token.clone(),
        address,
        error,
    });
    *response.status_mut() = status;
    let cookie =
        format!("{FORM_COOKIE}={form_token}; Path=/help/{inbox_id}/account; HttpOnly; SameSite=Strict; Max-Age=3600{}", secure(state));
    with_cookie(response, cookie)
}

#[derive(Deserialize)]
pub struct HomeQuery {
    #[serde(default)]
    received: Option<String>,
}

/// The portal: the sign-in form, or the signed-in customer's page.
pub async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(inbox_id): Path<InboxId>,
    Query(q): Query<HomeQuery>,
) -> Response {
    let lang = lang(&headers);
    let Ok((_, account)) = state.inbox_by_id(inbox_id).await else { return ApiError::NotFound.into_response() };
    match session(&state, &account, &headers).await {
        Ok(Some(session)) => {
            let notice = q.received.is_some().then_some(texts(lang).received);
            home_page(&state, lang, &account, inbox_id, &session, notice, None, String::new()).await
        }
        Ok(None) => sign_in_page(&state, lang, &account, inbox_id, None, None, StatusCode::OK),
        Err(e) => e.into_response(),
    }
}

#[allow(clippy::too_many_arguments)]
async fn home_page(
    state: &AppState,
    lang: Lang,
    account: &Account,
    inbox_id: InboxId,
    session: &PortalSession,
    notice: Option<&'static str>,
    error: Option<String>,
    reason: String,
) -> Response {
    let now = state.clock.now();
    let loaded = async {
        let contact = state.store.contact(account.id, session.contact_id).await?;
        let orders = state.store.contact_orders(account.id, contact.id, 20).await?;
        let requests = state.store.after_sales_requests(account.id, None, Some(contact.id), 20).await?;
        let query = ConversationQuery { contact_id: Some(contact.id), limit: 20, ..Default::default() };
        let conversations = state.store.conversations(account.id, &query).await?;
        let ids: Vec<ConversationId> = conversations.iter().map(|c| c.id).collect();
        let summaries = state.store.conversation_summaries(account.id, &ids).await?;
        Ok::<_, threadline_store::StoreError>((contact, orders, requests, conversations, summaries))
    }
    .await;
    let (contact, orders, requests, conversations, summaries) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let p = texts(lang);
    let orders = orders
        .into_iter()
        .map(|o| {
            let f = o.facts;
            let tracking = f
                .shipments
                .iter()
                .rev()
                .find_map(|s| s.tracking_url.clone())
                .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
            OrderView {
                id: o.id.to_string(),
                number: f.number,
                placed: lang.datetime(f.placed_at),
                status: threadline_domain::order::status_label(f.status, lang.code()),
                total: format!("{} {}", f.total, f.currency),
                items: f.items.iter().map(|i| format!("{} × {}", i.quantity, i.name)).collect::<Vec<_>>().join(", "),
                tracking,
            }
        })
        .collect();
    let requests = requests
        .iter()
        .map(|r| {
            let b = super::after_sales::request_box(r, lang);
            RequestView {
                title: b.title,
                status: b.status,
                conversation: r.conversation_id.to_string(),
                opened: lang.datetime(r.created_at),
            }
        })
        .collect();
    let conversations = conversations
        .iter()
        .map(|c| {
            let preview = summaries.get(&c.id).and_then(|s| s.last_text.clone()).unwrap_or_default();
            ConversationView {
                id: c.id.to_string(),
                preview: threadline_domain::text::clip(&preview, 120).to_owned(),
                open: c.status != threadline_domain::conversation::ConversationStatus::Resolved,
                when: lang.ago(c.last_activity_at, now),
            }
        })
        .collect();
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut response = page(&HomePage {
        p,
        lang: lang.code(),
        account: account.name.clone(),
        inbox_id,
        csrf: session.csrf_token.clone(),
        name: contact.name.unwrap_or_default(),
        orders,
        requests,
        conversations,
        kinds: kinds(lang),
        notice,
        error,
        reason,
    });
    *response.status_mut() = status;
    response
}

#[derive(Deserialize)]
pub struct CodeForm {
    address: String,
    form_token: String,
    /// Present on the code step.
    #[serde(default)]
    code: Option<String>,
}

/// What a sign-in form must pass before anything is looked up: the token
/// its cookie holds, and the client address's budget. Why not, as the page
/// says it.
fn sign_in_gate(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<&ConnectInfo<SocketAddr>>,
    sent: &str,
    p: &PortalTexts,
) -> Result<(), (&'static str, StatusCode)> {
    let cookie = crate::auth::cookie(headers, FORM_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !constant_time_eq(cookie.as_bytes(), sent.as_bytes()) {
        return Err((p.expired_form, StatusCode::FORBIDDEN));
    }
    match crate::rate_limit::client_ip(&state.settings, headers, peer) {
        Some(ip) if state.portal_limiter.check(ip).is_err() => Err((p.slow_down, StatusCode::TOO_MANY_REQUESTS)),
        _ => Ok(()),
    }
}

fn region(account: &Account) -> Region {
    Region::parse(&account.default_region).unwrap_or_default()
}

/// Asks for a code: the code step follows, whether or not the address is known.
pub async fn ask_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Path(inbox_id): Path<InboxId>,
    Form(form): Form<CodeForm>,
) -> Response {
    let lang = lang(&headers);
    let p = texts(lang);
    let Ok((_, account)) = state.inbox_by_id(inbox_id).await else { return ApiError::NotFound.into_response() };
    let again = |error: &str, status| sign_in_page(&state, lang, &account, inbox_id, None, Some(error.to_owned()), status);
    if let Err((error, status)) = sign_in_gate(&state, &headers, peer.as_deref(), &form.form_token, p) {
        return again(error, status);
    }
    let Some(identity) = read_address(&form.address, region(&account)) else {
        return again(p.bad_address, StatusCode::UNPROCESSABLE_ENTITY);
    };
    match send_code(&state, &account, &identity, lang.code()).await {
        Sent::NoWay => {
            let error = if identity.kind == IdentityKind::Email { p.no_way_email } else { p.no_way_phone };
            again(error, StatusCode::UNPROCESSABLE_ENTITY)
        }
        // Unknown, sent, too many or failed look the same from outside:
        // nobody learns here whose address this is.
        Sent::AsFarAsTold | Sent::TooMany | Sent::Failed(_) => {
            sign_in_page(&state, lang, &account, inbox_id, Some(identity.value), None, StatusCode::OK)
        }
    }
}

/// Tries a code; a right one signs the customer in.
pub async fn verify_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Path(inbox_id): Path<InboxId>,
    Form(form): Form<CodeForm>,
) -> Response {
    let lang = lang(&headers);
    let p = texts(lang);
    let Ok((_, account)) = state.inbox_by_id(inbox_id).await else { return ApiError::NotFound.into_response() };
    let Some(identity) = read_address(&form.address, region(&account)) else {
        return sign_in_page(&state, lang, &account, inbox_id, None, Some(p.bad_address.to_owned()), StatusCode::UNPROCESSABLE_ENTITY);
    };
    let address = identity.value.clone();
    let again = |error: String, status| sign_in_page(&state, lang, &account, inbox_id, Some(address.clone()), Some(error), status);
    if let Err((error, status)) = sign_in_gate(&state, &headers, peer.as_deref(), &form.form_token, p) {
        return again(error.to_owned(), status);
    }
    let Some(code) = form.code.as_deref().and_then(typed_code) else {
        return again(p.bad_code.to_owned(), StatusCode::UNPROCESSABLE_ENTITY);
    };
    let token = new_token("tp_");
    let csrf = new_token("");
    let tried = state
        .store
        .try_portal_code(account.id, &identity, &code_hash(account.id, &identity, &code), &hash_token(&token), &csrf, state.clock.now())
        .await;
    match tried {
        Ok(CodeTry::SignedIn(session)) => {
            let max_age = (session.expires_at - state.clock.now()).whole_seconds().max(0);
            let cookie = format!("{COOKIE}={token}; Path=/help/{inbox_id}; HttpOnly; SameSite=Lax; Max-Age={max_age}{}", secure(&state));
            let response = with_cookie(Redirect::to(&format!("/help/{inbox_id}/account")).into_response(), cookie);
            // The sign-in form's token is spent.
            with_cookie(response, format!("{FORM_COOKIE}=; Path=/help/{inbox_id}/account; HttpOnly; SameSite=Strict; Max-Age=0"))
        }
        Ok(CodeTry::Refused(CodeCheck::Wrong { left })) => {
            again(p.wrong_code.replace("{left}", &left.to_string()), StatusCode::UNAUTHORIZED)
        }
        Ok(CodeTry::Refused(_)) => {
            sign_in_page(&state, lang, &account, inbox_id, None, Some(p.no_code.to_owned()), StatusCode::UNAUTHORIZED)
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct SignOutForm {
    csrf: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(inbox_id): Path<InboxId>,
    Form(form): Form<SignOutForm>,
) -> Response {
    let Ok((_, account)) = state.inbox_by_id(inbox_id).await else { return ApiError::NotFound.into_response() };
    match session(&state, &account, &headers).await {
        Ok(Some(session)) if constant_time_eq(form.csrf.as_bytes(), session.csrf_token.as_bytes()) => {
            if let Some(token) = crate::auth::cookie(&headers, COOKIE)
                && let Err(e) = state.store.close_portal_session(account.id, &hash_token(&token)).await
            {
                return ApiError::from(e).into_response();
            }
            let clear = format!("{COOKIE}=; Path=/help/{inbox_id}; HttpOnly; SameSite=Lax; Max-Age=0");
            with_cookie(Redirect::to(&format!("/help/{inbox_id}/account")).into_response(), clear)
        }
        Ok(Some(_)) => ApiError::Forbidden("the form's CSRF token is missing or wrong".into()).into_response(),
        Ok(None) => Redirect::to(&format!("/help/{inbox_id}/account")).into_response(),
        Err(e) => e.into_response(),
    }
}

/// What the request form sent.
#[derive(Default)]
struct RequestForm {
    csrf: String,
    kind: String,
    order: String,
    reason: String,
    photos: Vec<threadline_store::NewAttachment>,
}

/// Reads the request form; the error is for the customer.
async fn read_request_form(mut multipart: Multipart, p: &PortalTexts) -> Result<RequestForm, String> {
    let mut form = RequestForm::default();
    let unreadable = |e: axum::extract::multipart::MultipartError| format!("{} ({e})", p.expired_form);
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "photos" => {
                let filename = field.file_name().map(|f| threadline_domain::text::clip(f, 200).to_owned()).unwrap_or_default();
                let data = field.bytes().await.map_err(unreadable)?;
                // A file input left empty sends one part with no name and no bytes.
                if filename.is_empty() && data.is_empty() {
                    continue;
                }
                if form.photos.len() == MAX_PHOTOS {
                    return Err(p.photos_hint.to_owned());
                }
                let filename = if filename.is_empty() { format!("photo-{}", form.photos.len() + 1) } else { filename };
                let content_type = check_photo(&filename, &data)?;
                form.photos.push(threadline_store::NewAttachment {
                    filename,
                    content_type: content_type.to_owned(),
                    data: data.to_vec(),
                    content_id: None,
                });
            }
            "csrf" | "kind" | "order" | "reason" => {
                let value = field.text().await.map_err(unreadable)?;
                match name.as_str() {
                    "csrf" => form.csrf = value,
                    "kind" => form.kind = value,
                    "order" => form.order = value,
                    _ => form.reason = value,
                }
            }
            _ => {}
        }
    }
    Ok(form)
}

/// Starts a return, exchange or warranty request.
pub async fn open_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(inbox_id): Path<InboxId>,
    multipart: Multipart,
) -> Response {
    let lang = lang(&headers);
    let p = texts(lang);
    let Ok((_, account)) = state.inbox_by_id(inbox_id).await else { return ApiError::NotFound.into_response() };
    let session = match session(&state, &account, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return Redirect::to(&format!("/help/{inbox_id}/account")).into_response(),
        Err(e) => return e.into_response(),
    };
    let form = read_request_form(multipart, p).await;
    let form = match form {
        Ok(form) if constant_time_eq(form.csrf.as_bytes(), session.csrf_token.as_bytes()) => form,
        Ok(_) => return ApiError::Forbidden("the form's CSRF token is missing or wrong".into()).into_response(),
        Err(error) => return home_page(&state, lang, &account, inbox_id, &session, None, Some(error), String::new()).await,
    };
    let mut reason = form.reason.trim().to_owned();
    threadline_domain::validation::strip_nul(&mut reason);
    let back = |error: String| {
        let reason = reason.clone();
        let state = &state;
        let account = &account;
        let session = &session;
        async move { home_page(state, lang, account, inbox_id, session, None, Some(error), reason).await }
    };
    let Some(kind) = RequestKind::parse(&form.kind) else { return back(p.kind.to_owned()).await };
    if reason.chars().count() < 3 || reason.chars().count() > MAX_REASON_CHARS {
        return back(p.reason.to_owned()).await;
    }
    let order_id = match form.order.trim() {
        "" => None,
        id => match id.parse::<OrderId>() {
            Ok(id) => Some(id),
            Err(_) => return back(p.order.to_owned()).await,
        },
    };
    let inboxes = match state.store.inboxes(account.id).await {
        Ok(inboxes) => inboxes,
        Err(e) => return ApiError::from(e).into_response(),
    };
    // The inbox their codes come from, so that is where they hear back.
    let Some(inbox) = crate::portal::inbox_for(&inboxes, &session.identity, true) else {
        let error = if session.identity.kind == IdentityKind::Email { p.no_way_email } else { p.no_way_phone };
        return back(error.to_owned()).await;
    };
    let words = threadline_store::InboundMessage {
        sender_language: Some(lang.code().to_owned()),
        identities: vec![session.identity.clone()],
        text: reason.clone(),
        attachments: form.photos,
        ..threadline_store::InboundMessage::new(inbox.id, inbox.channel)
    };
    let new = NewAfterSales { contact_id: session.contact_id, order_id, kind, reason: reason.clone() };
    match crate::after_sales::open_for_customer(&state, &account, new, words).await {
        Ok(_) => Redirect::to(&format!("/help/{inbox_id}/account?received=1")).into_response(),
        Err(ApiError::Invalid(errors)) => back(errors.to_string()).await,
        Err(e) => e.into_response(),
    }
}

/// One of the customer's conversations, as they see it: the messages
/// between them and the business, without the team's notes.
pub async fn conversation(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((inbox_id, conversation_id)): Path<(InboxId, ConversationId)>,
) -> Response {
    let lang = lang(&headers);
    let Ok((_, account)) = state.inbox_by_id(inbox_id).await else { return ApiError::NotFound.into_response() };
    let session = match session(&state, &account, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return Redirect::to(&format!("/help/{inbox_id}/account")).into_response(),
        Err(e) => return e.into_response(),
    };
    let conversation = match state.store.conversation(account.id, conversation_id).await {
        Ok(c) if c.contact_id == session.contact_id => c,
        Ok(_) | Err(threadline_store::StoreError::NotFound) => return ApiError::NotFound.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let messages = match state.store.conversation_messages(account.id, conversation.id, None, 500).await {
        Ok(messages) => messages,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let messages = messages
        .into_iter()
        .filter(|m| m.kind != MessageKind::Note)
        .map(|m| MessageView {
            mine: m.direction == Direction::Inbound,
            text: m.text,
            when: lang.datetime(m.created_at),
            files: m.attachments.into_iter().map(|a| a.filename).collect(),
        })
        .collect();
    page(&ConversationPage { p: texts(lang), lang: lang.code(), account: account.name, inbox_id, messages })
}
