//! Hostile bytes into the signed-transaction decoder: it must return, never panic, and every
//! accepted input must re-encode to exactly the same bytes (canonical encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = alx_types::SignedTx::decode_bytes(data) {
        assert_eq!(tx.to_bytes().as_ref(), data, "non-canonical transaction encoding accepted");
        let _ = tx.verify_signature();
    }
});
