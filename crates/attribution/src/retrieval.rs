//! Retrieval: the passages of a corpus most relevant to a question, ranked by an integer BM25
//! over an inverted index built once per corpus, with a relevance threshold.
//!
//! The rank decides who is paid (see [`crate::rule`]), so everything here is integers and
//! ordered maps: the same corpus and question give the same passages, scores and order on
//! every machine. The full specification, with worked numbers, is in the crate README
//! ("Retrieval"); in short:
//!
//! 1. **Passages.** Each document is cut into paragraphs (at blank lines); a paragraph shorter
//!    than [`PASSAGE_BYTES_MIN`] joins the next one (so a heading travels with its text), and
//!    one longer than [`PASSAGE_BYTES_MAX`] is cut at the last line break, sentence end or
//!    space before the limit.
//! 2. **Terms** ([`terms`]): runs of word characters (ASCII letters, digits, `_`, and every
//!    non-ASCII character outside the punctuation blocks listed in [`is_word_char`]: a fixed
//!    rule, so no Unicode table of the compiler decides a rank), ASCII-lowercased; identifiers
//!    also yield their parts (`borrow_global_mut` → `borrow`, `global`, `mut`; `moveFrom` →
//!    `move`, `from`); a light stemmer maps related forms together (`coins` → `coin`,
//!    `abilities` → `ability`, `minted`/`minting` → `mint`); English function words
//!    ([`STOPWORDS`]), one-character terms and terms over [`TERM_BYTES_MAX`] bytes are left
//!    out. The index keys a term by the first 8 bytes of its BLAKE3 hash.
//! 3. **Score** of passage `p` for question `q` (distinct terms), with `N` passages, `T` terms in
//!    the corpus, `len(p)` terms in `p`, `df(t)` passages holding `t`, `tf(t, p)` occurrences:
//!
//!    ```text
//!    idf(t)      = log2((2N + 2) / (2·df(t) + 1))        in 1/65536 units (IDF_ONE), floor
//!    score(p, q) = Σ_t idf(t) · 44·T·tf / (20·T·tf + 6·T + 18·len(p)·N)     (u128, floor)
//!    ```
//!
//!    which is BM25 with k1 = 6/5 and b = 3/4 in exact integer form (the `+1` inside the
//!    logarithm keeps every idf positive).
//! 4. **Question terms.** The distinct terms of the question's first [`QUESTION_BYTES_MAX`]
//!    bytes; the [`QUESTION_TERMS_MAX`] rarest are kept (fewest passages first, ties by their
//!    order in the question), so a question reads at most that many posting lists.
//! 5. **Relevance.** A passage counts only when the question terms it holds carry at least
//!    [`RetrievalConfig::min_coverage_bps`] of the question terms' idf mass (a term the corpus
//!    lacks counts as if one passage held it), and its score is at least
//!    [`RetrievalConfig::min_relative_bps`] of the best passage's. A question about something
//!    the corpus does not hold gets no passages.
//! 6. **Order.** Score descending, then (contribution, ordinal, passage start) ascending; the
//!    first `k` are returned.

use crate::DocKey;
use std::collections::{BTreeMap, BTreeSet};

/// Passages shorter than this (bytes, after trimming) join the next paragraph.
pub const PASSAGE_BYTES_MIN: usize = 200;
/// Passages are cut before this many bytes.
pub const PASSAGE_BYTES_MAX: usize = 1_000;
/// Fixed-point unit of [`idf`] values: 1.0 = 65,536.
pub const IDF_ONE: u64 = 1 << 16;
/// Longest question read, in bytes; the rest is ignored (a question is not a corpus).
pub const QUESTION_BYTES_MAX: usize = 4_096;
/// Most distinct terms of a question scored (the rarest).
pub const QUESTION_TERMS_MAX: usize = 16;
/// Longest term indexed, in bytes (longer runs are not words: hashes, base64).
pub const TERM_BYTES_MAX: usize = 64;

/// English function words that carry no topic: left out of documents and questions alike.
pub const STOPWORDS: &[&str] = &[
    "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
    "describe", "did", "do", "does", "doing", "down", "during", "each", "explain", "few", "for",
    "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his",
    "how", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my",
    "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours",
    "out", "over", "own", "please", "same", "she", "should", "so", "some", "such", "tell", "than",
    "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through",
    "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where",
    "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours",
];

/// How many passages, and how relevant they must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrievalConfig {
    /// Most passages returned.
    pub k: usize,
    /// Share of the question's idf mass a passage must hold, in basis points.
    pub min_coverage_bps: u32,
    /// Share of the best passage's score a passage must reach, in basis points.
    pub min_relative_bps: u32,
}

impl RetrievalConfig {
    /// Three passages holding at least 40% of the question's idf mass and scoring at least
    /// half of the best one (chosen on the labelled questions in `tests/retrieval.rs`).
    pub const DEFAULT: Self = Self { k: 3, min_coverage_bps: 4_000, min_relative_bps: 5_000 };
}

/// A passage of the corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassageEntry {
    /// The document it was cut from.
    pub key: DocKey,
    /// Who contributed the document, if known.
    pub contributor: Option<String>,
    /// Where it starts in its document, in bytes.
    pub start: usize,
    /// Its text.
    pub text: String,
    /// Its number of terms.
    terms: u32,
}

/// A passage found for a question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// Index of the passage (see [`RetrievalIndex::passage`]).
    pub passage: u32,
    /// Its score (see the module docs).
    pub score: u64,
}

/// An inverted index of a corpus' passages. Built once, queried many times.
///
/// Memory: the passages' text, plus 16 bytes per distinct term and 8 per (term, passage)
/// pair (flat arrays, no per-term allocation).
#[derive(Clone, Debug, Default)]
pub struct RetrievalIndex {
    passages: Vec<PassageEntry>,
    /// (term key, first posting, postings), sorted by key.
    terms: Vec<(u64, u32, u32)>,
    /// (passage, occurrences), grouped by term, passages ascending within a term.
    postings: Vec<(u32, u32)>,
    /// Terms in the corpus.
    total_terms: u64,
}

/// A term's postings: (passage, occurrences), passages ascending.
type Postings<'a> = &'a [(u32, u32)];

/// The key of a term: the first 8 bytes of its BLAKE3 hash, little-endian.
fn term_key(term: &str) -> u64 {
    let hash = blake3::hash(term.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(bytes)
}

/// Word characters: ASCII letters, digits and `_`, and every non-ASCII character except
/// Latin-1 punctuation and symbols (U+0080–U+00BF, U+00D7, U+00F7), General Punctuation
/// (U+2000–U+206F), CJK Symbols and Punctuation (U+3000–U+303F) and the fullwidth ASCII
/// punctuation (U+FF00–U+FF0F, U+FF1A–U+FF20, U+FF3B–U+FF40, U+FF5B–U+FF65).
#[must_use]
pub fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    !matches!(u32::from(c),
        0x80..=0xBF | 0xD7 | 0xF7 | 0x2000..=0x206F | 0x3000..=0x303F
        | 0xFF00..=0xFF0F | 0xFF1A..=0xFF20 | 0xFF3B..=0xFF40 | 0xFF5B..=0xFF65)
}

/// The terms of `text` (see the module docs), in order, repeats kept.
#[must_use]
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split(|c: char| !is_word_char(c)) {
        if word.is_empty() || word.len() > TERM_BYTES_MAX {
            continue;
        }
        let parts = identifier_parts(word);
        if parts.len() > 1 {
            push_term(&mut out, &word.to_ascii_lowercase());
        }
        for part in parts {
            push_term(&mut out, &part.to_ascii_lowercase());
        }
    }
    out
}

fn push_term(out: &mut Vec<String>, word: &str) {
    let word = word.trim_matches('_');
    if word.chars().count() < 2 || STOPWORDS.binary_search(&word).is_ok() {
        return;
    }
    out.push(stem(word));
}

/// The parts of an identifier: split at `_` and at ASCII lower-to-upper case changes
/// (`moveFrom`).
fn identifier_parts(word: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    for piece in word.split('_').filter(|p| !p.is_empty()) {
        let mut start = 0;
        let mut previous_lower = false;
        for (at, c) in piece.char_indices() {
            if c.is_ascii_uppercase() && previous_lower {
                parts.push(&piece[start..at]);
                start = at;
            }
            previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
        parts.push(&piece[start..]);
    }
    parts
}

/// A light suffix stemmer, the same for documents and questions (so a form only has to map
/// where its relatives map, not to a dictionary word):
///
/// 1. plural: `ies` → `y`; `sses`, `xes`, `ches`, `shes` drop `es`; any other final `s` is
///    dropped unless it follows `s`, `u` or `i` (`class`, `status`, `this`);
/// 2. `ing` or `ed` is dropped when three characters stay, then a doubled final consonant
///    other than `l`, `s`, `z` is halved (`stopped` → `stop`);
/// 3. a final `e` is dropped when three characters stay (`declare`, `declared` → `declar`).
fn stem(word: &str) -> String {
    let mut w = word.to_owned();
    let n = w.len();
    if n > 4 && w.ends_with("ies") {
        w.truncate(n - 3);
        w.push('y');
    } else if n > 4 && ["sses", "xes", "ches", "shes"].iter().any(|e| w.ends_with(e)) {
        w.truncate(n - 2);
    } else if n > 3 && w.ends_with('s') && !["ss", "us", "is"].iter().any(|e| w.ends_with(e)) {
        w.truncate(n - 1);
    }
    for suffix in ["ing", "ed"] {
        if w.ends_with(suffix) && w.chars().count() >= suffix.len() + 3 {
            w.truncate(w.len() - suffix.len());
            let b = w.as_bytes();
            let n = b.len();
            if n >= 2
                && b[n - 1] == b[n - 2]
                && b[n - 1].is_ascii_lowercase()
                && !b"aeiouylsz".contains(&b[n - 1])
            {
                w.truncate(n - 1);
            }
            break;
        }
    }
    if w.ends_with('e') && w.chars().count() >= 4 {
        w.truncate(w.len() - 1);
    }
    w
}

/// Paragraph byte ranges of `doc` (see the module docs), trimmed, never empty.
fn passages_of(doc: &str) -> Vec<(usize, usize)> {
    let mut paragraphs = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in doc.split_inclusive('\n') {
        at += line.len();
        if line.trim().is_empty() {
            paragraphs.push((start, at));
            start = at;
        }
    }
    paragraphs.push((start, doc.len()));
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut open: Option<usize> = None;
    for (s, e) in paragraphs {
        let from = open.unwrap_or(s);
        if doc[from..e].trim().len() < PASSAGE_BYTES_MIN && e < doc.len() {
            open = Some(from);
            continue;
        }
        open = None;
        cut(doc, from, e, &mut out);
    }
    out.retain(|&(s, e)| !doc[s..e].trim().is_empty());
    out.into_iter().map(|(s, e)| trimmed(doc, s, e)).collect()
}

/// Cuts `doc[start..end]` into pieces of at most `PASSAGE_BYTES_MAX` bytes.
fn cut(doc: &str, mut start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    while end - start > PASSAGE_BYTES_MAX {
        let mut limit = start + PASSAGE_BYTES_MAX;
        while !doc.is_char_boundary(limit) {
            limit -= 1;
        }
        let window = &doc[start..limit];
        // The last line break, else sentence end, else space in the window's second half.
        let at = ["\n", ". ", " "]
            .iter()
            .find_map(|sep| {
                window.rfind(sep).filter(|&i| i >= PASSAGE_BYTES_MAX / 2).map(|i| i + sep.len())
            })
            .unwrap_or(window.len());
        out.push((start, start + at));
        start += at;
    }
    out.push((start, end));
}

fn trimmed(doc: &str, start: usize, end: usize) -> (usize, usize) {
    let text = &doc[start..end];
    let lead = text.len() - text.trim_start().len();
    (start + lead, start + text.trim_end().len())
}

/// `log2(numerator / denominator)` in `IDF_ONE` units, floor; 0 when the ratio is at most 1.
#[must_use]
pub fn log2_ratio(numerator: u64, denominator: u64) -> u64 {
    if denominator == 0 || numerator <= denominator {
        return 0;
    }
    // Integer part: shift the denominator up while it stays at most the numerator.
    let (n, d) = (u128::from(numerator), u128::from(denominator));
    let mut whole = 0u64;
    while d << (whole + 1) <= n {
        whole += 1;
    }
    // Fraction: x = n / (d·2^whole) in [1, 2) with 62 fractional bits; square it 16 times, each
    // time reading off one bit of log2(x).
    const FRACTION: u32 = 62;
    let one = 1u128 << FRACTION;
    let mut x = (n << FRACTION) / (d << whole);
    let mut fraction = 0u64;
    for bit in (0..16).rev() {
        x = (x * x) >> FRACTION;
        if x >= 2 * one {
            x >>= 1;
            fraction |= 1 << bit;
        }
    }
    whole * IDF_ONE + fraction
}

impl RetrievalIndex {
    /// Indexes `documents` (key, contributor, text), in the order given.
    pub fn build<'a>(
        documents: impl IntoIterator<Item = (DocKey, Option<&'a str>, &'a str)>,
    ) -> Self {
        let mut index = Self::default();
        // (term key, passage, occurrences), sorted into postings at the end.
        let mut pairs: Vec<(u64, u32, u32)> = Vec::new();
        for (key, contributor, text) in documents {
            for (start, end) in passages_of(text) {
                let Ok(id) = u32::try_from(index.passages.len()) else { break };
                let found = terms(&text[start..end]);
                let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
                for term in &found {
                    *counts.entry(term_key(term)).or_default() += 1;
                }
                pairs.extend(counts.into_iter().map(|(term, tf)| (term, id, tf)));
                index.total_terms += found.len() as u64;
                index.passages.push(PassageEntry {
                    key,
                    contributor: contributor.map(str::to_owned),
                    start,
                    text: text[start..end].to_owned(),
                    terms: u32::try_from(found.len()).unwrap_or(u32::MAX),
                });
            }
        }
        pairs.sort_unstable();
        index.postings.reserve_exact(pairs.len());
        for (term, passage, tf) in pairs {
            let at = u32::try_from(index.postings.len()).unwrap_or(u32::MAX);
            match index.terms.last_mut() {
                Some(last) if last.0 == term => last.2 += 1,
                _ => index.terms.push((term, at, 1)),
            }
            index.postings.push((passage, tf));
        }
        index
    }

    /// The postings of a term: (passage, occurrences), passages ascending.
    fn postings(&self, term: &str) -> &[(u32, u32)] {
        let key = term_key(term);
        match self.terms.binary_search_by_key(&key, |t| t.0) {
            Ok(i) => {
                let (_, at, n) = self.terms[i];
                self.postings.get(at as usize..at as usize + n as usize).unwrap_or(&[])
            }
            Err(_) => &[],
        }
    }

    /// Number of passages.
    #[must_use]
    pub fn len(&self) -> usize {
        self.passages.len()
    }

    /// True when the corpus has no passage.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.passages.is_empty()
    }

    /// The passage a hit points at.
    #[must_use]
    pub fn passage(&self, hit: Hit) -> Option<&PassageEntry> {
        self.passages.get(hit.passage as usize)
    }

    /// `idf(t)` of a term held by `df` passages (see the module docs).
    #[must_use]
    pub fn idf(&self, df: u64) -> u64 {
        let n = self.passages.len() as u64;
        log2_ratio(2 * n + 2, 2 * df + 1)
    }

    /// The passages relevant to `question`, best first, at most `config.k`.
    #[must_use]
    pub fn search(&self, question: &str, config: &RetrievalConfig) -> Vec<Hit> {
        if config.k == 0 || self.passages.is_empty() {
            return Vec::new();
        }
        let mut end = question.len().min(QUESTION_BYTES_MAX);
        while !question.is_char_boundary(end) {
            end -= 1;
        }
        // Distinct terms in question order, each with its postings.
        let mut seen = BTreeSet::new();
        // (passages holding it, position in the question, postings)
        let mut wanted: Vec<(usize, usize, Postings<'_>)> = Vec::new();
        for term in terms(&question[..end]) {
            if seen.insert(term.clone()) {
                let postings = self.postings(&term);
                wanted.push((postings.len(), wanted.len(), postings));
            }
        }
        wanted.sort_unstable_by_key(|w| (w.0, w.1));
        wanted.truncate(QUESTION_TERMS_MAX);
        if wanted.is_empty() {
            return Vec::new();
        }
        let (n, total) = (self.passages.len() as u128, u128::from(self.total_terms.max(1)));
        let mut mass_total = 0u64;
        // Per passage (score, idf mass held), dense; a score part is at most 2.2·idf < 2^25,
        // so 16 of them fit a u64 many times over. `touched` lists the passages seen.
        let mut found: Vec<(u64, u64)> = vec![(0, 0); self.passages.len()];
        let mut touched: Vec<u32> = Vec::new();
        for &(df, _, postings) in &wanted {
            let idf = self.idf((df as u64).max(1));
            mass_total += idf;
            for &(passage, tf) in postings {
                let len = u128::from(self.passages.get(passage as usize).map_or(0, |p| p.terms));
                let tf = u128::from(tf);
                let part = u128::from(idf) * 44 * total * tf
                    / (20 * total * tf + 6 * total + 18 * len * n);
                let Some(entry) = found.get_mut(passage as usize) else { continue };
                if entry.1 == 0 {
                    touched.push(passage);
                }
                entry.0 += u64::try_from(part).unwrap_or(u64::MAX);
                entry.1 += idf;
            }
        }
        let needed = u128::from(mass_total) * u128::from(config.min_coverage_bps);
        let mut hits: Vec<Hit> = touched
            .into_iter()
            .filter_map(|passage| {
                let (score, mass) = found[passage as usize];
                (u128::from(mass) * 10_000 >= needed).then_some(Hit { passage, score })
            })
            .collect();
        let best = hits.iter().map(|h| h.score).max().unwrap_or(0);
        hits.retain(|h| {
            u128::from(h.score) * 10_000 >= u128::from(best) * u128::from(config.min_relative_bps)
        });
        hits.sort_by(|a, b| {
            let (pa, pb) = (&self.passages[a.passage as usize], &self.passages[b.passage as usize]);
            b.score.cmp(&a.score).then(pa.key.cmp(&pb.key)).then(pa.start.cmp(&pb.start))
        });
        hits.truncate(config.k);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContributionId;

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn terms_split_identifiers_and_drop_plurals_and_stopwords() {
        assert_eq!(terms("How do I withdraw coins in Move?"), ["withdraw", "coin", "mov"]);
        assert_eq!(
            terms("borrow_global_mut<T>(addr)"),
            ["borrow_global_mut", "borrow", "global", "mut", "addr"]
        );
        assert_eq!(terms("moveFrom abilities class"), ["movefrom", "mov", "ability", "class"]);
        assert_eq!(
            terms("minted minting mints stopped declares"),
            ["mint", "mint", "mint", "stop", "declar"]
        );
        assert_eq!(
            terms("E_INSUFFICIENT_BALANCE"),
            ["e_insufficient_balanc", "insufficient", "balanc"]
        );
        assert!(terms("a I ! __ _").is_empty());
    }

    #[test]
    fn log2_is_exact_on_powers_and_floors_between() {
        assert_eq!(log2_ratio(8, 1), 3 * IDF_ONE);
        assert_eq!(log2_ratio(1, 1), 0);
        assert_eq!(log2_ratio(1, 2), 0);
        // log2(3) = 1.58496250072… → 103,872.0… in 1/65536 units.
        assert_eq!(log2_ratio(3, 1), 103_872);
        assert_eq!(log2_ratio(u64::MAX, 1), 63 * IDF_ONE + 65_535);
    }

    #[test]
    fn long_paragraphs_are_cut_and_headings_join_their_text() {
        let doc = format!("# Title\n\n{}\n\nshort tail", "word ".repeat(500));
        let parts = passages_of(&doc);
        assert!(parts.iter().all(|&(s, e)| e - s <= PASSAGE_BYTES_MAX && s < e));
        assert!(doc[parts[0].0..parts[0].1].starts_with("# Title\n\nword"));
        assert!(doc[parts.last().unwrap().0..].ends_with("short tail"));
        assert!(passages_of("").is_empty());
        assert!(passages_of("\n\n  \n").is_empty());
    }

    #[test]
    fn a_question_about_nothing_held_gets_nothing() {
        let key = |c| DocKey { contribution: ContributionId(c), ordinal: 0 };
        let index = RetrievalIndex::build([
            (key(1), Some("ada"), "Coins are minted by the issuer and burned to lower the supply."),
            (key(2), None, "Modules are published at an address and declare structs."),
        ]);
        let config = RetrievalConfig::DEFAULT;
        assert!(index.search("What is the capital of France?", &config).is_empty());
        assert!(index.search("", &config).is_empty());
        let hits = index.search("how are coins burned", &config);
        assert_eq!(hits.len(), 1);
        assert_eq!(index.passage(hits[0]).unwrap().key, key(1));
    }
}
