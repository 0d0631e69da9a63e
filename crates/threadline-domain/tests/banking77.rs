//! The category model on a public customer-support intent data set:
//! BANKING77 (PolyAI, CC BY 4.0; 77 intents), trained on its `train.csv`
//! only and measured on its `test.csv`, as published. `bench/RESULTS.md`
//! reports the figure with the speed; this test keeps it from sliding back.
//!
//! The data set is read from `THREADLINE_TEST_DATASETS` (`scripts/test`
//! finds it); without it the test fails rather than pass unmeasured.

use threadline_domain::triage::intent::{IntentModel, TrainOptions, parse_examples_csv};

#[test]
fn banking77_is_learnt_to_at_least_88_percent() {
    let root = std::env::var("THREADLINE_TEST_DATASETS")
        .expect("THREADLINE_TEST_DATASETS names the folder holding banking77/ (scripts/test sets it)");
    let read = |name: &str| {
        let path = std::path::Path::new(&root).join("banking77").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        parse_examples_csv(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let (train, test) = (read("train.csv"), read("test.csv"));
    assert_eq!((train.len(), test.len()), (10_003, 3_080), "the published split");
    let model = IntentModel::train(&train, TrainOptions::default()).unwrap();
    assert_eq!(model.categories().len(), 77);
    let accuracy = model.accuracy(&test);
    assert!(accuracy >= 0.88, "accuracy on the test split: {accuracy:.4}");
    // Every prediction says why.
    let p = model.predict("I still have not received my new card, it has been two weeks").unwrap();
    assert_eq!(p.category, "card_arrival", "{p:?}");
    assert!(!p.evidence.is_empty());
}
