//! Returns, exchanges and warranty claims: opening one and moving it along
//! its workflow (`threadline_domain::after_sales`), telling the customer at
//! each step on the channel they last wrote on, in their language, through
//! the same reply path as an agent's message (so the channel's rules —
//! WhatsApp's 24 hours, consent — hold). When the customer cannot be told
//! there (no channel open to them), the request still moves; the answer
//! says why they were not told, for the agent to reach them another way.

use threadline_domain::after_sales::{RequestStatus, notice, subject};
use threadline_domain::ids::{AccountId, AfterSalesId};
use threadline_store::{AfterSalesRequest, NewAfterSales, Staff};

use crate::app::AppState;
use crate::auth::Caller;
use crate::channels::reply::{Author, Draft, send};
use crate::error::ApiError;

/// A request and whether its customer was told of this step.
pub struct Told {
    pub request: AfterSalesRequest,
    /// Why the customer was not told, if they were not.
    pub not_told: Option<String>,
}

pub async fn open(state: &AppState, caller: &Caller, new: NewAfterSales) -> Result<Told, ApiError> {
    let request = state.store.open_after_sales(caller.account_id(), new, staff(caller), state.clock.now()).await?;
    let not_told = tell(state, caller.account_id(), &request, None).await;
    Ok(Told { request, not_told })
}

pub async fn move_to(state: &AppState, caller: &Caller, id: AfterSalesId, to: RequestStatus, note: Option<&str>) -> Result<Told, ApiError> {
    let request = state.store.move_after_sales(caller.account_id(), id, to, note, staff(caller), state.clock.now()).await?;
    let not_told = tell(state, caller.account_id(), &request, note).await;
    Ok(Told { request, not_told })
}

/// A request the customer opens on the portal, with their words and
/// photos as their message in it (see
/// [`threadline_store::Store::open_after_sales_from_customer`]); they are
/// told it was received, like any request.
pub async fn open_for_customer(
    state: &AppState,
    account: &threadline_store::Account,
    new: NewAfterSales,
    words: threadline_store::InboundMessage,
) -> Result<Told, ApiError> {
    let request = state.store.open_after_sales_from_customer(account, new, words, state.clock.now()).await?;
    let not_told = tell(state, account.id, &request, None).await;
    Ok(Told { request, not_told })
}

fn staff(caller: &Caller) -> Staff<'_> {
    Staff { actor: &caller.actor, name: &caller.user.name, user_id: Some(caller.user.id) }
}

/// Sends the customer the step's notice; why not, if it could not be sent.
async fn tell(state: &AppState, account_id: AccountId, request: &AfterSalesRequest, note: Option<&str>) -> Option<String> {
    let language = match language_of(state, account_id, request).await {
        Ok(language) => language,
        Err(e) => return Some(e.to_string()),
    };
    let order = request.order_number.as_deref();
    // An e-mail is titled by the request, not "reply to your message";
    // other channels have no subject line.
    let channel = match crate::channels::reply::ReplyContext::load(state, account_id, request.conversation_id).await {
        Ok(context) => context.default_channel(),
        Err(e) => return Some(e.to_string()),
    };
    let titled = channel == Some(threadline_domain::channel::Channel::Email);
    let draft = Draft {
        author: Author::System,
        channel: None,
        inbox_id: None,
        text: notice(request.kind, request.status, order, note, language.as_deref()),
        html: None,
        attachments: Vec::new(),
        template: None,
        subject: titled.then(|| subject(request.kind, order, language.as_deref())),
    };
    match send(state, account_id, request.conversation_id, draft).await {
        Ok(_) => None,
        Err(e) => {
            tracing::info!(request = %request.id, error = %e, "the customer could not be told of their request's step");
            Some(e.to_string())
        }
    }
}

/// The customer's language: their own, else the one they last wrote in.
async fn language_of(
    state: &AppState,
    account_id: AccountId,
    request: &AfterSalesRequest,
) -> Result<Option<String>, threadline_store::StoreError> {
    let contact = state.store.contact(account_id, request.contact_id).await?;
    if contact.language.is_some() {
        return Ok(contact.language);
    }
    let query = threadline_store::ConversationQuery { contact_id: Some(contact.id), limit: 10, ..Default::default() };
    Ok(state.store.conversations(account_id, &query).await?.into_iter().find_map(|c| c.language))
}
