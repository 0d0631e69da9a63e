//! `threadline backup` and `threadline restore` for the embedded database.
//!
//! A backup is a folder: `threadline.db` (a consistent copy taken with
//! SQLite's `VACUUM INTO` while the server keeps running), `secret.key`
//! (when the key lives in the data folder: without it the providers'
//! credentials in the copy cannot be read) and `attachments/` (when
//! attachments are kept on disk). Restoring checks the copy first, needs
//! the server stopped, and keeps what it replaces beside it.
//!
//! With PostgreSQL the database's own tools do this better (`pg_dump`, base
//! backups with WAL archiving); the commands say how instead.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use threadline_server::Settings;
use threadline_server::config::AttachmentStore;
use threadline_store::{ConnectOptions, Store};

const DATABASE: &str = "threadline.db";
const KEY: &str = "secret.key";
const ATTACHMENTS: &str = "attachments";
/// Held by a running server on SQLite (see [`hold_data_folder`]).
const LOCK: &str = "threadline.lock";

const POSTGRES_GUIDANCE: &str = "this installation keeps its data in PostgreSQL: back it up with PostgreSQL's tools, e.g.\n  \
     pg_dump --format=custom --file=threadline.dump \"$DATABASE_URL\"\n\
     and restore with\n  \
     pg_restore --clean --if-exists --dbname=\"$DATABASE_URL\" threadline.dump\n\
     (or base backups with WAL archiving for point-in-time recovery); keep THREADLINE_SECRET_KEY with it";

fn is_sqlite(settings: &Settings) -> bool {
    settings.effective_database_url().starts_with("sqlite:")
}

/// Held for as long as the server runs on the data folder's SQLite
/// database, so that a restore does not replace it underneath.
pub fn hold_data_folder(settings: &Settings) -> anyhow::Result<Option<std::fs::File>> {
    if !is_sqlite(settings) {
        return Ok(None);
    }
    let path = settings.data.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("while opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!("another threadline process is serving {} (it holds {})", settings.data.display(), path.display())
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("while locking {}", path.display())),
    }
}

/// Writes a backup of the installation into `into` (a new or empty folder).
pub async fn backup(settings: &Settings, into: &Path) -> anyhow::Result<()> {
    if !is_sqlite(settings) {
        bail!("{POSTGRES_GUIDANCE}");
    }
    if into.exists() && std::fs::read_dir(into)?.next().is_some() {
        bail!("{} is not empty: back up into a new folder", into.display());
    }
    create_private_dir(into)?;
    let source = settings.data.join(DATABASE);
    if !source.exists() {
        bail!("there is no database at {} yet", source.display());
    }
    let store = Store::connect(&settings.effective_database_url(), &ConnectOptions { max_connections: 1, ..Default::default() })
        .await
        .context("while opening the database")?;
    let copy = into.join(DATABASE);
    store.backup_into(&copy).await.with_context(|| format!("while copying the database into {}", copy.display()))?;
    store.close().await;
    let mut copied = vec![DATABASE.to_owned()];
    if settings.secret_key.0.is_empty() && settings.data.join(KEY).exists() {
        copy_private(&settings.data.join(KEY), &into.join(KEY))?;
        copied.push(KEY.to_owned());
    }
    if settings.attachment_store == AttachmentStore::Disk && settings.data.join(ATTACHMENTS).is_dir() {
        let n = copy_tree(&settings.data.join(ATTACHMENTS), &into.join(ATTACHMENTS))?;
        copied.push(format!("{ATTACHMENTS}/ ({n} files)"));
    }
    println!("backed up into {}: {}", into.display(), copied.join(", "));
    if !settings.secret_key.0.is_empty() {
        println!("the secret key comes from THREADLINE_SECRET_KEY: keep it with the backup");
    }
    Ok(())
}

/// Puts a backup back in the data folder; the server must be stopped.
pub async fn restore(settings: &Settings, from: &Path, force: bool) -> anyhow::Result<()> {
    if !is_sqlite(settings) {
        bail!("{POSTGRES_GUIDANCE}");
    }
    let copy = from.join(DATABASE);
    if !copy.is_file() {
        bail!("{} holds no {DATABASE}: not a threadline backup", from.display());
    }
    create_private_dir(&settings.data)?;
    let _held = hold_data_folder(settings).context("stop the server before restoring")?;
    let target = settings.data.join(DATABASE);
    if target.exists() && !force {
        bail!(
            "{} already holds a database: restore with --force to replace it (it is kept beside as {DATABASE}.before-restore)",
            settings.data.display()
        );
    }
    // Checked as a copy beside the target (the backup itself is never
    // opened for writing), then put in place.
    let incoming = settings.data.join(format!("{DATABASE}.restoring"));
    copy_private(&copy, &incoming)?;
    if let Err(e) = check_copy(&incoming).await {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(settings.data.join(format!("{DATABASE}.restoring{suffix}")));
        }
        return Err(e);
    }
    if target.exists() {
        let aside = settings.data.join(format!("{DATABASE}.before-restore"));
        std::fs::rename(&target, &aside).with_context(|| format!("while moving {} aside", target.display()))?;
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(settings.data.join(format!("{DATABASE}{suffix}")));
        }
        println!("kept the database it replaces as {}", aside.display());
    }
    std::fs::rename(&incoming, &target).with_context(|| format!("while moving the restored database to {}", target.display()))?;
    if from.join(KEY).is_file() {
        let key = settings.data.join(KEY);
        if key.exists() && std::fs::read(&key)? != std::fs::read(from.join(KEY))? {
            let aside = settings.data.join(format!("{KEY}.before-restore"));
            std::fs::rename(&key, &aside)?;
            println!("kept the secret key it replaces as {}", aside.display());
        }
        copy_private(&from.join(KEY), &key)?;
    }
    if from.join(ATTACHMENTS).is_dir() {
        let n = copy_tree(&from.join(ATTACHMENTS), &settings.data.join(ATTACHMENTS))?;
        println!("restored {n} attachment files");
    }
    println!("restored {} from {}", target.display(), from.display());
    Ok(())
}

/// The copy is a sound SQLite database of this version or an older one
/// (closed again before it is moved: nothing stays in a WAL file).
async fn check_copy(copy: &Path) -> anyhow::Result<()> {
    let url = format!("sqlite://{}", copy.display());
    let store = Store::connect(&url, &ConnectOptions { max_connections: 1, ..Default::default() })
        .await
        .with_context(|| format!("{} cannot be opened as a database", copy.display()))?;
    let checked = store.integrity_check().await;
    store.close().await;
    match checked {
        Ok(problems) if problems.is_empty() => Ok(()),
        Ok(problems) => bail!("{} is damaged: {}", copy.display(), problems.join("; ")),
        Err(e) => Err(e).with_context(|| format!("{} is not a threadline database", copy.display())),
    }
}

fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path).with_context(|| format!("while creating {}", path.display()))
}

/// Copies a file readable by its owner only.
fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(from, to).with_context(|| format!("while copying {} to {}", from.display(), to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// Copies a folder's files (recursively); returns how many.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<usize> {
    create_private_dir(to)?;
    let mut n = 0;
    let mut pending: Vec<(PathBuf, PathBuf)> = vec![(from.to_owned(), to.to_owned())];
    while let Some((dir, target)) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let destination = target.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                create_private_dir(&destination)?;
                pending.push((entry.path(), destination));
            } else {
                copy_private(&entry.path(), &destination)?;
                n += 1;
            }
        }
    }
    Ok(n)
}
