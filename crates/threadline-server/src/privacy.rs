//! A person's rights over their data, server side: the export as a zip
//! file (GDPR Art. 15 and 20) and erasure (Art. 17) with what the database
//! alone cannot do — files on disk, the category model learnt from their
//! words, caches. The rows themselves are the store's (`threadline_store`'s
//! `privacy` module).

use std::io::Write;
use std::path::{Path, PathBuf};

use threadline_domain::ids::{AccountId, ContactId};
use threadline_store::{ContactExport, PrivacyReport};
use zip::write::SimpleFileOptions;

use crate::app::AppState;
use crate::error::ApiError;

/// What the export says about itself, for the person reading it.
const README: &str = "\
This archive holds everything Threadline stores about one customer.

  contact.json        the customer record: name, language, attributes, identities
                      (e-mail addresses, phone numbers, chat ids), consents, and
                      the ids of earlier records merged into it
  conversations.json  every conversation with the customer
  messages.json       every message, both ways, on every channel, oldest first
  interactions.json   calls, orders, page views and other recorded interactions
  activity.json       what the customer did on the site or in the app (tracked
                      pages, screens and events)
  journeys.json       the journeys the customer went through, and tasks about them
  orders.json         their orders from the business's shop: lines, parcels, status
  survey_answers.json the satisfaction surveys sent to the customer, and their answers
  audit.json          who changed the customer's record, and when
  attachments/        the files of the messages, under the message's id

All times are UTC (RFC 3339). The JSON files are UTF-8.
";

/// Writes the export of `contact_id` to a new file under the data folder
/// (readable by the server's user only) and returns its path; the caller
/// deletes it once sent. Recorded in the audit log.
pub async fn export(state: &AppState, account_id: AccountId, contact_id: ContactId, actor: &str) -> Result<PathBuf, ApiError> {
    let data = state.store.contact_export(account_id, contact_id).await?;
    let folder = state.settings.data.join("exports");
    let path = folder.join(format!("{}-{}.zip", contact_id, uuid::Uuid::now_v7().simple()));
    let messages = data.messages.len();
    // Attachment bytes are read one at a time and written straight into
    // the archive, which lives on disk: memory stays flat however large
    // the customer's history is.
    let file = create_private(&folder, &path).map_err(|e| ApiError::Internal(anyhow::anyhow!("creating {}: {e}", path.display())))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let write = |zip: &mut zip::ZipWriter<std::io::BufWriter<std::fs::File>>, name: &str, bytes: &[u8]| -> Result<(), ApiError> {
        let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).unix_permissions(0o600);
        zip.start_file(name, options).map_err(|e| ApiError::Internal(e.into()))?;
        zip.write_all(bytes).map_err(|e| ApiError::Internal(e.into()))
    };
    let outcome = async move {
        let mut attachments = 0usize;
        write(&mut zip, "README.txt", README.as_bytes())?;
        write(&mut zip, "contact.json", &json(&contact_part(&data))?)?;
        write(&mut zip, "conversations.json", &json(&data.conversations)?)?;
        write(&mut zip, "messages.json", &json(&data.messages)?)?;
        write(&mut zip, "interactions.json", &json(&data.interactions)?)?;
        write(&mut zip, "activity.json", &json(&data.customer_events)?)?;
        write(&mut zip, "journeys.json", &json(&serde_json::json!({ "runs": data.journey_runs, "tasks": data.tasks }))?)?;
        write(&mut zip, "orders.json", &json(&data.orders)?)?;
        write(&mut zip, "survey_answers.json", &json(&data.survey_answers)?)?;
        write(&mut zip, "audit.json", &json(&data.audit)?)?;
        for message in &data.messages {
            for meta in &message.attachments {
                let (_, bytes) = state.store.attachment(account_id, meta.id).await?;
                let name = format!("attachments/{}/{}-{}", message.id, meta.id, safe_name(&meta.filename));
                write(&mut zip, &name, &bytes)?;
                attachments += 1;
            }
        }
        zip.finish().map_err(|e| ApiError::Internal(e.into()))?.flush().map_err(|e| ApiError::Internal(e.into()))?;
        Ok::<_, ApiError>(attachments)
    }
    .await;
    let attachments = match outcome {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    let summary = serde_json::json!({ "messages": messages, "attachments": attachments });
    state.store.record_audit(account_id, actor, "contact.export", ("contact", &contact_id.to_string()), summary).await?;
    Ok(path)
}

fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec_pretty(value).map_err(|e| ApiError::Internal(e.into()))
}

fn contact_part(data: &ContactExport) -> serde_json::Value {
    serde_json::json!({
        "contact": data.contact,
        "merged_contact_ids": data.merged_contact_ids,
        "legal_hold": data.legal_hold,
    })
}

/// A file name safe inside an archive: no folders, no control characters.
fn safe_name(name: &str) -> String {
    let name: String = name.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    if name.is_empty() || name == "." || name == ".." { "file".into() } else { name }
}

fn create_private(folder: &Path, path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(folder)?;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

/// Erases a person (see `threadline_store::Store::erase_contact`), then
/// what lives outside the database's rows: the account's category model,
/// which learnt from their words, is trained again without them (or
/// forgotten if too little is left to learn from), and caches are cleared.
pub async fn erase(state: &AppState, account_id: AccountId, contact_id: ContactId, actor: &str) -> Result<PrivacyReport, ApiError> {
    let report = state.store.erase_contact(account_id, contact_id, actor).await?;
    forget_learnt_words(state, account_id).await?;
    Ok(report)
}

/// Deletes a contact with everything of theirs (see `erase`).
pub async fn delete_contact(
    state: &AppState,
    account_id: AccountId,
    contact_id: ContactId,
    actor: &str,
) -> Result<PrivacyReport, ApiError> {
    let report = state.store.delete_contact(account_id, contact_id, actor).await?;
    forget_learnt_words(state, account_id).await?;
    Ok(report)
}

async fn forget_learnt_words(state: &AppState, account_id: AccountId) -> Result<(), ApiError> {
    if state.store.triage_model(account_id).await?.is_some() {
        match crate::triage::train(&state.store, account_id).await {
            Ok(_) => {}
            Err(crate::triage::TrainingError::TooFew(_)) => state.store.delete_triage_model(account_id).await?,
            Err(crate::triage::TrainingError::Store(e)) => return Err(e.into()),
        }
    }
    state.triage.forget(account_id);
    state.invalidate_caches();
    Ok(())
}
