//! Knowledge-base search: articles and FAQs, in Italian, English and other
//! languages, indexed in memory with tantivy and found by what a customer
//! writes.
//!
//! Each language has its own analysis — words lower-cased, accents folded,
//! stop words dropped and the rest stemmed with that language's stemmer —
//! so "spedizioni" finds "spedizione" and "returning" finds "return". An
//! article is indexed in the fields of its language; a query is read the
//! same way, in the customer's language when it is known, in every
//! language otherwise.
//!
//! Besides tantivy's score, each hit gets a [`Hit::confidence`] from 0 to
//! 1 that the bot can compare with fixed thresholds: how much of the
//! question the article covers (words in its title count double; words
//! no article uses at all are left out), lowered when the next hit scores
//! almost as well (then it is a choice, not an answer).
//!
//! The index holds what it is given; keeping it in step with the database
//! is the server's job.

use std::collections::HashSet;
use std::sync::Mutex;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};
use threadline_domain::ids::{AccountId, ArticleId};

/// The languages with their own analysis; others are read without
/// stemming or stop words.
const LANGUAGES: &[(&str, Language)] = &[
    ("en", Language::English),
    ("it", Language::Italian),
    ("es", Language::Spanish),
    ("fr", Language::French),
    ("de", Language::German),
    ("pt", Language::Portuguese),
];

/// The analysis for text in no listed language.
const OTHER: &str = "other";

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
}

pub type Result<T> = std::result::Result<T, KnowledgeError>;

/// An article as the index needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    pub id: ArticleId,
    pub account_id: AccountId,
    /// ISO 639-1 code.
    pub language: String,
    pub title: String,
    pub body: String,
    /// Extra words that find it (synonyms, product names).
    pub keywords: Vec<String>,
}

/// One article found.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: ArticleId,
    pub title: String,
    pub body: String,
    pub language: String,
    /// tantivy's BM25 score.
    pub score: f32,
    /// 0–1: see the crate documentation.
    pub confidence: f32,
}

struct Fields {
    id: Field,
    account: Field,
    language: Field,
    title_text: Field,
    body_text: Field,
    /// Per analysis: (code, title field, body field).
    text: Vec<(&'static str, Field, Field)>,
}

/// An in-memory index of every account's articles.
pub struct KnowledgeIndex {
    index: Index,
    reader: IndexReader,
    /// One change at a time. The writer itself lives only while a change
    /// is written (articles change rarely): an idle server keeps none of
    /// its buffers or threads.
    writing: Mutex<()>,
    fields: Fields,
    analyzers: Vec<(&'static str, TextAnalyzer)>,
}

fn analyzer(language: Option<Language>) -> TextAnalyzer {
    let builder =
        TextAnalyzer::builder(SimpleTokenizer::default()).filter(RemoveLongFilter::limit(40)).filter(LowerCaser).filter(AsciiFoldingFilter);
    match language {
        Some(language) => match StopWordFilter::new(language) {
            Some(stop) => builder.filter(stop).filter(Stemmer::new(language)).build(),
            None => builder.filter(Stemmer::new(language)).build(),
        },
        None => builder.build(),
    }
}

/// The writer's memory budget: tantivy's minimum is 15 MB.
const WRITER_BYTES: usize = 20_000_000;

impl KnowledgeIndex {
    pub fn new() -> Result<KnowledgeIndex> {
        let mut schema = Schema::builder();
        let id = schema.add_text_field("id", STRING | STORED);
        let account = schema.add_text_field("account", STRING);
        let language = schema.add_text_field("language", STRING | STORED);
        let title_text = schema.add_text_field("title", STORED);
        let body_text = schema.add_text_field("body", STORED);
        let mut text = Vec::new();
        let mut analyzers = Vec::new();
        let codes = LANGUAGES.iter().map(|(c, l)| (*c, Some(*l))).chain([(OTHER, None)]);
        for (code, language) in codes {
            let options = || {
                TextOptions::default().set_indexing_options(
                    TextFieldIndexing::default().set_tokenizer(code).set_index_option(IndexRecordOption::WithFreqsAndPositions),
                )
            };
            let title = schema.add_text_field(&format!("title_{code}"), options());
            let body = schema.add_text_field(&format!("body_{code}"), options());
            text.push((code, title, body));
            analyzers.push((code, analyzer(language)));
        }
        let index = Index::create_in_ram(schema.build());
        for (code, analyzer) in &analyzers {
            index.tokenizers().register(code, analyzer.clone());
        }
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(KnowledgeIndex {
            index,
            reader,
            writing: Mutex::new(()),
            fields: Fields { id, account, language, title_text, body_text, text },
            analyzers,
        })
    }

    fn fields_for(&self, language: &str) -> (&'static str, Field, Field) {
        self.fields
            .text
            .iter()
            .find(|(c, _, _)| *c == language)
            .or_else(|| self.fields.text.iter().find(|(c, _, _)| *c == OTHER))
            .copied()
            .unwrap_or(self.fields.text[0])
    }

    fn analyze(&self, code: &str, text: &str) -> Vec<String> {
        let Some((_, analyzer)) = self.analyzers.iter().find(|(c, _)| *c == code) else { return Vec::new() };
        let mut analyzer = analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let term = stream.token().text.clone();
            if !out.contains(&term) {
                out.push(term);
            }
        }
        out
    }

    /// Adds or replaces articles, and removes `removed`; searchable when it returns.
    pub fn apply(&self, upserts: &[Article], removed: &[ArticleId]) -> Result<()> {
        let _one_at_a_time = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let mut writer: IndexWriter = self.index.writer_with_num_threads(1, WRITER_BYTES)?;
        for id in removed.iter().chain(upserts.iter().map(|a| &a.id)) {
            writer.delete_term(Term::from_field_text(self.fields.id, &id.to_string()));
        }
        for a in upserts {
            let (_, title, body) = self.fields_for(&a.language);
            let mut title_text = a.title.clone();
            for k in &a.keywords {
                title_text.push(' ');
                title_text.push_str(k);
            }
            writer.add_document(doc!(
                self.fields.id => a.id.to_string(),
                self.fields.account => a.account_id.to_string(),
                self.fields.language => a.language.clone(),
                self.fields.title_text => a.title.clone(),
                self.fields.body_text => a.body.clone(),
                title => title_text,
                body => a.body.clone(),
            ))?;
        }
        writer.commit()?;
        // Segments are merged before the writer goes, so many small changes
        // do not leave many small segments to search.
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        Ok(())
    }

    /// How many articles it holds.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The best `limit` articles of `account_id` for `question`, in
    /// `language`'s analysis (every language's when `None`).
    pub fn search(&self, account_id: AccountId, question: &str, language: Option<&str>, limit: usize) -> Result<Vec<Hit>> {
        let question = threadline_domain::text::clip(question, 2_000);
        let codes: Vec<&'static str> = match language {
            Some(l) => vec![self.fields_for(l).0],
            None => self.fields.text.iter().map(|(c, _, _)| *c).collect(),
        };
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut terms_by_code: Vec<(&'static str, Vec<String>)> = Vec::new();
        for code in codes {
            let (_, title, body) = self.fields_for(code);
            let terms = self.analyze(code, question);
            for term in terms.iter().take(40) {
                let on = |field: Field, boost: f32| -> (Occur, Box<dyn Query>) {
                    let query = TermQuery::new(Term::from_field_text(field, term), IndexRecordOption::WithFreqs);
                    (Occur::Should, Box::new(BoostQuery::new(Box::new(query), boost)))
                };
                should.push(on(title, 2.0));
                should.push(on(body, 1.0));
            }
            terms_by_code.push((code, terms));
        }
        if should.is_empty() {
            return Ok(Vec::new());
        }
        let account = TermQuery::new(Term::from_field_text(self.fields.account, &account_id.to_string()), IndexRecordOption::Basic);
        let query = BooleanQuery::new(vec![(Occur::Must, Box::new(account)), (Occur::Must, Box::new(BooleanQuery::new(should)))]);
        let searcher = self.reader.searcher();
        let found = searcher.search(&query, &TopDocs::with_limit(limit.clamp(1, 50)).order_by_score())?;
        let mut hits = Vec::with_capacity(found.len());
        for (rank, (score, address)) in found.iter().enumerate() {
            let stored: TantivyDocument = searcher.doc(*address)?;
            let text = |field: Field| stored.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let Ok(id) = text(self.fields.id).parse::<ArticleId>() else { continue };
            let language = text(self.fields.language);
            let title = text(self.fields.title_text);
            let code = self.fields_for(&language).0;
            let asked: Vec<String> = terms_by_code.iter().find(|(c, _)| *c == code).map(|(_, t)| t.clone()).unwrap_or_default();
            // Words no article has ("how much", "please") say nothing
            // about which article fits: coverage counts the others.
            let (_, title_field, body_field) = self.fields_for(code);
            let known: Vec<String> = asked
                .iter()
                .filter(|t| {
                    let df = |f: Field| searcher.doc_freq(&Term::from_field_text(f, t)).unwrap_or(0);
                    df(title_field) + df(body_field) > 0
                })
                .cloned()
                .collect();
            let body = text(self.fields.body_text);
            let coverage = self.coverage(code, &known, &title, &body);
            let next = found.get(rank + 1).map(|(s, _)| *s).unwrap_or(0.0);
            // A runner-up scoring as well makes the best hit a choice.
            let margin = if *score > 0.0 { (1.0 - next / score).clamp(0.0, 1.0) } else { 0.0 };
            let confidence = coverage * (0.6 + 0.4 * margin);
            hits.push(Hit { id, title, body, language, score: *score, confidence: (confidence * 1000.0).round() / 1000.0 });
        }
        Ok(hits)
    }

    /// The share of the question's terms the article has, its title's
    /// counting double.
    fn coverage(&self, code: &str, asked: &[String], title: &str, body: &str) -> f32 {
        if asked.is_empty() {
            return 0.0;
        }
        let title_terms: HashSet<String> = self.analyze(code, title).into_iter().collect();
        let body_terms: HashSet<String> = self.analyze(code, body).into_iter().collect();
        let mut got = 0.0;
        for term in asked {
            if title_terms.contains(term) {
                got += 1.0;
            } else if body_terms.contains(term) {
                got += 0.5;
            }
        }
        (got / asked.len() as f32).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(account: AccountId, language: &str, title: &str, body: &str) -> Article {
        Article {
            id: ArticleId::new(),
            account_id: account,
            language: language.into(),
            title: title.into(),
            body: body.into(),
            keywords: Vec::new(),
        }
    }

    #[test]
    fn italian_and_english_are_stemmed_in_their_own_fields() {
        let account = AccountId::new();
        let index = KnowledgeIndex::new().unwrap();
        let spedizione =
            article(account, "it", "Tempi di spedizione", "Le spedizioni partono entro 24 ore e arrivano in 2-3 giorni lavorativi.");
        let returns = article(account, "en", "Returning an item", "You can return any item within 30 days for a full refund.");
        index.apply(&[spedizione.clone(), returns.clone()], &[]).unwrap();
        assert_eq!(index.len(), 2);
        let hits = index.search(account, "quando arrivano le spedizioni?", Some("it"), 5).unwrap();
        assert_eq!(hits[0].id, spedizione.id);
        let hits = index.search(account, "how do I return my items", Some("en"), 5).unwrap();
        assert_eq!(hits[0].id, returns.id);
        assert!(hits[0].confidence > 0.4, "{hits:?}");
        assert!(hits[0].body.contains("30 days"));
        // Without a language every analysis is tried.
        assert_eq!(index.search(account, "spedizione", None, 5).unwrap()[0].id, spedizione.id);
        // Stop words alone find nothing.
        assert!(index.search(account, "the and of", Some("en"), 5).unwrap().is_empty());
    }

    #[test]
    fn accounts_see_only_their_articles() {
        let (mine, theirs) = (AccountId::new(), AccountId::new());
        let index = KnowledgeIndex::new().unwrap();
        index.apply(&[article(theirs, "en", "Refund policy", "Refunds take five days.")], &[]).unwrap();
        assert!(index.search(mine, "refund", Some("en"), 5).unwrap().is_empty());
        assert_eq!(index.search(theirs, "refund", Some("en"), 5).unwrap().len(), 1);
    }

    #[test]
    fn a_close_runner_up_lowers_confidence() {
        let account = AccountId::new();
        let index = KnowledgeIndex::new().unwrap();
        let one = article(account, "en", "Change your password", "Open settings and choose change password.");
        index.apply(std::slice::from_ref(&one), &[]).unwrap();
        let alone = index.search(account, "change password", Some("en"), 5).unwrap()[0].confidence;
        let twin = article(account, "en", "Change your password on the app", "In the app open settings and choose change password.");
        index.apply(&[twin], &[]).unwrap();
        let hits = index.search(account, "change password", Some("en"), 5).unwrap();
        assert!(hits[0].confidence < alone, "{alone} then {hits:?}");
        assert!(alone >= 0.9, "every word of the question is in the title: {alone}");
    }

    #[test]
    fn articles_are_replaced_and_removed() {
        let account = AccountId::new();
        let index = KnowledgeIndex::new().unwrap();
        let mut a = article(account, "en", "Opening hours", "We are open from nine to five.");
        index.apply(std::slice::from_ref(&a), &[]).unwrap();
        a.title = "Shop hours".into();
        a.keywords = vec!["timetable".into()];
        index.apply(std::slice::from_ref(&a), &[]).unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!(index.search(account, "timetable", Some("en"), 5).unwrap()[0].title, "Shop hours");
        index.apply(&[], &[a.id]).unwrap();
        assert!(index.is_empty());
    }
}
