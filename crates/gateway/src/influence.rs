//! Influence attribution at answer time, for models whose adapter carries influence features
//! (`alx_types::model::InfluenceFeatures`): the gradient of the answer's loss with respect to
//! the adapter, taken on the base model dequantized to f32 (`alx_model::train::FrozenBase`,
//! ~4 bytes per weight: 540 MB for SmolLM2-135M), sketched and scored against the features
//! by TRAK (`alx_model::train::AdapterInfluence`).
//!
//! ```text
//! prompt ‖ output ─ its last `query_tokens` (the manifest's) ─ loss of the output tokens
//!                 ─ ∇ adapter ─ sketch ─ TRAK ─ quantized scores ─► the receipt's influence
//! ```
//!
//! Bounds: a query runs at most `alx_model::train::QUERY_TOKENS_MAX` tokens whatever the
//! context (the manifest's window, 128 by default: `alx_model::train::Scoring`), one frozen
//! base is resident at a time, and queries run one at a time on one thread (a backward pass
//! holds every layer's activations).

use crate::GatewayError;
use alx_model::train::{AdapterInfluence, ExampleKey, FrozenBase, QUERY_TOKENS_MAX};
use alx_types::{Hash, usage_api::InfluenceScore};
use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
};

/// How answers are scored against an adapter's examples, as its manifest records it (the one
/// reading of `InfluenceFeatures`: the gateway serves with it, `alx model verify-adapter`
/// reproduces the features with it).
#[must_use]
pub fn scoring(f: &alx_types::model::InfluenceFeatures) -> alx_model::train::Scoring {
    alx_model::train::Scoring {
        sketch: alx_model::train::influence::Sketch {
            dims: usize::try_from(f.dims).unwrap_or(usize::MAX),
            seed: f.seed,
        },
        damping: f.damping,
        query_tokens: usize::try_from(f.query_tokens).unwrap_or(usize::MAX),
    }
}

/// How far a recorded score may be from a juror's recomputation (of the ±1,000,000 scale):
/// the gradient is float arithmetic, which another machine may round differently.
pub const INFLUENCE_TOLERANCE: i64 = 50_000;
/// How far any example's share of the influence part, from the recorded scores, may be from
/// its share from the recomputed ones (basis points of the part): scores close together
/// could otherwise be reshaped within [`INFLUENCE_TOLERANCE`] into a very different split.
pub const INFLUENCE_SHARE_TOLERANCE_BPS: u32 = 500;

/// Requests with an influence query to come that may run at once (the rest are refused with
/// 429 before they run): queries run one at a time, so more would only tie up gateway workers
/// that requests to other models need.
pub const INFLUENCE_ADMITTED_MAX: usize = 4;

/// The frozen base models influence queries run on: one resident at a time, and every load and
/// query on one thread of its own. Why one thread: a query's backward pass allocates ~700 MB
/// that it frees at once, and the allocator keeps what a thread freed for that thread: run on
/// each of the gateway's workers in turn, queries grew the node by ~700 MB per worker
/// (measured: 0.5 → 4.7 GB after six SmolLM2 answers).
#[derive(Default)]
pub(crate) struct FrozenBases {
    held: Mutex<Option<(Hash, Arc<FrozenBase>)>>,
    /// Requests admitted whose query is still to come.
    admitted: AtomicUsize,
    /// The thread loads and queries run on, started on first use.
    worker: Mutex<Option<std::sync::mpsc::SyncSender<Task>>>,
}

/// Work for the influence thread.
type Task = Box<dyn FnOnce() + Send>;

/// A request's place among those admitted for an influence query (given back on drop).
pub struct InfluencePlace(Arc<FrozenBases>);

impl Drop for InfluencePlace {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl FrozenBases {
    /// A place for a request whose answer will be scored over base `base` at `path`, with the
    /// base loaded now, before the request runs: a failure after the answer was generated
    /// would leave it unpaid.
    ///
    /// # Errors
    /// `Busy` when [`INFLUENCE_ADMITTED_MAX`] requests hold places; the base failing to load.
    pub(crate) fn admit(
        self: &Arc<Self>,
        path: &std::path::Path,
        base: &Hash,
    ) -> Result<InfluencePlace, GatewayError> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= INFLUENCE_ADMITTED_MAX {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(GatewayError::Busy(1));
        }
        let place = InfluencePlace(self.clone());
        let loaded = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|(h, _)| h == base);
        if !loaded {
            let (me, path, base) = (self.clone(), path.to_owned(), *base);
            self.on_worker(move || me.base(&path, &base).map(|_| ()))??;
        }
        Ok(place)
    }

    /// The quantized influence of `output` after `prompt` on every example of `influence`,
    /// with the adapter over base `base` (loaded from `path` if it is not the one held).
    /// Nothing for an answer without tokens.
    pub(crate) fn scores(
        self: &Arc<Self>,
        path: &std::path::Path,
        base: &Hash,
        influence: &Arc<AdapterInfluence>,
        prompt: &[u32],
        output: &[u32],
    ) -> Result<Vec<(ExampleKey, i64)>, GatewayError> {
        if output.is_empty() {
            return Ok(Vec::new());
        }
        let (me, path, base) = (self.clone(), path.to_owned(), *base);
        let (influence, prompt, output) = (influence.clone(), prompt.to_vec(), output.to_vec());
        self.on_worker(move || {
            let frozen = me.base(&path, &base)?;
            influence
                .answer_scores(&frozen, &prompt, &output)
                .map_err(|e| GatewayError::Internal(format!("the influence of the answer: {e}")))
        })?
    }

    /// Runs `work` on the influence thread (started if needed) and waits for it; a panic in it
    /// is an error, and the thread serves on.
    fn on_worker<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, GatewayError> {
        let gone = || GatewayError::Internal("the influence thread is gone".into());
        let (reply, result) = std::sync::mpsc::sync_channel(1);
        let task: Task = Box::new(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            let _ = reply.send(outcome);
        });
        let sender = {
            let mut worker = self.worker.lock().unwrap_or_else(PoisonError::into_inner);
            if worker.is_none() {
                // Room for every admitted request and a juror's query.
                let (tx, rx) = std::sync::mpsc::sync_channel::<Task>(INFLUENCE_ADMITTED_MAX + 2);
                std::thread::Builder::new()
                    .name("alx-influence".into())
                    .spawn(move || rx.into_iter().for_each(|task| task()))
                    .map_err(|e| GatewayError::Internal(format!("no influence thread: {e}")))?;
                *worker = Some(tx);
            }
            worker.clone().ok_or_else(gone)?
        };
        sender.send(task).map_err(|_| gone())?;
        match result.recv() {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(GatewayError::Internal("the influence query panicked".into())),
            Err(_) => Err(gone()),
        }
    }

    /// The base `hash` in f32 (on the influence thread).
    fn base(&self, path: &std::path::Path, hash: &Hash) -> Result<Arc<FrozenBase>, GatewayError> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((h, base)) = held.as_ref()
            && h == hash
        {
            return Ok(base.clone());
        }
        // Drop the other base before loading this one: never two resident.
        *held = None;
        let base = FrozenBase::load(path, QUERY_TOKENS_MAX).map_err(|e| {
            GatewayError::Internal(format!("cannot load the base for influence: {e}"))
        })?;
        let base = Arc::new(base);
        *held = Some((*hash, base.clone()));
        Ok(base)
    }
}

/// Whether a receipt's recorded scores agree with a recomputation of every example's: each
/// recorded score within [`INFLUENCE_TOLERANCE`] of its recomputed one, as many recorded as the
/// receipt must hold, no example left out that scores clearly above one recorded, and every
/// example's share of the influence part within [`INFLUENCE_SHARE_TOLERANCE_BPS`] of the share
/// the recomputed scores give it.
///
/// # Errors
/// What disagrees.
pub fn influence_within(
    recorded: &[InfluenceScore],
    recomputed: &[(ExampleKey, i64)],
) -> Result<(), String> {
    let all: BTreeMap<ExampleKey, i64> = recomputed.iter().copied().collect();
    let want = all.len().min(alx_types::usage_api::INFLUENCE_RECORDED_MAX);
    if recorded.len() != want {
        return Err(format!("{} influence scores recorded, {want} due", recorded.len()));
    }
    let mut lowest = i64::MAX;
    let mut seen = std::collections::BTreeSet::new();
    for s in recorded {
        let key = (s.datanet.0, s.contribution.0);
        let Some(&score) = all.get(&key) else {
            return Err(format!("contribution {} of datanet {} is no example", key.1, key.0));
        };
        if !seen.insert(key) {
            return Err(format!("contribution {} of datanet {} is recorded twice", key.1, key.0));
        }
        if s.score.abs_diff(score) > INFLUENCE_TOLERANCE.unsigned_abs() {
            return Err(format!(
                "contribution {} of datanet {}: influence {} recorded, {score} recomputed",
                key.1, key.0, s.score
            ));
        }
        lowest = lowest.min(score);
    }
    if let Some((key, score)) = all.iter().find(|(k, score)| {
        !seen.contains(*k) && **score > lowest.saturating_add(INFLUENCE_TOLERANCE)
    }) {
        return Err(format!(
            "contribution {} of datanet {} scores {score}, above a recorded one, and is left out",
            key.1, key.0
        ));
    }
    let claimed = crate::attribution::influence_part(recorded)?;
    let due =
        crate::attribution::influence_part(&crate::attribution::recorded_influence(recomputed))?;
    let share =
        |part: &BTreeMap<ExampleKey, u32>, k: &ExampleKey| part.get(k).copied().unwrap_or(0);
    if let Some(k) = claimed
        .keys()
        .chain(due.keys())
        .find(|k| share(&claimed, k).abs_diff(share(&due, k)) > INFLUENCE_SHARE_TOLERANCE_BPS)
    {
        return Err(format!(
            "contribution {} of datanet {}: {} bps of the influence part from the recorded scores, \
             {} from the recomputed ones",
            k.1,
            k.0,
            share(&claimed, k),
            share(&due, k)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alx_types::datanet::{ContributionId, DatanetId};

    fn recorded(v: &[(u64, u64, i64)]) -> Vec<InfluenceScore> {
        v.iter()
            .map(|&(d, c, score)| InfluenceScore {
                datanet: DatanetId(d),
                contribution: ContributionId(c),
                score,
            })
            .collect()
    }

    #[test]
    fn recorded_scores_are_checked_within_a_tolerance() {
        let all = vec![((0, 1), 1_000_000), ((0, 2), -20_000), ((0, 3), 10_000)];
        let honest = recorded(&[(0, 1, 990_000), (0, 2, -30_000), (0, 3, 12_000)]);
        assert_eq!(influence_within(&honest, &all), Ok(()));
        let inflated = recorded(&[(0, 1, 990_000), (0, 2, 500_000), (0, 3, 12_000)]);
        assert!(influence_within(&inflated, &all).is_err());
        assert!(influence_within(&honest[..2], &all).is_err(), "one left out");
        let stranger = recorded(&[(0, 1, 1_000_000), (0, 2, -20_000), (0, 9, 10_000)]);
        assert!(influence_within(&stranger, &all).is_err());
        let twice = recorded(&[(0, 1, 1_000_000), (0, 1, 1_000_000), (0, 3, 10_000)]);
        assert!(influence_within(&twice, &all).is_err());
        assert_eq!(influence_within(&[], &[]), Ok(()));
    }

    #[test]
    fn scores_reshaped_within_the_tolerance_are_caught_by_their_shares() {
        use alx_types::usage_api::INFLUENCE_RECORDED_MAX;
        // The largest magnitude is an unrecorded example's −1,000,000; the 32 recorded ones
        // sit between 0 and 40,000, so the tolerance is wide against their differences.
        let mut all: Vec<(ExampleKey, i64)> = vec![((0, 99), -1_000_000)];
        all.extend((0..INFLUENCE_RECORDED_MAX as u64).map(|c| ((0, c), c as i64 * 1_250)));
        let honest = crate::attribution::recorded_influence(&all);
        assert_eq!(influence_within(&honest, &all), Ok(()));
        // Every recorded score moved by at most 40,000, and a friend's raised by 50,000: each
        // within the tolerance, and the friend takes the whole part.
        let mut reshaped = honest;
        for s in &mut reshaped {
            s.score = if s.contribution.0 == 4 { s.score + 50_000 } else { 0 };
        }
        let part = crate::attribution::influence_part(&reshaped).unwrap();
        assert_eq!(part.values().copied().max(), Some(10_000), "the only one above the least");
        let err = influence_within(&reshaped, &all).unwrap_err();
        assert!(err.contains("bps of the influence part"), "{err}");
    }

    #[test]
    fn only_the_highest_scores_are_recorded_and_a_stronger_one_left_out_is_caught() {
        use alx_types::usage_api::INFLUENCE_RECORDED_MAX;
        let n = INFLUENCE_RECORDED_MAX as u64 + 8;
        let all: Vec<(ExampleKey, i64)> =
            (0..n).map(|c| ((0, c), i64::try_from(c).unwrap() * 10_000)).collect();
        let kept = crate::attribution::recorded_influence(&all);
        assert_eq!(kept.len(), INFLUENCE_RECORDED_MAX);
        assert_eq!(kept[0].contribution, ContributionId(8), "the lowest eight are left out");
        assert_eq!(influence_within(&kept, &all), Ok(()));
        // Swapping the best example for a weak one is caught.
        let mut swapped = kept;
        swapped.pop();
        swapped.insert(0, recorded(&[(0, 0, 0)])[0]);
        assert!(influence_within(&swapped, &all).is_err());
    }
}
