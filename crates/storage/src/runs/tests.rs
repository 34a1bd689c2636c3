use super::*;
use std::collections::BTreeMap;

/// A deterministic stream of numbers (xorshift), so a failure replays.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const KEY: usize = 3;
const VALUE: usize = 2;

/// Appends `rounds` batches of random records (keys from a small space, so they repeat across
/// batches) to `runs` and to a model map, newest value winning.
fn fill(runs: &Runs, model: &mut BTreeMap<Vec<u8>, Vec<u8>>, numbers: &mut Numbers, rounds: u64) {
    for _ in 0..rounds {
        let mut records = Vec::new();
        let mut batch = BTreeMap::new();
        for _ in 0..numbers.next() % 40 {
            let key = (numbers.next() % 500).to_be_bytes()[5..].to_vec();
            let value = (numbers.next() as u16).to_be_bytes().to_vec();
            batch.insert(key, value);
        }
        for (k, v) in &batch {
            records.extend_from_slice(k);
            records.extend_from_slice(v);
        }
        model.extend(batch);
        runs.append(records, runs.next_height() + 1).unwrap();
    }
}

fn check(runs: &Runs, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    for k in 0..520u64 {
        let key = k.to_be_bytes()[5..].to_vec();
        assert_eq!(runs.get(&key), model.get(&key).cloned(), "key {k}");
    }
    for (low, high, limit) in [(0u64, 520u64, 10_000), (17, 300, 25), (40, 41, 5), (200, 100, 5)] {
        let (low, high): (Vec<u8>, Vec<u8>) =
            (low.to_be_bytes()[5..].to_vec(), high.to_be_bytes()[5..].to_vec());
        let want: Vec<Vec<u8>> = model
            .iter()
            .rev()
            .filter(|(k, _)| **k >= low && **k < high)
            .take(limit)
            .map(|(k, v)| [k.as_slice(), v].concat())
            .collect();
        assert_eq!(runs.range_rev(&low, &high, limit), want);
    }
}

#[test]
fn lookups_and_ranges_match_a_map_across_appends_merges_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = BTreeMap::new();
    let mut numbers = Numbers(0x9e37_79b9_7f4a_7c15);
    {
        let runs = Runs::open(dir.path(), KEY, VALUE).unwrap();
        for _ in 0..6 {
            fill(&runs, &mut model, &mut numbers, 25);
            check(&runs, &model);
        }
        // Merges keep the runs few: their sizes fall geometrically.
        let listing = runs.listing();
        assert!(listing.runs.len() <= 12, "{} runs", listing.runs.len());
        assert!(listing.runs.windows(2).all(|w| w[0].count > w[1].count * 2));
        assert_eq!(runs.next_height(), 151);
    }
    let runs = Runs::open(dir.path(), KEY, VALUE).unwrap();
    assert_eq!(runs.next_height(), 151);
    check(&runs, &model);
    fill(&runs, &mut model, &mut numbers, 10);
    check(&runs, &model);
    runs.reset().unwrap();
    assert_eq!((runs.next_height(), runs.get(&[0, 0, 1])), (1, None));
}

#[test]
fn leftovers_of_a_crash_are_removed_and_a_damaged_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let runs = Runs::open(dir.path(), KEY, VALUE).unwrap();
    runs.append(vec![0, 0, 1, 9, 9], 2).unwrap();
    drop(runs);
    // A run written but never listed, and a temporary file.
    fs::write(dir.path().join(run_name(77)), [1u8; 5]).unwrap();
    fs::write(dir.path().join("run-0000000000000078.tmp"), [1u8; 3]).unwrap();
    let runs = Runs::open(dir.path(), KEY, VALUE).unwrap();
    assert_eq!(runs.get(&[0, 0, 1]), Some(vec![9, 9]));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "the manifest and one run");
    drop(runs);
    // Records of another width are not these runs.
    assert!(Runs::open(dir.path(), KEY, VALUE + 1).is_err());
    let manifest = dir.path().join(MANIFEST);
    let mut bytes = fs::read(&manifest).unwrap();
    bytes[20] ^= 1;
    fs::write(&manifest, bytes).unwrap();
    assert!(matches!(Runs::open(dir.path(), KEY, VALUE), Err(StorageError::Corrupt { .. })));
    // Damaged runs start over, empty.
    let runs = Runs::open_or_start_over(dir.path(), KEY, VALUE).unwrap();
    assert_eq!((runs.next_height(), runs.get(&[0, 0, 1])), (1, None));
}

#[test]
fn of_equal_keys_the_last_appended_wins() {
    let dir = tempfile::tempdir().unwrap();
    let runs = Runs::open(dir.path(), KEY, VALUE).unwrap();
    // Within one append: the later in input order.
    runs.add(vec![0, 0, 5, 1, 1, 0, 0, 4, 7, 7, 0, 0, 5, 2, 2], 2).unwrap();
    assert_eq!(runs.get(&[0, 0, 5]), Some(vec![2, 2]));
    // Across appends, before and after merging: the newer.
    runs.add(vec![0, 0, 5, 3, 3], 3).unwrap();
    assert_eq!(runs.get(&[0, 0, 5]), Some(vec![3, 3]));
    runs.compact().unwrap();
    assert_eq!(runs.listing().runs.len(), 1);
    assert_eq!(runs.get(&[0, 0, 5]), Some(vec![3, 3]));
    assert_eq!(
        runs.range_rev(&[0, 0, 0], &[0, 0, 9], 10),
        vec![vec![0, 0, 5, 3, 3], vec![0, 0, 4, 7, 7]]
    );
}
