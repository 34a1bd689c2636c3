//! The GPT-2 style byte-level BPE tokenizer described by a GGUF file's `tokenizer.ggml.*`
//! metadata: no `tokenizer.json` needed.
//!
//! Encoding runs the `tokenizers` crate's BPE model (already built as a dependency of candle)
//! behind the pre-tokenizer that `tokenizer.ggml.pre` names. SmolLM2 says `smollm`, which
//! means "split digits one by one, then the GPT-2 byte-level regex without a prefix space";
//! the GPT-2 fallback that candle's own GGUF tokenizer picks for unknown names gives wrong ids
//! (`system` after `<|im_start|>` becomes 817 instead of 9690). Unknown names are refused
//! rather than guessed.
//!
//! Special (control) tokens such as `<|im_start|>` are matched in text only by
//! [`Tokenizer::encode_with_special`]; [`Tokenizer::encode`] treats all text as plain, so a
//! user's message cannot smuggle control tokens into a prompt. Decoding maps each token back to
//! its bytes here, which lets [`crate::TextStream`] emit text on UTF-8 boundaries.

use std::collections::HashMap;

use tokenizers::{
    models::bpe::{BPE, Vocab},
    pre_tokenizers::{
        PreTokenizerWrapper, byte_level::ByteLevel, digits::Digits, sequence::Sequence,
    },
};

use crate::{
    error::{Error, Result},
    gguf::GgufFile,
};

/// A token id.
pub type TokenId = u32;

/// What a vocabulary entry is, from `tokenizer.ggml.token_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Ordinary text.
    Normal,
    /// The unknown token.
    Unknown,
    /// A control token (`<|im_start|>`): never produced from plain text, not printed.
    Control,
    /// A user-defined token: its text is taken literally.
    UserDefined,
    /// Reserved and unused.
    Unused,
    /// A raw byte (`<0x0A>`).
    Byte,
}

impl TokenKind {
    const fn from_gguf(value: u32) -> Option<Self> {
        Some(match value {
            1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => return None,
        })
    }
}

/// A byte-level BPE tokenizer with the model's special tokens.
pub struct Tokenizer {
    bpe: tokenizers::Tokenizer,
    kinds: Vec<TokenKind>,
    /// The bytes each token stands for in output (empty for control and unused tokens).
    bytes: Vec<Vec<u8>>,
    /// Control and user-defined token texts, longest first, for `encode_with_special`.
    specials: Vec<(String, TokenId)>,
    ids: HashMap<String, TokenId>,
    bos: Option<TokenId>,
    eos: Option<TokenId>,
    /// Tokens that end a generation: EOS, EOT and the usual end-of-turn control tokens.
    end_of_generation: Vec<TokenId>,
    /// The most bytes of text one token encodes (at least 1).
    longest_token_bytes: usize,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.kinds.len())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .finish_non_exhaustive()
    }
}

/// End-of-turn control tokens of common chat formats, treated like EOS when generating.
const END_OF_TURN: [&str; 4] = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>"];

impl Tokenizer {
    /// Builds the tokenizer from a GGUF file's metadata.
    pub(crate) fn from_gguf(file: &GgufFile) -> Result<Self> {
        let model = file.string("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(unsupported(format!("tokenizer.ggml.model {model:?} (supported: gpt2)")));
        }
        let pre = pre_tokenizer(file.string_opt("tokenizer.ggml.pre")?)?;
        let tokens = file.strings("tokenizer.ggml.tokens")?;
        let merges = file.strings("tokenizer.ggml.merges")?;
        let kinds = token_kinds(file, tokens.len())?;
        let ids: HashMap<String, TokenId> =
            tokens.iter().zip(0..).map(|(t, id)| ((*t).to_owned(), id)).collect();
        let merges = checked_merges(&merges, &ids)?;
        let vocab: Vocab = ids.iter().map(|(t, id)| (t.clone(), *id)).collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| invalid("tokenizer.ggml.merges", e.to_string()))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre));
        let bytes: Vec<Vec<u8>> =
            tokens.iter().zip(&kinds).map(|(t, k)| token_bytes(t, *k)).collect();
        let mut specials: Vec<(String, TokenId)> = tokens
            .iter()
            .zip(&kinds)
            .zip(0..)
            .filter(|((t, k), _)| {
                matches!(k, TokenKind::Control | TokenKind::UserDefined) && !t.is_empty()
            })
            .map(|((t, _), id)| ((*t).to_owned(), id))
            .collect();
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let special_id = |key: &str| -> Result<Option<TokenId>> {
            let id = file.u32_opt(key)?;
            match id {
                Some(id) if id as usize >= tokens.len() => {
                    Err(invalid(key, format!("id {id} is outside the vocabulary")))
                }
                other => Ok(other),
            }
        };
        let bos = special_id("tokenizer.ggml.bos_token_id")?;
        let eos = special_id("tokenizer.ggml.eos_token_id")?;
        let eot = special_id("tokenizer.ggml.eot_token_id")?;
        let mut end_of_generation: Vec<TokenId> = [eos, eot].into_iter().flatten().collect();
        end_of_generation.extend(END_OF_TURN.iter().filter_map(|t| {
            let id = *ids.get(*t)?;
            (kinds[id as usize] == TokenKind::Control).then_some(id)
        }));
        end_of_generation.sort_unstable();
        end_of_generation.dedup();
        let longest_token_bytes = bytes.iter().map(Vec::len).max().unwrap_or(1).max(1);
        Ok(Self {
            bpe: inner,
            kinds,
            bytes,
            specials,
            ids,
            bos,
            eos,
            end_of_generation,
            longest_token_bytes,
        })
    }

    /// The fewest tokens `text_bytes` bytes of plain text can encode to: no token covers more
    /// than the longest vocabulary entry. Lets a server refuse a prompt that cannot fit the
    /// context without spending time tokenizing it.
    pub const fn tokens_at_least(&self, text_bytes: usize) -> usize {
        text_bytes.div_ceil(self.longest_token_bytes)
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.kinds.len()
    }

    /// The beginning-of-sequence token, if the model has one.
    pub const fn bos(&self) -> Option<TokenId> {
        self.bos
    }

    /// The end-of-sequence token, if the model has one.
    pub const fn eos(&self) -> Option<TokenId> {
        self.eos
    }

    /// True for tokens that end a generation (EOS, EOT, end-of-turn control tokens).
    pub fn is_end_of_generation(&self, token: TokenId) -> bool {
        self.end_of_generation.binary_search(&token).is_ok()
    }

    /// The id of the vocabulary entry spelled exactly `text` (e.g. `"<|im_start|>"`).
    pub fn token_id(&self, text: &str) -> Option<TokenId> {
        self.ids.get(text).copied()
    }

    /// The kind of `token`, if it is in the vocabulary.
    pub fn kind(&self, token: TokenId) -> Option<TokenKind> {
        self.kinds.get(token as usize).copied()
    }

    /// The bytes `token` stands for in decoded output (empty for control tokens).
    pub fn bytes(&self, token: TokenId) -> Result<&[u8]> {
        self.bytes
            .get(token as usize)
            .map(Vec::as_slice)
            .ok_or(Error::TokenOutOfRange { token, vocab_size: self.vocab_size() })
    }

    /// Encodes `text` as plain text: control-token spellings in it are ordinary characters.
    pub fn encode(&self, text: &str) -> Result<Vec<TokenId>> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let encoding =
            self.bpe.encode(text, false).map_err(|e| Error::Tokenizer { reason: e.to_string() })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Encodes `text`, turning spellings of control and user-defined tokens into those tokens
    /// (what llama.cpp calls `parse_special`). Use for trusted templates only.
    pub fn encode_with_special(&self, text: &str) -> Result<Vec<TokenId>> {
        let mut ids = Vec::new();
        let mut plain_start = 0;
        let mut at = 0;
        while at < text.len() {
            let rest = &text[at..];
            match self.specials.iter().find(|(s, _)| rest.starts_with(s.as_str())) {
                Some((s, id)) => {
                    ids.extend(self.encode(&text[plain_start..at])?);
                    ids.push(*id);
                    at += s.len();
                    plain_start = at;
                }
                None => at += rest.chars().next().map_or(1, char::len_utf8),
            }
        }
        ids.extend(self.encode(&text[plain_start..])?);
        Ok(ids)
    }

    /// Decodes `tokens` to text, skipping control tokens; invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, tokens: &[TokenId]) -> Result<String> {
        let mut bytes = Vec::new();
        for &token in tokens {
            bytes.extend_from_slice(self.bytes(token)?);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The pre-tokenizer `tokenizer.ggml.pre` names.
fn pre_tokenizer(pre: Option<&str>) -> Result<PreTokenizerWrapper> {
    // `use_regex = true` is the GPT-2 split pattern; no prefix space, as in llama.cpp.
    let byte_level = ByteLevel::new(false, true, true);
    match pre {
        Some("smollm") => {
            Ok(Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into())
        }
        Some("gpt2") => Ok(byte_level.into()),
        other => Err(unsupported(format!(
            "tokenizer.ggml.pre {other:?} (supported: \"smollm\", \"gpt2\")"
        ))),
    }
}

fn token_kinds(file: &GgufFile, count: usize) -> Result<Vec<TokenKind>> {
    const KEY: &str = "tokenizer.ggml.token_type";
    let Some(types) = file.integers_opt(KEY)? else {
        return Ok(vec![TokenKind::Normal; count]);
    };
    if types.len() != count {
        return Err(invalid(KEY, format!("{} types for {count} tokens", types.len())));
    }
    types
        .iter()
        .map(|&t| TokenKind::from_gguf(t).ok_or_else(|| invalid(KEY, format!("unknown type {t}"))))
        .collect()
}

/// Splits `"a b"` merges and checks that both parts and their concatenation are tokens (the
/// BPE builder indexes a buffer by token lengths and would panic otherwise).
fn checked_merges(
    merges: &[&str],
    ids: &HashMap<String, TokenId>,
) -> Result<Vec<(String, String)>> {
    const KEY: &str = "tokenizer.ggml.merges";
    merges
        .iter()
        .enumerate()
        .map(|(i, merge)| {
            let bad = |why: &str| invalid(KEY, format!("merge {i} {why}"));
            let (a, b) = merge.split_once(' ').ok_or_else(|| bad("has no space"))?;
            if !ids.contains_key(a) || !ids.contains_key(b) || !ids.contains_key(&format!("{a}{b}"))
            {
                return Err(bad("names a token that is not in the vocabulary"));
            }
            Ok((a.to_owned(), b.to_owned()))
        })
        .collect()
}

/// The output bytes of one vocabulary entry.
fn token_bytes(text: &str, kind: TokenKind) -> Vec<u8> {
    match kind {
        TokenKind::Control | TokenKind::Unused => Vec::new(),
        TokenKind::UserDefined => text.as_bytes().to_vec(),
        TokenKind::Byte => byte_token(text).map_or_else(|| byte_level_decode(text), |b| vec![b]),
        TokenKind::Normal | TokenKind::Unknown => byte_level_decode(text),
    }
}

/// `<0xAB>` → `0xAB`.
fn byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

/// Undoes GPT-2's byte-to-character mapping. Characters outside the mapping (which a
/// well-formed vocabulary never has) keep their UTF-8 bytes.
fn byte_level_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// GPT-2 maps the printable bytes `!`..=`~`, `¡`..=`¬` and `®`..=`ÿ` to the characters with
/// the same code, and the other 68 bytes, in order, to U+0100..U+0143.
fn char_to_byte(c: char) -> Option<u8> {
    let byte = *CHAR_TO_BYTE.get(c as usize)?;
    u8::try_from(byte).ok()
}

const BYTE_LEVEL_CHARS: usize = 0x144;

/// The inverse of GPT-2's byte-to-character map, by character code (`u16::MAX`: no byte).
const CHAR_TO_BYTE: [u16; BYTE_LEVEL_CHARS] = {
    let mut table = [u16::MAX; BYTE_LEVEL_CHARS];
    let mut next = 0x100;
    let mut b = 0;
    while b < 0x100 {
        if matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF) {
            table[b] = b as u16;
        } else {
            table[next] = b as u16;
            next += 1;
        }
        b += 1;
    }
    table
};

fn unsupported(reason: String) -> Error {
    Error::UnsupportedTokenizer { reason }
}

fn invalid(key: &str, reason: String) -> Error {
    Error::InvalidMetadata { key: key.to_owned(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_mapping_covers_every_byte_once() {
        // Build the forward map the way GPT-2 defines it and check that decoding inverts it.
        let mut next = 0x100_u32;
        for b in 0..=0xFF_u32 {
            let c = if matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF) {
                b
            } else {
                next += 1;
                next - 1
            };
            let c = char::from_u32(c).expect("valid char");
            assert_eq!(char_to_byte(c), Some(b as u8), "byte {b:#x}");
        }
        assert_eq!(char_to_byte('Ġ'), Some(b' '));
        assert_eq!(char_to_byte('Ċ'), Some(b'\n'));
        assert_eq!(char_to_byte(char::from_u32(0x100 + 68).expect("char")), None);
        assert_eq!(char_to_byte(' '), None);
    }

    #[test]
    fn token_bytes_by_kind() {
        assert_eq!(token_bytes("Ġhi", TokenKind::Normal), b" hi");
        assert_eq!(token_bytes("<|im_end|>", TokenKind::Control), b"");
        assert_eq!(token_bytes("<0x0A>", TokenKind::Byte), b"\n");
        assert_eq!(token_bytes("<tag>", TokenKind::UserDefined), b"<tag>");
    }
}
