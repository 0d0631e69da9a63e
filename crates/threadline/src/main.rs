//! `threadline`: one binary for the whole product.
//!
//! ```text
//! threadline serve            run the server (SQLite in ./data unless DATABASE_URL is set)
//! threadline serve --demo     the same, with demo data seeded on first start
//! threadline migrate          apply database migrations
//! threadline demo             seed demo data
//! threadline user create      add a user (the first one creates the account)
//! threadline triage train     retrain the category model from agents' labels
//! threadline domain assign    give an account a mail domain (its inboxes receive mail at it)
//! threadline audit verify     check every account's audit log hash chain
//! threadline contact export   a customer's data as a zip (GDPR access and portability)
//! threadline contact erase    erase a customer everywhere (GDPR erasure)
//! threadline backup DIR       an online copy of the SQLite database, key and attachments
//! threadline restore DIR      put a backup back (server stopped)
//! threadline config           print the effective configuration, secrets masked
//! threadline openapi          print the OpenAPI document
//! ```

mod backup;
mod demo;
mod demo_journeys;

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use threadline_domain::identity::{IdentityKind, NormalizedIdentity, Region};
use threadline_domain::role::Role;
use threadline_server::Settings;
use threadline_server::config::AttachmentStore;
use threadline_server::secrets::SecretBox;
use threadline_store::{AttachmentStorage, ConnectOptions, Store};

#[derive(Parser)]
#[command(name = "threadline", version, about = "One customer, one conversation, every channel.")]
struct Cli {
    /// TOML configuration file (also THREADLINE_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data folder for SQLite, attachments and the secret key (also THREADLINE_DATA).
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// postgres://… to use PostgreSQL instead of SQLite (also DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server until Ctrl-C or SIGTERM.
    Serve {
        /// Listen address, e.g. 127.0.0.1:8080 (also THREADLINE_BIND).
        #[arg(long)]
        bind: Option<std::net::SocketAddr>,
        /// Seed demo data first if the database has no account yet.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Seed realistic demo data: a shop with a few hundred contacts whose
    /// conversations cross channels.
    Demo {
        /// How many contacts to create.
        #[arg(long, default_value_t = 300)]
        contacts: usize,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Message triage: the category model.
    Triage {
        #[command(subcommand)]
        command: TriageCommand,
    },
    /// Mail domains assigned to accounts: an account's email inboxes
    /// receive mail for addresses at its domains without a verification code.
    Domain {
        #[command(subcommand)]
        command: DomainCommand,
    },
    /// A customer's data: export and erasure.
    Contact {
        #[command(subcommand)]
        command: ContactCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Copy the installation into a new folder while it runs: the SQLite
    /// database (consistent), the secret key and attachments kept on disk.
    /// With PostgreSQL, says how to use pg_dump instead.
    Backup {
        /// The folder to write (new or empty).
        into: PathBuf,
    },
    /// Put a backup made by `threadline backup` back into the data folder.
    /// The server must be stopped.
    Restore {
        /// The backup's folder.
        from: PathBuf,
        /// Replace a database already there (kept beside as
        /// threadline.db.before-restore).
        #[arg(long)]
        force: bool,
    },
    /// Print the effective configuration (secrets masked).
    Config,
    /// Print the OpenAPI 3.1 document of the REST API.
    Openapi,
}

#[derive(Subcommand)]
enum TriageCommand {
    /// Retrain the category model from the categories agents gave resolved
    /// conversations, and print how accurate it was on held-out examples.
    Train {
        /// The account (default: every account).
        #[arg(long)]
        account: Option<threadline_domain::ids::AccountId>,
    },
}

#[derive(Subcommand)]
enum ContactCommand {
    /// Write everything stored about a customer to a zip file: profile,
    /// identities, consents, conversations, messages, interactions, audit
    /// entries and attachments. Recorded in the audit log.
    Export {
        /// The contact's id.
        id: threadline_domain::ids::ContactId,
        /// The zip file to write.
        #[arg(long)]
        out: PathBuf,
        /// The account (default: the only one).
        #[arg(long)]
        account: Option<threadline_domain::ids::AccountId>,
    },
    /// Erase a customer everywhere, keeping only what reports count.
    /// Refused while the customer is on legal hold.
    Erase {
        id: threadline_domain::ids::ContactId,
        #[arg(long)]
        account: Option<threadline_domain::ids::AccountId>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of the audit log: every entry matches its hash
    /// and links to the one before it. Exits with 1 if a chain is broken.
    Verify {
        /// The account (default: every account).
        #[arg(long)]
        account: Option<threadline_domain::ids::AccountId>,
    },
}

#[derive(Subcommand)]
enum DomainCommand {
    /// Assign a domain to an account (a domain belongs to one account).
    Assign {
        /// e.g. shop.example
        domain: String,
        /// The account (default: the only one).
        #[arg(long)]
        account: Option<threadline_domain::ids::AccountId>,
    },
    /// Take a domain back from its account.
    Remove {
        domain: String,
        #[arg(long)]
        account: Option<threadline_domain::ids::AccountId>,
    },
    /// List an account's domains.
    List {
        #[arg(long)]
        account: Option<threadline_domain::ids::AccountId>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. With no account yet, creates the account too.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "admin", value_parser = ["agent", "supervisor", "admin"])]
        role: String,
        /// Password; read from THREADLINE_PASSWORD if not given, generated if neither.
        #[arg(long, env = "THREADLINE_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Name of the account to create if none exists yet.
        #[arg(long, default_value = "My company")]
        account_name: String,
        /// Default phone region of a new account.
        #[arg(long, default_value = "IT")]
        region: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let env: Vec<(String, String)> = std::env::vars().collect();
    let (mut settings, warnings) = Settings::load(cli.config.as_deref(), &env)?;
    if let Some(data) = cli.data {
        settings.data = data;
    }
    if let Some(url) = cli.database_url {
        settings.database_url = threadline_server::config::Secret(url);
    }
    if let Command::Serve { bind: Some(bind), .. } = &cli.command {
        settings.bind = *bind;
    }
    init_logging(&settings.log);
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(cli.command, settings, cli.config))
}

/// The account named, or the only one there is.
async fn only_account(store: &Store, given: Option<threadline_domain::ids::AccountId>) -> anyhow::Result<threadline_store::Account> {
    match given {
        Some(id) => Ok(store.account(id).await.with_context(|| format!("while reading account {id}"))?),
        None => {
            let ids = store.account_ids().await?;
            match ids.as_slice() {
                [only] => Ok(store.account(*only).await?),
                [] => bail!("there is no account yet"),
                _ => bail!("there are several accounts: name one with --account"),
            }
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// `serving`: this process is the server, which checkpoints SQLite's WAL
/// beside the commits (`sqlite_checkpoint_ms`).
async fn open_store(settings: &Settings, serving: bool) -> anyhow::Result<Store> {
    let url = settings.effective_database_url();
    if url.starts_with("sqlite:") || settings.attachment_store == AttachmentStore::Disk {
        // The data folder holds customers' messages and the secret key:
        // created readable by the server's user only.
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&settings.data)
            .with_context(|| format!("while creating data folder {}", settings.data.display()))?;
    }
    let options = ConnectOptions {
        max_connections: settings.database_max_connections,
        sqlite_sync: settings.sqlite_sync,
        background_checkpoints: serving && settings.sqlite_checkpoint_ms > 0,
        sqlite_memory_bytes: settings.sqlite_memory_mb * 1024 * 1024,
    };
    let store = Store::connect(&url, &options).await.context("while connecting to the database")?;
    store.migrate().await.context("while migrating the database")?;
    let attachments = match settings.attachment_store {
        AttachmentStore::Database => AttachmentStorage::Database,
        AttachmentStore::Disk => AttachmentStorage::Disk(settings.data.join("attachments")),
    };
    Ok(store.with_attachment_storage(attachments))
}

/// Seeds the demo in a child process (`threadline demo`): the memory that
/// seeding takes (hundreds of conversations, the category model's
/// training) goes back to the system when it exits, instead of staying
/// with the server for its whole life.
async fn seed_demo_in_child(settings: &Settings, config: Option<&std::path::Path>) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("while finding this program to seed the demo")?;
    let mut child = std::process::Command::new(exe);
    if let Some(config) = config {
        child.arg("--config").arg(config);
    }
    child.arg("--data").arg(&settings.data).arg("demo");
    if !settings.database_url.0.is_empty() {
        child.env("DATABASE_URL", &settings.database_url.0);
    }
    if !settings.secret_key.0.is_empty() {
        child.env("THREADLINE_SECRET_KEY", &settings.secret_key.0);
    }
    let status = tokio::task::spawn_blocking(move || child.status()).await?.context("while seeding the demo")?;
    if !status.success() {
        bail!("seeding the demo failed ({status})");
    }
    Ok(())
}

fn secret_box(settings: &Settings) -> anyhow::Result<SecretBox> {
    if settings.secret_key.0.is_empty() {
        Ok(SecretBox::from_key_file(&settings.data.join("secret.key"))?)
    } else {
        Ok(SecretBox::from_base64(&settings.secret_key.0)?)
    }
}

/// `config`: the `--config` file, which a child process is given too.
async fn run(command: Command, settings: Settings, config: Option<PathBuf>) -> anyhow::Result<()> {
    match command {
        Command::Serve { demo, .. } => {
            let store = open_store(&settings, true).await?;
            let _held = backup::hold_data_folder(&settings)?;
            let secrets = secret_box(&settings)?;
            if demo && store.first_account().await?.is_none() {
                seed_demo_in_child(&settings, config.as_deref()).await?;
            }
            let running = threadline_server::start(settings, store, secrets).await?;
            println!("Threadline is listening on http://{}", running.addr);
            let stop = running.shutdown_handle();
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutting down");
                let _ = stop.send(true);
            });
            running.wait().await;
            Ok(())
        }
        Command::Migrate => {
            open_store(&settings, false).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Demo { contacts } => {
            let store = open_store(&settings, false).await?;
            let secrets = secret_box(&settings)?;
            demo::seed(&store, &secrets, contacts).await
        }
        Command::User { command: UserCommand::Create { email, name, role, password, account_name, region } } => {
            let store = open_store(&settings, false).await?;
            let email = NormalizedIdentity::parse(IdentityKind::Email, &email, Region::default())
                .map_err(|e| anyhow::anyhow!("--email {e}"))?
                .value;
            let Some(region) = Region::parse(&region) else { bail!("--region must be a two-letter region such as IT") };
            let role = Role::parse(&role).expect("clap checked the role");
            let (password, generated) = match password {
                Some(p) => (p, false),
                None => (threadline_server::auth::new_token(""), true),
            };
            match threadline_server::auth::check_password_strength(&password) {
                Ok(()) => {}
                Err(threadline_server::error::ApiError::Invalid(v)) => bail!("{v}"),
                Err(other) => bail!("{other}"),
            }
            let account = match store.first_account().await? {
                Some(a) => a,
                None => store.create_account(&account_name, &region.code()).await?,
            };
            let hash = threadline_server::auth::hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
            let user = store.create_user(account.id, &email, name.trim(), role, Some(hash), "cli").await?;
            let token = threadline_server::auth::new_token("tl_");
            // An administrator's token also serves integrations (posting
            // customers' messages); anyone else's acts as its user only.
            let scopes = match role {
                threadline_domain::role::Role::Admin => {
                    vec![threadline_domain::role::Scope::Api, threadline_domain::role::Scope::Integration]
                }
                _ => vec![threadline_domain::role::Scope::Api],
            };
            store
                .create_api_token(
                    &user,
                    "created by threadline user create",
                    &threadline_server::auth::hash_token(&token),
                    &token[..10],
                    &scopes,
                    "cli",
                )
                .await?;
            println!("created {} {} in account {} ({})", user.role, user.email, account.name, account.id);
            if generated {
                println!("password: {password}");
            }
            println!("API token (shown once): {token}");
            Ok(())
        }
        Command::Triage { command: TriageCommand::Train { account } } => {
            let store = open_store(&settings, false).await?;
            let accounts = match account {
                Some(id) => vec![store.account(id).await.with_context(|| format!("while reading account {id}"))?.id],
                None => store.account_ids().await?,
            };
            let mut failed = false;
            for id in accounts {
                match threadline_server::triage::train(&store, id).await {
                    Ok(report) => {
                        let accuracy = match report.holdout_accuracy {
                            Some(a) => format!("{:.1}% on {} held-out conversations", a * 100.0, report.holdout_examples),
                            None => "too few examples to hold any out".to_owned(),
                        };
                        println!(
                            "account {id}: trained on {} labelled conversations, {} categories ({}); accuracy {accuracy}",
                            report.examples,
                            report.categories.len(),
                            report.categories.join(", ")
                        );
                    }
                    Err(threadline_server::triage::TrainingError::TooFew(why)) => {
                        println!("account {id}: not trained: {why}");
                        failed = account.is_some();
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if failed {
                bail!("the model was not trained");
            }
            Ok(())
        }
        Command::Domain { command } => {
            let store = open_store(&settings, false).await?;
            let account = |given: Option<threadline_domain::ids::AccountId>| only_account(&store, given);
            match command {
                DomainCommand::Assign { domain, account: id } => {
                    let account = account(id).await?;
                    let domain = threadline_server::api::parse_domain(&domain).map_err(|e| anyhow::anyhow!("{e}: domain"))?;
                    store.assign_domain(account.id, &domain, "cli").await?;
                    println!("{domain} is assigned to {} ({}): its email inboxes receive mail at it", account.name, account.id);
                }
                DomainCommand::Remove { domain, account: id } => {
                    let account = account(id).await?;
                    store
                        .unassign_domain(account.id, &domain.to_ascii_lowercase(), "cli")
                        .await
                        .with_context(|| format!("{domain} is not assigned to {}", account.name))?;
                    println!("{domain} is no longer assigned to {}", account.name);
                }
                DomainCommand::List { account: id } => {
                    let account = account(id).await?;
                    for domain in store.account_domains(account.id).await? {
                        println!("{domain}");
                    }
                }
            }
            Ok(())
        }
        Command::Contact { command } => {
            let store = open_store(&settings, false).await?;
            let secrets = secret_box(&settings)?;
            let given = match &command {
                ContactCommand::Export { account, .. } | ContactCommand::Erase { account, .. } => *account,
            };
            let account = only_account(&store, given).await?;
            let state = threadline_server::AppState::new(store, settings, secrets)?;
            match command {
                ContactCommand::Export { id, out, .. } => {
                    let path =
                        threadline_server::privacy::export(&state, account.id, id, "cli").await.map_err(|e| anyhow::anyhow!("{e}"))?;
                    let copied = std::fs::copy(&path, &out).with_context(|| format!("while writing {}", out.display()));
                    let _ = std::fs::remove_file(&path);
                    println!("wrote {} ({} bytes)", out.display(), copied?);
                }
                ContactCommand::Erase { id, .. } => {
                    let report =
                        threadline_server::privacy::erase(&state, account.id, id, "cli").await.map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!(
                        "erased contact {id}: {} messages, {} attachments, {} identities, {} interactions, {} events",
                        report.messages, report.attachments, report.identities, report.interactions, report.events
                    );
                }
            }
            Ok(())
        }
        Command::Audit { command: AuditCommand::Verify { account } } => {
            let store = open_store(&settings, false).await?;
            let accounts = match account {
                Some(id) => vec![store.account(id).await.with_context(|| format!("while reading account {id}"))?.id],
                None => store.account_ids().await?,
            };
            let mut broken = 0;
            for id in accounts {
                match store.verify_audit_chain(id).await? {
                    Ok(report) => match (report.first_seq, report.last_seq) {
                        (Some(first), Some(last)) => {
                            println!("account {id}: {} entries ({first}–{last}), the chain is intact", report.entries)
                        }
                        _ => println!("account {id}: no entries"),
                    },
                    Err(problem) => {
                        broken += 1;
                        println!("account {id}: BROKEN: {problem}");
                    }
                }
            }
            if broken > 0 {
                bail!("{broken} audit log(s) failed verification");
            }
            Ok(())
        }
        Command::Backup { into } => backup::backup(&settings, &into).await,
        Command::Restore { from, force } => backup::restore(&settings, &from, force).await,
        Command::Config => {
            print!("{}", settings.to_masked_toml());
            Ok(())
        }
        Command::Openapi => {
            println!("{}", threadline_server::api::openapi_document().to_pretty_json()?);
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
