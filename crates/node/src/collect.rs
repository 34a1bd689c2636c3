//! Sweeps the blob store: blobs no live contribution references (never offered, or refused,
//! rejected, withdrawn, unavailable) and no live model's adapter needs (its manifest, if it
//! names the model's base, and the adapter and influence features files the manifest names)
//! are deleted once older than
//! the grace period, so uploads nobody pays for cannot fill the disk for long.

use alx_blobs::BlobStore;
use alx_ledger::ChainView;
use alx_types::Hash;
use std::{collections::BTreeSet, sync::Arc, time::Duration};
use tracing::{info, warn};

/// Sweeps every `interval`, deleting unreferenced blobs older than `grace`.
pub(crate) async fn run(
    ledger: Arc<dyn ChainView>,
    blobs: BlobStore,
    grace: Duration,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.tick().await; // The first tick is immediate: the first sweep waits one interval.
    loop {
        ticks.tick().await;
        let adapters = adapter_blobs(&ledger, &blobs).await;
        // The state is read after the listing: a contribution committed meanwhile keeps its
        // blob (an adapter registered meanwhile was uploaded within the grace period).
        let needed = || {
            let mut needed = ledger.committed().state.live_blobs();
            needed.extend(adapters);
            needed
        };
        match blobs.collect(grace, needed).await {
            Ok((0, _)) => {}
            Ok((count, bytes)) => info!(count, bytes, "deleted blobs nothing references"),
            Err(e) => warn!(err = %e, "cannot sweep the blob store"),
        }
    }
}

/// The manifests live models register as adapters and the adapter files they name, for the
/// manifests that are here, parse, and name the model's base (anything else registered as an
/// adapter is junk the gateway refuses, and is collected like any unreferenced blob).
async fn adapter_blobs(ledger: &Arc<dyn ChainView>, blobs: &BlobStore) -> BTreeSet<Hash> {
    let registered = ledger.committed().state.registered_adapters();
    let mut keep = BTreeSet::new();
    for (manifest, base) in &registered {
        let small = matches!(blobs.head(manifest).await, Ok(Some(size)) if size <= alx_gateway::MANIFEST_BYTES_MAX as u64);
        if !small {
            continue;
        }
        if let Ok(Some(bytes)) = blobs.get_verified(manifest).await
            && let Some(both) = kept(manifest, base, &bytes)
        {
            keep.extend(both);
        }
    }
    keep
}

/// The manifest and the files it names (adapter, influence features), if `bytes` parse as a
/// manifest over `base`.
fn kept(manifest: &Hash, base: &Hash, bytes: &[u8]) -> Option<Vec<Hash>> {
    let m = serde_json::from_slice::<alx_types::model::AdapterManifest>(bytes).ok()?;
    let features = m.influence.map(|f| f.features);
    (m.base_model == *base).then(|| [*manifest, m.adapter].into_iter().chain(features).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(base: Hash, adapter: Hash, features: Option<Hash>) -> Vec<u8> {
        serde_json::to_vec(&alx_types::model::AdapterManifest {
            base_model: base,
            adapter,
            datanets: vec![],
            hyperparameters: serde_json::json!({}),
            data: serde_json::json!({}),
            engine: "test".into(),
            held_out_perplexity_before: 1.0,
            held_out_perplexity_after: 1.0,
            steps: 1,
            influence: features.map(|features| alx_types::model::InfluenceFeatures {
                features,
                examples: 2,
                dims: 8,
                seed: 0,
                damping: 0.1,
                query_tokens: 128,
            }),
        })
        .unwrap()
    }

    #[test]
    fn only_a_manifest_over_the_models_base_keeps_its_adapter_and_features() {
        let h = alx_types::hash::from_bytes;
        let (base, adapter, manifest_hash, features) =
            (h([1; 32]), h([2; 32]), h([3; 32]), h([4; 32]));
        let bytes = manifest(base, adapter, None);
        assert_eq!(kept(&manifest_hash, &base, &bytes), Some(vec![manifest_hash, adapter]));
        assert_eq!(kept(&manifest_hash, &adapter, &bytes), None, "another base");
        assert_eq!(kept(&manifest_hash, &base, b"{junk"), None);
        let bytes = manifest(base, adapter, Some(features));
        assert_eq!(
            kept(&manifest_hash, &base, &bytes),
            Some(vec![manifest_hash, adapter, features])
        );
    }
}
