//! The key/value cache of one sequence.
//!
//! Each layer keeps keys and values in a `(kv_heads, capacity, head_dim)` buffer that grows by
//! doubling (up to the context length), so appending a token copies only that token, not the
//! whole history as concatenation would. Attention reads the first `len` rows as a view.

use candle_core::Tensor;

use crate::error::Result;

/// Capacity of a fresh buffer, in positions.
const CAPACITY_MIN: usize = 64;

/// Keys and values of one layer.
#[derive(Default)]
struct LayerCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
}

/// The cache of every layer for one sequence.
pub(crate) struct KvCache {
    layers: Vec<LayerCache>,
    /// Positions stored (the same in every layer once a forward pass completes).
    len: usize,
    /// Largest number of positions the cache may hold.
    len_max: usize,
    /// Positions the first allocation makes room for (a sequence whose length is known ahead
    /// never grows, so its memory is what was budgeted for it).
    initial: usize,
}

impl KvCache {
    pub(crate) fn new(layers: usize, len_max: usize) -> Self {
        Self {
            layers: (0..layers).map(|_| LayerCache::default()).collect(),
            len: 0,
            len_max,
            initial: CAPACITY_MIN,
        }
    }

    /// Makes the first allocation hold `positions` (at most the cache's maximum).
    pub(crate) fn reserve(&mut self, positions: usize) {
        self.initial = positions.clamp(CAPACITY_MIN, self.len_max);
    }

    /// Positions stored.
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// Forgets everything (keeps nothing allocated).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        for layer in &mut self.layers {
            *layer = LayerCache::default();
        }
    }

    /// Marks `added` positions, appended to every layer, as stored.
    pub(crate) fn commit(&mut self, added: usize) {
        self.len += added;
    }

    /// Appends `k` and `v` (`(kv_heads, seq, head_dim)`, contiguous) to layer `layer` at the
    /// current length and returns views of all keys and values so far.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (len, len_max, initial) = (self.len, self.len_max, self.initial);
        let cache = &mut self.layers[layer];
        let seq = k.dim(1)?;
        let total = len + seq;
        let keys = grow(&mut cache.k, k, len, total, len_max, initial)?;
        let values = grow(&mut cache.v, v, len, total, len_max, initial)?;
        keys.slice_set(k, 1, len)?;
        values.slice_set(v, 1, len)?;
        Ok((keys.narrow(1, 0, total)?, values.narrow(1, 0, total)?))
    }
}

/// Makes `buffer` hold at least `total` positions, keeping the first `len`.
fn grow(
    buffer: &mut Option<Tensor>,
    like: &Tensor,
    len: usize,
    total: usize,
    len_max: usize,
    initial: usize,
) -> Result<Tensor> {
    let capacity = buffer.as_ref().map_or(Ok(0), |b| b.dim(1))?;
    if let Some(b) = buffer
        && total <= capacity
    {
        return Ok(b.clone());
    }
    let (heads, _, head_dim) = like.dims3()?;
    let capacity_new = (capacity * 2).max(initial).min(len_max).max(total);
    let fresh = Tensor::zeros((heads, capacity_new, head_dim), like.dtype(), like.device())?;
    if let Some(old) = buffer.as_ref()
        && len > 0
    {
        fresh.slice_set(&old.narrow(1, 0, len)?.contiguous()?, 1, 0)?;
    }
    *buffer = Some(fresh.clone());
    Ok(fresh)
}
