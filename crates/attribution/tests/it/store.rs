//! The on-disk index: persistence, appends, merges, and hostile files.

use crate::docs;
use alx_attribution::{AttributionConfig, Index, IndexError, MergePolicy, Sampling};
use std::path::Path;

fn texts(n: usize, offset: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("document {} says hello to the world number {}", i + offset, i * 7))
        .collect()
}

fn append(index: &mut Index, texts: &[String], first_id: u64) {
    let pairs: Vec<(&str, Option<&str>)> = texts.iter().map(|t| (t.as_str(), Some("x"))).collect();
    let mut d = docs(&pairs);
    for (i, doc) in d.iter_mut().enumerate() {
        doc.key.contribution.0 = first_id + i as u64;
    }
    index.append(&d).unwrap();
}

fn built(dir: &Path) -> Index {
    let mut index = Index::create(dir, Sampling::WordStarts).unwrap();
    append(&mut index, &texts(10, 0), 0);
    index
}

#[test]
fn persists_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let index = built(dir.path());
    assert_eq!(index.searcher().count("hello to the world").unwrap(), 10);
    drop(index);
    let index = Index::open(dir.path()).unwrap();
    assert_eq!(index.searcher().count("hello to the world").unwrap(), 10);
    assert_eq!(index.stats().documents, 10);
    index.verify().unwrap();
    assert!(matches!(
        Index::create(dir.path(), Sampling::EveryByte),
        Err(IndexError::AlreadyExists(_))
    ));
}

#[test]
fn appends_merge_and_keep_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::create(dir.path(), Sampling::WordStarts).unwrap();
    for batch in 0..9 {
        append(&mut index, &texts(3, batch * 3), batch as u64 * 3);
    }
    let output = "document 4 says hello to the world number 7 and document 20 says hello";
    let config = AttributionConfig { min_len: 16, ..AttributionConfig::DEFAULT };
    let before = index.searcher().attribute(output, &config).unwrap();
    assert_eq!(index.stats().segments, 9);
    let merges = index.merge(MergePolicy { fan_in: 4 }).unwrap();
    assert!(merges >= 2, "{merges}");
    assert!(index.stats().segments < 9);
    assert_eq!(index.searcher().attribute(output, &config).unwrap(), before);
    index.compact().unwrap();
    assert_eq!(index.stats().segments, 1);
    let reopened = Index::open(dir.path()).unwrap();
    assert_eq!(reopened.searcher().attribute(output, &config).unwrap(), before);
    assert_eq!(reopened.searcher().count("document").unwrap(), 27);
    // Only the live segment's files remain.
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 4);
}

#[test]
fn leftovers_of_a_crashed_write_are_ignored_then_swept() {
    let dir = tempfile::tempdir().unwrap();
    drop(built(dir.path()));
    // A crash after writing a segment's files (or a temp file) but before the manifest.
    std::fs::write(dir.path().join("seg-0000000099.text"), b"half").unwrap();
    std::fs::write(dir.path().join("seg-0000000099.sa.tmp"), b"half").unwrap();
    std::fs::write(dir.path().join("MANIFEST.tmp"), b"{").unwrap();
    let mut index = Index::open(dir.path()).unwrap();
    assert_eq!(index.searcher().count("document").unwrap(), 10);
    append(&mut index, &texts(2, 100), 100);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("99") && !n.ends_with(".tmp")), "{names:?}");
    assert_eq!(names.len(), 7);
}

#[test]
fn duplicate_contribution_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = built(dir.path());
    let d = docs(&[("again", None)]);
    assert!(matches!(index.append(&d), Err(IndexError::DuplicateContribution(0))));
}

fn seg_file(dir: &Path, ext: &str) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == ext))
        .unwrap()
}

fn expect_corrupt(dir: &Path) {
    match Index::open(dir) {
        Err(IndexError::Corrupt { .. }) => {}
        other => panic!("expected a corrupt-index error, got {other:?}"),
    }
}

#[test]
fn hostile_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    drop(built(dir.path()));
    let manifest = dir.path().join("MANIFEST");
    let good = std::fs::read(&manifest).unwrap();

    std::fs::write(&manifest, b"{not json").unwrap();
    expect_corrupt(dir.path());
    std::fs::write(&manifest, &good[..good.len() / 2]).unwrap();
    expect_corrupt(dir.path());
    std::fs::write(&manifest, &good).unwrap();

    for ext in ["sa", "text", "docs"] {
        let path = seg_file(dir.path(), ext);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        expect_corrupt(dir.path());
        std::fs::write(&path, &bytes).unwrap();
    }
    Index::open(dir.path()).unwrap();
}

#[test]
fn corrupted_suffix_array_never_panics_and_verify_catches_it() {
    let dir = tempfile::tempdir().unwrap();
    drop(built(dir.path()));
    let path = seg_file(dir.path(), "sa");
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes.iter_mut().step_by(3) {
        *b = 0xFF;
    }
    std::fs::write(&path, &bytes).unwrap();
    let index = Index::open(dir.path()).unwrap();
    let s = index.searcher();
    let _ = s.count("hello");
    let _ = s.attribute("document 4 says hello to the world number 7", &AttributionConfig::DEFAULT);
    assert!(matches!(index.verify(), Err(IndexError::Corrupt { .. })));
}

#[test]
fn non_utf8_input_is_rejected() {
    let err = alx_attribution::utf8(b"ok \xff no").unwrap_err();
    assert!(err.to_string().contains("byte 3"), "{err}");
}

#[test]
fn missing_index_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(Index::open(&dir.path().join("nope")), Err(IndexError::Io { .. })));
}

#[test]
fn snapshots_keep_their_contents_through_appends_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let mut index = built(&live);
    let v1 = dir.path().join("v1");
    index.snapshot(&v1).unwrap();
    assert!(matches!(index.snapshot(&v1), Err(IndexError::AlreadyExists(_))));
    assert!(index.contains(alx_attribution::ContributionId(9)));
    assert!(!index.contains(alx_attribution::ContributionId(10)));

    append(&mut index, &texts(10, 100), 10);
    index.compact().unwrap();
    assert_eq!(index.searcher().count("hello to the world").unwrap(), 20);

    let old = Index::open(&v1).unwrap();
    old.verify().unwrap();
    assert_eq!(old.searcher().count("hello to the world").unwrap(), 10);
    assert_eq!(old.searcher().count("document 105").unwrap(), 0);
    drop(index);
    std::fs::remove_dir_all(&live).unwrap();
    assert_eq!(old.searcher().count("document 5").unwrap(), 1, "a snapshot outlives its source");
}
