//! What a message is about — its category, or intent — learnt from
//! examples: in Threadline, the categories agents gave resolved
//! conversations, together with what the customer wrote.
//!
//! The model is multinomial logistic regression over the message's words,
//! its word pairs and the first letters of its longer words (a crude stem:
//! "arrived", "arriving" and "arrivato" share "arriv*"), trained by
//! stochastic gradient descent. It is small, trains in seconds on tens of
//! thousands of examples, answers in microseconds, and explains itself: a
//! label's reasons are the features of the message that pushed hardest
//! towards it.

use std::collections::HashMap;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::text::words;

/// A message and the category an agent gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text: String,
    pub category: String,
}

/// Labelled examples from CSV text with the columns `text,category` and a
/// header row (the layout public intent data sets such as BANKING77 use):
/// fields may be quoted, with `""` for a quote and line breaks inside
/// quotes. An error names the record that is not two fields.
pub fn parse_examples_csv(csv: &str) -> Result<Vec<Example>, String> {
    let mut records: Vec<Vec<String>> = Vec::new();
    let (mut record, mut field, mut quoted, mut after_quote) = (Vec::new(), String::new(), false, false);
    let mut chars = csv.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => {
                quoted = false;
                after_quote = true;
            }
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() && !after_quote => quoted = true,
            (false, ',') => {
                record.push(std::mem::take(&mut field));
                after_quote = false;
            }
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                after_quote = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("record {} has an unterminated quote", records.len() + 1));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.into_iter().enumerate().skip(1) {
        match r.as_slice() {
            [only] if only.is_empty() => continue,
            [text, category] => out.push(Example { text: text.clone(), category: category.trim().to_owned() }),
            _ => return Err(format!("record {} has {} fields, not text,category", i + 1, r.len())),
        }
    }
    Ok(out)
}

/// How training goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    /// Passes over the examples.
    pub epochs: usize,
    /// The first pass's step size; later passes take smaller steps.
    pub learning_rate: f32,
    /// Categories with fewer examples are left out: one example says too
    /// little to learn a category from.
    pub min_examples_per_category: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { epochs: 20, learning_rate: 2.0, min_examples_per_category: 2 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrainError {
    #[error("at least two categories with {min} examples each are needed; found {found}")]
    TooFewCategories { min: usize, found: usize },
}

/// A trained model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "StoredModel", into = "StoredModel")]
pub struct IntentModel {
    categories: Vec<String>,
    features: Vec<String>,
    index: HashMap<String, u32>,
    /// `features.len() × categories.len()`, one row per feature.
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// How many examples it learnt from.
    pub examples: usize,
}

/// A category and the features of the message behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Prediction {
    pub category: String,
    /// The model's probability for it, 0–1.
    pub confidence: f32,
    /// The message's words (or word pairs, or word beginnings ending in
    /// `*`) that pointed most to this category.
    pub evidence: Vec<String>,
}

/// What a message's features are: their names, deduplicated.
fn features(words: &[String]) -> Vec<String> {
    let words: Vec<String> =
        words.iter().take(300).map(|w| if w.bytes().all(|b| b.is_ascii_digit()) { "#".to_owned() } else { w.clone() }).collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len() * 3);
    for (i, word) in words.iter().enumerate() {
        out.push(word.clone());
        if word.chars().count() > 5 {
            out.push(format!("{}*", crate::text::clip(word, 5)));
        }
        if let Some(next) = words.get(i + 1) {
            out.push(format!("{word} {next}"));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// A small deterministic generator (xorshift64*) for shuffling: the same
/// examples always train the same model.
struct Shuffle(u64);

impl Shuffle {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

impl IntentModel {
    /// Learns categories from `examples`.
    pub fn train(examples: &[Example], options: TrainOptions) -> Result<IntentModel, TrainError> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for e in examples {
            *counts.entry(e.category.as_str()).or_default() += 1;
        }
        let mut categories: Vec<String> =
            counts.iter().filter(|(_, n)| **n >= options.min_examples_per_category).map(|(c, _)| (*c).to_owned()).collect();
        categories.sort();
        if categories.len() < 2 {
            return Err(TrainError::TooFewCategories { min: options.min_examples_per_category, found: categories.len() });
        }
        let category_index: HashMap<&str, usize> = categories.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();

        let mut index: HashMap<String, u32> = HashMap::new();
        let mut names: Vec<String> = Vec::new();
        let mut rows: Vec<(Vec<u32>, usize)> = Vec::new();
        for e in examples {
            let Some(&category) = category_index.get(e.category.as_str()) else { continue };
            let ids: Vec<u32> = features(&words(&e.text))
                .into_iter()
                .map(|f| {
                    *index.entry(f).or_insert_with_key(|f| {
                        names.push(f.clone());
                        (names.len() - 1) as u32
                    })
                })
                .collect();
            if !ids.is_empty() {
                rows.push((ids, category));
            }
        }

        let n = categories.len();
        let mut model = IntentModel { categories, features: names, index, weights: Vec::new(), bias: vec![0.0; n], examples: rows.len() };
        model.weights = vec![0.0; model.features.len() * n];
        let mut order: Vec<usize> = (0..rows.len()).collect();
        let mut shuffle = Shuffle(0x9E37_79B9_7F4A_7C15);
        let mut probabilities = vec![0.0f32; n];
        for epoch in 0..options.epochs {
            for i in (1..order.len()).rev() {
                order.swap(i, shuffle.below(i + 1));
            }
            let rate = options.learning_rate / (1.0 + epoch as f32 * 0.5);
            for &r in &order {
                let (ids, category) = &rows[r];
                let x = 1.0 / (ids.len() as f32).sqrt();
                model.scores_into(ids, x, &mut probabilities);
                softmax(&mut probabilities);
                for (c, p) in probabilities.iter().enumerate() {
                    let gradient = p - if c == *category { 1.0 } else { 0.0 };
                    model.bias[c] -= rate * gradient;
                    let step = rate * gradient * x;
                    for &f in ids {
                        model.weights[f as usize * n + c] -= step;
                    }
                }
            }
        }
        Ok(model)
    }

    fn scores_into(&self, ids: &[u32], x: f32, scores: &mut [f32]) {
        let n = self.categories.len();
        scores.copy_from_slice(&self.bias);
        for &f in ids {
            let row = &self.weights[f as usize * n..(f as usize + 1) * n];
            for (s, w) in scores.iter_mut().zip(row) {
                *s += w * x;
            }
        }
    }

    /// The categories it knows, sorted.
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// The likeliest category of `text`, with why; `None` when no word of
    /// the text was ever seen in training.
    pub fn predict(&self, text: &str) -> Option<Prediction> {
        self.predict_words(&words(text))
    }

    /// [`Self::predict`] for words already read (see [`crate::text::words`]).
    pub fn predict_words(&self, words: &[String]) -> Option<Prediction> {
        let names = features(words);
        let ids: Vec<u32> = names.iter().filter_map(|f| self.index.get(f).copied()).collect();
        if ids.is_empty() {
            return None;
        }
        let x = 1.0 / (ids.len() as f32).sqrt();
        let mut scores = vec![0.0f32; self.categories.len()];
        self.scores_into(&ids, x, &mut scores);
        softmax(&mut scores);
        let (best, confidence) = scores.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, p)| (i, *p))?;
        let n = self.categories.len();
        let mut pulls: Vec<(f32, &str)> = ids
            .iter()
            .map(|&f| (self.weights[f as usize * n + best], self.features[f as usize].as_str()))
            .filter(|(w, _)| *w > 0.0)
            .collect();
        pulls.sort_by(|a, b| b.0.total_cmp(&a.0));
        Some(Prediction {
            category: self.categories[best].clone(),
            confidence: (confidence * 1000.0).round() / 1000.0,
            evidence: pulls.into_iter().take(4).map(|(_, f)| f.to_owned()).collect(),
        })
    }

    /// The share of `examples` whose category it predicts.
    pub fn accuracy(&self, examples: &[Example]) -> f32 {
        if examples.is_empty() {
            return 0.0;
        }
        let right = examples.iter().filter(|e| self.predict(&e.text).is_some_and(|p| p.category == e.category)).count();
        right as f32 / examples.len() as f32
    }
}

fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

/// The stored form: the weights as little-endian `f32`s in base64, about a
/// quarter the size of a JSON list of numbers.
#[derive(Serialize, Deserialize)]
struct StoredModel {
    categories: Vec<String>,
    features: Vec<String>,
    weights: String,
    bias: Vec<f32>,
    examples: usize,
}

impl From<IntentModel> for StoredModel {
    fn from(m: IntentModel) -> Self {
        let bytes: Vec<u8> = m.weights.iter().flat_map(|w| w.to_le_bytes()).collect();
        StoredModel {
            categories: m.categories,
            features: m.features,
            weights: base64::engine::general_purpose::STANDARD.encode(bytes),
            bias: m.bias,
            examples: m.examples,
        }
    }
}

impl TryFrom<StoredModel> for IntentModel {
    type Error = String;
    fn try_from(s: StoredModel) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(&s.weights).map_err(|e| format!("weights: {e}"))?;
        let weights: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if weights.len() != s.features.len() * s.categories.len() || s.bias.len() != s.categories.len() {
            return Err("the weights do not match the features and categories".into());
        }
        let index = s.features.iter().enumerate().map(|(i, f)| (f.clone(), i as u32)).collect();
        Ok(IntentModel { categories: s.categories, features: s.features, index, weights, bias: s.bias, examples: s.examples })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> Vec<Example> {
        let raw = [
            ("billing", "I was charged twice for my order"),
            ("billing", "the payment failed but money left my account"),
            ("billing", "pagamento rifiutato con la carta"),
            ("billing", "mi avete addebitato due volte"),
            ("billing", "can I get an invoice for my payment"),
            ("shipping", "where is my parcel, it has not arrived"),
            ("shipping", "il pacco non è ancora arrivato"),
            ("shipping", "tracking number does not work for my delivery"),
            ("shipping", "quando arriva la spedizione"),
            ("shipping", "the courier never delivered my package"),
            ("returns", "I want to return these shoes"),
            ("returns", "vorrei fare un reso della giacca"),
            ("returns", "how do I send back an item for exchange"),
            ("returns", "posso cambiare la taglia, voglio fare il cambio"),
            ("solo", "only one example of this"),
        ];
        raw.iter().map(|(c, t)| Example { text: (*t).into(), category: (*c).into() }).collect()
    }

    #[test]
    fn it_learns_categories_in_both_languages() {
        let model = IntentModel::train(&examples(), TrainOptions::default()).unwrap();
        assert_eq!(model.categories(), ["billing", "returns", "shipping"], "a category with one example is left out");
        let p = model.predict("my payment was charged twice").unwrap();
        assert_eq!(p.category, "billing");
        assert!(p.confidence > 0.5, "{p:?}");
        assert!(p.evidence.iter().any(|e| e.contains("charged") || e.contains("twice") || e.contains("payment")), "{p:?}");
        assert_eq!(model.predict("il mio pacco non è arrivato").unwrap().category, "shipping");
        assert_eq!(model.predict("vorrei fare il reso").unwrap().category, "returns");
        assert_eq!(model.predict("zzz qqq"), None);
    }

    #[test]
    fn too_few_categories_is_an_error() {
        let one = vec![Example { text: "a".into(), category: "x".into() }, Example { text: "b".into(), category: "x".into() }];
        assert_eq!(IntentModel::train(&one, TrainOptions::default()).unwrap_err(), TrainError::TooFewCategories { min: 2, found: 1 });
    }

    #[test]
    fn a_stored_model_predicts_the_same() {
        let model = IntentModel::train(&examples(), TrainOptions::default()).unwrap();
        let stored = serde_json::to_string(&model).unwrap();
        let loaded: IntentModel = serde_json::from_str(&stored).unwrap();
        for e in examples() {
            assert_eq!(model.predict(&e.text), loaded.predict(&e.text));
        }
        assert!(serde_json::from_str::<IntentModel>(&stored.replace("\"bias\":[", "\"bias\":[1,")).is_err());
    }

    #[test]
    fn examples_are_read_from_csv() {
        let csv = "text,category\nplain text,a\n\"with, comma and \"\"quotes\"\"\",b\r\n\"two\nlines\",c\n";
        let examples = parse_examples_csv(csv).unwrap();
        assert_eq!(
            examples.iter().map(|e| (e.text.as_str(), e.category.as_str())).collect::<Vec<_>>(),
            [("plain text", "a"), ("with, comma and \"quotes\"", "b"), ("two\nlines", "c"),]
        );
        assert_eq!(parse_examples_csv("text,category\nno category\n").unwrap_err(), "record 2 has 1 fields, not text,category");
        assert!(parse_examples_csv("text,category\n\"open,a\n").is_err());
    }

    #[test]
    fn training_is_deterministic() {
        let a = IntentModel::train(&examples(), TrainOptions::default()).unwrap();
        let b = IntentModel::train(&examples(), TrainOptions::default()).unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    }
}
