//! Incremental decoding: token bytes in, complete UTF-8 text out.
//!
//! A byte-level BPE token may end in the middle of a multi-byte character (an emoji is often
//! split over several tokens), so the text of a stream of tokens can only be released up to the
//! last complete character. Bytes that can never become valid UTF-8 are replaced by U+FFFD,
//! as `String::from_utf8_lossy` would do for the whole output.

/// Turns a stream of byte chunks into UTF-8 text pieces.
#[derive(Debug, Default)]
pub struct TextStream {
    /// At most 3 bytes of an incomplete character between calls.
    pending: Vec<u8>,
}

impl TextStream {
    /// An empty stream.
    pub const fn new() -> Self {
        Self { pending: Vec::new() }
    }

    /// Adds `bytes` and returns the text they complete (possibly empty).
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut consumed = 0;
        loop {
            match std::str::from_utf8(&self.pending[consumed..]) {
                Ok(text) => {
                    out.push_str(text);
                    consumed = self.pending.len();
                    break;
                }
                Err(err) => {
                    let valid = consumed + err.valid_up_to();
                    // The prefix up to `valid` was just checked to be UTF-8.
                    out.push_str(&String::from_utf8_lossy(&self.pending[consumed..valid]));
                    match err.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            consumed = valid + bad;
                        }
                        None => {
                            consumed = valid;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..consumed);
        out
    }

    /// Ends the stream: an incomplete character left over becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(chunks: &[&[u8]], expect: &[&str]) {
        let mut stream = TextStream::new();
        let mut got: Vec<String> = chunks.iter().map(|c| stream.push(c)).collect();
        got.push(stream.finish());
        assert_eq!(got, expect);
    }

    #[test]
    fn releases_text_on_character_boundaries() {
        let e = "é".as_bytes();
        let party = "🎉".as_bytes();
        check(&[b"ab", b"c"], &["ab", "c", ""]);
        check(&[&e[..1], &e[1..]], &["", "é", ""]);
        check(&[&party[..1], &party[1..3], &party[3..], b"!"], &["", "", "🎉", "!", ""]);
        check(&[b"x", &party[..2]], &["x", "", "\u{FFFD}"]);
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        check(&[b"a\xFFb"], &["a\u{FFFD}b", ""]);
        check(&[b"\x80", b"\xC3"], &["\u{FFFD}", "", "\u{FFFD}"]);
        check(&[b"\xC3", b"A"], &["", "\u{FFFD}A", ""]);
    }
}
