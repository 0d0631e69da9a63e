//! Contacts, their identities and consents; merging and duplicate detection.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sqlx::AnyConnection;
use threadline_domain::channel::Channel;
use threadline_domain::contact::{Consent, Contact, Identity, name_key, name_match_key, names_look_alike};
use threadline_domain::event::{DomainEvent, MergeReason};
use threadline_domain::identity::{IdentityKind, NormalizedIdentity};
use threadline_domain::ids::{AccountId, ContactId, IdentityId};
use time::OffsetDateTime;

use crate::audit::audit;
use crate::rows::CONTACT_COLUMNS;
use crate::{Result, Store, StoreError, WriteTx, found, like_literal, micros, now, rows};

pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// Tables of what a customer did (beyond conversations), moved to the
/// surviving contact when two are merged.
pub(crate) const ACTIVITY_TABLES: &[&str] =
    &["customer_events", "journey_runs", "tasks", "orders", "after_sales_requests", "survey_requests", "portal_codes", "portal_sessions"];

/// A contact to create.
#[derive(Debug, Clone, Default)]
pub struct NewContact {
    pub name: Option<String>,
    pub language: Option<String>,
    pub attributes: JsonMap,
    pub custom_attributes: JsonMap,
    pub preferred_channels: BTreeMap<String, Channel>,
    pub identities: Vec<NormalizedIdentity>,
}

/// Changes to a contact; `None` leaves a field as it is. Attribute maps are
/// merged key by key, and a key set to `null` is removed.
#[derive(Debug, Clone, Default)]
pub struct ContactChanges {
    pub name: Option<String>,
    pub language: Option<String>,
    pub attributes: Option<JsonMap>,
    pub custom_attributes: Option<JsonMap>,
    pub preferred_channels: Option<BTreeMap<String, Channel>>,
}

/// A page of contacts, optionally filtered by a search over names and
/// identity values.
#[derive(Debug, Clone, Default)]
pub struct ContactQuery {
    pub search: Option<String>,
    pub after: Option<ContactId>,
    pub limit: i64,
}

/// Two contacts that are probably the same person, and why we think so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DuplicateSuggestion {
    pub contact_ids: [ContactId; 2],
    pub reason: String,
}

/// A consent to record.
#[derive(Debug, Clone)]
pub struct ConsentChange {
    pub channel: Channel,
    pub purpose: String,
    pub granted: bool,
    pub source: Option<String>,
}

fn merge_maps(target: &mut JsonMap, changes: JsonMap) {
    for (key, value) in changes {
        if value.is_null() {
            target.remove(&key);
        } else {
            target.insert(key, value);
        }
    }
}

/// Loads identities and consents of `contacts` in two queries.
pub(crate) async fn load_details(conn: &mut AnyConnection, contacts: &mut [Contact]) -> Result<()> {
    if contacts.is_empty() {
        return Ok(());
    }
    let placeholders = (1..=contacts.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT id, contact_id, kind, value, created_at FROM identities WHERE contact_id IN ({placeholders}) ORDER BY created_at, id"
    );
    let mut query = sqlx::query(&sql);
    for c in contacts.iter() {
        query = query.bind(c.id.to_string());
    }
    let identity_rows = query.fetch_all(&mut *conn).await?;
    let sql = format!(
        "SELECT contact_id, channel, purpose, granted, source, updated_at FROM consents WHERE contact_id IN ({placeholders}) \
         ORDER BY channel, purpose"
    );
    let mut query = sqlx::query(&sql);
    for c in contacts.iter() {
        query = query.bind(c.id.to_string());
    }
    let consent_rows = query.fetch_all(&mut *conn).await?;
    let index: HashMap<ContactId, usize> = contacts.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    for row in &identity_rows {
        let contact_id: ContactId = rows::parse(row, "contact_id")?;
        if let Some(&i) = index.get(&contact_id) {
            contacts[i].identities.push(Identity {
                id: rows::parse(row, "id")?,
                kind: rows::parse(row, "kind")?,
                value: rows::text(row, "value")?,
                created_at: rows::time(row, "created_at")?,
            });
        }
    }
    for row in &consent_rows {
        let contact_id: ContactId = rows::parse(row, "contact_id")?;
        if let Some(&i) = index.get(&contact_id) {
            contacts[i].consents.push(Consent {
                channel: rows::parse(row, "channel")?,
                purpose: rows::text(row, "purpose")?,
                granted: rows::int(row, "granted")? != 0,
                source: rows::opt_text(row, "source")?,
                updated_at: rows::time(row, "updated_at")?,
            });
        }
    }
    Ok(())
}

/// Reads one contact with its details; a merged contact answers with the id
/// it was merged into.
pub(crate) async fn load_contact(conn: &mut AnyConnection, account_id: AccountId, id: ContactId) -> Result<Contact> {
    let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1 AND account_id = $2");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .bind(account_id.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    if let Some(target) = rows::opt_parse::<ContactId>(&row, "merged_into")? {
        return Err(StoreError::Merged(target));
    }
    let mut contacts = [rows::contact(&row)?];
    load_details(conn, &mut contacts).await?;
    let [contact] = contacts;
    Ok(contact)
}

/// Inserts a contact and its identities. An identity that already belongs to
/// someone else is a conflict naming that contact.
pub(crate) async fn insert_contact(tx: &mut WriteTx, account_id: AccountId, new: NewContact, at: OffsetDateTime) -> Result<Contact> {
    let contact = Contact {
        id: ContactId::new(),
        name: new.name,
        language: new.language,
        attributes: new.attributes,
        custom_attributes: new.custom_attributes,
        preferred_channels: new.preferred_channels,
        identities: Vec::new(),
        consents: Vec::new(),
        created_at: at,
        updated_at: at,
    };
    sqlx::query(
        "INSERT INTO contacts (id, account_id, name, language, attributes, custom_attributes, preferred_channels, created_at, updated_at, name_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
    )
    .bind(contact.id.to_string())
    .bind(account_id.to_string())
    .bind(contact.name.clone())
    .bind(contact.language.clone())
    .bind(serde_json::Value::Object(contact.attributes.clone()).to_string())
    .bind(serde_json::Value::Object(contact.custom_attributes.clone()).to_string())
    .bind(serde_json::to_string(&contact.preferred_channels).unwrap_or_else(|_| "{}".into()))
    .bind(micros(at))
    .bind(stored_name_key(contact.name.as_deref()))
    .execute(tx.conn())
    .await?;
    let mut contact = contact;
    for identity in new.identities {
        match insert_identity(tx, account_id, contact.id, &identity, at).await? {
            Some(added) => contact.identities.push(added),
            None => {
                let owner = identity_owner(tx.conn(), account_id, &identity).await?;
                return Err(StoreError::Conflict(format!(
                    "{} identity {} already belongs to contact {}",
                    identity.kind,
                    identity.value,
                    owner.map(|o| o.to_string()).unwrap_or_default()
                )));
            }
        }
    }
    Ok(contact)
}

/// Adds an identity to a contact unless the account already has it
/// (on this or another contact): `None` then.
pub(crate) async fn insert_identity(
    tx: &mut WriteTx,
    account_id: AccountId,
    contact_id: ContactId,
    identity: &NormalizedIdentity,
    at: OffsetDateTime,
) -> Result<Option<Identity>> {
    let added = Identity { id: IdentityId::new(), kind: identity.kind, value: identity.value.clone(), created_at: at };
    let done = sqlx::query(
        "INSERT INTO identities (id, account_id, contact_id, kind, value, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (account_id, kind, value) DO NOTHING",
    )
    .bind(added.id.to_string())
    .bind(account_id.to_string())
    .bind(contact_id.to_string())
    .bind(identity.kind.as_str())
    .bind(&identity.value)
    .bind(micros(at))
    .execute(tx.conn())
    .await?;
    Ok((done.rows_affected() == 1).then_some(added))
}

pub(crate) async fn identity_owner(
    conn: &mut AnyConnection,
    account_id: AccountId,
    identity: &NormalizedIdentity,
) -> Result<Option<ContactId>> {
    let owner: Option<String> = sqlx::query_scalar("SELECT contact_id FROM identities WHERE account_id = $1 AND kind = $2 AND value = $3")
        .bind(account_id.to_string())
        .bind(identity.kind.as_str())
        .bind(&identity.value)
        .fetch_optional(&mut *conn)
        .await?;
    owner.map(|o| o.parse().map_err(|_| StoreError::Corrupt(o))).transpose()
}

impl Store {
    #[tracing::instrument(skip_all, fields(account = %account_id))]
    pub async fn create_contact(&self, account_id: AccountId, new: NewContact, actor: &str) -> Result<Contact> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let contact = insert_contact(&mut tx, account_id, new, at).await?;
        tx.emit(DomainEvent::contact_created(account_id, &contact, at));
        audit(&mut tx, account_id, actor, "contact.create", "contact", &contact.id.to_string(), serde_json::json!({}), at).await?;
        tx.commit().await?;
        Ok(contact)
    }

    #[tracing::instrument(skip_all, fields(account = %account_id, contact = %id))]
    pub async fn contact(&self, account_id: AccountId, id: ContactId) -> Result<Contact> {
        let mut conn = self.pool.acquire().await?;
        load_contact(&mut conn, account_id, id).await
    }

    #[tracing::instrument(skip_all, fields(account = %account_id))]
    pub async fn contacts(&self, account_id: AccountId, query: &ContactQuery) -> Result<Vec<Contact>> {
        let mut conn = self.pool.acquire().await?;
        let search = query.search.as_ref().map(|s| format!("%{}%", like_literal(&s.trim().to_lowercase())));
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts c WHERE account_id = $1 AND merged_into IS NULL \
             AND ($2 IS NULL OR id > $2) \
             AND ($3 IS NULL OR LOWER(name) LIKE $3 ESCAPE '\\' OR EXISTS (SELECT 1 FROM identities i \
                  WHERE i.contact_id = c.id AND LOWER(i.value) LIKE $3 ESCAPE '\\')) \
             ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(account_id.to_string())
            .bind(query.after.map(|a| a.to_string()))
            .bind(search)
            .bind(query.limit)
            .fetch_all(&mut *conn)
            .await?;
        let mut contacts = rows.iter().map(rows::contact).collect::<Result<Vec<_>>>()?;
        load_details(&mut conn, &mut contacts).await?;
        Ok(contacts)
    }

    #[tracing::instrument(skip_all, fields(account = %account_id, contact = %id))]
    pub async fn update_contact(&self, account_id: AccountId, id: ContactId, changes: ContactChanges) -> Result<Contact> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let mut contact = load_contact(tx.conn(), account_id, id).await?;
        if let Some(name) = changes.name {
            contact.name = Some(name);
        }
        if let Some(language) = changes.language {
            contact.language = Some(language);
        }
        if let Some(attributes) = changes.attributes {
            merge_maps(&mut contact.attributes, attributes);
        }
        if let Some(custom) = changes.custom_attributes {
            merge_maps(&mut contact.custom_attributes, custom);
        }
        if let Some(preferred) = changes.preferred_channels {
            contact.preferred_channels.extend(preferred);
        }
        contact.updated_at = at;
        write_contact_fields(&mut tx, account_id, &contact).await?;
        tx.emit(DomainEvent::contact_updated(account_id, &contact, at));
        tx.commit().await?;
        Ok(contact)
    }

    /// Links an identity to a contact. If another contact already owns it the
    /// answer is a conflict naming that contact: merging is a separate,
    /// audited decision.
    #[tracing::instrument(skip_all, fields(account = %account_id, contact = %id))]
    pub async fn link_identity(&self, account_id: AccountId, id: ContactId, identity: NormalizedIdentity, actor: &str) -> Result<Contact> {
        let at = now();
        let mut tx = self.begin_write().await?;
        load_contact(tx.conn(), account_id, id).await?;
        if insert_identity(&mut tx, account_id, id, &identity, at).await?.is_none() {
            let owner = identity_owner(tx.conn(), account_id, &identity).await?;
            if owner != Some(id) {
                return Err(StoreError::Conflict(format!(
                    "{} identity {} already belongs to contact {}; merge the contacts instead",
                    identity.kind,
                    identity.value,
                    owner.map(|o| o.to_string()).unwrap_or_default()
                )));
            }
        }
        let contact = load_contact(tx.conn(), account_id, id).await?;
        tx.emit(DomainEvent::identity_linked(account_id, id, &identity, at));
        audit(
            &mut tx,
            account_id,
            actor,
            "identity.link",
            "contact",
            &id.to_string(),
            // Never the value: the chain must hold no personal data.
            serde_json::json!({ "kind": identity.kind }),
            at,
        )
        .await?;
        tx.commit().await?;
        Ok(contact)
    }

    pub async fn unlink_identity(
        &self,
        account_id: AccountId,
        contact_id: ContactId,
        identity_id: IdentityId,
        actor: &str,
    ) -> Result<Contact> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM identities WHERE id = $1 AND contact_id = $2 AND account_id = $3")
            .bind(identity_id.to_string())
            .bind(contact_id.to_string())
            .bind(account_id.to_string())
            .execute(tx.conn())
            .await?;
        found(&done)?;
        let contact = load_contact(tx.conn(), account_id, contact_id).await?;
        tx.emit(DomainEvent::contact_updated(account_id, &contact, at));
        audit(
            &mut tx,
            account_id,
            actor,
            "identity.unlink",
            "contact",
            &contact_id.to_string(),
            serde_json::json!({ "identity_id": identity_id }),
            at,
        )
        .await?;
        tx.commit().await?;
        Ok(contact)
    }

    /// Records consents (granted or withdrawn) with their source; audited.
    pub async fn set_consents(
        &self,
        account_id: AccountId,
        contact_id: ContactId,
        consents: Vec<ConsentChange>,
        actor: &str,
    ) -> Result<Contact> {
        let at = now();
        let mut tx = self.begin_write().await?;
        load_contact(tx.conn(), account_id, contact_id).await?;
        for consent in &consents {
            sqlx::query(
                "INSERT INTO consents (contact_id, channel, purpose, granted, source, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (contact_id, channel, purpose) DO UPDATE SET granted = excluded.granted, source = excluded.source, \
                 updated_at = excluded.updated_at",
            )
            .bind(contact_id.to_string())
            .bind(consent.channel.as_str())
            .bind(&consent.purpose)
            .bind(i64::from(consent.granted))
            .bind(consent.source.clone())
            .bind(micros(at))
            .execute(tx.conn())
            .await?;
            // The source stays with the consent (it may name the person).
            let data = serde_json::json!({ "channel": consent.channel, "purpose": consent.purpose, "granted": consent.granted });
            audit(&mut tx, account_id, actor, "consent.set", "contact", &contact_id.to_string(), data, at).await?;
        }
        let contact = load_contact(tx.conn(), account_id, contact_id).await?;
        tx.emit(DomainEvent::contact_updated(account_id, &contact, at));
        tx.commit().await?;
        Ok(contact)
    }

    /// Merges `source` into `target`: identities, conversations, messages,
    /// interactions and consents move; attributes missing on the target are
    /// taken from the source; the source remains as a tombstone pointing at
    /// the target. Recorded in the audit log with what moved.
    #[tracing::instrument(skip_all, fields(account = %account_id, target = %target_id, source = %source_id))]
    pub async fn merge_contacts(&self, account_id: AccountId, target_id: ContactId, source_id: ContactId, actor: &str) -> Result<Contact> {
        if target_id == source_id {
            return Err(StoreError::Conflict("a contact cannot be merged into itself".into()));
        }
        let at = now();
        let mut tx = self.begin_write().await?;
        let mut target = load_contact(tx.conn(), account_id, target_id).await?;
        let source = load_contact(tx.conn(), account_id, source_id).await?;
        let (s, t, a) = (source_id.to_string(), target_id.to_string(), account_id.to_string());
        // Segment lists hold the surviving record only; it is looked at again.
        sqlx::query("DELETE FROM segment_members WHERE contact_id = $1 AND account_id = $2").bind(&s).bind(&a).execute(tx.conn()).await?;
        // The workload stored for the days of the source's messages counted
        // two customers where there is now one.
        crate::rollups::mark_message_days(&mut tx, crate::rollups::MessagesOf::Contacts, std::slice::from_ref(&s)).await?;
        let mut moved = serde_json::Map::new();
        for (table, column) in
            [("identities", "contact_id"), ("conversations", "contact_id"), ("messages", "contact_id"), ("interactions", "contact_id")]
                .into_iter()
                .chain(ACTIVITY_TABLES.iter().map(|t| (*t, "contact_id")))
        {
            let sql = format!("UPDATE {table} SET {column} = $1 WHERE {column} = $2 AND account_id = $3");
            let done = sqlx::query(&sql).bind(&t).bind(&s).bind(&a).execute(tx.conn()).await?;
            moved.insert(table.into(), done.rows_affected().into());
        }
        // Consents the target already has win: they are the more deliberate record.
        sqlx::query(
            "INSERT INTO consents (contact_id, channel, purpose, granted, source, updated_at) \
             SELECT $1, channel, purpose, granted, source, updated_at FROM consents WHERE contact_id = $2 \
             ON CONFLICT (contact_id, channel, purpose) DO NOTHING",
        )
        .bind(&t)
        .bind(&s)
        .execute(tx.conn())
        .await?;
        sqlx::query("DELETE FROM consents WHERE contact_id = $1").bind(&s).execute(tx.conn()).await?;
        if target.name.is_none() {
            target.name = source.name.clone();
        }
        if target.language.is_none() {
            target.language = source.language.clone();
        }
        for (key, value) in &source.attributes {
            target.attributes.entry(key.clone()).or_insert_with(|| value.clone());
        }
        for (key, value) in &source.custom_attributes {
            target.custom_attributes.entry(key.clone()).or_insert_with(|| value.clone());
        }
        for (topic, channel) in &source.preferred_channels {
            target.preferred_channels.entry(topic.clone()).or_insert(*channel);
        }
        target.updated_at = at;
        write_contact_fields(&mut tx, account_id, &target).await?;
        sqlx::query("UPDATE contacts SET merged_into = $1, updated_at = $2 WHERE id = $3 AND account_id = $4")
            .bind(&t)
            .bind(micros(at))
            .bind(&s)
            .bind(&a)
            .execute(tx.conn())
            .await?;
        // Earlier tombstones that pointed at the source now point at the target.
        sqlx::query("UPDATE contacts SET merged_into = $1 WHERE merged_into = $2 AND account_id = $3")
            .bind(&t)
            .bind(&s)
            .bind(&a)
            .execute(tx.conn())
            .await?;
        let merged = load_contact(tx.conn(), account_id, target_id).await?;
        let data = serde_json::json!({ "source": source, "moved": moved });
        audit(&mut tx, account_id, actor, "contact.merge", "contact", &t, data, at).await?;
        tx.emit(DomainEvent::contact_merged(account_id, &merged, source_id, MergeReason::Manual, at));
        tx.commit().await?;
        Ok(merged)
    }

    /// Gives contacts stored before `name_key` existed theirs, a thousand at a time.
    pub(crate) async fn backfill_name_keys(&self) -> Result<()> {
        let mut done = 0usize;
        loop {
            let rows = sqlx::query("SELECT id, name FROM contacts WHERE name_key IS NULL AND name IS NOT NULL ORDER BY id LIMIT 1000")
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                if done > 0 {
                    tracing::info!(contacts = done, "every contact has its name key");
                }
                return Ok(());
            }
            if done == 0 {
                tracing::info!("giving contacts stored before name keys theirs (once)");
            }
            done += rows.len();
            if done.is_multiple_of(20_000) {
                tracing::info!(contacts = done, "name keys so far");
            }
            let mut tx = self.begin_write().await?;
            for row in &rows {
                let name = rows::text(row, "name")?;
                // A name too short for a key gets an empty one, so it is not read again.
                sqlx::query("UPDATE contacts SET name_key = $2 WHERE id = $1")
                    .bind(rows::text(row, "id")?)
                    .bind(stored_name_key(Some(&name)))
                    .execute(tx.conn())
                    .await?;
            }
            tx.commit().await?;
        }
    }

    /// Pairs of contacts that are probably one person: the same phone number
    /// under different identity kinds (an SMS number and a WhatsApp id), the
    /// same mailbox written with and without a `+tag`, or near-identical names.
    #[tracing::instrument(skip_all, fields(account = %account_id))]
    pub async fn duplicate_suggestions(&self, account_id: AccountId, limit: usize) -> Result<Vec<DuplicateSuggestion>> {
        let mut conn = self.pool.acquire().await?;
        let mut suggestions: Vec<DuplicateSuggestion> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut push = |a: ContactId, b: ContactId, reason: String, out: &mut Vec<DuplicateSuggestion>| {
            let pair = if a < b { [a, b] } else { [b, a] };
            if a != b && seen.insert(pair) {
                out.push(DuplicateSuggestion { contact_ids: pair, reason });
            }
        };
        let identity_rows = sqlx::query(
            "SELECT i.contact_id, i.kind, i.value FROM identities i JOIN contacts c ON c.id = i.contact_id \
             WHERE i.account_id = $1 AND c.merged_into IS NULL AND i.kind IN ('email', 'phone', 'whatsapp')",
        )
        .bind(account_id.to_string())
        .fetch_all(&mut *conn)
        .await?;
        let mut by_key: HashMap<String, Vec<ContactId>> = HashMap::new();
        for row in &identity_rows {
            let kind: IdentityKind = rows::parse(row, "kind")?;
            let value = rows::text(row, "value")?;
            let key = match kind {
                IdentityKind::Email => match value.split_once('@') {
                    Some((local, domain)) => format!("email:{}@{domain}", local.split('+').next().unwrap_or(local)),
                    None => continue,
                },
                _ => format!("phone:{value}"),
            };
            by_key.entry(key).or_default().push(rows::parse(row, "contact_id")?);
        }
        let mut keys: Vec<_> = by_key.into_iter().filter(|(_, ids)| ids.len() > 1).collect();
        keys.sort();
        for (key, ids) in keys {
            let reason = if key.starts_with("email:") { "same email address" } else { "same phone number" };
            for pair in ids.windows(2) {
                push(pair[0], pair[1], format!("{reason} ({})", &key[key.find(':').map_or(0, |i| i + 1)..]), &mut suggestions);
            }
        }
        let name_rows = sqlx::query(
            "SELECT id, name FROM contacts WHERE account_id = $1 AND merged_into IS NULL AND name IS NOT NULL ORDER BY id LIMIT 50000",
        )
        .bind(account_id.to_string())
        .fetch_all(&mut *conn)
        .await?;
        // Compare names only within blocks sharing a word, so the work grows
        // with the size of each block rather than with the square of the list.
        let mut blocks: HashMap<String, Vec<(ContactId, String)>> = HashMap::new();
        for row in &name_rows {
            let id: ContactId = rows::parse(row, "id")?;
            let name = rows::text(row, "name")?;
            for word in name_key(&name).split(' ').filter(|w| w.len() >= 3) {
                blocks.entry(word.to_owned()).or_default().push((id, name.clone()));
            }
        }
        let mut block_keys: Vec<_> = blocks.keys().cloned().collect();
        block_keys.sort();
        for key in block_keys {
            let block = &blocks[&key];
            if block.len() > 200 {
                continue; // a very common word ("maria") says nothing on its own
            }
            for (i, (a, name_a)) in block.iter().enumerate() {
                for (b, name_b) in &block[i + 1..] {
                    if names_look_alike(name_a, name_b) {
                        push(*a, *b, format!("similar names ({name_a} / {name_b})"), &mut suggestions);
                    }
                }
            }
        }
        suggestions.truncate(limit);
        Ok(suggestions)
    }

    /// The contacts that are probably the same person as `contact_id`: the
    /// same phone number under another channel, the same mailbox with or
    /// without a `+tag`, the same name. Every lookup is indexed, so it is
    /// cheap enough for every page view.
    #[tracing::instrument(skip_all, fields(account = %account_id))]
    pub async fn duplicates_of(&self, account_id: AccountId, contact_id: ContactId) -> Result<Vec<(Contact, String)>> {
        let mut conn = self.pool.acquire().await?;
        let contact = load_contact(&mut conn, account_id, contact_id).await?;
        let mut found: Vec<(ContactId, String)> = Vec::new();
        let add = |id: ContactId, reason: String, found: &mut Vec<(ContactId, String)>| {
            if id != contact_id && !found.iter().any(|(f, _)| *f == id) {
                found.push((id, reason));
            }
        };
        for identity in &contact.identities {
            let rows = match identity.kind {
                IdentityKind::Phone | IdentityKind::Whatsapp => {
                    sqlx::query(
                        "SELECT i.contact_id FROM identities i JOIN contacts c ON c.id = i.contact_id \
                         WHERE i.account_id = $1 AND c.merged_into IS NULL AND i.kind IN ('phone', 'whatsapp') AND i.value = $2 LIMIT 20",
                    )
                    .bind(account_id.to_string())
                    .bind(&identity.value)
                    .fetch_all(&mut *conn)
                    .await?
                }
                IdentityKind::Email => {
                    let Some((local, domain)) = identity.value.split_once('@') else { continue };
                    let base = local.split('+').next().unwrap_or(local);
                    sqlx::query(
                        "SELECT i.contact_id FROM identities i JOIN contacts c ON c.id = i.contact_id \
                         WHERE i.account_id = $1 AND c.merged_into IS NULL AND i.kind = 'email' \
                         AND (i.value = $2 OR i.value LIKE $3 ESCAPE '\\') LIMIT 20",
                    )
                    .bind(account_id.to_string())
                    .bind(format!("{base}@{domain}"))
                    .bind(format!("{}+%@{}", like_literal(base), like_literal(domain)))
                    .fetch_all(&mut *conn)
                    .await?
                }
                _ => continue,
            };
            let reason = if identity.kind == IdentityKind::Email { "same email address" } else { "same phone number" };
            for row in &rows {
                add(rows::parse(row, "contact_id")?, format!("{reason} ({})", identity.value), &mut found);
            }
        }
        // The same name, whatever the case, accents, spacing or word order,
        // through the index on `name_key`. (Typos are left to the account-wide
        // `duplicate_suggestions`, which compares every name.)
        if let Some(key) = contact.name.as_deref().and_then(name_match_key) {
            let rows = sqlx::query(
                "SELECT id, name FROM contacts WHERE account_id = $1 AND name_key = $2 AND merged_into IS NULL AND id <> $3 \
                 ORDER BY id LIMIT 10",
            )
            .bind(account_id.to_string())
            .bind(key)
            .bind(contact_id.to_string())
            .fetch_all(&mut *conn)
            .await?;
            let name = contact.name.as_deref().unwrap_or_default();
            for row in &rows {
                let other = rows::text(row, "name")?;
                add(rows::parse(row, "id")?, format!("same name ({name} / {other})"), &mut found);
            }
        }
        let mut out = Vec::with_capacity(found.len());
        for (id, reason) in found.into_iter().take(10) {
            out.push((load_contact(&mut conn, account_id, id).await?, reason));
        }
        Ok(out)
    }
}

/// What `contacts.name_key` holds for a name: its match key, empty when the
/// name is too short to have one, NULL without a name.
pub(crate) fn stored_name_key(name: Option<&str>) -> Option<String> {
    name.map(|n| name_match_key(n).unwrap_or_default())
}

pub(crate) async fn write_contact_fields(tx: &mut WriteTx, account_id: AccountId, contact: &Contact) -> Result<()> {
    sqlx::query(
        "UPDATE contacts SET name = $3, language = $4, attributes = $5, custom_attributes = $6, preferred_channels = $7, \
         updated_at = $8, name_key = $9 WHERE id = $1 AND account_id = $2",
    )
    .bind(contact.id.to_string())
    .bind(account_id.to_string())
    .bind(contact.name.clone())
    .bind(contact.language.clone())
    .bind(serde_json::Value::Object(contact.attributes.clone()).to_string())
    .bind(serde_json::Value::Object(contact.custom_attributes.clone()).to_string())
    .bind(serde_json::to_string(&contact.preferred_channels).unwrap_or_else(|_| "{}".into()))
    .bind(micros(contact.updated_at))
    .bind(stored_name_key(contact.name.as_deref()))
    .execute(tx.conn())
    .await?;
    Ok(())
}
