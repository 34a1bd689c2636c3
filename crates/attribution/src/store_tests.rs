//! Tests of the on-disk index that need the crate's internals: appends built in parts, and
//! merges past their budget.

use super::Index;
use crate::{
    ContributionId, DocKey, Document, Sampling, Searcher, SegmentData,
    merge::{MergeError, write_merged},
};

fn corpus() -> Vec<Document> {
    (0..40u64)
        .map(|i| Document {
            key: DocKey { contribution: ContributionId(i), ordinal: 0 },
            contributor: Some(format!("c{}", i % 3)),
            text: format!(
                "doc {i} shares a common line; then word{} and word{}",
                i % 7,
                i * 13 % 11
            ),
        })
        .collect()
}

/// A batch sorted in parts and merged is one segment that answers as the batch sorted
/// whole, and the parts' files are gone once it is listed.
#[test]
fn an_append_built_in_parts_answers_as_one_built_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let docs = corpus();
    let mut parts = Index::create(&dir.path().join("parts"), Sampling::WordStarts).expect("create");
    parts.append_in_parts(&docs, 200).expect("append in parts");
    let mut whole = Index::create(&dir.path().join("whole"), Sampling::WordStarts).expect("create");
    whole.append(&docs).expect("append whole");
    assert_eq!(parts.stats().segments, 1);
    assert_eq!(parts.stats().anchors, whole.stats().anchors);
    for q in ["doc", "shares a common", "word3", "word1", "then word", "13", ";"] {
        let (a, b) = (parts.searcher(), whole.searcher());
        assert_eq!(a.count(q).expect("count"), b.count(q).expect("count"), "{q}");
        assert_eq!(a.documents(q, 100).expect("docs"), b.documents(q, 100).expect("docs"));
    }
    let out = "doc 5 shares a common line; then word5 and word10";
    assert_eq!(
        parts.searcher().maximal_matches(out, 8).expect("matches"),
        whole.searcher().maximal_matches(out, 8).expect("matches")
    );
    parts.verify().expect("verify");
    let reopened = Index::open(&dir.path().join("parts")).expect("reopen");
    assert_eq!(reopened.stats(), parts.stats());
    let files = std::fs::read_dir(dir.path().join("parts")).expect("list").count();
    assert_eq!(files, 4, "the manifest and one segment's three files");
    // A duplicate across parts is refused, and the index is unchanged.
    let mut dup = corpus();
    dup[35].key = dup[2].key;
    let mut fresh = Index::create(&dir.path().join("dup"), Sampling::WordStarts).expect("create");
    assert!(fresh.append_in_parts(&dup, 200).is_err());
    assert_eq!(fresh.stats().segments, 0);
}

/// A long document copied into two segments costs the comparison merge a scan of the
/// copy per suffix; past the budget the merge stops and the segment is sorted again,
/// with the same answers.
#[test]
fn copies_past_the_budget_are_sorted_again_with_the_same_answers() {
    let text: String = (0..3000).map(|i| format!("w{} ", i * 7919 % 1000)).collect();
    let doc = |c: u64| Document {
        key: DocKey { contribution: ContributionId(c), ordinal: 0 },
        contributor: None,
        text: text.clone(),
    };
    let sampling = Sampling::WordStarts;
    let a = SegmentData::from_documents(&[doc(0)], sampling).expect("a");
    let b = SegmentData::from_documents(&[doc(1)], sampling).expect("b");
    let views = [a.view(), b.view()];
    let whole = text.len() as u64 * 2;
    let compared = write_merged(&views, 3, u64::MAX, &mut Vec::new()).expect("merge").scanned;
    assert!(compared > 100 * whole, "a copy is scanned per suffix: {compared} bytes");
    let stopped = write_merged(&views, 3, whole, &mut Vec::new());
    assert!(matches!(stopped, Err(MergeError::TooRepetitive { .. })), "{stopped:?}");
    let compared = SegmentData::merge_with_budget(&views, sampling, u64::MAX).expect("merge");
    let sorted = SegmentData::merge_with_budget(&views, sampling, whole).expect("sorted");
    assert_eq!(sorted, SegmentData::rebuild(&views, sampling).expect("rebuild"));
    let (x, y) = (
        Searcher::new(vec![compared.view()], sampling),
        Searcher::new(vec![sorted.view()], sampling),
    );
    for q in ["w1", "w13 w", "w999", &text[..200], &text[5000..9000]] {
        assert_eq!(x.count(q).expect("count"), y.count(q).expect("count"), "{q}");
    }
}

/// A suffix array pointing past its text stops a merge as corrupt, before the merged files
/// are listed: the index is unchanged and nothing is left behind.
#[test]
fn a_merge_refuses_a_suffix_array_pointing_past_its_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("idx");
    let docs = corpus();
    let mut index = Index::create(&path, Sampling::WordStarts).expect("create");
    index.append(&docs[..20]).expect("append");
    index.append(&docs[20..]).expect("append");
    drop(index);
    let sa = path.join("seg-0000000000.sa");
    let mut bytes = std::fs::read(&sa).expect("read");
    let width = bytes.len() / Index::open(&path).expect("open").segments[0].meta.anchors as usize;
    bytes[..width].fill(0xFF);
    std::fs::write(&sa, &bytes).expect("write");
    let mut index = Index::open(&path).expect("open");
    let err = index.compact().expect_err("a corrupt input");
    assert!(err.to_string().contains("past its text"), "{err}");
    assert_eq!(index.stats().segments, 2);
    let names: Vec<String> = std::fs::read_dir(&path)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    assert_eq!(Index::open(&path).expect("reopen").stats().segments, 2);
}

/// Segments a merge refused are left alone by the policy, and the mark survives a reopen.
#[test]
fn the_policy_leaves_refused_segments_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("idx");
    let docs = corpus();
    let mut index = Index::create(&path, Sampling::WordStarts).expect("create");
    for part in docs.chunks(10) {
        index.append(part).expect("append");
    }
    let ids: Vec<u64> = index.segments.iter().map(|l| l.meta.id).collect();
    index.refuse_merge(&ids[..2]).expect("refuse");
    let mut index = Index::open(&path).expect("reopen");
    assert_eq!(index.merge(super::MergePolicy { fan_in: 2 }).expect("merge"), 1);
    let left: Vec<(u64, bool)> =
        index.segments.iter().map(|l| (l.meta.id, l.meta.merge_refused)).collect();
    assert_eq!(left, [(ids[0], true), (ids[1], true), (ids[3] + 1, false)]);
    assert_eq!(index.searcher().count("doc").expect("count"), 40);
}
