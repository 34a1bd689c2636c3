//! The gateway's counters, rendered into `/metrics` as Prometheus text.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of requests and settlement.
#[derive(Debug, Default)]
pub struct GatewayStats {
    busy: AtomicU64,
    client_gone: AtomicU64,
    settlements_submitted: AtomicU64,
    settlements_failed: AtomicU64,
    receipts_written_off: AtomicU64,
    written_off_base_units: AtomicU64,
    first_tokens: AtomicU64,
    first_token_micros: AtomicU64,
    /// The batching engines' occupancy (gauges, shared with `batch::Engines`).
    pub(crate) engine: std::sync::Arc<EngineGauges>,
}

/// What the batching engines hold now, summed over models (a backend updates them; `/metrics`
/// shows them).
#[derive(Debug, Default)]
pub struct EngineGauges {
    /// Sequences handed to an engine and not yet in its batch.
    pub(crate) waiting: AtomicU64,
    /// Sequences in a batch.
    pub(crate) running: AtomicU64,
    /// Cache bytes budgeted for the sequences in a batch.
    pub(crate) cache_bytes: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl GatewayStats {
    /// Counters at zero, showing the backend's engine gauges.
    pub(crate) fn with_engine(engine: std::sync::Arc<EngineGauges>) -> Self {
        Self { engine, ..Self::default() }
    }

    pub(crate) fn note_busy(&self) {
        bump(&self.busy, 1);
    }

    pub(crate) fn note_client_gone(&self) {
        bump(&self.client_gone, 1);
    }

    pub(crate) fn note_first_token(&self, after: std::time::Duration) {
        bump(&self.first_tokens, 1);
        bump(&self.first_token_micros, u64::try_from(after.as_micros()).unwrap_or(u64::MAX));
    }

    pub(crate) fn note_submitted(&self) {
        bump(&self.settlements_submitted, 1);
    }

    pub(crate) fn note_failed(&self) {
        bump(&self.settlements_failed, 1);
    }

    pub(crate) fn note_written_off(&self, receipts: u64, amount: u128) {
        bump(&self.receipts_written_off, receipts);
        bump(&self.written_off_base_units, u64::try_from(amount).unwrap_or(u64::MAX));
    }

    /// Receipts written off so far (their charge was refused by the chain's rules).
    #[must_use]
    pub fn written_off(&self) -> u64 {
        self.receipts_written_off.load(Ordering::Relaxed)
    }

    /// Settlements the chain refused so far.
    #[must_use]
    pub fn failed(&self) -> u64 {
        self.settlements_failed.load(Ordering::Relaxed)
    }

    /// Prometheus text of the counters.
    #[must_use]
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &AtomicU64); 8] = [
            (
                "alx_gateway_busy_total",
                "Requests refused with 429 because the work queue was full.",
                &self.busy,
            ),
            (
                "alx_gateway_client_gone_total",
                "Requests whose client left before the end (charged for what was generated).",
                &self.client_gone,
            ),
            (
                "alx_gateway_settlements_submitted_total",
                "Settlement transactions submitted.",
                &self.settlements_submitted,
            ),
            (
                "alx_gateway_settlements_failed_total",
                "Settlements the chain refused (diagnosed and retried without the refused part).",
                &self.settlements_failed,
            ),
            (
                "alx_gateway_receipts_written_off_total",
                "Receipts settled without a charge because the chain would refuse it.",
                &self.receipts_written_off,
            ),
            (
                "alx_gateway_written_off_base_units_total",
                "Fees of the receipts written off, in base units.",
                &self.written_off_base_units,
            ),
            (
                "alx_gateway_first_tokens_total",
                "Sequences that produced a first token in the batching engine.",
                &self.first_tokens,
            ),
            (
                "alx_gateway_first_token_microseconds_total",
                "Time from joining the engine to the first token, summed (divide by alx_gateway_first_tokens_total).",
                &self.first_token_micros,
            ),
        ];
        let gauges: [(&str, &str, &AtomicU64); 3] = [
            (
                "alx_gateway_engine_waiting",
                "Sequences waiting for a place in a batch (slots or cache budget).",
                &self.engine.waiting,
            ),
            ("alx_gateway_engine_running", "Sequences in a batch.", &self.engine.running),
            (
                "alx_gateway_engine_cache_bytes",
                "Key/value cache budgeted for the sequences in a batch.",
                &self.engine.cache_bytes,
            ),
        ];
        let line = |kind: &str, (name, help, v): &(&str, &str, &AtomicU64)| {
            format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}\n",
                v.load(Ordering::Relaxed)
            )
        };
        rows.iter()
            .map(|r| line("counter", r))
            .chain(gauges.iter().map(|r| line("gauge", r)))
            .collect()
    }
}
