//! Sealed evaluation sets (docs/design/evaluation.md): a subnet's owner commits to a private
//! evaluation set and publishes it a subnet epoch or more later. The chain checks the reveal
//! against the commitment and records when the set became public; validators score each miner
//! on the latest set revealed after the miner registered, which its model (fixed at
//! registration) cannot have been trained on.
//!
//! ```text
//! 0x30 ‖ subnet ‖ seal (BE)   → EvalSeal      commitment, sealed at; when revealed, the height
//!                                             and the blob
//! 0x31 ‖ subnet               → SealCount     the next seal number, and how many are pending
//! ```
//!
//! A subnet holds at most 8 sets sealed and not revealed, revealed in the order they were
//! sealed, and keeps the last 8 revealed (a validator needs only the latest; older ones are
//! pruned at each reveal).

use crate::{
    execute::PayloadResult,
    keys,
    model_records::read_bool,
    state::{CorruptState, State, hex_key},
    subnet_records::key,
};
use alx_types::{
    Address, ErrorCode, Hash, Height,
    datanet::{CONTRIBUTION_SIZE_MAX, ContentRef, MediaType},
    subnet::{EVAL_SEALS_PENDING_MAX, Salt, SubnetId, eval_commitment},
};
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt as _, Write,
};

const PREFIX_EVAL_SEAL: u8 = 0x30;
const PREFIX_EVAL_COUNT: u8 = 0x31;
/// Revealed sets kept per subnet.
pub const EVALS_REVEALED_KEPT: usize = 8;

/// One sealed evaluation set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalSeal {
    /// `eval_commitment` of the set.
    pub commitment: Hash,
    /// The height it was sealed at.
    pub sealed_at: Height,
    /// When it was revealed, and its blob.
    pub revealed: Option<(Height, ContentRef)>,
}

impl Write for EvalSeal {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.commitment.write(buf);
        self.sealed_at.write(buf);
        buf.put_u8(u8::from(self.revealed.is_some()));
        if let Some((at, content)) = &self.revealed {
            at.write(buf);
            content.write(buf);
        }
    }
}

impl EncodeSize for EvalSeal {
    fn encode_size(&self) -> usize {
        Hash::SIZE + u64::SIZE + 1 + self.revealed.map_or(0, |_| u64::SIZE + ContentRef::SIZE)
    }
}

impl Read for EvalSeal {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let commitment = Hash::read(buf)?;
        let sealed_at = Height::read(buf)?;
        let revealed =
            if read_bool(buf)? { Some((Height::read(buf)?, ContentRef::read(buf)?)) } else { None };
        Ok(Self { commitment, sealed_at, revealed })
    }
}

/// A subnet's seal counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct SealCount {
    next: u64,
    pending: u64,
}

impl Write for SealCount {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.next.write(buf);
        self.pending.write(buf);
    }
}

impl EncodeSize for SealCount {
    fn encode_size(&self) -> usize {
        2 * u64::SIZE
    }
}

impl Read for SealCount {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self { next: u64::read(buf)?, pending: u64::read(buf)? })
    }
}

fn seal_key(subnet: SubnetId, seal: u64) -> Vec<u8> {
    key(PREFIX_EVAL_SEAL, subnet, &seal.to_be_bytes())
}

impl State {
    /// A subnet's kept evaluation seals, by number.
    pub fn eval_seals(&self, subnet: SubnetId) -> Result<Vec<(u64, EvalSeal)>, CorruptState> {
        let prefix = key(PREFIX_EVAL_SEAL, subnet, &[]);
        self.auth()
            .scan_prefix(&prefix)
            .map(|(k, v)| {
                let corrupt = |source| CorruptState { key: hex_key(k), source };
                let seal = k
                    .get(prefix.len()..)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| corrupt(CodecError::InvalidLength(k.len())))?;
                Ok((seal, keys::decode(v).map_err(corrupt)?))
            })
            .collect()
    }

    fn seal_count(&self, subnet: SubnetId) -> Result<SealCount, CorruptState> {
        self.get(&key(PREFIX_EVAL_COUNT, subnet, &[])).map(Option::unwrap_or_default)
    }

    fn owned_subnet(
        &self,
        who: &Address,
        id: SubnetId,
    ) -> Result<crate::subnet_records::Subnet, crate::execute::PayloadError> {
        let subnet = self.subnet_record(id)?.ok_or(ErrorCode::UnknownSubnet)?;
        if subnet.owner != *who {
            return Err(ErrorCode::NotSubnetOwner.into());
        }
        Ok(subnet)
    }

    /// `SealEval`: the owner commits to a set.
    pub(crate) fn seal_eval(
        &mut self,
        height: Height,
        who: &Address,
        subnet: SubnetId,
        commitment: Hash,
    ) -> PayloadResult {
        self.owned_subnet(who, subnet)?;
        let mut count = self.seal_count(subnet)?;
        if count.pending >= EVAL_SEALS_PENDING_MAX as u64 {
            return Err(ErrorCode::TooManySeals.into());
        }
        let seal = EvalSeal { commitment, sealed_at: height, revealed: None };
        self.put(seal_key(subnet, count.next), &seal);
        count.next += 1;
        count.pending += 1;
        self.put(key(PREFIX_EVAL_COUNT, subnet, &[]), &count);
        Ok(())
    }

    /// `RevealEval`: the owner publishes a sealed set, in a subnet epoch after the seal's.
    pub(crate) fn reveal_eval(
        &mut self,
        height: Height,
        who: &Address,
        subnet: SubnetId,
        (number, salt, content): (u64, &Salt, ContentRef),
    ) -> PayloadResult {
        let record = self.owned_subnet(who, subnet)?;
        let mut seal: EvalSeal = self
            .get(&seal_key(subnet, number))?
            .filter(|s: &EvalSeal| s.revealed.is_none())
            .ok_or(ErrorCode::UnknownSeal)?;
        // Oldest first: an owner holding several sets cannot reveal the one that suits a
        // miner it favours.
        let oldest = self.eval_seals(subnet)?.into_iter().find(|(_, s)| s.revealed.is_none());
        if oldest.is_some_and(|(n, _)| n != number) {
            return Err(ErrorCode::EvalSealOutOfOrder.into());
        }
        if !matches!(content.media_type, MediaType::Text | MediaType::Jsonl)
            || content.size == 0
            || content.size > CONTRIBUTION_SIZE_MAX
        {
            return Err(ErrorCode::BadEvalContent.into());
        }
        if eval_commitment(subnet, salt, &content) != seal.commitment {
            return Err(ErrorCode::RevealMismatch.into());
        }
        if record.epoch_of(height) <= record.epoch_of(seal.sealed_at) {
            return Err(ErrorCode::EvalRevealTooEarly.into());
        }
        seal.revealed = Some((height, content));
        self.put(seal_key(subnet, number), &seal);
        let mut count = self.seal_count(subnet)?;
        count.pending = count.pending.saturating_sub(1);
        self.put(key(PREFIX_EVAL_COUNT, subnet, &[]), &count);
        // Keep the last revealed sets only: the latest is all a validator reads.
        let mut revealed: Vec<(Height, u64)> = self
            .eval_seals(subnet)?
            .into_iter()
            .filter_map(|(n, s)| s.revealed.map(|(at, _)| (at, n)))
            .collect();
        revealed.sort_unstable();
        for (_, old) in revealed.iter().rev().skip(EVALS_REVEALED_KEPT) {
            self.auth_mut().delete(&seal_key(subnet, *old));
        }
        Ok(())
    }
}
