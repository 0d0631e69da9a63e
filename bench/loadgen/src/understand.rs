//! The on-the-box intelligence, measured in-process on one core:
//!
//! - `classify`: the category model trained on a labelled CSV (BANKING77's
//!   `train.csv`), its accuracy on another (`test.csv`), and how many
//!   messages per second one core reads — the model alone, and the whole
//!   triage (language, sentiment, rules, model). The ceiling beside it:
//!   only splitting the same messages into folded words, the least any
//!   reading of them must do.
//! - `route`: one routing decision (the head of the queue, among N agents)
//!   and a whole pass over M waiting conversations; the ceiling: one bare
//!   scan over the agents for the least loaded.
//! - `bot`: the bot's answer with N knowledge-base articles indexed —
//!   tantivy search, confidence, the bot's decision — against a bare
//!   single-term tantivy search of the same index.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use threadline_domain::channel::Channel;
use threadline_domain::conversation::Priority;
use threadline_domain::ids::{AccountId, ArticleId, ConversationId, UserId};
use threadline_domain::routing::{Agent, Policy, Presence, SkillsPolicy, Strategy, Waiting, decide, route_queue};
use threadline_domain::text;
use threadline_domain::triage::Triager;
use threadline_domain::triage::intent::{Example, IntentModel, TrainOptions};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1))).copied().unwrap_or(0.0)
}

/// A labelled CSV file (`text,category`).
pub fn read_csv(path: &std::path::Path) -> anyhow::Result<Vec<Example>> {
    let raw = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    threadline_domain::triage::intent::parse_examples_csv(&raw).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn rate(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64()
}

pub fn classify(dataset: &std::path::Path, rounds: usize, options: TrainOptions) -> anyhow::Result<serde_json::Value> {
    let train = read_csv(&dataset.join("train.csv"))?;
    let test = read_csv(&dataset.join("test.csv"))?;
    let started = Instant::now();
    let model = IntentModel::train(&train, options)?;
    let train_secs = started.elapsed().as_secs_f64();
    let accuracy = model.accuracy(&test);
    let triager = Triager { rules: Vec::new(), model: Some(model.clone()), min_confidence: 0.0 };
    let with_rules = Triager { model: Some(model.clone()), ..Triager::default() };
    let (mut floor, mut intent, mut triage, mut triage_rules) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut sink = 0usize;
    for _ in 0..rounds {
        let t = Instant::now();
        for e in &test {
            sink += text::words(&e.text).len();
        }
        floor.push(rate(test.len(), t));
        let t = Instant::now();
        for e in &test {
            sink += model.predict(&e.text).map_or(0, |p| p.evidence.len());
        }
        intent.push(rate(test.len(), t));
        let t = Instant::now();
        for e in &test {
            sink += triager.triage(&e.text).reasons.len();
        }
        triage.push(rate(test.len(), t));
        let t = Instant::now();
        for e in &test {
            sink += with_rules.triage(&e.text).reasons.len();
        }
        triage_rules.push(rate(test.len(), t));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (floor, intent, triage, triage_rules) = (median(&mut floor), median(&mut intent), median(&mut triage), median(&mut triage_rules));
    Ok(json!({
        "train_examples": train.len(),
        "test_examples": test.len(),
        "categories": model.categories().len(),
        "train_seconds": train_secs,
        "epochs": options.epochs,
        "learning_rate": options.learning_rate,
        "accuracy": accuracy,
        "words_per_second": floor,
        "model_per_second": intent,
        "triage_per_second": triage,
        "triage_with_default_rules_per_second": triage_rules,
        "triage_vs_words": triage / floor,
        "checksum": sink,
    }))
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

const LANGUAGES: &[&str] = &["it", "en", "es", "fr", "de"];
const CATEGORIES: &[&str] = &["billing", "shipping", "returns", "technical", "account", "sales", "warranty", "other"];
const CHANNELS: &[Channel] = &[Channel::Email, Channel::Whatsapp, Channel::WebChat, Channel::Voice, Channel::Sms];

fn agents(n: usize, rng: &mut Rng) -> Vec<Agent> {
    (0..n)
        .map(|i| {
            let mut skills = BTreeMap::new();
            skills.insert(format!("language:{}", LANGUAGES[rng.below(LANGUAGES.len())]), 1 + rng.below(5) as u8);
            skills.insert(format!("language:{}", LANGUAGES[rng.below(2)]), 1 + rng.below(5) as u8);
            skills.insert(format!("category:{}", CATEGORIES[rng.below(CATEGORIES.len())]), 1 + rng.below(5) as u8);
            let mut load = BTreeMap::new();
            for c in CHANNELS {
                load.insert(*c, rng.below(3) as u32);
            }
            Agent {
                id: UserId::new(),
                name: format!("agent {i}"),
                presence: if rng.below(10) < 8 { Presence::Online } else { Presence::Away },
                skills,
                capacity: BTreeMap::new(),
                load,
                last_assigned_at: None,
            }
        })
        .collect()
}

fn waiting(n: usize, rng: &mut Rng) -> Vec<Waiting> {
    let start = time::OffsetDateTime::now_utc();
    let skills = SkillsPolicy::default();
    (0..n)
        .map(|i| {
            let language = LANGUAGES[rng.below(LANGUAGES.len())];
            let category = CATEGORIES[rng.below(CATEGORIES.len())];
            let facts =
                threadline_domain::routing::ConversationFacts { language: Some(language), category: Some(category), ..Default::default() };
            Waiting {
                id: ConversationId::new(),
                channel: CHANNELS[rng.below(CHANNELS.len())],
                priority: [Priority::Low, Priority::Normal, Priority::Normal, Priority::High, Priority::Urgent][rng.below(5)],
                queued_at: start - time::Duration::seconds(i as i64),
                requirements: skills.requirements(&facts),
            }
        })
        .collect()
}

pub fn route(agent_count: usize, waiting_count: usize, decisions: usize) -> anyhow::Result<serde_json::Value> {
    let mut rng = Rng(0x5EED);
    let mut out = serde_json::Map::new();
    for strategy in [Strategy::RoundRobin, Strategy::LeastBusy, Strategy::Skills] {
        let policy = Policy { strategy, skills: SkillsPolicy::default() };
        let agents = agents(agent_count, &mut rng);
        let mut queue = waiting(waiting_count, &mut rng);
        // One decision: order the queue, decide for its head.
        let mut latencies = Vec::with_capacity(decisions);
        let mut sink = 0usize;
        for i in 0..decisions {
            let t = Instant::now();
            threadline_domain::routing::queue_order(&mut queue);
            let d = decide(&policy, &agents, &queue[i % queue.len()]);
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            sink += matches!(d, threadline_domain::routing::Decision::Assign { .. }) as usize;
        }
        latencies.sort_by(f64::total_cmp);
        // The ceiling: the bare least-loaded scan.
        let mut floor = Vec::with_capacity(decisions);
        for _ in 0..decisions {
            let t = Instant::now();
            let best = agents.iter().filter(|a| a.presence == Presence::Online).min_by_key(|a| a.load.values().sum::<u32>()).map(|a| a.id);
            floor.push(t.elapsed().as_secs_f64() * 1000.0);
            sink += best.is_some() as usize;
        }
        floor.sort_by(f64::total_cmp);
        // A whole pass.
        let mut agents_pass = agents.clone();
        let mut queue_pass = queue.clone();
        let t = Instant::now();
        let pass = route_queue(&policy, &mut agents_pass, &mut queue_pass, time::OffsetDateTime::now_utc());
        let pass_ms = t.elapsed().as_secs_f64() * 1000.0;
        let assigned = pass.iter().filter(|(_, d)| matches!(d, threadline_domain::routing::Decision::Assign { .. })).count();
        out.insert(
            strategy.as_str().to_owned(),
            json!({
                "decision_p50_ms": percentile(&latencies, 0.5),
                "decision_p99_ms": percentile(&latencies, 0.99),
                "scan_p50_ms": percentile(&floor, 0.5),
                "scan_p99_ms": percentile(&floor, 0.99),
                "pass_ms": pass_ms,
                "pass_assigned": assigned,
                "checksum": sink,
            }),
        );
    }
    out.insert("agents".into(), agent_count.into());
    out.insert("waiting".into(), waiting_count.into());
    Ok(serde_json::Value::Object(out))
}

const WORDS_IT: &[&str] = &[
    "ordine",
    "spedizione",
    "pacco",
    "corriere",
    "reso",
    "rimborso",
    "pagamento",
    "carta",
    "fattura",
    "taglia",
    "scarpe",
    "giacca",
    "garanzia",
    "negozio",
    "consegna",
    "indirizzo",
    "account",
    "password",
    "sconto",
    "codice",
    "prodotto",
    "colore",
    "cambio",
    "tempi",
    "giorni",
    "costi",
];
const WORDS_EN: &[&str] = &[
    "order", "shipping", "parcel", "courier", "return", "refund", "payment", "card", "invoice", "size", "shoes", "jacket", "warranty",
    "store", "delivery", "address", "account", "password", "discount", "code", "product", "colour", "exchange", "times", "days", "costs",
];

pub fn bot(articles: usize, queries: usize) -> anyhow::Result<serde_json::Value> {
    use threadline_domain::bot::{BotMemory, BotSettings, Candidate};
    let mut rng = Rng(0xB07);
    let account = AccountId::new();
    let index = threadline_knowledge::KnowledgeIndex::new()?;
    let mut batch = Vec::new();
    let started = Instant::now();
    for i in 0..articles {
        let (language, words) = if i % 2 == 0 { ("it", WORDS_IT) } else { ("en", WORDS_EN) };
        let pick = |rng: &mut Rng, n: usize| (0..n).map(|_| words[rng.below(words.len())]).collect::<Vec<_>>().join(" ");
        batch.push(threadline_knowledge::Article {
            id: ArticleId::new(),
            account_id: account,
            language: language.into(),
            title: format!("{} {i}", pick(&mut rng, 4)),
            body: pick(&mut rng, 120),
            keywords: Vec::new(),
        });
        if batch.len() == 1000 {
            index.apply(&batch, &[])?;
            batch.clear();
        }
    }
    index.apply(&batch, &[])?;
    let index_secs = started.elapsed().as_secs_f64();
    let settings = BotSettings::default();
    let triager = Triager::default();
    let (mut answer, mut floor) = (Vec::with_capacity(queries), Vec::with_capacity(queries));
    let mut sink = 0usize;
    for i in 0..queries {
        let (language, words) = if i % 2 == 0 { ("it", WORDS_IT) } else { ("en", WORDS_EN) };
        let question =
            format!("{} {} {} per favore", words[rng.below(words.len())], words[rng.below(words.len())], words[rng.below(words.len())]);
        let t = Instant::now();
        let triage = triager.triage(&question);
        let hits = index.search(account, &question, triage.language.as_deref().or(Some(language)), 5)?;
        let candidates: Vec<Candidate> =
            hits.into_iter().map(|h| Candidate { article_id: h.id, title: h.title, answer: h.body, confidence: h.confidence }).collect();
        let turn = threadline_domain::bot::decide(&settings, &BotMemory::default(), &question, triage.sentiment, &candidates);
        let text = threadline_domain::bot::reply_text(&turn, triage.language.as_deref());
        answer.push(t.elapsed().as_secs_f64() * 1000.0);
        sink += text.len();
        let t = Instant::now();
        sink += index.search(account, words[rng.below(words.len())], Some(language), 1)?.len();
        floor.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    answer.sort_by(f64::total_cmp);
    floor.sort_by(f64::total_cmp);
    Ok(json!({
        "articles": articles,
        "queries": queries,
        "index_seconds": index_secs,
        "answer_p50_ms": percentile(&answer, 0.5),
        "answer_p99_ms": percentile(&answer, 0.99),
        "single_term_p50_ms": percentile(&floor, 0.5),
        "single_term_p99_ms": percentile(&floor, 0.99),
        "checksum": sink,
    }))
}
