//! The wire encoding of subnet operations and specs (see the module docs for the layout):
//! decoding checks structure only, execution checks the rules.

use super::{
    ENDPOINT_LEN_MAX, SUBNET_DATANETS_MAX, SUBNET_NAME_LEN_MAX, SubnetId, SubnetOp, SubnetSpec,
    TASK_LEN_MAX, UIDS_MAX, u16_list,
};
use crate::{
    Amount, Hash,
    datanet::{ContentRef, DatanetId, read_count, read_str, str_bytes, write_str},
    model::{DatanetVersionRef, ModelId},
};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt as _, Write,
};

fn read_bool(buf: &mut impl Buf) -> Result<bool, CodecError> {
    match u8::read(buf)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(CodecError::InvalidEnum(other)),
    }
}

fn read_u16_list(buf: &mut impl Buf) -> Result<Vec<u16>, CodecError> {
    let n = usize::from(u16::read(buf)?);
    if n > usize::from(UIDS_MAX) {
        return Err(CodecError::InvalidLength(n));
    }
    if buf.remaining() < 2 * n {
        return Err(CodecError::EndOfBuffer);
    }
    (0..n).map(|_| u16::read(buf)).collect()
}

fn write_u16_list(items: &[u16], buf: &mut impl BufMut) {
    buf.put_slice(&u16_list(items));
}

fn u16_list_size(items: &[u16]) -> usize {
    2 + 2 * items.len().min(usize::from(u16::MAX))
}

impl Write for SubnetSpec {
    fn write(&self, buf: &mut impl BufMut) {
        write_str(&self.name, buf);
        write_str(&self.task, buf);
        buf.put_u8(self.datanets.len().min(255) as u8);
        for d in self.datanets.iter().take(255) {
            d.datanet.write(buf);
            d.version.write(buf);
        }
        self.tempo.write(buf);
        self.max_uids.write(buf);
        self.max_validators.write(buf);
        self.registration_burn.write(buf);
        self.immunity_blocks.write(buf);
        buf.put_u8(u8::from(self.yuma3));
    }
}

impl EncodeSize for SubnetSpec {
    fn encode_size(&self) -> usize {
        2 + str_bytes(&self.name).len()
            + 2
            + str_bytes(&self.task).len()
            + 1
            + self.datanets.len().min(255) * (u64::SIZE + u32::SIZE)
            + 3 * u16::SIZE
            + Amount::SIZE
            + u64::SIZE
            + 1
    }
}

impl Read for SubnetSpec {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let name = read_str(buf, SUBNET_NAME_LEN_MAX)?;
        let task = read_str(buf, TASK_LEN_MAX)?;
        let datanets = (0..read_count(buf, SUBNET_DATANETS_MAX)?)
            .map(|_| {
                Ok(DatanetVersionRef { datanet: DatanetId::read(buf)?, version: u32::read(buf)? })
            })
            .collect::<Result<_, CodecError>>()?;
        Ok(Self {
            name,
            task,
            datanets,
            tempo: u16::read(buf)?,
            max_uids: u16::read(buf)?,
            max_validators: u16::read(buf)?,
            registration_burn: Amount::read(buf)?,
            immunity_blocks: u64::read(buf)?,
            yuma3: read_bool(buf)?,
        })
    }
}

impl Write for SubnetOp {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Create(spec) => {
                buf.put_u8(0);
                spec.write(buf);
            }
            Self::RegisterMiner { subnet, model, endpoint } => {
                buf.put_u8(1);
                subnet.write(buf);
                model.write(buf);
                write_str(endpoint, buf);
            }
            Self::RegisterValidator { subnet } => {
                buf.put_u8(2);
                subnet.write(buf);
            }
            Self::CommitWeights { subnet, commit } => {
                buf.put_u8(3);
                subnet.write(buf);
                commit.write(buf);
            }
            Self::RevealWeights { subnet, dests, values, salt } => {
                buf.put_u8(4);
                subnet.write(buf);
                write_u16_list(dests, buf);
                write_u16_list(values, buf);
                buf.put_slice(salt);
            }
            Self::SetLiquidAlpha { subnet, enabled, alpha_low, alpha_high } => {
                buf.put_u8(5);
                subnet.write(buf);
                enabled.write(buf);
                buf.put_u16(*alpha_low);
                buf.put_u16(*alpha_high);
            }
            Self::SealEval { subnet, commitment } => {
                buf.put_u8(6);
                subnet.write(buf);
                commitment.write(buf);
            }
            Self::RevealEval { subnet, seal, salt, content } => {
                buf.put_u8(7);
                subnet.write(buf);
                seal.write(buf);
                buf.put_slice(salt);
                content.write(buf);
            }
        }
    }
}

impl EncodeSize for SubnetOp {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Create(spec) => spec.encode_size(),
            Self::RegisterMiner { endpoint, .. } => 2 * u64::SIZE + 2 + str_bytes(endpoint).len(),
            Self::RegisterValidator { .. } => u64::SIZE,
            Self::CommitWeights { .. } => u64::SIZE + Hash::SIZE,
            Self::RevealWeights { dests, values, .. } => {
                u64::SIZE + u16_list_size(dests) + u16_list_size(values) + 32
            }
            Self::SetLiquidAlpha { .. } => u64::SIZE + 1 + 2 + 2,
            Self::SealEval { .. } => u64::SIZE + Hash::SIZE,
            Self::RevealEval { .. } => 2 * u64::SIZE + 32 + ContentRef::SIZE,
        }
    }
}

impl Read for SubnetOp {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => Self::Create(Box::new(SubnetSpec::read(buf)?)),
            1 => Self::RegisterMiner {
                subnet: SubnetId::read(buf)?,
                model: ModelId::read(buf)?,
                endpoint: read_str(buf, ENDPOINT_LEN_MAX)?,
            },
            2 => Self::RegisterValidator { subnet: SubnetId::read(buf)? },
            3 => Self::CommitWeights { subnet: SubnetId::read(buf)?, commit: Hash::read(buf)? },
            4 => {
                let subnet = SubnetId::read(buf)?;
                let dests = read_u16_list(buf)?;
                let values = read_u16_list(buf)?;
                let salt = read_salt(buf)?;
                Self::RevealWeights { subnet, dests, values, salt }
            }
            5 => Self::SetLiquidAlpha {
                subnet: SubnetId::read(buf)?,
                enabled: read_bool(buf)?,
                alpha_low: u16::read(buf)?,
                alpha_high: u16::read(buf)?,
            },
            6 => Self::SealEval { subnet: SubnetId::read(buf)?, commitment: Hash::read(buf)? },
            7 => {
                let subnet = SubnetId::read(buf)?;
                let seal = u64::read(buf)?;
                let salt = read_salt(buf)?;
                Self::RevealEval { subnet, seal, salt, content: ContentRef::read(buf)? }
            }
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

fn read_salt(buf: &mut impl Buf) -> Result<[u8; 32], CodecError> {
    let mut salt = [0u8; 32];
    if buf.remaining() < salt.len() {
        return Err(CodecError::EndOfBuffer);
    }
    buf.copy_to_slice(&mut salt);
    Ok(salt)
}
