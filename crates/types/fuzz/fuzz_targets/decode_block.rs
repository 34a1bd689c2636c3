//! Hostile bytes into the block decoder: it must return, never panic or over-allocate, and every
//! accepted input must re-encode to exactly the same bytes.
#![no_main]

use commonware_codec::{DecodeExt as _, Encode as _};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = alx_types::Block::decode(commonware_codec::Copying(data)) {
        assert_eq!(block.encode().as_ref(), data, "non-canonical block encoding accepted");
    }
});
