//! A LoRA adapter as the serving engine applies it: for each adapted projection `W` of a
//! block, `y = W·x + s·B·(A·x)` with `s = α / r`, computed per row next to the base product
//! and never folded into the base weights, so one resident base serves many adapters, each
//! sequence of a batch with its own (or none). [`Model::load_merged`](crate::Model::load_merged)
//! folds one adapter into a copy of the base instead, for serving a single model.
//!
//! The low-rank product runs in plain loops in a fixed order, one row at a time: a row's
//! update is the same number whether the row is decoded alone, in a batch, or in a prefill,
//! so batching never changes a token (as for the base product, see `llama`).
//!
//! An adapter file is external input (it comes from the blob store, registered by anyone):
//! [`Adapter::from_safetensors`] accepts only the tensors a block's attention projections
//! can take, in their exact shapes, of one rank at most [`RANK_MAX`], with finite values.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};

use crate::{
    error::{Error, Result},
    params::LlamaParams,
    train::Projection,
};

/// The largest rank an adapter may have (far above what fine-tunes use: 4 to 64).
pub const RANK_MAX: usize = 256;
/// The largest adapter file accepted, in bytes (the blob store's limit).
pub const ADAPTER_BYTES_MAX: usize = 64 << 20;
/// The largest adapter weight accepted: trained LoRA weights are far below 1; weights large
/// enough to overflow the forward pass would make every logit NaN.
pub const VALUE_MAX: f32 = 1e3;
/// The largest α accepted.
pub const ALPHA_MAX: f32 = 1e4;
/// The largest safetensors header accepted (an adapter's is a few KB).
const HEADER_BYTES_MAX: u64 = 1 << 20;
/// Longest reason an error gives (reasons quote the file's own names).
const REASON_CHARS_MAX: usize = 300;

/// `reason`, cut to [`REASON_CHARS_MAX`] characters.
fn clip(reason: &str) -> String {
    if reason.chars().count() <= REASON_CHARS_MAX {
        return reason.to_owned();
    }
    let mut cut: String = reason.chars().take(REASON_CHARS_MAX).collect();
    cut.push('…');
    cut
}

/// `B·A`, one projection's low-rank update.
#[derive(Debug, Clone)]
pub(crate) struct LowRank {
    rank: usize,
    /// Input width of the projection.
    cols: usize,
    /// Output width of the projection.
    rows: usize,
    /// `A`, `(rank, cols)` row-major.
    a: Vec<f32>,
    /// `B`, `(rows, rank)` row-major.
    b: Vec<f32>,
}

impl LowRank {
    /// Adds `scale·B·A·x` to `y`, for one row `x` (`cols` values) and `y` (`rows` values).
    pub(crate) fn add_row(&self, x: &[f32], y: &mut [f32], scale: f32) {
        let mut low = vec![0f32; self.rank];
        for (j, l) in low.iter_mut().enumerate() {
            *l = dot(&self.a[j * self.cols..(j + 1) * self.cols], x) * scale;
        }
        for (o, y) in y.iter_mut().enumerate().take(self.rows) {
            *y += dot(&self.b[o * self.rank..(o + 1) * self.rank], &low);
        }
    }

    /// `scale·B·A`, `(rows, cols)` row-major: the update folded into a weight matrix.
    pub(crate) fn dense(&self, scale: f32) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        for o in 0..self.rows {
            let row = &mut out[o * self.cols..(o + 1) * self.cols];
            for j in 0..self.rank {
                let coefficient = self.b[o * self.rank + j] * scale;
                let a = &self.a[j * self.cols..(j + 1) * self.cols];
                for (r, a) in row.iter_mut().zip(a) {
                    *r += coefficient * a;
                }
            }
        }
        out
    }
}

/// `a·x` in eight interleaved partial sums, added in a fixed order: the compiler can keep them
/// in one vector register (a single running sum would force one lane), and the result is the
/// same number on every call.
fn dot(a: &[f32], x: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a_chunks, x_chunks) = (a.chunks_exact(8), x.chunks_exact(8));
    let tail: f32 = a_chunks.remainder().iter().zip(x_chunks.remainder()).map(|(a, x)| a * x).sum();
    for (a, x) in a_chunks.zip(x_chunks) {
        for k in 0..8 {
            lanes[k] += a[k] * x[k];
        }
    }
    ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
        + tail
}

/// A loaded adapter: the low-rank updates of some attention projections of some blocks.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// (block, projection) → update.
    updates: BTreeMap<(usize, Projection), LowRank>,
    rank: usize,
    scale: f32,
    /// The shape of the model it was read for.
    params: LlamaParams,
}

impl Adapter {
    /// Reads an adapter file (safetensors, as `alx model finetune` writes it: `blk.{i}.{proj}.lora_a`
    /// `(r, in)` and `….lora_b` `(out, r)` in f32) for a model of `params`, scaled by `alpha / r`.
    ///
    /// # Errors
    /// [`Error::BadAdapter`] for anything but a well-formed adapter of this model's shape.
    pub fn from_safetensors(bytes: &[u8], alpha: f32, params: &LlamaParams) -> Result<Self> {
        let bad = |reason: String| Error::BadAdapter { reason: clip(&reason) };
        if bytes.len() > ADAPTER_BYTES_MAX {
            return Err(bad(format!(
                "{} bytes, more than the {ADAPTER_BYTES_MAX} an adapter may have",
                bytes.len()
            )));
        }
        if !(alpha.is_finite() && alpha > 0.0 && alpha <= ALPHA_MAX) {
            return Err(bad(format!("alpha {alpha} is not in (0, {ALPHA_MAX}]")));
        }
        // The header's length comes first: a header far larger than any adapter's is refused
        // before it is parsed.
        let header = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
        if header.is_none_or(|h| h > HEADER_BYTES_MAX) {
            return Err(bad("not a safetensors file: no header, or a header over 1 MiB".into()));
        }
        let file = candle_core::safetensors::SliceSafetensors::new(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let expected: std::collections::BTreeSet<String> = (0..params.layers)
            .flat_map(|l| Projection::ALL.map(move |p| (l, p)))
            .flat_map(|(l, p)| {
                ["lora_a", "lora_b"].map(|part| format!("blk.{l}.{}.{part}", p.name()))
            })
            .collect();
        let names: Vec<(String, Vec<usize>)> =
            file.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec())).collect();
        if let Some((unknown, _)) = names.iter().find(|(n, _)| !expected.contains(n)) {
            return Err(bad(format!("a tensor this model has no place for: {unknown:?}")));
        }
        let shapes: BTreeMap<&str, &[usize]> =
            names.iter().map(|(n, s)| (n.as_str(), s.as_slice())).collect();
        let mut updates = BTreeMap::new();
        let mut rank = None;
        for layer in 0..params.layers {
            for projection in Projection::ALL {
                let name = |part: &str| format!("blk.{layer}.{}.{part}", projection.name());
                let (a_name, b_name) = (name("lora_a"), name("lora_b"));
                let (a_shape, b_shape) =
                    match (shapes.get(a_name.as_str()), shapes.get(b_name.as_str())) {
                        (None, None) => continue,
                        (Some(a), Some(b)) => (*a, *b),
                        _ => return Err(bad(format!("{a_name} and {b_name} must come together"))),
                    };
                let (rows, cols) = projection.shape(params);
                let r = a_shape.first().copied().unwrap_or(0);
                if r == 0 || r > RANK_MAX {
                    return Err(bad(format!("{a_name} has rank {r}, not 1 to {RANK_MAX}")));
                }
                if *rank.get_or_insert(r) != r {
                    return Err(bad(format!("{a_name} has rank {r}; the others {rank:?}")));
                }
                for (n, shape, want) in
                    [(&a_name, a_shape, [r, cols]), (&b_name, b_shape, [rows, r])]
                {
                    if shape != want {
                        let shown: Vec<usize> = shape.iter().copied().take(4).collect();
                        return Err(bad(format!("{n} is {shown:?}, this model takes {want:?}")));
                    }
                }
                let values = |n: &str| -> Result<Vec<f32>> {
                    let t = file.load(n, &Device::Cpu).map_err(|e| bad(format!("{n}: {e}")))?;
                    if t.dtype() != DType::F32 {
                        return Err(bad(format!("{n} is {:?}, adapters are f32", t.dtype())));
                    }
                    let v = t.flatten_all()?.to_vec1::<f32>()?;
                    if v.iter().all(|x| x.is_finite() && x.abs() <= VALUE_MAX) {
                        Ok(v)
                    } else {
                        Err(bad(format!(
                            "{n} holds a value that is not finite or over {VALUE_MAX:e}"
                        )))
                    }
                };
                let (a, b) = (values(&a_name)?, values(&b_name)?);
                updates.insert((layer, projection), LowRank { rank: r, cols, rows, a, b });
            }
        }
        let Some(rank) = rank else {
            return Err(bad("no lora_a/lora_b tensors".into()));
        };
        #[allow(clippy::cast_precision_loss)]
        let scale = alpha / rank as f32;
        Ok(Self { updates, rank, scale, params: params.clone() })
    }

    /// The rank of its updates.
    pub const fn rank(&self) -> usize {
        self.rank
    }

    /// Bytes its weights take in memory.
    pub fn memory_bytes(&self) -> usize {
        self.updates.values().map(|u| (u.a.len() + u.b.len()) * 4).sum()
    }

    /// Projections it updates.
    pub fn updated(&self) -> usize {
        self.updates.len()
    }

    /// Whether it was read for a model of `params`' shape.
    pub(crate) fn fits(&self, params: &LlamaParams) -> bool {
        self.params == *params
    }

    /// The update of one projection, with its scale.
    pub(crate) fn update(&self, layer: usize, projection: Projection) -> Option<(&LowRank, f32)> {
        self.updates.get(&(layer, projection)).map(|u| (u, self.scale))
    }
}

/// Which adapter each row of a forward pass runs with.
#[derive(Clone, Copy)]
pub(crate) enum RowAdapters<'a> {
    /// Every row with the same one (or none).
    All(Option<&'a Adapter>),
    /// Row `i` with `adapters[i]`.
    PerRow(&'a [Option<&'a Adapter>]),
}

impl<'a> RowAdapters<'a> {
    fn get(self, row: usize) -> Option<&'a Adapter> {
        match self {
            Self::All(a) => a,
            Self::PerRow(rows) => rows.get(row).copied().flatten(),
        }
    }

    fn any(self) -> bool {
        match self {
            Self::All(a) => a.is_some(),
            Self::PerRow(rows) => rows.iter().any(Option::is_some),
        }
    }
}

/// Adds each row's adapter update of `projection` in `layer` to `y = W·x` (`(rows, out)`).
pub(crate) fn add_updates(
    x: &Tensor,
    y: Tensor,
    layer: usize,
    projection: Projection,
    adapters: RowAdapters<'_>,
) -> Result<Tensor> {
    if !adapters.any() {
        return Ok(y);
    }
    let (rows, out) = y.dims2()?;
    let cols = x.dim(1)?;
    let input = x.flatten_all()?.to_vec1::<f32>()?;
    let mut output = y.flatten_all()?.to_vec1::<f32>()?;
    for row in 0..rows {
        if let Some((update, scale)) = adapters.get(row).and_then(|a| a.update(layer, projection)) {
            let x = &input[row * cols..(row + 1) * cols];
            update.add_row(x, &mut output[row * out..(row + 1) * out], scale);
        }
    }
    Ok(Tensor::from_vec(output, (rows, out), &Device::Cpu)?)
}
