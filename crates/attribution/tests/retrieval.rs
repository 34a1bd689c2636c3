//! Retrieval precision on a labelled set of questions over the sample datanet (the notes
//! `alx up` contributes): each on-topic question names the note that answers it, each
//! off-topic one must retrieve nothing. The figures are printed as one JSON line (reported in
//! docs/BENCHMARKS.md) and held to floors.

use alx_attribution::{ContributionId, DocKey, RetrievalConfig, RetrievalIndex};

const NOTES: [(&str, &str); 3] = [
    ("modules", include_str!("../../../samples/move-basics/modules.md")),
    ("coins", include_str!("../../../samples/move-basics/coins.md")),
    ("testing", include_str!("../../../samples/move-basics/testing.md")),
];

/// (question, the note that answers it; `None`: the notes do not answer it).
const LABELLED: &[(&str, Option<&str>)] = &[
    ("How do I withdraw coins in Move?", Some("coins")),
    ("What is a coin in Move?", Some("coins")),
    ("How do I deposit a coin into a balance?", Some("coins")),
    ("How is a coin minted?", Some("coins")),
    ("How do I burn coins and lower the supply?", Some("coins")),
    ("What happens to a coin that is neither deposited nor burned?", Some("coins")),
    ("How do I publish a resource under an account?", Some("modules")),
    ("What does borrow_global_mut do?", Some("modules")),
    ("What abilities can a struct have?", Some("modules")),
    ("How is a module declared and published?", Some("modules")),
    ("What does the key ability mean?", Some("modules")),
    ("How do I remove a resource from global storage with move_from?", Some("modules")),
    ("How do I write a unit test?", Some("testing")),
    ("What does expected_failure do?", Some("testing")),
    ("What does the Move Prover check?", Some("testing")),
    ("What is an aborts_if specification?", Some("testing")),
    ("How do I define an error code constant?", Some("testing")),
    ("How do I create a test account for an address?", Some("testing")),
    ("Why can't coins in Move be lost by accident?", Some("modules")),
    ("How do I check that a balance is large enough before withdrawing?", Some("coins")),
    ("How do I specify what a withdraw function ensures?", Some("testing")),
    ("What is the difference between copy and drop?", Some("modules")),
    ("Where do unit tests live?", Some("testing")),
    ("What is a phantom type parameter on Coin?", Some("coins")),
    ("What is the capital of France?", None),
    ("Who wrote Hamlet?", None),
    ("How do I bake sourdough bread?", None),
    ("What is the weather like today?", None),
    ("Explain quantum entanglement.", None),
    ("Translate 'good morning' into Spanish.", None),
    ("What is a good name for a cat?", None),
    ("How far is the moon?", None),
];

fn index() -> RetrievalIndex {
    RetrievalIndex::build(NOTES.iter().enumerate().map(|(i, (_, text))| {
        let key = DocKey { contribution: ContributionId(i as u64), ordinal: 0 };
        (key, Some("bob"), *text)
    }))
}

fn note(index: &RetrievalIndex, hit: alx_attribution::Hit) -> &'static str {
    NOTES[index.passage(hit).expect("a hit points at a passage").key.contribution.0 as usize].0
}

#[test]
fn labelled_questions_retrieve_their_note_first_and_off_topic_ones_nothing() {
    let index = index();
    let config = RetrievalConfig::DEFAULT;
    let (mut on_topic, mut first_right, mut returned, mut returned_right) = (0, 0, 0, 0);
    let (mut off_topic, mut rejected) = (0, 0);
    let mut misses = Vec::new();
    for &(question, label) in LABELLED {
        let hits = index.search(question, &config);
        match label {
            Some(want) => {
                on_topic += 1;
                if hits.first().is_some_and(|h| note(&index, *h) == want) {
                    first_right += 1;
                } else {
                    misses.push(question);
                }
                returned += hits.len();
                returned_right += hits.iter().filter(|h| note(&index, **h) == want).count();
            }
            None => {
                off_topic += 1;
                if hits.is_empty() {
                    rejected += 1;
                } else {
                    misses.push(question);
                }
            }
        }
    }
    // The figures, for docs/BENCHMARKS.md (`--no-capture` shows them).
    #[allow(clippy::print_stdout)]
    let report = |line: String| println!("{line}");
    report(format!(
        "{}",
        serde_json::json!({
            "questions": LABELLED.len(),
            "precision_at_1": format!("{first_right}/{on_topic}"),
            "passage_precision": format!("{returned_right}/{returned}"),
            "off_topic_rejected": format!("{rejected}/{off_topic}"),
            "misses": misses,
        })
    ));
    assert_eq!(rejected, off_topic, "off-topic questions retrieved passages: {misses:?}");
    assert!(first_right * 10 >= on_topic * 9, "precision@1 {first_right}/{on_topic}: {misses:?}");
    assert!(returned_right * 10 >= returned * 8, "passage precision {returned_right}/{returned}");
}

#[test]
fn retrieval_is_the_same_whatever_the_order_of_questions_and_builds() {
    let (a, b) = (index(), index());
    for &(question, _) in LABELLED {
        assert_eq!(
            a.search(question, &RetrievalConfig::DEFAULT),
            b.search(question, &RetrievalConfig::DEFAULT)
        );
    }
}
