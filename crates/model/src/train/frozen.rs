//! A linear layer over frozen weights: `x · Wᵀ` whose backward passes the gradient on to `x`
//! only. candle's `matmul` backward computes the gradient of both operands, so a frozen base
//! weight would get a useless `(out, in)` gradient at every layer (a quarter of the step's
//! time and a third of its memory on SmolLM2, docs in shared/research/ml_feasibility.md §4).

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Storage, Tensor};

/// `x · Wᵀ` with `W` `(out, in)` held constant.
struct Frozen {
    w: Tensor,
}

impl CustomOp1 for Frozen {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (start, end) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("frozen-linear: input not contiguous".into()))?;
        let x = Tensor::from_slice(
            &storage.as_slice::<f32>()?[start..end],
            layout.shape(),
            &candle_core::Device::Cpu,
        )?;
        let y = x.matmul(&self.w.t()?)?;
        let shape = y.shape().clone();
        let (stored, _) = y.storage_and_layout();
        match &*stored {
            Storage::Cpu(c) => Ok((c.clone(), shape)),
            _ => Err(candle_core::Error::Msg("frozen-linear runs on the CPU only".into())),
        }
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.w)?))
    }
}

/// `x · Wᵀ` for `x` `(rows, in)`, `W` frozen.
pub(crate) fn linear(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(Frozen { w: w.clone() })
}
