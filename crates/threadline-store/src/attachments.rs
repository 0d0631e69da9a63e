//! Attachment bytes: kept in the database (default, one file to back up) or
//! as files under a folder, per configuration. Either way they are durable
//! before the message that carries them is acknowledged.

use std::collections::HashMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use threadline_domain::ids::{AccountId, AttachmentId, MessageId};
use threadline_domain::message::{AttachmentMeta, Message};

use crate::{Result, Store, StoreError, WriteTx, micros, rows};

/// Where attachment bytes live.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AttachmentStorage {
    #[default]
    Database,
    /// Files named by attachment id under `<dir>/<account id>/`.
    Disk(PathBuf),
}

pub use threadline_domain::ingest::NewAttachment;

pub(crate) async fn insert_attachments(
    store: &Store,
    tx: &mut WriteTx,
    account_id: AccountId,
    message_id: MessageId,
    attachments: &[NewAttachment],
    at: time::OffsetDateTime,
) -> Result<Vec<AttachmentMeta>> {
    let mut metas = Vec::with_capacity(attachments.len());
    for attachment in attachments {
        let meta = AttachmentMeta {
            id: AttachmentId::new(),
            filename: attachment.filename.clone(),
            content_type: attachment.content_type.clone(),
            size: attachment.data.len() as i64,
            content_id: attachment.content_id.clone(),
        };
        let sha256 = hex::encode(Sha256::digest(&attachment.data));
        let (storage, data) = match &store.attachment_storage {
            AttachmentStorage::Database => ("database", Some(attachment.data.clone())),
            AttachmentStorage::Disk(dir) => {
                write_durably(dir, account_id, meta.id, &attachment.data).await?;
                ("disk", None)
            }
        };
        sqlx::query(
            "INSERT INTO attachments (id, account_id, message_id, filename, content_type, size, sha256, storage, data, created_at, content_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(meta.id.to_string())
        .bind(account_id.to_string())
        .bind(message_id.to_string())
        .bind(&meta.filename)
        .bind(&meta.content_type)
        .bind(meta.size)
        .bind(sha256)
        .bind(storage)
        .bind(data)
        .bind(micros(at))
        .bind(meta.content_id.clone())
        .execute(tx.conn())
        .await?;
        metas.push(meta);
    }
    Ok(metas)
}

/// Writes the file and fsyncs it and its folder, so that it survives a crash
/// once the row pointing at it has committed.
async fn write_durably(dir: &std::path::Path, account_id: AccountId, id: AttachmentId, data: &[u8]) -> Result<()> {
    let folder = dir.join(account_id.to_string());
    let path = folder.join(id.to_string());
    let data = data.to_vec();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        // Customers' files: readable by the server's user only.
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&folder)?;
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?;
        file.write_all(&data)?;
        file.sync_all()?;
        std::fs::File::open(&folder)?.sync_all()
    })
    .await
    .map_err(|e| StoreError::Corrupt(format!("attachment writer stopped: {e}")))?
    .map_err(|e| StoreError::Corrupt(format!("cannot write attachment: {e}")))
}

/// Fills `attachments` of each message in one query.
pub(crate) async fn load_attachment_meta(conn: &mut AnyConnection, messages: &mut [Message]) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let placeholders = (1..=messages.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT id, message_id, filename, content_type, size, content_id FROM attachments WHERE message_id IN ({placeholders}) ORDER BY id"
    );
    let mut query = sqlx::query(&sql);
    for m in messages.iter() {
        query = query.bind(m.id.to_string());
    }
    let found = query.fetch_all(&mut *conn).await?;
    if found.is_empty() {
        return Ok(());
    }
    let index: HashMap<MessageId, usize> = messages.iter().enumerate().map(|(i, m)| (m.id, i)).collect();
    for row in &found {
        let message_id: MessageId = rows::parse(row, "message_id")?;
        if let Some(&i) = index.get(&message_id) {
            messages[i].attachments.push(AttachmentMeta {
                id: rows::parse(row, "id")?,
                filename: rows::text(row, "filename")?,
                content_type: rows::text(row, "content_type")?,
                size: rows::int(row, "size")?,
                content_id: rows::opt_text(row, "content_id")?,
            });
        }
    }
    Ok(())
}

impl Store {
    /// Where new attachments are written.
    pub fn with_attachment_storage(mut self, storage: AttachmentStorage) -> Self {
        self.attachment_storage = storage;
        self
    }

    /// An attachment's description and bytes.
    pub async fn attachment(&self, account_id: AccountId, id: AttachmentId) -> Result<(AttachmentMeta, Vec<u8>)> {
        let row = sqlx::query(
            "SELECT id, filename, content_type, size, storage, data, content_id FROM attachments WHERE id = $1 AND account_id = $2",
        )
        .bind(id.to_string())
        .bind(account_id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let meta = AttachmentMeta {
            id,
            filename: rows::text(&row, "filename")?,
            content_type: rows::text(&row, "content_type")?,
            size: rows::int(&row, "size")?,
            content_id: rows::opt_text(&row, "content_id")?,
        };
        let data = match rows::text(&row, "storage")?.as_str() {
            "database" => sqlx::Row::try_get::<Option<Vec<u8>>, _>(&row, "data")?.unwrap_or_default(),
            "disk" => {
                let AttachmentStorage::Disk(dir) = &self.attachment_storage else {
                    return Err(StoreError::Corrupt("attachment on disk but no attachment folder configured".into()));
                };
                let path = dir.join(account_id.to_string()).join(id.to_string());
                tokio::fs::read(&path).await.map_err(|e| StoreError::Corrupt(format!("attachment file {}: {e}", path.display())))?
            }
            other => return Err(StoreError::Corrupt(format!("attachment storage `{other}`"))),
        };
        Ok((meta, data))
    }
}
