//! Strict ed25519: the keys and signatures the chain accepts.
//!
//! The consensus library verifies signatures under ZIP-215 rules, which accept every point
//! encoding, including the eight points of small order and non-canonical encodings. A small-order
//! public key "signs" any message (the all-zero key with an all-zero signature verifies), so an
//! address made of one could be spent by anyone, and funds sent to bytes that are not a point at
//! all can never be spent. The chain therefore refuses, wherever a key enters:
//!
//! ```text
//! public key A:  must decode to a curve point, be its canonical encoding, not be of small order
//! signature R‖s: R likewise (canonical, not of small order); s < ℓ (canonical scalar)
//! ```
//!
//! These are the checks of `ed25519-dalek`'s `verify_strict` (its weak-key and small-order
//! `R` refusals, plus canonical encodings), made on `curve25519-dalek`, the arithmetic crate the
//! consensus library itself verifies with. Every honestly made key and signature passes them:
//! an honest key is a multiple of the base point (prime order), and an honest `R` likewise.
//! Batch verification stays the library's: these checks run before it, per item.

use curve25519_dalek::{Scalar, edwards::CompressedEdwardsY};

/// True if `bytes` is the canonical encoding of a curve point that is not of small order: a
/// key that only its private key can sign for.
#[must_use]
pub fn is_strict_point(bytes: &[u8; 32]) -> bool {
    let compressed = CompressedEdwardsY(*bytes);
    let Some(point) = compressed.decompress() else { return false };
    // Decompression reduces y modulo p and ignores the sign of a zero x: re-encoding tells a
    // canonical encoding from the others.
    point.compress() == compressed && !point.is_small_order()
}

/// True if a 64-byte signature `R ‖ s` has a strict `R` and a canonical `s`. Says nothing of
/// whether it verifies.
///
/// `R` is checked without decompressing it, because this runs once per transaction in the
/// hottest path of the ledger: an encoding is canonical exactly when its `y` is below `p` (the
/// only other non-canonical encodings, a set sign bit with `x = 0`, belong to `y = ±1`, both
/// small-order points), and the points of small order have exactly the encodings of
/// [`SMALL_ORDER_ENCODINGS`]. Whether `R` is a point at all is the verification's business: an
/// `R` off the curve never verifies.
#[must_use]
pub fn is_strict_signature(signature: &[u8]) -> bool {
    let (Ok(r), Ok(s)) = (
        <[u8; 32]>::try_from(signature.get(..32).unwrap_or_default()),
        <[u8; 32]>::try_from(signature.get(32..64).unwrap_or_default()),
    ) else {
        return false;
    };
    signature.len() == 64
        && y_is_canonical(&r)
        && !SMALL_ORDER_ENCODINGS.contains(&r)
        && bool::from(Scalar::from_canonical_bytes(s).is_some())
}

/// True if the 255-bit little-endian `y` of a point encoding is below `p = 2^255 − 19`.
const fn y_is_canonical(bytes: &[u8; 32]) -> bool {
    // y ≥ p exactly when y is one of p..2^255 − 1: top byte 0x7f (sign bit aside), the middle
    // bytes 0xff, the lowest at least 0xed.
    if bytes[31] & 0x7f != 0x7f || bytes[0] < 0xed {
        return true;
    }
    let mut i = 1;
    while i < 31 {
        if bytes[i] != 0xff {
            return true;
        }
        i += 1;
    }
    false
}

/// The encodings of the eight points of small order, canonical ones first, then the
/// non-canonical encodings that decode to them: the known weak keys every test should refuse.
pub const SMALL_ORDER_ENCODINGS: [[u8; 32]; 14] = {
    const fn with(first: u8, last: u8, fill: u8) -> [u8; 32] {
        let mut b = [fill; 32];
        b[0] = first;
        b[31] = last;
        b
    }
    const ORDER_8_A: [u8; 32] = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ];
    const ORDER_8_B: [u8; 32] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ];
    const fn signed(mut b: [u8; 32]) -> [u8; 32] {
        b[31] |= 0x80;
        b
    }
    [
        // Canonical: identity (order 1), (0, -1) (order 2), (±i, 0) (order 4), four of order 8.
        with(0x01, 0x00, 0x00),
        with(0xec, 0x7f, 0xff),
        with(0x00, 0x00, 0x00),
        with(0x00, 0x80, 0x00),
        ORDER_8_A,
        signed(ORDER_8_A),
        ORDER_8_B,
        signed(ORDER_8_B),
        // Non-canonical: y + p for y = 0 and y = 1 (both sign bits; only y < 19 has a y + p
        // below 2^255), then the sign bit set on the two points with x = 0 (there is no -0).
        with(0xed, 0x7f, 0xff),
        with(0xed, 0xff, 0xff),
        with(0xee, 0x7f, 0xff),
        with(0xee, 0xff, 0xff),
        with(0xec, 0xff, 0xff),
        with(0x01, 0x80, 0x00),
    ]
};

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};

    #[test]
    fn honest_keys_and_signatures_pass() {
        for seed in 0..64 {
            let key = PrivateKey::from_seed(seed);
            let public: [u8; 32] = key.public_key().as_ref().try_into().unwrap();
            assert!(is_strict_point(&public), "seed {seed}");
            let sig = key.sign(b"ns", &seed.to_be_bytes());
            assert!(is_strict_signature(sig.as_ref()), "seed {seed}");
        }
    }

    #[test]
    fn small_order_points_are_refused_in_every_encoding() {
        for (i, bytes) in SMALL_ORDER_ENCODINGS.iter().enumerate() {
            // Each one decodes to a point (so ZIP-215 accepts it as a key) …
            let point = CompressedEdwardsY(*bytes).decompress();
            assert!(point.is_some_and(|p| p.is_small_order()), "encoding {i} is not small order");
            // … and the strict rule refuses it, as a key and as a signature's R.
            assert!(!is_strict_point(bytes), "encoding {i}");
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(bytes);
            assert!(!is_strict_signature(&sig), "encoding {i}");
        }
    }

    /// The byte test of `R` agrees with decompressing it, on points and on non-canonical
    /// encodings alike.
    #[test]
    fn the_cheap_r_check_agrees_with_decompression() {
        let mut cases: Vec<[u8; 32]> = SMALL_ORDER_ENCODINGS.to_vec();
        for seed in 0..32u64 {
            let key = PrivateKey::from_seed(seed);
            let sig = key.sign(b"ns", &seed.to_be_bytes());
            cases.push(sig.as_ref()[..32].try_into().unwrap());
        }
        for low in 0xe0..=0xffu8 {
            for top in [0x7fu8, 0xff] {
                let mut b = [0xffu8; 32];
                b[0] = low;
                b[31] = top;
                cases.push(b);
            }
        }
        for r in cases {
            let Some(point) = CompressedEdwardsY(r).decompress() else { continue };
            let strict = point.compress().as_bytes() == &r && !point.is_small_order();
            let cheap = y_is_canonical(&r) && !SMALL_ORDER_ENCODINGS.contains(&r);
            assert_eq!(cheap, strict, "{r:02x?}");
        }
    }

    #[test]
    fn non_points_non_canonical_and_bad_scalars_are_refused() {
        // y = 2 is not the y of any point.
        let mut two = [0u8; 32];
        two[0] = 2;
        assert!(CompressedEdwardsY(two).decompress().is_none());
        assert!(!is_strict_point(&two));
        let key = PrivateKey::from_seed(1);
        let sig = key.sign(b"ns", b"m");
        let mut bad_s = [0u8; 64];
        bad_s.copy_from_slice(sig.as_ref());
        bad_s[63] = 0xff; // s ≥ ℓ
        assert!(!is_strict_signature(&bad_s));
        assert!(!is_strict_signature(&bad_s[..63]));
        assert!(!is_strict_signature(&[]));
    }
}
