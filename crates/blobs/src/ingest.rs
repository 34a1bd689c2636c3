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
//!   string, or, without `text`, a conversation: a `messages` array of objects with a `role`
//!   (`system`, `user` or `assistant`) and a non-empty string `content` (the format chat
//!   fine-tunes take). Each line is one document; a conversation's text is its messages as
//!   `role: content`, one per line. Other fields are ignored.
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
    match media {
        MediaType::Text | MediaType::Markdown | MediaType::Code => {
            let text = normalize_text(bytes)?;
            if text.trim().is_empty() {
                return Err(IngestError::Empty);
            }
            Ok(vec![text])
        }
        MediaType::Jsonl => Ok(json_lines(bytes)?.iter().map(Line::text).collect()),
    }
}

/// One JSON line: a text, or a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Its `text` field.
    Text(String),
    /// Its `messages`, as (role, content).
    Chat(Vec<(String, String)>),
}

impl Line {
    /// The document text of the line (a conversation as `role: content` lines).
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Chat(messages) => messages
                .iter()
                .map(|(role, content)| format!("{role}: {content}"))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// The roles a conversation's messages may have.
pub const CHAT_ROLES: [&str; 3] = ["system", "user", "assistant"];

/// The lines of JSON-lines `bytes` (the rules of [`documents`]).
///
/// # Errors
/// As [`documents`] for [`MediaType::Jsonl`].
pub fn json_lines(bytes: &[u8]) -> Result<Vec<Line>, IngestError> {
    let text = normalize_text(bytes)?;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| IngestError::BadJsonLine { line: i + 1, reason };
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let object = value.as_object().ok_or_else(|| bad("not a JSON object".into()))?;
        let parsed = match (object.get("text"), object.get("messages")) {
            (Some(field), _) => {
                let doc = field.as_str().ok_or_else(|| bad("\"text\" is not a string".into()))?;
                Line::Text(checked_text(doc, "\"text\"").map_err(bad)?.to_owned())
            }
            (None, Some(messages)) => Line::Chat(conversation(messages).map_err(bad)?),
            (None, None) => return Err(bad("no \"text\" field (nor \"messages\")".into())),
        };
        lines.push(parsed);
    }
    if lines.is_empty() {
        return Err(IngestError::NoDocuments);
    }
    Ok(lines)
}

/// `doc` if it is non-empty text.
fn checked_text<'a>(doc: &'a str, what: &str) -> Result<&'a str, String> {
    if doc.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if let Some(offset) = doc.bytes().position(is_binary_byte) {
        return Err(format!("{what} holds control byte at offset {offset}"));
    }
    Ok(doc)
}

/// A `messages` array as (role, content) pairs.
fn conversation(messages: &serde_json::Value) -> Result<Vec<(String, String)>, String> {
    let messages = messages.as_array().ok_or("\"messages\" is not an array")?;
    if messages.is_empty() {
        return Err("\"messages\" is empty".into());
    }
    messages
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let field = |name: &str| m.get(name).and_then(serde_json::Value::as_str);
            let role = field("role").ok_or(format!("message {k} has no string \"role\""))?;
            if !CHAT_ROLES.contains(&role) {
                return Err(format!("message {k} has role {role:?}: system, user or assistant"));
            }
            let content =
                field("content").ok_or(format!("message {k} has no string \"content\""))?;
            let content = checked_text(content, &format!("message {k}'s content"))?;
            Ok((role.to_owned(), content.to_owned()))
        })
        .collect()
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
    fn json_lines_take_conversations() {
        let input = br#"{"messages":[{"role":"user","content":"Hi?"},{"role":"assistant","content":"Hello."}]}
{"text":"plain"}"#;
        let lines = json_lines(input).unwrap();
        let chat = vec![("user".into(), "Hi?".into()), ("assistant".into(), "Hello.".into())];
        assert_eq!(lines, vec![Line::Chat(chat), Line::Text("plain".into())]);
        assert_eq!(
            documents(MediaType::Jsonl, input).unwrap(),
            vec!["user: Hi?\nassistant: Hello.", "plain"]
        );
        for bad in [
            &br#"{"messages":[]}"#[..],
            br#"{"messages":"hi"}"#,
            br#"{"messages":[{"role":"robot","content":"x"}]}"#,
            br#"{"messages":[{"role":"user"}]}"#,
            br#"{"messages":[{"role":"user","content":" "}]}"#,
            br#"{"messages":[{"role":"user","content":"a\u0001"}]}"#,
        ] {
            assert!(
                matches!(json_lines(bad), Err(IngestError::BadJsonLine { line: 1, .. })),
                "{bad:?}"
            );
        }
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
