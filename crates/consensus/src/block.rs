//! The block as the consensus engine sees it: [`alx_types::Block`] plus the simplex context
//! rebuilt from its header (round, leader, parent view), so the block's digest, which hashes the
//! header, commits to the context as the engine requires.

use alx_types::{Address, Block};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, Write};
use commonware_consensus::{
    Block as ConsensusBlock, CertifiableBlock, Heightable,
    simplex::types::Context,
    types::{Epoch, Height, Round, View},
};
use commonware_cryptography::{Digestible, ed25519::PublicKey, sha256::Digest};
use std::sync::Arc;

/// The simplex context embedded in every block.
pub type BlockContext = Context<Digest, PublicKey>;

/// A chain block with its decoded consensus context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBlock {
    block: Arc<Block>,
    leader: PublicKey,
}

impl ChainBlock {
    /// Wraps a block. `None` if its proposer is not a valid ed25519 key (such a block cannot
    /// carry a consensus context, so it is refused at decoding).
    #[must_use]
    pub fn new(block: impl Into<Arc<Block>>) -> Option<Self> {
        let block = block.into();
        let leader = block.header.proposer.to_public_key()?;
        Some(Self { block, leader })
    }

    /// The chain block.
    #[must_use]
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// A shared handle to the chain block.
    #[must_use]
    pub fn shared(&self) -> Arc<Block> {
        self.block.clone()
    }

    /// The proposer's address.
    #[must_use]
    pub fn proposer(&self) -> Address {
        self.block.header.proposer
    }
}

impl Write for ChainBlock {
    fn write(&self, buf: &mut impl BufMut) {
        self.block.write(buf);
    }
}

impl EncodeSize for ChainBlock {
    fn encode_size(&self) -> usize {
        self.block.encode_size()
    }
}

impl Read for ChainBlock {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, cfg: &()) -> Result<Self, CodecError> {
        let block = Block::read_cfg(buf, cfg)?;
        Self::new(block).ok_or(CodecError::Invalid("block", "proposer is not an ed25519 key"))
    }
}

impl Digestible for ChainBlock {
    type Digest = Digest;
    fn digest(&self) -> Digest {
        self.block.digest()
    }
}

impl Heightable for ChainBlock {
    fn height(&self) -> Height {
        Height::new(self.block.header.height.0)
    }
}

impl ConsensusBlock for ChainBlock {
    fn parent(&self) -> Digest {
        self.block.header.parent
    }
}

impl CertifiableBlock for ChainBlock {
    type Context = BlockContext;
    fn context(&self) -> BlockContext {
        let h = &self.block.header;
        Context {
            round: Round::new(Epoch::new(h.epoch), View::new(h.view)),
            leader: self.leader.clone(),
            parent: (View::new(h.parent_view), h.parent),
        }
    }
}
