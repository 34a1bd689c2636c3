//! Hyperparameters a subnet's owner sets after creation: liquid alpha (subtensor's
//! `sudo_set_liquid_alpha_enabled` and `sudo_set_alpha_values` in one operation, with the same
//! ranges). Stored apart from the subnet's spec, under their own key, so the spec's encoding
//! never changes.

use crate::{
    execute::PayloadResult,
    model_records::read_bool,
    state::{CorruptState, State},
    subnet_records::key,
};
use alx_types::{
    Address, ErrorCode,
    subnet::{ALPHA_MIN, LiquidAlpha, SubnetId},
};
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write};

const PREFIX_LIQUID_ALPHA: u8 = 0x29;

/// A subnet's liquid alpha as stored: on/off, then the bounds (u16 BE each).
struct Stored(LiquidAlpha);

impl Write for Stored {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        buf.put_u8(u8::from(self.0.enabled));
        buf.put_u16(self.0.alpha_low);
        buf.put_u16(self.0.alpha_high);
    }
}

impl EncodeSize for Stored {
    fn encode_size(&self) -> usize {
        5
    }
}

impl Read for Stored {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self(LiquidAlpha {
            enabled: read_bool(buf)?,
            alpha_low: u16::read(buf)?,
            alpha_high: u16::read(buf)?,
        }))
    }
}

impl State {
    /// A subnet's liquid alpha ([`LiquidAlpha::OFF`] until its owner sets it).
    pub fn liquid_alpha(&self, id: SubnetId) -> Result<LiquidAlpha, CorruptState> {
        Ok(self
            .get::<Stored>(&key(PREFIX_LIQUID_ALPHA, id, &[]))?
            .map_or(LiquidAlpha::OFF, |s| s.0))
    }

    /// `SetLiquidAlpha`: the owner turns it on with bounds in subtensor's ranges (a Yuma3
    /// subnet only: legacy bonds have one fixed rate), or off (the bounds stay as they were).
    pub(crate) fn set_liquid_alpha(
        &mut self,
        who: &Address,
        id: SubnetId,
        wanted: LiquidAlpha,
    ) -> PayloadResult {
        let subnet = self.subnet_record(id)?.ok_or(ErrorCode::UnknownSubnet)?;
        if subnet.owner != *who {
            return Err(ErrorCode::NotSubnetOwner.into());
        }
        let stored = if wanted.enabled {
            if !subnet.spec.yuma3 {
                return Err(ErrorCode::LiquidAlphaNeedsYuma3.into());
            }
            if wanted.alpha_high < ALPHA_MIN {
                return Err(ErrorCode::AlphaHighTooLow.into());
            }
            if wanted.alpha_low < ALPHA_MIN || wanted.alpha_low > wanted.alpha_high {
                return Err(ErrorCode::AlphaLowOutOfRange.into());
            }
            wanted
        } else {
            LiquidAlpha { enabled: false, ..self.liquid_alpha(id)? }
        };
        self.put(key(PREFIX_LIQUID_ALPHA, id, &[]), &Stored(stored));
        Ok(())
    }
}
