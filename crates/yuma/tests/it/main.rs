//! Integration tests of alx-yuma: golden vectors from subtensor's own epoch code, subtensor's
//! test expectations ported to the conformance format, and the handling of bad input.

mod bad_input;
mod subtensor_cases;
mod vectors;

use alx_yuma::conformance::{self, Output};
use serde_json::Value;

/// Runs a conformance document given as a JSON value.
pub(crate) fn run(input: &Value) -> Output {
    conformance::run(&input.to_string()).unwrap_or_else(|e| panic!("input refused: {e}"))
}
