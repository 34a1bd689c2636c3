//! BIP39 English mnemonics and the derivation of an account key from one.
//!
//! ```text
//! mnemonic --BIP39 (PBKDF2, empty passphrase)--> 64-byte seed
//!          --SLIP-10 ed25519, m/44'/7700'/0'/0'/0'--> 32-byte ed25519 seed --> PrivateKey
//! ```

use crate::{
    error::{KeystoreError, Result},
    slip10,
};
use bip39::Language;
use commonware_codec::ReadExt as _;
use commonware_cryptography::ed25519::PrivateKey;
use std::fmt;
use zeroize::Zeroizing;

/// Words in a generated mnemonic (256 bits of entropy).
pub const MNEMONIC_WORDS: usize = 24;

/// Word counts accepted on import: every length BIP39 defines, so phrases made by other wallets
/// (often 12 words) can be imported. Generation always uses [`MNEMONIC_WORDS`].
pub const MNEMONIC_WORDS_ACCEPTED: [usize; 5] = [12, 15, 18, 21, 24];

/// The SLIP-10 path of the account key, `m/44'/7700'/0'/0'/0'` (every index hardened).
pub const DERIVATION_PATH: [u32; 5] = [44, 7700, 0, 0, 0];

/// The longest phrase text accepted, in bytes. 24 words of at most 8 letters need 215; the rest
/// is room for stray whitespace. Anything longer is refused before it is parsed.
pub const PHRASE_LEN_MAX: usize = 1024;

/// Bytes of entropy of a generated mnemonic.
const ENTROPY_LEN: usize = 32;

/// A valid BIP39 English mnemonic.
///
/// It is a secret: `Debug` prints no words, there is no `Display`, and its memory is zeroed on
/// drop. Show it to a user with [`Mnemonic::phrase`].
pub struct Mnemonic(bip39::Mnemonic);

impl Mnemonic {
    /// Generates a fresh 24-word mnemonic from the operating system's random number generator.
    ///
    /// # Errors
    /// [`KeystoreError::Randomness`] if the operating system cannot provide randomness.
    pub fn generate() -> Result<Self> {
        let mut entropy = Zeroizing::new([0u8; ENTROPY_LEN]);
        getrandom::fill(&mut entropy[..]).map_err(KeystoreError::Randomness)?;
        let inner = bip39::Mnemonic::from_entropy_in(Language::English, &entropy[..])
            .unwrap_or_else(|e| unreachable!("32 bytes are valid bip39 entropy: {e}"));
        Ok(Self(inner))
    }

    /// Parses and validates a phrase: words from the English list, a BIP39 word count and a
    /// matching checksum. Case and whitespace between words do not matter.
    ///
    /// # Errors
    /// [`KeystoreError::InvalidMnemonic`] saying what is wrong. The message names the position
    /// of a bad word, never the word itself, because the rest of the phrase is a secret.
    pub fn parse(phrase: &str) -> Result<Self> {
        let invalid = |reason: String| Err(KeystoreError::InvalidMnemonic(reason));
        if phrase.len() > PHRASE_LEN_MAX {
            return invalid(format!("the phrase is longer than {PHRASE_LEN_MAX} bytes"));
        }
        // The English list is ASCII, where NFKD normalization (which BIP39 asks for) is the
        // identity, so an ASCII phrase can be given to the parser as already normalized.
        if !phrase.is_ascii() {
            return invalid("the phrase has characters outside the english word list".into());
        }
        let mut normalized = Zeroizing::new(String::with_capacity(phrase.len()));
        let mut words = 0;
        for word in phrase.split_ascii_whitespace() {
            if words > 0 {
                normalized.push(' ');
            }
            normalized.extend(word.chars().map(|c| c.to_ascii_lowercase()));
            words += 1;
        }
        if !MNEMONIC_WORDS_ACCEPTED.contains(&words) {
            return invalid(format!("the phrase has {words} words, expected 12, 15, 18, 21 or 24"));
        }
        match bip39::Mnemonic::parse_in_normalized(Language::English, &normalized) {
            Ok(inner) => Ok(Self(inner)),
            Err(bip39::Error::UnknownWord(index)) => {
                invalid(format!("word {} is not in the english bip39 word list", index + 1))
            }
            Err(bip39::Error::InvalidChecksum) => invalid(
                "the checksum does not match; check the spelling and order of the words".into(),
            ),
            Err(other) => invalid(other.to_string()),
        }
    }

    /// The words separated by single spaces. Zeroed when dropped.
    #[must_use]
    pub fn phrase(&self) -> Zeroizing<String> {
        // Sized up front so the string never reallocates and leaves a stray copy behind.
        let mut out = Zeroizing::new(String::with_capacity(MNEMONIC_WORDS * 9));
        for (i, word) in self.0.words().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
        out
    }

    /// How many words the mnemonic has.
    #[must_use]
    pub fn word_count(&self) -> usize {
        self.0.word_count()
    }

    /// The account key: BIP39 seed with an empty passphrase, then SLIP-10 ed25519 along
    /// [`DERIVATION_PATH`].
    #[must_use]
    pub fn private_key(&self) -> PrivateKey {
        let seed = Zeroizing::new(self.0.to_seed_normalized(""));
        let key_seed = slip10::derive_ed25519(&seed[..], &DERIVATION_PATH);
        private_key_from_seed(&key_seed)
    }
}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mnemonic({} words, redacted)", self.word_count())
    }
}

/// The ed25519 private key whose RFC 8032 seed is `seed`.
#[must_use]
pub fn private_key_from_seed(seed: &[u8; 32]) -> PrivateKey {
    PrivateKey::read(&mut commonware_codec::Copying(&seed[..]))
        .unwrap_or_else(|e| unreachable!("32 bytes always decode as an ed25519 seed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alx_types::Address;
    use commonware_cryptography::Signer as _;

    /// The BIP39 test phrase of 24 "abandon"s ending in "art" (entropy of all zeroes).
    const ABANDON_ART: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
        abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
        abandon abandon abandon abandon art";

    fn check_invalid(phrase: &str, expect: &str) {
        match Mnemonic::parse(phrase) {
            Err(KeystoreError::InvalidMnemonic(reason)) => {
                assert!(reason.contains(expect), "{phrase:?}: {reason:?} lacks {expect:?}");
            }
            other => panic!("{phrase:?}: expected InvalidMnemonic, got {other:?}"),
        }
    }

    #[test]
    fn generate_gives_24_distinct_valid_words() {
        let a = Mnemonic::generate().unwrap();
        let b = Mnemonic::generate().unwrap();
        assert_eq!(a.word_count(), MNEMONIC_WORDS);
        assert_ne!(*a.phrase(), *b.phrase());
        let reparsed = Mnemonic::parse(&a.phrase()).unwrap();
        assert_eq!(*reparsed.phrase(), *a.phrase());
        assert_eq!(
            Address::from_public_key(&reparsed.private_key().public_key()),
            Address::from_public_key(&a.private_key().public_key()),
        );
    }

    #[test]
    fn parse_normalizes_case_and_whitespace() {
        let messy = format!("  {}\n", ABANDON_ART.to_uppercase().replace(' ', " \t "));
        let mnemonic = Mnemonic::parse(&messy).unwrap();
        assert_eq!(*mnemonic.phrase(), *Mnemonic::parse(ABANDON_ART).unwrap().phrase());
        assert_eq!(mnemonic.word_count(), 24);
        // A 12-word phrase from another wallet is accepted too.
        let twelve = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
            abandon abandon about";
        assert_eq!(Mnemonic::parse(twelve).unwrap().word_count(), 12);
    }

    #[test]
    fn parse_errors_are_clear_and_leak_no_words() {
        check_invalid("", "has 0 words");
        check_invalid("abandon abandon", "has 2 words");
        check_invalid(&ABANDON_ART.replace("art", "zzzsecret"), "word 24 is not");
        check_invalid(&ABANDON_ART.replace("art", "ability"), "checksum");
        check_invalid("abandón", "outside the english word list");
        check_invalid(&"abandon ".repeat(200), "longer than 1024 bytes");
        let err = Mnemonic::parse(&ABANDON_ART.replace("art", "zzzsecret")).unwrap_err();
        assert!(!err.to_string().contains("zzzsecret"));
    }

    #[test]
    fn derivation_golden_seed() {
        // BIP39 seed of this phrase (BIP39 reference vectors), then SLIP-10 along
        // m/44'/7700'/0'/0'/0' as computed by an independent Python implementation. A change
        // here changes every user's address: it is a format change, not a test fix.
        let mnemonic = Mnemonic::parse(ABANDON_ART).unwrap();
        let seed = mnemonic.0.to_seed_normalized("");
        assert!(hex::encode(seed).starts_with("408b285c123836004f4b8842c89324c1"));
        let key_seed = slip10::derive_ed25519(&seed, &DERIVATION_PATH);
        assert_eq!(
            hex::encode(*key_seed),
            "3b4c1c3e45e155325693378d75059b675d6d4729be5b4ecd54699f1db0042224"
        );
    }

    #[test]
    fn derivation_is_deterministic_and_debug_is_redacted() {
        let mnemonic = Mnemonic::parse(ABANDON_ART).unwrap();
        let a = mnemonic.private_key().public_key();
        let b = Mnemonic::parse(ABANDON_ART).unwrap().private_key().public_key();
        assert_eq!(a, b);
        let debug = format!("{mnemonic:?}");
        assert!(!debug.contains("abandon"), "{debug}");
    }
}
