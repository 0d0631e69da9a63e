//! Customer events: tracking sources (write keys) and the calls they send.
//!
//! A batch of calls is stored in one transaction: each call's identities
//! are resolved to a contact as [`threadline_domain::tracking::plan`]
//! decides (creating the contact, linking identities, folding anonymous
//! activity into the customer who identifies), then the events are
//! inserted; a `messageId` seen before is a duplicate and changes nothing.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use threadline_domain::contact::Contact;
use threadline_domain::event::{DomainEvent, MergeReason};
use threadline_domain::identity::Region;
use threadline_domain::ids::{AccountId, ContactId, CustomerEventId, TrackingSourceId};
use threadline_domain::tracking::{ANONYMOUS_PREFIX, Call, CallKind, CustomerEvent, Holder, claimed_identities, plan, trait_changes};
use time::OffsetDateTime;

use crate::audit::audit;
use crate::contacts::{NewContact, identity_owner, insert_contact, insert_identity, load_contact};
use crate::{Result, Store, StoreError, WriteTx, found, micros, now, rows};

/// A site or app allowed to send tracking calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrackingSource {
    pub id: TrackingSourceId,
    pub name: String,
    /// `browser` (a key published in web pages: identify traits only enrich
    /// a customer) or `server` (a secret key: an e-mail address or phone
    /// number in traits may identify a known customer).
    pub kind: String,
    /// The write key's first characters, to tell keys apart.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Who sent a request's calls.
#[derive(Debug, Clone, Copy)]
pub struct SourceContext {
    pub account_id: AccountId,
    pub source_id: TrackingSourceId,
    /// The account's phone region, for numbers written without a country code.
    pub region: Region,
    /// A `server` source: identify traits may identify a known customer.
    pub trusted: bool,
}

/// What storing a request's calls did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The events stored now, with their contacts (duplicates excluded).
    pub stored: Vec<(CustomerEventId, ContactId)>,
    /// Calls whose `messageId` was seen before.
    pub duplicates: usize,
    /// Contacts created for new visitors or users.
    pub contacts_created: usize,
}

/// Filters for a contact's events.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub kind: Option<CallKind>,
    pub name: Option<String>,
    /// Events before this one (the previous page's last), newest first.
    pub before: Option<CustomerEventId>,
    pub limit: i64,
}

fn source_row(row: &sqlx::any::AnyRow) -> Result<TrackingSource> {
    Ok(TrackingSource {
        id: rows::parse(row, "id")?,
        name: rows::text(row, "name")?,
        kind: rows::text(row, "kind")?,
        prefix: rows::text(row, "prefix")?,
        created_at: rows::time(row, "created_at")?,
        last_used_at: rows::opt_time(row, "last_used_at")?,
        revoked_at: rows::opt_time(row, "revoked_at")?,
    })
}

pub(crate) fn event_row(row: &sqlx::any::AnyRow) -> Result<CustomerEvent> {
    Ok(CustomerEvent {
        id: rows::parse(row, "id")?,
        contact_id: rows::parse(row, "contact_id")?,
        kind: rows::enum_of(row, "kind", CallKind::parse)?,
        name: rows::opt_text(row, "name")?,
        properties: rows::json(row, "properties")?,
        context: rows::json(row, "context")?,
        message_id: rows::text(row, "message_id")?,
        occurred_at: rows::time(row, "occurred_at")?,
        received_at: rows::time(row, "received_at")?,
    })
}

/// The job kind that hands stored events to journeys.
pub const EVENTS_JOB: &str = "journey.events";

pub(crate) const EVENT_COLUMNS: &str = "id, contact_id, kind, name, properties, context, message_id, occurred_at, received_at";

impl Store {
    pub async fn create_tracking_source(
        &self,
        account_id: AccountId,
        name: &str,
        kind: &str,
        key_hash: &str,
        prefix: &str,
        actor: &str,
    ) -> Result<TrackingSource> {
        let at = now();
        let source = TrackingSource {
            id: TrackingSourceId::new(),
            name: name.to_owned(),
            kind: kind.to_owned(),
            prefix: prefix.to_owned(),
            created_at: at,
            last_used_at: None,
            revoked_at: None,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tracking_sources (id, account_id, name, kind, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(source.id.to_string())
        .bind(account_id.to_string())
        .bind(name)
        .bind(kind)
        .bind(key_hash)
        .bind(prefix)
        .bind(micros(at))
        .execute(tx.conn())
        .await?;
        audit(
            &mut tx,
            account_id,
            actor,
            "tracking_source.create",
            "tracking_source",
            &source.id.to_string(),
            serde_json::json!({ "name": name, "kind": kind }),
            at,
        )
        .await?;
        tx.commit().await?;
        Ok(source)
    }

    pub async fn tracking_sources(&self, account_id: AccountId) -> Result<Vec<TrackingSource>> {
        let rows = sqlx::query(
            "SELECT id, name, kind, prefix, created_at, last_used_at, revoked_at FROM tracking_sources WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(source_row).collect()
    }

    /// Revokes a write key: calls sent with it are refused from now on.
    pub async fn revoke_tracking_source(&self, account_id: AccountId, id: TrackingSourceId, actor: &str) -> Result<TrackingSource> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE tracking_sources SET revoked_at = $3 WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(account_id.to_string())
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
        found(&done)?;
        audit(&mut tx, account_id, actor, "tracking_source.revoke", "tracking_source", &id.to_string(), serde_json::json!({}), at).await?;
        tx.commit().await?;
        let row = sqlx::query("SELECT id, name, kind, prefix, created_at, last_used_at, revoked_at FROM tracking_sources WHERE id = $1")
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await?;
        source_row(&row)
    }

    /// The account a live write key belongs to, the source, and whether it
    /// is a trusted (`server`) source.
    pub async fn tracking_source_by_key(&self, key_hash: &str) -> Result<Option<(AccountId, TrackingSourceId, bool)>> {
        let row = sqlx::query("SELECT id, account_id, kind FROM tracking_sources WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok((rows::parse(&row, "account_id")?, rows::parse(&row, "id")?, rows::text(&row, "kind")? == "server"))).transpose()
    }

    /// Notes when a source last sent calls (at most once a minute per source, by the caller).
    pub async fn touch_tracking_source(&self, id: TrackingSourceId) -> Result<()> {
        sqlx::query("UPDATE tracking_sources SET last_used_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(micros(now()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores checked calls, in order, in one transaction; see the module
    /// documentation. Retries once when a concurrent writer created the same
    /// identities first.
    #[tracing::instrument(skip_all, fields(account = %source.account_id, calls = calls.len()))]
    /// `live`: journeys act on the calls (false for a historical import).
    pub async fn record_calls(&self, source: &SourceContext, calls: &[Call], received_at: OffsetDateTime, live: bool) -> Result<Recorded> {
        match self.record_calls_once(source, calls, received_at, live).await {
            Err(StoreError::Race) => self.record_calls_once(source, calls, received_at, live).await,
            other => other,
        }
    }

    async fn record_calls_once(&self, source: &SourceContext, calls: &[Call], received_at: OffsetDateTime, live: bool) -> Result<Recorded> {
        let account_id = source.account_id;
        let mut recorded = Recorded::default();
        let mut tx = self.begin_write().await?;

        // Duplicates within this request are dropped here; those stored
        // before are skipped by the insert (its unique key) below.
        let mut seen: HashSet<String> = HashSet::new();
        let mut fresh = Vec::with_capacity(calls.len());
        for call in calls {
            if call.message_id_given && !seen.insert(call.message_id.clone()) {
                recorded.duplicates += 1;
            } else {
                fresh.push(call);
            }
        }

        // Calls that only report activity resolve the same identifiers to
        // the same contact: remember them until a call changes identities.
        let mut resolved: HashMap<(Option<&str>, Option<&str>), ContactId> = HashMap::new();
        let mut rows: Vec<(CustomerEventId, ContactId, &Call)> = Vec::with_capacity(fresh.len());
        for call in fresh {
            let reports_only = matches!(call.kind, CallKind::Track | CallKind::Page | CallKind::Screen);
            let key = (call.user_id.as_deref(), call.anonymous_id.as_deref());
            let contact_id = match resolved.get(&key) {
                Some(id) if reports_only => *id,
                _ => {
                    let (contact_id, created) = resolve(&mut tx, source, call, received_at).await?;
                    recorded.contacts_created += usize::from(created);
                    if !reports_only {
                        resolved.clear();
                    }
                    resolved.insert(key, contact_id);
                    contact_id
                }
            };
            rows.push((CustomerEventId::new(), contact_id, call));
        }

        let inserted = insert_events(&mut tx, account_id, &rows, received_at).await?;
        recorded.duplicates += rows.len() - inserted.len();
        recorded.stored = rows.iter().filter(|(id, _, _)| inserted.contains(id)).map(|(id, contact, _)| (*id, *contact)).collect();
        if live {
            hand_to_journeys(&mut tx, account_id, &recorded.stored, received_at).await?;
        }
        tx.commit().await?;
        Ok(recorded)
    }

    /// A contact's events, newest first, optionally of one kind or name.
    pub async fn customer_events(&self, account_id: AccountId, contact_id: ContactId, query: &EventQuery) -> Result<Vec<CustomerEvent>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM customer_events WHERE account_id = $1 AND contact_id = $2 \
             AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR name = $4) \
             AND ($5 IS NULL OR occurred_at < (SELECT occurred_at FROM customer_events WHERE id = $5) \
                  OR (occurred_at = (SELECT occurred_at FROM customer_events WHERE id = $5) AND id < $5)) \
             ORDER BY occurred_at DESC, id DESC LIMIT $6"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id.to_string())
            .bind(contact_id.to_string())
            .bind(query.kind.map(|k| k.as_str()))
            .bind(query.name.clone())
            .bind(query.before.map(|b| b.to_string()))
            .bind(query.limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_row).collect()
    }

    /// A contact's events since `since`, newest first, at most `limit`
    /// (what journeys read to decide).
    pub async fn customer_events_since(
        &self,
        account_id: AccountId,
        contact_id: ContactId,
        since: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<CustomerEvent>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM customer_events WHERE account_id = $1 AND contact_id = $2 AND occurred_at >= $3 \
             ORDER BY occurred_at DESC, id DESC LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id.to_string())
            .bind(contact_id.to_string())
            .bind(micros(since))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_row).collect()
    }

    /// Events by id (journeys read the events that triggered them).
    pub async fn customer_events_by_id(&self, account_id: AccountId, ids: &[CustomerEventId]) -> Result<Vec<CustomerEvent>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            let padded = crate::rows::padded(&chunk.iter().map(|id| id.to_string()).collect::<Vec<_>>());
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM customer_events WHERE {} AND id IN ({}) ORDER BY occurred_at, id",
                crate::rows::guard("account_id", "$1"),
                crate::rows::list(2, padded.len())
            );
            let mut query = sqlx::query(&sql).bind(account_id.to_string());
            for id in padded {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(event_row(&row)?);
            }
        }
        Ok(out)
    }
}

/// Inserts the events; returns the ids of those that were new (an event
/// whose message id the account has already is skipped).
pub(crate) async fn insert_events(
    tx: &mut WriteTx,
    account_id: AccountId,
    rows: &[(CustomerEventId, ContactId, &Call)],
    received_at: OffsetDateTime,
) -> Result<HashSet<CustomerEventId>> {
    let mut inserted = HashSet::with_capacity(rows.len());
    for chunk in crate::rows::fixed_chunks(rows) {
        let sql = format!(
            "INSERT INTO customer_events (id, account_id, contact_id, kind, name, properties, context, message_id, occurred_at, received_at) \
             VALUES {} ON CONFLICT (account_id, message_id) DO NOTHING",
            crate::rows::placeholders(tx.backend(), chunk.len(), 10)
        );
        let mut query = sqlx::query(&sql);
        for (id, contact_id, call) in chunk.iter() {
            query = query
                .bind(id.to_string())
                .bind(account_id.to_string())
                .bind(contact_id.to_string())
                .bind(call.kind.as_str())
                .bind(call.name.clone())
                .bind(json_text(&call.properties)?)
                .bind(json_text(&call.context)?)
                .bind(call.message_id.clone())
                .bind(micros(call.occurred_at))
                .bind(micros(received_at));
        }
        // Usually every row goes in. Only when some were duplicates are the
        // new ids read back (theirs are fresh, so those found went in now):
        // `RETURNING` would hand every row back, one at a time on SQLite.
        let written = query.execute(tx.conn()).await?.rows_affected();
        if written == chunk.len() as u64 {
            inserted.extend(chunk.iter().map(|(id, _, _)| *id));
        } else if written > 0 {
            let ids = crate::rows::padded(&chunk.iter().map(|(id, _, _)| id.to_string()).collect::<Vec<_>>());
            let sql = format!(
                "SELECT id FROM customer_events WHERE {} AND id IN ({})",
                crate::rows::guard("account_id", "$1"),
                crate::rows::list(2, ids.len())
            );
            let mut query = sqlx::query(&sql).bind(account_id.to_string());
            for id in &ids {
                query = query.bind(id);
            }
            for row in query.fetch_all(tx.conn()).await? {
                inserted.insert(rows::parse(&row, "id")?);
            }
        }
    }
    Ok(inserted)
}

/// A JSON object's text, for a column.
fn json_text(map: &serde_json::Map<String, serde_json::Value>) -> Result<String> {
    serde_json::to_string(map).map_err(|e| StoreError::Corrupt(format!("event properties: {e}")))
}

/// Journeys look at what was stored: a job in the same transaction, so no
/// committed event is ever missed.
pub(crate) async fn hand_to_journeys(
    tx: &mut WriteTx,
    account_id: AccountId,
    stored: &[(CustomerEventId, ContactId)],
    at: OffsetDateTime,
) -> Result<()> {
    if stored.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = stored.iter().map(|(id, _)| id.to_string()).collect();
    let job = crate::NewJob {
        lane: None,
        kind: EVENTS_JOB,
        account_id: Some(account_id),
        dedup_key: None,
        payload: serde_json::json!({ "event_ids": ids }),
        run_at: at,
    };
    crate::jobs::enqueue(tx, &job, at).await
}

impl Store {
    /// Page views the web chat reports for its visitor, whose identities the
    /// chat vouches for (its signed visitor id, a verified user id): stored
    /// on the contact they lead to, created with them if none does.
    pub async fn record_visitor_pages(
        &self,
        account_id: AccountId,
        identities: &[threadline_domain::identity::NormalizedIdentity],
        calls: &[Call],
        received_at: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let keys: Vec<String> = identities.iter().map(|i| format!("identity:{}", i.value)).collect();
        tx.lock_keys(account_id, &keys).await?;
        let mut contact_id = None;
        for identity in identities {
            if let Some(owner) = identity_owner(tx.conn(), account_id, identity).await? {
                contact_id = Some(owner);
                break;
            }
        }
        let contact_id = match contact_id {
            Some(id) => id,
            None => {
                let new = NewContact { identities: identities.to_vec(), ..NewContact::default() };
                let contact = insert_contact(&mut tx, account_id, new, received_at).await.map_err(|e| match e {
                    StoreError::Conflict(_) => StoreError::Race,
                    other => other,
                })?;
                tx.emit(DomainEvent::contact_created(account_id, &contact, received_at));
                contact.id
            }
        };
        let rows: Vec<(CustomerEventId, ContactId, &Call)> = calls.iter().map(|c| (CustomerEventId::new(), contact_id, c)).collect();
        let inserted = insert_events(&mut tx, account_id, &rows, received_at).await?;
        let stored: Vec<(CustomerEventId, ContactId)> =
            rows.iter().filter(|(id, _, _)| inserted.contains(id)).map(|(id, c, _)| (*id, *c)).collect();
        hand_to_journeys(&mut tx, account_id, &stored, received_at).await?;
        tx.commit().await
    }
}

/// Whether a contact is only anonymous activity: every identity a tracking
/// anonymous id, and no conversation.
async fn is_anonymous(tx: &mut WriteTx, contact_id: ContactId) -> Result<bool> {
    let other_identities: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM identities WHERE contact_id = $1 AND NOT (kind = 'web_visitor' AND value LIKE $2)")
            .bind(contact_id.to_string())
            .bind(format!("{ANONYMOUS_PREFIX}%"))
            .fetch_one(tx.conn())
            .await?;
    if other_identities > 0 {
        return Ok(false);
    }
    let conversations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM conversations WHERE contact_id = $1")
        .bind(contact_id.to_string())
        .fetch_one(tx.conn())
        .await?;
    Ok(conversations == 0)
}

/// Finds (or creates) the contact a call is about; on `identify`, applies
/// its traits. Returns the contact and whether it was created.
async fn resolve(tx: &mut WriteTx, source: &SourceContext, call: &Call, at: OffsetDateTime) -> Result<(ContactId, bool)> {
    let account_id = source.account_id;
    let claims = claimed_identities(call, source.region, source.trusted);
    let keys: Vec<String> = claims.iter().map(|c| format!("identity:{}", c.identity.value)).collect();
    tx.lock_keys(account_id, &keys).await?;
    let mut owners = Vec::with_capacity(claims.len());
    for claim in &claims {
        // A phone number is also known as a WhatsApp id, and the other way round.
        let mut owner = identity_owner(tx.conn(), account_id, &claim.identity).await?;
        for kind in claim.identity.kind.equivalents() {
            if owner.is_none() {
                let sibling = threadline_domain::identity::NormalizedIdentity { kind: *kind, value: claim.identity.value.clone() };
                owner = identity_owner(tx.conn(), account_id, &sibling).await?;
            }
        }
        owners.push(owner);
    }
    // The usual call names one customer: whether it is anonymous is only
    // looked up when its identities disagree.
    let look = threadline_domain::tracking::anonymity_matters(&owners);
    let mut held = Vec::with_capacity(claims.len());
    for (claim, owner) in claims.into_iter().zip(owners) {
        let holder = match owner {
            Some(contact_id) => Some(Holder { contact_id, anonymous: look && is_anonymous(tx, contact_id).await? }),
            None => None,
        };
        held.push((claim, holder));
    }
    let plan = plan(&held);
    let changes = (call.kind == CallKind::Identify).then(|| trait_changes(call));

    let (contact_id, created) = match plan.contact {
        Some(id) => (id, false),
        None => {
            let mut new = NewContact { identities: plan.link.clone(), ..NewContact::default() };
            if let Some(changes) = &changes {
                new.name = changes.name.clone();
                new.language = changes.language.clone();
            }
            let contact = insert_contact(tx, account_id, new, at).await.map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::Race,
                other => other,
            })?;
            tx.emit(DomainEvent::contact_created(account_id, &contact, at));
            (contact.id, true)
        }
    };
    tx.lock_keys(account_id, &[format!("contact:{contact_id}")]).await?;
    if !created {
        for identity in &plan.link {
            if insert_identity(tx, account_id, contact_id, identity, at).await?.is_some() {
                tx.emit(DomainEvent::identity_linked(account_id, contact_id, identity, at));
            }
        }
    }
    for anonymous in &plan.fold {
        fold(tx, account_id, contact_id, *anonymous, at).await?;
    }
    if !plan.contested.is_empty() {
        tracing::info!(
            contact = %contact_id,
            contested = plan.contested.len(),
            "a tracking call named identities of another customer; they were left where they are"
        );
    }
    if let Some(changes) = changes {
        let mut contact = load_contact(tx.conn(), account_id, contact_id).await?;
        if apply_traits(&mut contact, changes) {
            contact.updated_at = at;
            crate::contacts::write_contact_fields(tx, account_id, &contact).await?;
            tx.emit(DomainEvent::contact_updated(account_id, &contact, at));
        }
    }
    Ok((contact_id, created))
}

/// Gives a contact what an identify call's traits say; true if anything changed.
fn apply_traits(contact: &mut Contact, changes: threadline_domain::tracking::TraitChanges) -> bool {
    let before = (contact.name.clone(), contact.language.clone(), contact.attributes.clone(), contact.custom_attributes.clone());
    if let Some(name) = changes.name {
        contact.name = Some(name);
    }
    if let Some(language) = changes.language {
        contact.language = Some(language);
    }
    if let Some(zone) = changes.time_zone {
        contact.attributes.insert("time_zone".into(), serde_json::Value::String(zone));
    }
    for (k, v) in changes.custom_attributes {
        if v.is_null() {
            contact.custom_attributes.remove(&k);
        } else {
            contact.custom_attributes.insert(k, v);
        }
    }
    before != (contact.name.clone(), contact.language.clone(), contact.attributes.clone(), contact.custom_attributes.clone())
}

/// Folds an anonymous contact into a customer: its identities and events
/// move, custom attributes the customer lacks are taken, and it remains as
/// a tombstone pointing at the customer.
async fn fold(tx: &mut WriteTx, account_id: AccountId, target: ContactId, source: ContactId, at: OffsetDateTime) -> Result<()> {
    let (t, s, a) = (target.to_string(), source.to_string(), account_id.to_string());
    for table in std::iter::once("identities").chain(crate::contacts::ACTIVITY_TABLES.iter().copied()) {
        let sql = format!("UPDATE {table} SET contact_id = $1 WHERE contact_id = $2 AND account_id = $3");
        sqlx::query(&sql).bind(&t).bind(&s).bind(&a).execute(tx.conn()).await?;
    }
    // Segment lists hold the surviving record only; it is looked at again.
    sqlx::query("DELETE FROM segment_members WHERE contact_id = $1 AND account_id = $2").bind(&s).bind(&a).execute(tx.conn()).await?;
    let source_contact = load_contact(tx.conn(), account_id, source).await?;
    let mut target_contact = load_contact(tx.conn(), account_id, target).await?;
    let mut changed = false;
    for (k, v) in source_contact.custom_attributes {
        if !target_contact.custom_attributes.contains_key(&k) {
            target_contact.custom_attributes.insert(k, v);
            changed = true;
        }
    }
    if changed {
        target_contact.updated_at = at;
        crate::contacts::write_contact_fields(tx, account_id, &target_contact).await?;
    }
    sqlx::query("UPDATE contacts SET merged_into = $1, updated_at = $2 WHERE id = $3 AND account_id = $4")
        .bind(&t)
        .bind(micros(at))
        .bind(&s)
        .bind(&a)
        .execute(tx.conn())
        .await?;
    tx.emit(DomainEvent::contact_merged(account_id, &target_contact, source, MergeReason::Identified, at));
    Ok(())
}
