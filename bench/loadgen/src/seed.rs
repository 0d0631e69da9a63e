//! `seed`: fills an account with a large, realistic history — N customers,
//! one conversation each, M messages in all — written straight into the
//! database in multi-row INSERTs, so that 100,000 conversations and
//! 1,000,000 messages take a minute rather than the hours the HTTP path
//! would. The rows are the ones the store writes (columns as in
//! `crates/threadline-store/migrations`); SQLite's full-text triggers and
//! PostgreSQL's search index are filled as they would be in production.
//!
//! With `--measured`, each conversation also gets the facts row the
//! reports' refresh job would derive from it (computed by the same
//! `threadline_domain::metrics::facts`), its team and category, and its
//! days are marked for the roll-up job to store, so reports can be loaded
//! at once on a year of history.
//!
//! The account, its inboxes and its users must exist (created through the
//! API); the server must be stopped while seeding.

use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

/// A small deterministic generator (xorshift64*), so that every run seeds the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const FIRST: &[&str] = &[
    "Giulia",
    "Luca",
    "Sofia",
    "Marco",
    "Chiara",
    "Matteo",
    "Francesca",
    "Alessandro",
    "Elena",
    "Davide",
    "Oliver",
    "Amelia",
    "Harry",
    "Isla",
    "Jack",
    "Emily",
    "Noah",
    "Grace",
];
const LAST: &[&str] = &[
    "Rossi", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "Smith", "Jones", "Taylor", "Brown",
    "Wilson", "Evans",
];
const CUSTOMER: &[&str] = &[
    "Buongiorno, il mio ordine {order} non è ancora arrivato: potete verificare?",
    "Ho ricevuto la taglia sbagliata per l'ordine {order}, come faccio il reso?",
    "Il pagamento con carta è stato addebitato due volte sull'ordine {order}.",
    "Avete ancora disponibile il modello in blu? Vorrei ordinarlo entro venerdì.",
    "Posso cambiare l'indirizzo di spedizione dell'ordine {order}?",
    "Il codice sconto PRIMAVERA non funziona al checkout.",
    "Hello, my parcel {order} shows delivered but I never received it.",
    "Can I get a refund instead of a replacement for order {order}?",
    "The app keeps logging me out when I try to pay.",
    "Do you ship to Ireland? I could not find it in the list of countries.",
    "My card was declined but the money left my account, order {order}.",
    "Grazie, tutto risolto! Il pacco è arrivato stamattina.",
];
const AGENT: &[&str] = &[
    "Ciao {name}, ho verificato: l'ordine {order} è in consegna, arriverà domani.",
    "Ciao {name}, ti ho inviato l'etichetta per il reso gratuito via email.",
    "Ho aperto la richiesta di rimborso per l'ordine {order}: 3–5 giorni lavorativi.",
    "Hi {name}, I have checked with the courier and opened a claim for {order}.",
    "Hi {name}, the refund for {order} is on its way, allow 3–5 working days.",
    "Grazie {name}, chiudo la conversazione. Buona giornata!",
];

/// One message row.
struct Msg {
    id: String,
    conversation: String,
    contact: String,
    inbound: bool,
    channel: String,
    inbox: String,
    sender: Option<String>,
    text: String,
    at: i64,
}

const CATEGORIES: &[&str] = &["delivery", "returns", "billing", "product", "account", "shipping_abroad", "discounts", "complaint"];

/// Seeds the first account of the database with `months` of history.
pub async fn seed(url: &str, conversations: usize, messages: usize, months: u32, measured: bool) -> anyhow::Result<serde_json::Value> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    let mut options = AnyPoolOptions::new().max_connections(1);
    if sqlite {
        options = options.after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON; PRAGMA cache_size = -200000;")
                    .await?;
                Ok(())
            })
        });
    }
    let pool = options.connect(url).await.context("connecting to the database")?;
    let account: String = sqlx::query_scalar("SELECT id FROM accounts ORDER BY created_at LIMIT 1")
        .fetch_optional(&pool)
        .await?
        .context("no account: create one through the API first")?;
    let inboxes: Vec<(String, String)> =
        sqlx::query_as("SELECT id, channel FROM inboxes WHERE account_id = $1 ORDER BY id").bind(&account).fetch_all(&pool).await?;
    anyhow::ensure!(!inboxes.is_empty(), "the account has no inbox");
    let users: Vec<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE account_id = $1 ORDER BY id").bind(&account).fetch_all(&pool).await?;
    anyhow::ensure!(!users.is_empty(), "the account has no user");
    let teams: Vec<String> =
        sqlx::query_scalar("SELECT id FROM teams WHERE account_id = $1 ORDER BY id").bind(&account).fetch_all(&pool).await?;

    let started = Instant::now();
    let mut rng = Rng(0x5EED_2026);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_micros() as i64;
    let span: i64 = i64::from(months.max(1)) * 30 * 24 * 3600 * 1_000_000;
    let per = messages.div_ceil(conversations.max(1)).max(1);
    let batch = 250;
    let mut written = 0usize;
    for start in (0..conversations).step_by(batch) {
        let end = (start + batch).min(conversations);
        let mut contacts = Vec::new();
        let mut identities = Vec::new();
        let mut convs = Vec::new();
        let mut msgs = Vec::new();
        let mut facts_rows = Vec::new();
        for n in start..end {
            let contact = uuid::Uuid::now_v7().to_string();
            let conversation = uuid::Uuid::now_v7().to_string();
            let name = format!("{} {}", rng.pick(FIRST), rng.pick(LAST));
            // Older conversations first; the newest ends a few minutes ago.
            let opened = now - span + span / conversations as i64 * n as i64;
            let count = per.min(messages.saturating_sub(written + msgs.len())).max(1);
            // How long the customer waits for each answer: seconds to hours.
            let gap: i64 = [30, 120, 600, 1800, 3600, 4 * 3600, 20 * 3600][rng.below(7)] * (50 + rng.below(100) as i64) / 100 * 1_000_000;
            let last = opened + (count as i64 - 1) * gap;
            let status = match rng.below(100) {
                0..20 => "open",
                20..25 => "pending",
                _ => "resolved",
            };
            let priority = match rng.below(100) {
                0..3 => "urgent",
                3..15 => "high",
                15..20 => "low",
                _ => "normal",
            };
            let assignee = rng.chance(60).then(|| users[rng.below(users.len())].clone());
            let team = (!teams.is_empty() && rng.chance(80)).then(|| teams[rng.below(teams.len())].clone());
            let category = rng.chance(90).then(|| rng.pick(CATEGORIES).to_owned());
            contacts.push((contact.clone(), name.clone(), opened));
            identities.push((uuid::Uuid::now_v7().to_string(), contact.clone(), format!("+39347{:07}", n), opened));
            let (inbox, channel) = inboxes[rng.below(inboxes.len())].clone();
            if measured {
                facts_rows.push(measure(&conversation, &contact, opened, count, gap, status, &channel, &inbox));
            }
            convs.push((conversation.clone(), contact.clone(), status, priority, assignee.clone(), last, opened, team, category));
            let order = format!("A-{}", 10_000 + n);
            for i in 0..count {
                let inbound = i % 2 == 0;
                let template = if inbound { rng.pick(CUSTOMER) } else { rng.pick(AGENT) };
                let first = name.split(' ').next().unwrap_or(&name);
                let text = template.replace("{order}", &order).replace("{name}", first);
                msgs.push(Msg {
                    id: uuid::Uuid::now_v7().to_string(),
                    conversation: conversation.clone(),
                    contact: contact.clone(),
                    inbound,
                    channel: channel.clone(),
                    inbox: inbox.clone(),
                    sender: if inbound { None } else { Some(assignee.clone().unwrap_or_else(|| users[0].clone())) },
                    text,
                    at: opened + i as i64 * gap,
                });
            }
        }
        let mut tx = pool.begin().await?;
        let sql = format!(
            "INSERT INTO contacts (id, account_id, name, language, attributes, custom_attributes, preferred_channels, merged_into, created_at, updated_at, \
             name_key) VALUES {}",
            placeholders(contacts.len(), 11)
        );
        let mut q = sqlx::query(&sql);
        for (id, name, at) in &contacts {
            let key = threadline_domain::contact::name_match_key(name).unwrap_or_default();
            q = q
                .bind(id)
                .bind(&account)
                .bind(name)
                .bind(None::<String>)
                .bind("{}")
                .bind("{}")
                .bind("{}")
                .bind(None::<String>)
                .bind(at)
                .bind(at)
                .bind(key);
        }
        q.execute(&mut *tx).await?;
        let sql = format!(
            "INSERT INTO identities (id, account_id, contact_id, kind, value, created_at) VALUES {}",
            placeholders(identities.len(), 6)
        );
        let mut q = sqlx::query(&sql);
        for (id, contact, value, at) in &identities {
            q = q.bind(id).bind(&account).bind(contact).bind("phone").bind(value).bind(at);
        }
        q.execute(&mut *tx).await?;
        let sql = format!(
            "INSERT INTO conversations (id, account_id, contact_id, status, priority, assignee_id, team_id, labels, category, snoozed_until, \
             last_activity_at, created_at, updated_at) VALUES {}",
            placeholders(convs.len(), 13)
        );
        let mut q = sqlx::query(&sql);
        for (id, contact, status, priority, assignee, last, opened, team, category) in &convs {
            q = q
                .bind(id)
                .bind(&account)
                .bind(contact)
                .bind(*status)
                .bind(*priority)
                .bind(assignee.clone())
                .bind(team.clone())
                .bind("[]")
                .bind(category.clone())
                .bind(None::<i64>)
                .bind(last)
                .bind(opened)
                .bind(last);
        }
        q.execute(&mut *tx).await?;
        for chunk in msgs.chunks(400) {
            let sql = format!(
                "INSERT INTO messages (id, account_id, conversation_id, contact_id, kind, direction, channel, inbox_id, sender_kind, sender_id, \
                 body_text, body_html, provider_message_id, delivery_status, delivery_error, subject, quoted_text, automated, problems, created_at) VALUES {}",
                placeholders(chunk.len(), 20)
            );
            let mut q = sqlx::query(&sql);
            for m in chunk {
                let inbound = m.inbound;
                q = q
                    .bind(&m.id)
                    .bind(&account)
                    .bind(&m.conversation)
                    .bind(&m.contact)
                    .bind("message")
                    .bind(if inbound { "inbound" } else { "outbound" })
                    .bind(&m.channel)
                    .bind(&m.inbox)
                    .bind(if inbound { "contact" } else { "user" })
                    .bind(m.sender.clone())
                    .bind(&m.text)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(if inbound { "received" } else { "delivered" })
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(m.at);
            }
            q.execute(&mut *tx).await?;
        }
        if measured {
            write_facts(&mut tx, &account, &convs, &facts_rows).await?;
        }
        tx.commit().await?;
        written += msgs.len();
        if end % 10_000 < batch || end == conversations {
            eprintln!("seeded {end}/{conversations} conversations, {written} messages ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    if measured {
        // Every day with conversations or messages waits for the roll-up job, as after an upgrade.
        sqlx::query(
            "INSERT INTO metrics_days (account_id, day, marked) SELECT account_id, day, 0 FROM ( \
             SELECT account_id, created_at / 86400000000 AS day FROM conversation_metrics \
             UNION SELECT account_id, resolved_at / 86400000000 FROM conversation_metrics WHERE resolved_at IS NOT NULL \
             UNION SELECT account_id, first_resolved_at / 86400000000 FROM conversation_metrics WHERE first_resolved_at IS NOT NULL \
             UNION SELECT account_id, created_at / 86400000000 FROM messages \
             ) AS touched WHERE true ON CONFLICT (account_id, day) DO NOTHING",
        )
        .execute(&pool)
        .await?;
    }
    // Fresh planner statistics, as a database that grew over months has
    // (and on PostgreSQL the visibility map autovacuum would have set by
    // then, without which no index-only scan is one).
    let analyze = if sqlite { "ANALYZE" } else { "VACUUM ANALYZE" };
    sqlx::query(analyze).execute(&pool).await?;
    pool.close().await;
    Ok(
        json!({ "conversations": conversations, "messages": written, "months": months, "measured": measured, "seconds": started.elapsed().as_secs_f64() }),
    )
}

/// What the refresh job would derive from a seeded conversation: customer
/// and agent take turns `gap` apart on the inbox's channel; a resolved one
/// was resolved ten minutes after the last message.
#[allow(clippy::too_many_arguments)]
fn measure(
    conversation: &str,
    contact: &str,
    opened: i64,
    count: usize,
    gap: i64,
    status: &str,
    channel: &str,
    inbox: &str,
) -> (String, String, String, String, threadline_domain::metrics::ConversationFacts) {
    use threadline_domain::message::{Direction, SenderKind};
    use threadline_domain::metrics::{Entry, History, facts};
    let at = |micros: i64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    };
    let mut entries: Vec<Entry> = (0..count)
        .map(|i| {
            let inbound = i % 2 == 0;
            Entry::Message {
                at: at(opened + i as i64 * gap),
                direction: if inbound { Direction::Inbound } else { Direction::Outbound },
                sender: if inbound { SenderKind::Contact } else { SenderKind::User },
                automatic: false,
                channel: channel.to_owned(),
            }
        })
        .collect();
    if status == "resolved" {
        entries.push(Entry::Resolved { at: at(opened + (count as i64 - 1) * gap + 600_000_000), by: SenderKind::User });
    }
    let history = History { created_at: at(opened), bot_started: false, entries };
    let utc = |_: time::OffsetDateTime| time::UtcOffset::UTC;
    (conversation.to_owned(), contact.to_owned(), status.to_owned(), inbox.to_owned(), facts(&history, None, &utc))
}

type SeededConversation = (String, String, &'static str, &'static str, Option<String>, i64, i64, Option<String>, Option<String>);

/// The facts rows of a batch (columns as `conversation_metrics`).
async fn write_facts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: &str,
    convs: &[SeededConversation],
    facts_rows: &[(String, String, String, String, threadline_domain::metrics::ConversationFacts)],
) -> anyhow::Result<()> {
    let micros = |t: Option<time::OffsetDateTime>| t.map(|t| (t.unix_timestamp_nanos() / 1000) as i64);
    for (convs, rows) in convs.chunks(100).zip(facts_rows.chunks(100)) {
        let sql = format!(
            "INSERT INTO conversation_metrics (conversation_id, account_id, contact_id, created_at, status, priority, team_id, assignee_id, \
             category, inbox_id, first_channel, answer_channel, first_customer_at, first_response_at, first_response_secs, \
             first_response_business_secs, reply_waits, reply_secs, reply_business_secs, customer_messages, agent_messages, bot_messages, \
             automatic_messages, channel_switches, resolved_at, resolution_secs, resolution_business_secs, first_resolved_at, resolutions, \
             reopens, customer_after_resolution, bot_involved, handed_off, resolved_by_bot, sla_clocks, sla_met, refreshed_at) VALUES {}",
            placeholders(rows.len(), 37)
        );
        let mut q = sqlx::query(&sql);
        for ((_, _, _, priority, assignee, _, opened, team, category), (id, contact, status, inbox, f)) in convs.iter().zip(rows) {
            q = q
                .bind(id)
                .bind(account)
                .bind(contact)
                .bind(*opened)
                .bind(status)
                .bind(*priority)
                .bind(team.clone())
                .bind(assignee.clone())
                .bind(category.clone())
                .bind(inbox)
                .bind(f.first_channel.clone())
                .bind(f.answer_channel.clone())
                .bind(micros(f.first_customer_at))
                .bind(micros(f.first_response_at))
                .bind(f.first_response_secs)
                .bind(f.first_response_business_secs)
                .bind(f.reply_waits)
                .bind(f.reply_secs)
                .bind(f.reply_business_secs)
                .bind(f.customer_messages)
                .bind(f.agent_messages)
                .bind(f.bot_messages)
                .bind(f.automatic_messages)
                .bind(f.channel_switches)
                .bind(micros(f.resolved_at))
                .bind(f.resolution_secs)
                .bind(f.resolution_business_secs)
                .bind(micros(f.first_resolved_at))
                .bind(f.resolutions)
                .bind(f.reopens)
                .bind(i64::from(f.customer_after_resolution))
                .bind(i64::from(f.bot_involved))
                .bind(i64::from(f.handed_off))
                .bind(i64::from(f.resolved_by_bot))
                .bind(0i64)
                .bind(0i64)
                .bind(*opened);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `($1, $2), ($3, $4)` for `rows` rows of `cols` columns.
fn placeholders(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", (1..=cols).map(|c| format!("${}", r * cols + c)).collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}
