# Developer shortcuts (https://github.com/casey/just). CI runs .ci/run.

# Format check and clippy with warnings denied.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Fast tests (no *_slow end-to-end tests).
test:
    cargo nextest run --workspace

# Everything CI runs.
pre-pr:
    bash .ci/run

# The deterministic multi-validator simulations.
sim:
    cargo nextest run -p alx-sim

# Ledger figures of docs/BENCHMARKS.md.
bench:
    cargo run --release -- bench ledger

# Fuzz the decoders of external bytes for 60 s each (needs a nightly toolchain and cargo-fuzz).
fuzz:
    cd crates/types/fuzz && cargo +nightly fuzz run decode_tx -- -max_total_time=60
    cd crates/types/fuzz && cargo +nightly fuzz run decode_block -- -max_total_time=60
