//! Local timing scratch (not committed).
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]
use alx_attribution::*;
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let mb: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let mut docs = Vec::new();
    let mut size = 0;
    for line in std::fs::read_to_string(path).unwrap().lines() {
        if size > mb << 20 {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = v["text"].as_str().unwrap().to_owned();
        size += t.len();
        docs.push(Document {
            key: DocKey { contribution: ContributionId(docs.len() as u64), ordinal: 0 },
            contributor: None,
            text: t,
        });
    }
    for sampling in [Sampling::WordStarts, Sampling::EveryByte] {
        let t = Instant::now();
        let seg = SegmentData::from_documents(&docs, sampling).unwrap();
        println!(
            "{sampling:?} build {:.2}s size/byte {:.2}",
            t.elapsed().as_secs_f64(),
            (seg.text.len() + seg.sa.len()) as f64 / size as f64
        );
        let s = Searcher::new(vec![seg.view()], sampling);
        let d = &docs[docs.len() / 2].text;
        let out = format!(
            "{} zephyr quokka {} fjord",
            &d[..d.len().min(600)],
            &docs[7].text[..docs[7].text.len().min(600)]
        );
        let t = Instant::now();
        let mut n = 0;
        for _ in 0..20 {
            n += s.attribute(&out, &AttributionConfig::DEFAULT).unwrap().spans.len();
        }
        println!("attr {:.3} ms spans {}", t.elapsed().as_secs_f64() * 1000.0 / 20.0, n / 20);
        let t = Instant::now();
        let mut c = 0;
        for w in ["fn main", "impl<T> Default for", "the", "pub struct Foo"] {
            for _ in 0..1000 {
                c += s.count(w).unwrap();
            }
        }
        println!("count {:.2} us ({c})", t.elapsed().as_secs_f64() * 1e6 / 4000.0);
    }
}
