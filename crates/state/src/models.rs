//! Models: registration (name, weights hashes, datanet versions, prices, fee split), price
//! changes and retirement by the owner.

use crate::{datanets::slug, execute::PayloadResult, model_records::Model, state::State};
use alx_types::{
    Address, Amount, ErrorCode,
    block::Height,
    model::{MODEL_NAME_LEN_MAX, ModelId, ModelOp, ModelSpec},
};
use std::collections::BTreeSet;

impl State {
    pub(crate) fn model_op(
        &mut self,
        height: Height,
        who: &Address,
        op: &ModelOp,
    ) -> PayloadResult {
        match op {
            ModelOp::Register(spec) => self.register_model(height, who, spec),
            ModelOp::SetPrices { model, input_per_1k, output_per_1k } => {
                self.set_prices(height, who, *model, *input_per_1k, *output_per_1k)
            }
            ModelOp::Retire { model } => {
                let mut m = self.owned_model(who, *model)?;
                m.retired = true;
                self.put_model(*model, &m);
                Ok(())
            }
        }
    }

    fn register_model(
        &mut self,
        height: Height,
        owner: &Address,
        spec: &ModelSpec,
    ) -> PayloadResult {
        if !slug(&spec.name, MODEL_NAME_LEN_MAX)
            || !spec.split.is_valid()
            || self.model_by_name(&spec.name)?.is_some()
        {
            return Err(ErrorCode::BadModelField.into());
        }
        let mut seen = BTreeSet::new();
        for d in &spec.datanets {
            let published = self.datanet(d.datanet)?.map_or(0, |n| n.version);
            if !seen.insert(d.datanet) || d.version == 0 || d.version > published {
                return Err(ErrorCode::BadModelField.into());
            }
        }
        let id = ModelId(self.model_count()?);
        let model =
            Model { owner: *owner, spec: spec.clone(), registered_at: height, retired: false };
        self.put_model(id, &model);
        self.put_model_name(&spec.name, id);
        self.put_model_count(id.next().0);
        Ok(())
    }

    fn set_prices(
        &mut self,
        height: Height,
        who: &Address,
        id: ModelId,
        input: Amount,
        output: Amount,
    ) -> PayloadResult {
        let mut m = self.owned_model(who, id)?;
        self.note_price_change(height, id, m.spec.price_input_per_1k, m.spec.price_output_per_1k)?;
        m.spec.price_input_per_1k = input;
        m.spec.price_output_per_1k = output;
        self.put_model(id, &m);
        Ok(())
    }

    fn owned_model(
        &self,
        who: &Address,
        id: ModelId,
    ) -> Result<Model, crate::execute::PayloadError> {
        let m = self.model(id)?.ok_or(ErrorCode::UnknownModel)?;
        if m.owner != *who {
            return Err(ErrorCode::NotModelOwner.into());
        }
        if m.retired {
            return Err(ErrorCode::ModelRetired.into());
        }
        Ok(m)
    }
}
