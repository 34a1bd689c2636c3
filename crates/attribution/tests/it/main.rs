//! Integration tests of alx-attribution: agreement with a naive scan, attribution of planted
//! quotes, determinism across segmentations, and the on-disk index.

mod attribution;
mod naive;
mod store;

use alx_attribution::{ContributionId, DocKey, Document, Sampling, Searcher, SegmentData};

/// Documents with contribution ids 0.. and the given contributors.
pub(crate) fn docs(texts: &[(&str, Option<&str>)]) -> Vec<Document> {
    texts
        .iter()
        .enumerate()
        .map(|(i, (text, who))| Document {
            key: DocKey { contribution: ContributionId(i as u64), ordinal: 0 },
            contributor: who.map(str::to_owned),
            text: (*text).to_owned(),
        })
        .collect()
}

/// Builds one in-memory segment per chunk of `split` documents (all in one when 0).
pub(crate) fn segments(docs: &[Document], split: usize, sampling: Sampling) -> Vec<SegmentData> {
    let chunk = if split == 0 { docs.len().max(1) } else { split };
    docs.chunks(chunk).map(|c| SegmentData::from_documents(c, sampling).unwrap()).collect()
}

/// `segs` rearranged: 0 as they are; 1 merged into one (suffix arrays merged, not rebuilt);
/// 2 merged in pairs, then the pairs merged (a merge of merges).
pub(crate) fn arrange(
    segs: Vec<SegmentData>,
    layout: usize,
    sampling: Sampling,
) -> Vec<SegmentData> {
    let merge = |parts: &[SegmentData]| {
        let views: Vec<_> = parts.iter().map(SegmentData::view).collect();
        SegmentData::merge(&views, sampling).unwrap()
    };
    match layout {
        0 => segs,
        1 => vec![merge(&segs)],
        _ => {
            let pairs: Vec<SegmentData> = segs.chunks(2).map(merge).collect();
            vec![merge(&pairs)]
        }
    }
}

pub(crate) fn searcher(segs: &[SegmentData], sampling: Sampling) -> Searcher<'_> {
    Searcher::new(segs.iter().map(SegmentData::view).collect(), sampling)
}
