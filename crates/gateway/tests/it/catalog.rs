//! The catalog finds weights by content hash, including files added after it started.

use alx_gateway::Catalog;

#[test]
fn finds_weights_added_later_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::new(dir.path(), alx_model::LoadConfig::DEFAULT);
    assert_eq!(catalog.scan().unwrap(), 0);
    let path = dir.path().join("tiny.gguf");
    alx_model::tiny::write(&path, &alx_model::tiny::TinySpec::DEFAULT).unwrap();
    let hash =
        alx_types::hash::from_bytes(*blake3::hash(&std::fs::read(&path).unwrap()).as_bytes());
    let model = catalog.get(&hash).unwrap().expect("found after a rescan");
    assert_eq!(model.context_length(), 64);
    assert!(catalog.has(&hash));
    assert!(catalog.get(&alx_types::hash::ZERO).unwrap().is_none());
    // A corrupt file with a known hash is an error, not a panic (a new catalog: the first
    // already scanned the directory).
    let bad = dir.path().join("bad.gguf");
    std::fs::write(&bad, b"GGUF but not really").unwrap();
    let bad_hash = alx_types::hash::from_bytes(*blake3::hash(b"GGUF but not really").as_bytes());
    let fresh = Catalog::new(dir.path(), alx_model::LoadConfig::DEFAULT);
    assert!(fresh.get(&bad_hash).is_err());
}
