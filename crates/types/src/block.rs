//! Blocks. The header commits to the transactions, their receipts and the state after them, so
//! a block's digest (the hash of its header) pins the whole outcome of executing it.
//!
//! ```text
//! BlockHeader = parent | height | epoch | view | parent_view | proposer | timestamp_ms
//!             | tx_root | receipts_root | state_root
//! Block       = BlockHeader | u32 count | SignedTx*
//! digest      = SHA-256(BlockHeader)
//! ```

use crate::{Address, Hash, SignedTx, hash::sha256, limits::BLOCK_TXS_MAX, merkle::list_root};
use bytes::BufMut;
use commonware_codec::{
    Buf, Encode as _, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt as _, Write,
};

crate::id::u64_newtype! {
    /// A block height. Genesis is height 0; the first block is height 1.
    Height
}

impl Height {
    /// The height `blocks` after this one, or `None` past `u64::MAX`.
    #[must_use]
    pub const fn checked_add(self, blocks: u64) -> Option<Self> {
        match self.0.checked_add(blocks) {
            Some(h) => Some(Self(h)),
            None => None,
        }
    }

    /// The height `blocks` after this one, saturating at `u64::MAX`.
    #[must_use]
    pub const fn saturating_add(self, blocks: u64) -> Self {
        Self(self.0.saturating_add(blocks))
    }
}

/// The header of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// Digest of the parent block (zero for the first block's parent, the genesis).
    pub parent: Hash,
    /// Height of this block.
    pub height: Height,
    /// Consensus epoch the block was proposed in.
    pub epoch: u64,
    /// Consensus view the block was proposed in.
    pub view: u64,
    /// Consensus view of the parent.
    pub parent_view: u64,
    /// The validator that proposed the block; it receives the block's fees.
    pub proposer: Address,
    /// The proposer's clock, in milliseconds since the Unix epoch. Informational: state never
    /// depends on it, and it only has to be no earlier than the parent's.
    pub timestamp_ms: u64,
    /// Root of the transaction hashes.
    pub tx_root: Hash,
    /// Root of the receipt hashes.
    pub receipts_root: Hash,
    /// State root after applying the block.
    pub state_root: Hash,
}

impl BlockHeader {
    /// The block's id.
    #[must_use]
    pub fn digest(&self) -> Hash {
        sha256(&[&self.encode()])
    }
}

impl Write for BlockHeader {
    fn write(&self, buf: &mut impl BufMut) {
        self.parent.write(buf);
        self.height.write(buf);
        self.epoch.write(buf);
        self.view.write(buf);
        self.parent_view.write(buf);
        self.proposer.write(buf);
        self.timestamp_ms.write(buf);
        self.tx_root.write(buf);
        self.receipts_root.write(buf);
        self.state_root.write(buf);
    }
}

impl FixedSize for BlockHeader {
    const SIZE: usize = 32 + 8 * 4 + 32 + 8 + 32 * 3;
}

impl Read for BlockHeader {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            parent: Hash::read(buf)?,
            height: Height::read(buf)?,
            epoch: u64::read(buf)?,
            view: u64::read(buf)?,
            parent_view: u64::read(buf)?,
            proposer: Address::read(buf)?,
            timestamp_ms: u64::read(buf)?,
            tx_root: Hash::read(buf)?,
            receipts_root: Hash::read(buf)?,
            state_root: Hash::read(buf)?,
        })
    }
}

/// A block: header plus transactions, with its digest computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in execution order.
    pub txs: Vec<SignedTx>,
    digest: Hash,
}

impl Block {
    /// Builds a block and computes its digest.
    #[must_use]
    pub fn new(header: BlockHeader, txs: Vec<SignedTx>) -> Self {
        let digest = header.digest();
        Self { header, txs, digest }
    }

    /// The block's id.
    #[must_use]
    pub const fn digest(&self) -> Hash {
        self.digest
    }

    /// The root of this block's transaction hashes.
    #[must_use]
    pub fn compute_tx_root(txs: &[SignedTx]) -> Hash {
        let hashes: Vec<Hash> = txs.iter().map(SignedTx::hash).collect();
        list_root(&hashes)
    }

    /// The height.
    #[must_use]
    pub const fn height(&self) -> Height {
        self.header.height
    }
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        self.header.write(buf);
        // At most BLOCK_TXS_MAX, which fits in u32.
        buf.put_u32(self.txs.len() as u32);
        for tx in &self.txs {
            tx.write(buf);
        }
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        BlockHeader::SIZE + 4 + self.txs.iter().map(EncodeSize::encode_size).sum::<usize>()
    }
}

impl Read for Block {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let header = BlockHeader::read(buf)?;
        let count = u32::read(buf)? as usize;
        if count > BLOCK_TXS_MAX {
            return Err(CodecError::InvalidLength(count));
        }
        // Every transaction is well over 64 bytes: refuse counts the buffer cannot hold before
        // allocating for them.
        if buf.remaining() < count.saturating_mul(64) {
            return Err(CodecError::EndOfBuffer);
        }
        let mut txs = Vec::with_capacity(count);
        for _ in 0..count {
            txs.push(SignedTx::read(buf)?);
        }
        Ok(Self::new(header, txs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::ZERO;
    use commonware_codec::DecodeExt as _;

    #[test]
    fn header_round_trip_and_digest() {
        let header = BlockHeader {
            parent: ZERO,
            height: Height(1),
            epoch: 0,
            view: 3,
            parent_view: 0,
            proposer: Address([1; 32]),
            timestamp_ms: 42,
            tx_root: ZERO,
            receipts_root: ZERO,
            state_root: ZERO,
        };
        let block = Block::new(header.clone(), vec![]);
        let bytes = block.encode();
        assert_eq!(bytes.len(), block.encode_size());
        let back = Block::decode(bytes.clone()).unwrap();
        assert_eq!(back, block);
        assert_eq!(back.digest(), header.digest());
        // A count that the remaining bytes cannot hold is refused before allocation.
        let mut hostile = bytes[..BlockHeader::SIZE].to_vec();
        hostile.extend_from_slice(&(BLOCK_TXS_MAX as u32).to_be_bytes());
        assert!(Block::decode(hostile).is_err());
    }
}
