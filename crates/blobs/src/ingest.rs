//! Ingestion: the bytes of a contribution become UTF-8 documents for the attribution index.
//!
//! Rules (the same on the client, before an upload, and on the node, before indexing):
//!
//! - The content must be non-empty, valid UTF-8, and text: no NUL and no C0 control byte other
//!   than tab, line feed, form feed and carriage return (and no DEL). The error names the byte
//!   offset, so a user can find the problem.
//! - Normalization: a leading byte-order mark is dropped and line endings become `\n`
//!   (`\r\n` and a lone `\r` alike), so the same text saved on two systems indexes the same.
//! - Text, Markdown and code: the whole file is one document.
//! - JSON lines: every non-blank line is a JSON object whose `text` field is a non-empty
//!   string; each line is one document. Other fields are ignored.
//! - Duplicates are judged on the **normalized text** ([`text_hash`]): every run of whitespace
//!   becomes one space, each document is trimmed, and the documents are joined by a line feed.
//!   A copy that only changes line endings, indentation or spacing has the same text hash.

use alx_types::datanet::MediaType;
use std::path::Path;

/// Why content cannot be ingested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// Nothing to ingest.
    #[error("the content is empty")]
    Empty,
    /// Not UTF-8.
    #[error("not valid UTF-8 at byte {offset}: only UTF-8 text is accepted")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// A control byte that text does not contain.
    #[error("binary content: byte 0x{byte:02x} at offset {offset} is not text")]
    Binary {
        /// Offset of the byte.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// A JSON line is not an object with a non-empty string `text` field.
    #[error("line {line}: {reason}")]
    BadJsonLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// JSON lines with no document.
    #[error("no JSON line holds a document")]
    NoDocuments,
}

/// The media type a file name implies, if it is one datanets take.
#[must_use]
pub fn media_type_for(path: &Path) -> Option<MediaType> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    let media = match ext.as_str() {
        "txt" | "text" => MediaType::Text,
        "md" | "markdown" => MediaType::Markdown,
        "jsonl" | "ndjson" => MediaType::Jsonl,
        "move" | "rs" | "py" | "js" | "ts" | "go" | "c" | "h" | "cc" | "cpp" | "hpp" | "java"
        | "kt" | "sol" | "rb" | "sh" | "toml" | "yaml" | "yml" | "json" | "sql" | "swift"
        | "scala" | "hs" | "ml" | "ex" | "exs" | "zig" | "lua" | "php" | "cs" => MediaType::Code,
        _ => return None,
    };
    Some(media)
}

/// Checks `bytes` as text and returns it normalized (see the module docs).
pub fn normalize_text(bytes: &[u8]) -> Result<String, IngestError> {
    if bytes.is_empty() {
        return Err(IngestError::Empty);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| IngestError::InvalidUtf8 { offset: e.valid_up_to() })?;
    if let Some(offset) = text.bytes().position(is_binary_byte) {
        return Err(IngestError::Binary { offset, byte: bytes[offset] });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.contains('\r') {
        return Ok(text.to_owned());
    }
    Ok(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// The documents in `bytes` read as `media`.
pub fn documents(media: MediaType, bytes: &[u8]) -> Result<Vec<String>, IngestError> {
    let text = normalize_text(bytes)?;
    match media {
        MediaType::Text | MediaType::Markdown | MediaType::Code => {
            if text.trim().is_empty() {
                return Err(IngestError::Empty);
            }
            Ok(vec![text])
        }
        MediaType::Jsonl => json_lines(&text),
    }
}

fn json_lines(text: &str) -> Result<Vec<String>, IngestError> {
    let mut docs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| IngestError::BadJsonLine { line: i + 1, reason };
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let field = value
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?
            .get("text")
            .ok_or_else(|| bad("no \"text\" field".into()))?;
        let doc = field.as_str().ok_or_else(|| bad("\"text\" is not a string".into()))?;
        if doc.trim().is_empty() {
            return Err(bad("\"text\" is empty".into()));
        }
        if let Some(offset) = doc.bytes().position(is_binary_byte) {
            return Err(bad(format!("\"text\" holds control byte at offset {offset}")));
        }
        docs.push(doc.to_owned());
    }
    if docs.is_empty() {
        return Err(IngestError::NoDocuments);
    }
    Ok(docs)
}

/// BLAKE3 of the documents' normalized text (see the module docs): equal for two contributions
/// that differ only in whitespace and line endings.
#[must_use]
pub fn text_hash(documents: &[String]) -> alx_types::Hash {
    let mut hasher = blake3::Hasher::new();
    for (i, doc) in documents.iter().enumerate() {
        if i > 0 {
            hasher.update(b"\n");
        }
        let mut first = true;
        for word in doc.split_whitespace() {
            if !first {
                hasher.update(b" ");
            }
            hasher.update(word.as_bytes());
            first = false;
        }
    }
    alx_types::hash::from_bytes(*hasher.finalize().as_bytes())
}

const fn is_binary_byte(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_normalized() {
        let docs = documents(MediaType::Text, "\u{feff}a\r\nb\rc\n".as_bytes()).unwrap();
        assert_eq!(docs, vec!["a\nb\nc\n".to_owned()]);
    }

    #[test]
    fn binary_and_invalid_utf8_are_named() {
        assert_eq!(
            documents(MediaType::Code, b"fn x\0"),
            Err(IngestError::Binary { offset: 4, byte: 0 })
        );
        assert_eq!(
            documents(MediaType::Markdown, b"ok \xff\xfe"),
            Err(IngestError::InvalidUtf8 { offset: 3 })
        );
        assert_eq!(documents(MediaType::Text, b""), Err(IngestError::Empty));
        assert_eq!(documents(MediaType::Text, b" \n\t"), Err(IngestError::Empty));
        assert!(documents(MediaType::Text, b"tab\tand form\x0cfeed").is_ok());
    }

    #[test]
    fn json_lines_take_the_text_field() {
        let input = b"{\"text\":\"one\",\"id\":1}\n\n{\"text\":\"two\"}\r\n";
        assert_eq!(documents(MediaType::Jsonl, input).unwrap(), vec!["one", "two"]);
        for (input, line) in [
            (&b"{\"text\":\"a\"}\nnot json"[..], 2),
            (b"[1,2]", 1),
            (b"{\"body\":\"a\"}", 1),
            (b"{\"text\":3}", 1),
            (b"{\"text\":\"  \"}", 1),
            (b"{\"text\":\"a\\u0000b\"}", 1),
        ] {
            match documents(MediaType::Jsonl, input) {
                Err(IngestError::BadJsonLine { line: l, .. }) => assert_eq!(l, line),
                other => panic!("{input:?}: {other:?}"),
            }
        }
        assert_eq!(documents(MediaType::Jsonl, b"\n \n"), Err(IngestError::NoDocuments));
    }

    #[test]
    fn whitespace_and_line_endings_do_not_change_the_text_hash() {
        let hash = |media, bytes: &[u8]| text_hash(&documents(media, bytes).unwrap());
        let original = hash(MediaType::Markdown, b"# Coins\n\nA coin  is a resource.\n");
        assert_eq!(
            original,
            hash(MediaType::Markdown, b"# Coins\r\n\r\nA coin  is a resource.\r\n")
        );
        assert_eq!(original, hash(MediaType::Markdown, b"  # Coins\n\tA coin is\n a resource."));
        assert_ne!(original, hash(MediaType::Markdown, b"# Coins\n\nA coin is a module."));
        // Document boundaries count: two lines are not one document with a space.
        assert_ne!(
            hash(MediaType::Jsonl, b"{\"text\":\"a\"}\n{\"text\":\"b\"}"),
            hash(MediaType::Jsonl, b"{\"text\":\"a b\"}")
        );
    }

    #[test]
    fn media_types_from_file_names() {
        assert_eq!(media_type_for(Path::new("a/coin.move")), Some(MediaType::Code));
        assert_eq!(media_type_for(Path::new("README.MD")), Some(MediaType::Markdown));
        assert_eq!(media_type_for(Path::new("data.jsonl")), Some(MediaType::Jsonl));
        assert_eq!(media_type_for(Path::new("notes.txt")), Some(MediaType::Text));
        assert_eq!(media_type_for(Path::new("photo.png")), None);
        assert_eq!(media_type_for(Path::new("Makefile")), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_output_is_clean(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            for media in [MediaType::Text, MediaType::Jsonl] {
                if let Ok(docs) = documents(media, &bytes) {
                    for d in docs {
                        proptest::prop_assert!(!d.is_empty());
                        proptest::prop_assert!(!d.bytes().any(|b| b == 0));
                    }
                }
            }
        }
    }
}
