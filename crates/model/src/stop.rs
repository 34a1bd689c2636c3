//! Stop sequences over streamed text.
//!
//! Text that might be the start of a stop sequence is held back until the next piece decides:
//! either the stop sequence completes (the text before it is released and generation ends,
//! the stop sequence itself is never shown, as in OpenAI's API), or it cannot (the held text
//! is released).

use crate::error::{Error, Result};

/// Most stop sequences per request.
pub const STOP_SEQUENCES_MAX: usize = 16;
/// Longest stop sequence, in bytes.
pub const STOP_SEQUENCE_BYTES_MAX: usize = 256;

/// What a piece of text did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// Text that is certainly output.
    Continue(String),
    /// A stop sequence completed: the output text before it; generation ends.
    Stopped(String),
}

/// Watches streamed text for stop sequences.
pub(crate) struct StopText {
    stops: Vec<String>,
    held: String,
}

impl StopText {
    /// Checks `stops` against the limits (none empty).
    pub(crate) fn new(stops: &[String]) -> Result<Self> {
        if stops.len() > STOP_SEQUENCES_MAX {
            return Err(Error::InvalidConfig {
                reason: format!("{} stop sequences, at most {STOP_SEQUENCES_MAX}", stops.len()),
            });
        }
        if let Some(bad) = stops.iter().find(|s| s.is_empty() || s.len() > STOP_SEQUENCE_BYTES_MAX)
        {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "stop sequence of {} bytes, expected 1..={STOP_SEQUENCE_BYTES_MAX}",
                    bad.len()
                ),
            });
        }
        Ok(Self { stops: stops.to_vec(), held: String::new() })
    }

    /// Adds generated `text`.
    pub(crate) fn push(&mut self, text: &str) -> Scan {
        self.held.push_str(text);
        let first = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min();
        if let Some(at) = first {
            let mut out = std::mem::take(&mut self.held);
            out.truncate(at);
            return Scan::Stopped(out);
        }
        let keep = self.partial_suffix();
        let out = self.held[..self.held.len() - keep].to_owned();
        self.held.drain(..self.held.len() - keep);
        Scan::Continue(out)
    }

    /// Ends the text: whatever is held is output.
    pub(crate) fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length of the longest suffix of the held text that begins some stop sequence.
    fn partial_suffix(&self) -> usize {
        let held = self.held.as_str();
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        (1..longest.min(held.len() + 1))
            .rev()
            .find(|&k| {
                let start = held.len() - k;
                held.is_char_boundary(start)
                    && self.stops.iter().any(|s| s.starts_with(&held[start..]))
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| (*s).to_owned()).collect();
        let mut stop = StopText::new(&stops).expect("valid stops");
        let mut out = String::new();
        for piece in pieces {
            match stop.push(piece) {
                Scan::Continue(t) => out.push_str(&t),
                Scan::Stopped(t) => return (out + &t, true),
            }
        }
        (out + &stop.finish(), false)
    }

    #[test]
    fn stops_across_pieces_and_hides_the_stop_sequence() {
        assert_eq!(run(&["END"], &["abc E", "N", "D more"]), ("abc ".to_owned(), true));
        assert_eq!(run(&["\n\n"], &["a\n", "\nb"]), ("a".to_owned(), true));
        assert_eq!(run(&["xy", "b"], &["axyb"]), ("a".to_owned(), true));
        assert_eq!(run(&["é!"], &["aé", "é!"]), ("aé".to_owned(), true));
    }

    #[test]
    fn releases_held_text_when_the_stop_does_not_complete() {
        assert_eq!(run(&["END"], &["abc E", "Nx"]), ("abc ENx".to_owned(), false));
        assert_eq!(run(&["END"], &["abc EN"]), ("abc EN".to_owned(), false));
        assert_eq!(run(&[], &["a", "b"]), ("ab".to_owned(), false));
    }

    #[test]
    fn holds_back_only_a_possible_prefix() {
        let mut stop = StopText::new(&["END".to_owned()]).expect("valid");
        assert_eq!(stop.push("xEN"), Scan::Continue("x".to_owned()));
        assert_eq!(stop.push("q"), Scan::Continue("ENq".to_owned()));
    }

    #[test]
    fn limits_are_enforced() {
        assert!(StopText::new(&[String::new()]).is_err());
        assert!(StopText::new(&["x".repeat(STOP_SEQUENCE_BYTES_MAX + 1)]).is_err());
        assert!(StopText::new(&vec!["x".to_owned(); STOP_SEQUENCES_MAX + 1]).is_err());
    }
}
