//! Returns, exchanges and warranty claims: each a conversation with the
//! customer and a row whose status moves along the workflow of
//! `threadline_domain::after_sales`. Opening one and every move are one
//! transaction each: the row, a note in the conversation for the team, and
//! an `after_sales.updated` event; a settled request resolves its
//! conversation.

pub use threadline_domain::after_sales::AfterSalesRequest;
use threadline_domain::after_sales::{RequestKind, RequestStatus, check_move};
use threadline_domain::conversation::ConversationStatus;
use threadline_domain::event::{AfterSalesPayload, DomainEvent, Payload};
use threadline_domain::ids::{AccountId, AfterSalesId, ContactId, ConversationId, OrderId};
use time::OffsetDateTime;

use crate::conversations::ConversationChanges;
use crate::{Result, Store, StoreError, WriteTx, micros, rows};

/// Who opens or moves a request: as the audit log names them, and their
/// name for the team's note.
#[derive(Debug, Clone, Copy)]
pub struct Staff<'a> {
    pub actor: &'a str,
    pub name: &'a str,
    /// The team's note is theirs (none: Threadline's own).
    pub user_id: Option<threadline_domain::ids::UserId>,
}

/// A request to open.
#[derive(Debug, Clone)]
pub struct NewAfterSales {
    pub contact_id: ContactId,
    pub order_id: Option<OrderId>,
    pub kind: RequestKind,
    pub reason: String,
}

const COLUMNS: &str = "r.id, r.contact_id, r.conversation_id, r.order_id, o.number AS order_number, r.kind, r.status, r.reason, \
                       r.created_at, r.updated_at";
const FROM: &str = "after_sales_requests r LEFT JOIN orders o ON o.id = r.order_id";

fn request_row(row: &sqlx::any::AnyRow) -> Result<AfterSalesRequest> {
    Ok(AfterSalesRequest {
        id: rows::parse(row, "id")?,
        contact_id: rows::parse(row, "contact_id")?,
        conversation_id: rows::parse(row, "conversation_id")?,
        order_id: rows::opt_parse(row, "order_id")?,
        order_number: rows::opt_text(row, "order_number")?,
        kind: rows::enum_of(row, "kind", RequestKind::parse)?,
        status: rows::enum_of(row, "status", RequestStatus::parse)?,
        reason: rows::text(row, "reason")?,
        created_at: rows::time(row, "created_at")?,
        updated_at: rows::time(row, "updated_at")?,
    })
}

async fn load(tx: &mut WriteTx, account_id: AccountId, id: AfterSalesId) -> Result<AfterSalesRequest> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE r.account_id = $1 AND r.id = $2");
    let row = sqlx::query(&sql).bind(account_id.to_string()).bind(id.to_string()).fetch_optional(tx.conn()).await?;
    request_row(&row.ok_or(StoreError::NotFound)?)
}

impl Store {
    /// Opens a request: a new conversation with the customer (open, for
    /// routing to pick up), a note in it saying what is asked, and the row.
    pub async fn open_after_sales(
        &self,
        account_id: AccountId,
        new: NewAfterSales,
        by: Staff<'_>,
        at: OffsetDateTime,
    ) -> Result<AfterSalesRequest> {
        let mut tx = self.begin_write().await?;
        let request = self.open_in_tx(&mut tx, account_id, new, by, at).await?;
        tx.commit().await?;
        Ok(request)
    }

    /// A request the customer opens themselves (the portal): the request as
    /// [`Store::open_after_sales`] opens it, and the customer's own words
    /// and photos as their message in its conversation, on the channel
    /// they signed in with — where they will be told of each step — in one
    /// transaction.
    pub async fn open_after_sales_from_customer(
        &self,
        account: &crate::Account,
        new: NewAfterSales,
        mut words: crate::InboundMessage,
        at: OffsetDateTime,
    ) -> Result<AfterSalesRequest> {
        let contact = new.contact_id.to_string();
        let by = Staff { actor: &format!("contact:{contact}"), name: "the customer, on the help pages", user_id: None };
        let mut tx = self.begin_write().await?;
        let request = self.open_in_tx(&mut tx, account.id, new, by, at).await?;
        words.thread = Some(request.conversation_id);
        let outcome = self
            .ingest_in_tx(&mut tx, account, &[&words])
            .await?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("the customer's words have no outcome".into()))?;
        // The words must land in the request's conversation: the identity
        // they are written with is the customer's own.
        if outcome.conversation.id != request.conversation_id {
            return Err(StoreError::Conflict("the address signed in with no longer belongs to this customer".into()));
        }
        tx.commit().await?;
        Ok(request)
    }

    async fn open_in_tx(
        &self,
        tx: &mut WriteTx,
        account_id: AccountId,
        new: NewAfterSales,
        by: Staff<'_>,
        at: OffsetDateTime,
    ) -> Result<AfterSalesRequest> {
        let (actor, who) = (by.actor, by.name);
        // The customer must be the account's, and the order theirs.
        crate::contacts::load_contact(tx.conn(), account_id, new.contact_id).await?;
        let order_number = match new.order_id {
            None => None,
            Some(order_id) => {
                let row = sqlx::query("SELECT number FROM orders WHERE account_id = $1 AND id = $2 AND contact_id = $3")
                    .bind(account_id.to_string())
                    .bind(order_id.to_string())
                    .bind(new.contact_id.to_string())
                    .fetch_optional(tx.conn())
                    .await?;
                let row = row.ok_or_else(|| {
                    StoreError::Invalid(threadline_domain::ValidationErrors::single("order_id", "is not one of this customer's orders"))
                })?;
                Some(rows::text(&row, "number")?)
            }
        };
        let conversation_id =
            crate::journeys::new_outreach_conversation(tx, account_id, new.contact_id, None, ConversationStatus::Open, None, at).await?;
        let changes = ConversationChanges {
            labels: Some(vec![new.kind.as_str().to_owned()]),
            category: Some(Some("after_sales".to_owned())),
            ..ConversationChanges::default()
        };
        crate::conversations::change_conversation(tx, account_id, conversation_id, changes, actor, at).await?;
        let id = AfterSalesId::new();
        sqlx::query(
            "INSERT INTO after_sales_requests (id, account_id, contact_id, conversation_id, order_id, kind, status, reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .bind(new.contact_id.to_string())
        .bind(conversation_id.to_string())
        .bind(new.order_id.map(|o| o.to_string()))
        .bind(new.kind.as_str())
        .bind(RequestStatus::Requested.as_str())
        .bind(&new.reason)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        let order = order_number.as_deref().map(|n| format!(" for order {n}")).unwrap_or_default();
        let note = format!("{} request{order}: {} (opened by {who})", capitalised(new.kind.as_str()), new.reason);
        note_by(self, tx, account_id, conversation_id, note, by, at).await?;
        tx.routing_needed = true;
        let request = load(tx, account_id, id).await?;
        tx.emit(DomainEvent::new(account_id, Payload::AfterSalesUpdated(AfterSalesPayload { request: request.clone(), from: None }), at));
        Ok(request)
    }

    /// Moves a request along its workflow (refused with the allowed moves
    /// named when the workflow does not allow it); a note in its
    /// conversation records who moved it; a settled request resolves the
    /// conversation.
    pub async fn move_after_sales(
        &self,
        account_id: AccountId,
        id: AfterSalesId,
        to: RequestStatus,
        note: Option<&str>,
        by: Staff<'_>,
        at: OffsetDateTime,
    ) -> Result<AfterSalesRequest> {
        let (actor, who) = (by.actor, by.name);
        let mut tx = self.begin_write().await?;
        tx.lock_keys(account_id, &[format!("after_sales:{id}")]).await?;
        let before = load(&mut tx, account_id, id).await?;
        check_move(before.kind, before.status, to).map_err(|e| StoreError::Conflict(e.to_string()))?;
        let done =
            sqlx::query("UPDATE after_sales_requests SET status = $3, updated_at = $4 WHERE account_id = $1 AND id = $2 AND status = $5")
                .bind(account_id.to_string())
                .bind(id.to_string())
                .bind(to.as_str())
                .bind(micros(at))
                .bind(before.status.as_str())
                .execute(tx.conn())
                .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict("the request was moved by someone else meanwhile".into()));
        }
        let mut text = format!("{} request: {} → {} (by {who})", capitalised(before.kind.as_str()), before.status, to);
        if let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) {
            text.push_str(": ");
            text.push_str(note);
        }
        note_by(self, &mut tx, account_id, before.conversation_id, text, by, at).await?;
        if to.is_final() {
            let changes = ConversationChanges { status: Some(ConversationStatus::Resolved), ..ConversationChanges::default() };
            crate::conversations::change_conversation(&mut tx, account_id, before.conversation_id, changes, actor, at).await?;
        }
        let request = load(&mut tx, account_id, id).await?;
        let moved = AfterSalesPayload { request: request.clone(), from: Some(before.status) };
        tx.emit(DomainEvent::new(account_id, Payload::AfterSalesUpdated(moved), at));
        tx.commit().await?;
        Ok(request)
    }

    pub async fn after_sales_request(&self, account_id: AccountId, id: AfterSalesId) -> Result<AfterSalesRequest> {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE r.account_id = $1 AND r.id = $2");
        let row = sqlx::query(&sql).bind(account_id.to_string()).bind(id.to_string()).fetch_optional(&self.pool).await?;
        request_row(&row.ok_or(StoreError::NotFound)?)
    }

    /// The request a conversation handles, if it handles one.
    pub async fn after_sales_for_conversation(
        &self,
        account_id: AccountId,
        conversation_id: ConversationId,
    ) -> Result<Option<AfterSalesRequest>> {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE r.account_id = $1 AND r.conversation_id = $2");
        let row = sqlx::query(&sql).bind(account_id.to_string()).bind(conversation_id.to_string()).fetch_optional(&self.pool).await?;
        row.map(|r| request_row(&r)).transpose()
    }

    /// Requests, most recently moved first, optionally of one status or customer.
    pub async fn after_sales_requests(
        &self,
        account_id: AccountId,
        status: Option<RequestStatus>,
        contact_id: Option<ContactId>,
        limit: i64,
    ) -> Result<Vec<AfterSalesRequest>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE r.account_id = $1 AND ($2 = '' OR r.status = $2) AND ($3 = '' OR r.contact_id = $3) \
             ORDER BY r.updated_at DESC, r.id DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id.to_string())
            .bind(status.map(|s| s.as_str()).unwrap_or(""))
            .bind(contact_id.map(|c| c.to_string()).unwrap_or_default())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(request_row).collect()
    }
}

/// The team's note about a request, written by the member of staff.
async fn note_by(
    store: &Store,
    tx: &mut WriteTx,
    account_id: AccountId,
    conversation_id: ConversationId,
    text: String,
    by: Staff<'_>,
    at: OffsetDateTime,
) -> Result<()> {
    let note = crate::OutboundMessage {
        kind: threadline_domain::message::MessageKind::Note,
        channel: threadline_domain::channel::Channel::Api,
        inbox_id: None,
        sender: by.user_id,
        bot: by.user_id.is_none().then(|| "after-sales".to_owned()),
        delivery: None,
        text,
        html: None,
        subject: None,
        attachments: Vec::new(),
        mentions: Vec::new(),
        choices: Vec::new(),
    };
    store.write_outbound(tx, account_id, conversation_id, &note, at).await?;
    Ok(())
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
