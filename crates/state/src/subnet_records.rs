//! Subnet records in the authenticated map, and their typed reads and writes.
//!
//! ```text
//! 0x15 ‖ subnet (BE)                      → Subnet
//! 0x16 ‖ name                             → subnet id (names are unique)
//! 0x17 ‖ subnet (BE) ‖ uid (BE)           → Neuron
//! 0x18 ‖ subnet (BE) ‖ address            → uid (one per address and subnet)
//! 0x19 ‖ subnet (BE) ‖ uid (BE)           → weights row: count (u16), (dest, value) u16 pairs
//! 0x1A ‖ subnet (BE) ‖ uid (BE)           → bonds row, as weights
//! 0x1B ‖ subnet (BE) ‖ uid (BE)           → WeightCommit (at most one per uid)
//! 0x1C ‖ subnet (BE) ‖ epoch (BE)         → SubnetEpoch (the last SUBNET_EPOCHS_KEPT;
//!                                           with the schedule, in `subnet_epoch`)
//! 0x1D ‖ height (BE) ‖ subnet (BE)        → empty: the subnet's next epoch runs at height
//! 0x05 ‖ "subnet_next" → u64; "subnet_pending_total", "subnet_emission_acc" → Amount
//! ```
//!
//! An empty row is never stored: its key is deleted. Big-endian heights make the epoch
//! schedule iterate in height order, as the unbonding queue does.

use crate::{
    keys::{self, global_key},
    model_records::read_bool,
    state::{CorruptState, State, hex_key},
};
use alx_types::{
    Address, Amount, Hash, Height,
    model::ModelId,
    subnet::{ENDPOINT_LEN_MAX, EpochSchedule, SubnetId, SubnetSpec, UIDS_MAX, Uid},
};
use alx_yuma::Row;
use bytes::BufMut as _;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize as _, Read, ReadExt as _, Write,
};

const PREFIX_SUBNET: u8 = 0x15;
const PREFIX_SUBNET_NAME: u8 = 0x16;
const PREFIX_NEURON: u8 = 0x17;
const PREFIX_NEURON_UID: u8 = 0x18;
const PREFIX_WEIGHTS: u8 = 0x19;
const PREFIX_BONDS: u8 = 0x1A;
const PREFIX_COMMIT: u8 = 0x1B;
pub(crate) const PREFIX_SUBNET_EPOCH: u8 = 0x1C;
pub(crate) const PREFIX_EPOCH_SCHEDULE: u8 = 0x1D;
const GLOBAL_SUBNET_NEXT: &str = "subnet_next";
const GLOBAL_PENDING_TOTAL: &str = "subnet_pending_total";
const GLOBAL_EMISSION_ACC: &str = "subnet_emission_acc";

pub(crate) fn key(prefix: u8, subnet: SubnetId, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + rest.len());
    k.push(prefix);
    k.put_u64(subnet.0);
    k.extend_from_slice(rest);
    k
}

/// A subnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Subnet {
    pub(crate) owner: Address,
    pub(crate) spec: SubnetSpec,
    pub(crate) created_at: Height,
    /// Uids in use: `0..n`.
    pub(crate) n: u16,
    /// Pending emission credited to this record. The block shares since `emission_mark`
    /// are pending too (see [`Subnet::pending`]).
    pub(crate) pending: Amount,
    /// The per-subnet emission accumulator when `pending` last took its block shares.
    pub(crate) emission_mark: Amount,
    pub(crate) epochs: u64,
    pub(crate) last_epoch_block: Height,
}

impl Subnet {
    /// Everything pending, given the accumulator now (`acc ≥ emission_mark` always).
    pub(crate) fn pending(&self, acc: Amount) -> Option<Amount> {
        self.pending.checked_add(acc.checked_sub(self.emission_mark)?)
    }

    /// When its epochs fall (the arithmetic lives in `alx-types`, shared with the neurons).
    pub(crate) const fn schedule(&self) -> EpochSchedule {
        EpochSchedule { created_at: self.created_at, tempo: self.spec.tempo }
    }

    /// The height of the next epoch: the first `created_at + k·tempo` above `last`.
    pub(crate) const fn next_epoch_after(&self, last: Height) -> Height {
        self.schedule().next_epoch_after(last)
    }

    /// The subnet epoch a height belongs to: epoch `e` is the heights
    /// `(created_at + e·tempo, created_at + (e+1)·tempo]`; the creation block counts as 0.
    pub(crate) const fn epoch_of(&self, height: Height) -> u64 {
        self.schedule().epoch_of(height)
    }
}

/// What a neuron does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NeuronKind {
    Miner { model: ModelId, endpoint: String },
    Validator,
}

/// One uid of a subnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Neuron {
    pub(crate) address: Address,
    pub(crate) kind: NeuronKind,
    pub(crate) registered_at: Height,
    pub(crate) last_update: Height,
    /// Permit from the last epoch.
    pub(crate) permit: bool,
    pub(crate) consensus: u16,
    pub(crate) incentive: u16,
    pub(crate) dividends: u16,
    pub(crate) validator_trust: u16,
    /// Paid by the last epoch: the pruning score.
    pub(crate) last_emission: Amount,
}

impl Neuron {
    /// A neuron registered at `height`, with no results yet.
    pub(crate) const fn new(address: Address, kind: NeuronKind, height: Height) -> Self {
        Self {
            address,
            kind,
            registered_at: height,
            last_update: height,
            permit: false,
            consensus: 0,
            incentive: 0,
            dividends: 0,
            validator_trust: 0,
            last_emission: Amount::ZERO,
        }
    }

    pub(crate) const fn is_validator(&self) -> bool {
        matches!(self.kind, NeuronKind::Validator)
    }
}

/// A uid's outstanding weight commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WeightCommit {
    pub(crate) commit: Hash,
    pub(crate) block: Height,
    /// The subnet epoch of `block`.
    pub(crate) epoch: u64,
}

fn write_bytes(b: &[u8], buf: &mut impl bytes::BufMut) {
    // Stored strings are bounded by their decoders' limits, far below u16::MAX.
    buf.put_u16(b.len().min(usize::from(u16::MAX)) as u16);
    buf.put_slice(&b[..b.len().min(usize::from(u16::MAX))]);
}

fn read_string(buf: &mut impl Buf, max: usize) -> Result<String, CodecError> {
    let len = usize::from(u16::read(buf)?);
    if len > max || buf.remaining() < len {
        return Err(CodecError::InvalidLength(len));
    }
    let mut raw = vec![0u8; len];
    buf.copy_to_slice(&mut raw);
    String::from_utf8(raw).map_err(|_| CodecError::Invalid("neuron", "utf8"))
}

pub(crate) fn read_count(buf: &mut impl Buf) -> Result<usize, CodecError> {
    let n = usize::from(u16::read(buf)?);
    if n > usize::from(UIDS_MAX) { Err(CodecError::InvalidLength(n)) } else { Ok(n) }
}

impl Write for Subnet {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.owner.write(buf);
        self.spec.write(buf);
        self.created_at.write(buf);
        self.n.write(buf);
        self.pending.write(buf);
        self.emission_mark.write(buf);
        self.epochs.write(buf);
        self.last_epoch_block.write(buf);
    }
}

impl EncodeSize for Subnet {
    fn encode_size(&self) -> usize {
        Address::SIZE + self.spec.encode_size() + 8 + 2 + 2 * Amount::SIZE + 8 + 8
    }
}

impl Read for Subnet {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            owner: Address::read(buf)?,
            spec: SubnetSpec::read(buf)?,
            created_at: Height::read(buf)?,
            n: u16::read(buf)?,
            pending: Amount::read(buf)?,
            emission_mark: Amount::read(buf)?,
            epochs: u64::read(buf)?,
            last_epoch_block: Height::read(buf)?,
        })
    }
}

impl Write for Neuron {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.address.write(buf);
        match &self.kind {
            NeuronKind::Miner { model, endpoint } => {
                buf.put_u8(0);
                model.write(buf);
                write_bytes(endpoint.as_bytes(), buf);
            }
            NeuronKind::Validator => buf.put_u8(1),
        }
        self.registered_at.write(buf);
        self.last_update.write(buf);
        buf.put_u8(u8::from(self.permit));
        for v in [self.consensus, self.incentive, self.dividends, self.validator_trust] {
            v.write(buf);
        }
        self.last_emission.write(buf);
    }
}

impl EncodeSize for Neuron {
    fn encode_size(&self) -> usize {
        let kind = match &self.kind {
            NeuronKind::Miner { endpoint, .. } => 1 + 8 + 2 + endpoint.len(),
            NeuronKind::Validator => 1,
        };
        Address::SIZE + kind + 8 + 8 + 1 + 4 * 2 + Amount::SIZE
    }
}

impl Read for Neuron {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let address = Address::read(buf)?;
        let kind = match u8::read(buf)? {
            0 => NeuronKind::Miner {
                model: ModelId::read(buf)?,
                endpoint: read_string(buf, ENDPOINT_LEN_MAX)?,
            },
            1 => NeuronKind::Validator,
            other => return Err(CodecError::InvalidEnum(other)),
        };
        Ok(Self {
            address,
            kind,
            registered_at: Height::read(buf)?,
            last_update: Height::read(buf)?,
            permit: read_bool(buf)?,
            consensus: u16::read(buf)?,
            incentive: u16::read(buf)?,
            dividends: u16::read(buf)?,
            validator_trust: u16::read(buf)?,
            last_emission: Amount::read(buf)?,
        })
    }
}

impl Write for WeightCommit {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        self.commit.write(buf);
        self.block.write(buf);
        self.epoch.write(buf);
    }
}

impl EncodeSize for WeightCommit {
    fn encode_size(&self) -> usize {
        Hash::SIZE + 16
    }
}

impl Read for WeightCommit {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self { commit: Hash::read(buf)?, block: Height::read(buf)?, epoch: u64::read(buf)? })
    }
}

/// A stored row.
struct StoredRow(Row);

impl Write for StoredRow {
    fn write(&self, buf: &mut impl bytes::BufMut) {
        // Rows hold at most one entry per uid (≤ UIDS_MAX).
        buf.put_u16(self.0.len() as u16);
        for (j, v) in &self.0 {
            j.write(buf);
            v.write(buf);
        }
    }
}

impl EncodeSize for StoredRow {
    fn encode_size(&self) -> usize {
        2 + 4 * self.0.len()
    }
}

impl Read for StoredRow {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let n = read_count(buf)?;
        (0..n).map(|_| Ok((u16::read(buf)?, u16::read(buf)?))).collect::<Result<_, _>>().map(Self)
    }
}

impl State {
    pub(crate) fn subnet_record(&self, id: SubnetId) -> Result<Option<Subnet>, CorruptState> {
        self.get(&key(PREFIX_SUBNET, id, &[]))
    }

    pub(crate) fn put_subnet(&mut self, id: SubnetId, subnet: &Subnet) {
        self.put(key(PREFIX_SUBNET, id, &[]), subnet);
    }

    /// The id of the subnet with this name.
    pub fn subnet_by_name(&self, name: &str) -> Result<Option<SubnetId>, CorruptState> {
        let mut k = vec![PREFIX_SUBNET_NAME];
        k.extend_from_slice(name.as_bytes());
        self.get(&k)
    }

    pub(crate) fn put_subnet_name(&mut self, name: &str, id: SubnetId) {
        let mut k = vec![PREFIX_SUBNET_NAME];
        k.extend_from_slice(name.as_bytes());
        self.put(k, &id);
    }

    /// Subnets created so far (ids are `0..count`; subnets are never removed).
    pub fn subnet_count(&self) -> Result<u64, CorruptState> {
        self.get(&global_key(GLOBAL_SUBNET_NEXT)).map(Option::unwrap_or_default)
    }

    pub(crate) fn put_subnet_count(&mut self, next: u64) {
        self.put(global_key(GLOBAL_SUBNET_NEXT), &next);
    }

    /// Everything pending in all subnets together (held by the chain, counted in the supply).
    pub fn subnet_pending_total(&self) -> Result<Amount, CorruptState> {
        self.amount_global(GLOBAL_PENDING_TOTAL)
    }

    pub(crate) fn put_subnet_pending_total(&mut self, amount: Amount) {
        self.put_amount_global_named(GLOBAL_PENDING_TOTAL, amount);
    }

    /// Block emission credited to every subnet that existed since genesis (each subnet's share
    /// is the growth of this value since it last took its shares).
    pub(crate) fn subnet_emission_acc(&self) -> Result<Amount, CorruptState> {
        self.amount_global(GLOBAL_EMISSION_ACC)
    }

    pub(crate) fn put_subnet_emission_acc(&mut self, amount: Amount) {
        self.put_amount_global_named(GLOBAL_EMISSION_ACC, amount);
    }

    pub(crate) fn neuron_record(
        &self,
        subnet: SubnetId,
        uid: Uid,
    ) -> Result<Option<Neuron>, CorruptState> {
        self.get(&key(PREFIX_NEURON, subnet, &uid.to_be_bytes()))
    }

    pub(crate) fn put_neuron(&mut self, subnet: SubnetId, uid: Uid, neuron: &Neuron) {
        self.put(key(PREFIX_NEURON, subnet, &uid.to_be_bytes()), neuron);
    }

    /// Every neuron of a subnet, in uid order (`n` of them).
    pub(crate) fn neuron_records(
        &self,
        subnet: SubnetId,
        n: u16,
    ) -> Result<Vec<Neuron>, CorruptState> {
        (0..n)
            .map(|uid| {
                self.neuron_record(subnet, uid)?.ok_or_else(|| CorruptState {
                    key: hex_key(&key(PREFIX_NEURON, subnet, &uid.to_be_bytes())),
                    source: CodecError::Invalid("subnet", "missing neuron"),
                })
            })
            .collect()
    }

    /// The uid `who` holds in a subnet.
    pub fn uid_of(&self, subnet: SubnetId, who: &Address) -> Result<Option<Uid>, CorruptState> {
        self.get(&key(PREFIX_NEURON_UID, subnet, who.as_bytes()))
    }

    pub(crate) fn put_uid_of(&mut self, subnet: SubnetId, who: &Address, uid: Uid) {
        self.put(key(PREFIX_NEURON_UID, subnet, who.as_bytes()), &uid);
    }

    pub(crate) fn delete_uid_of(&mut self, subnet: SubnetId, who: &Address) {
        self.auth_mut().delete(&key(PREFIX_NEURON_UID, subnet, who.as_bytes()));
    }

    fn row(&self, prefix: u8, subnet: SubnetId, uid: Uid) -> Result<Row, CorruptState> {
        let row: Option<StoredRow> = self.get(&key(prefix, subnet, &uid.to_be_bytes()))?;
        Ok(row.map(|r| r.0).unwrap_or_default())
    }

    fn put_row(&mut self, prefix: u8, subnet: SubnetId, uid: Uid, row: &Row) {
        let k = key(prefix, subnet, &uid.to_be_bytes());
        if row.is_empty() {
            self.auth_mut().delete(&k);
        } else {
            self.auth_mut().put(k, keys::encode(&StoredRow(row.clone())));
        }
    }

    /// The weights a uid last revealed, `(dest, value)` in revealed order (empty if none).
    pub fn weights_row(&self, subnet: SubnetId, uid: Uid) -> Result<Row, CorruptState> {
        self.row(PREFIX_WEIGHTS, subnet, uid)
    }

    pub(crate) fn put_weights_row(&mut self, subnet: SubnetId, uid: Uid, row: &Row) {
        self.put_row(PREFIX_WEIGHTS, subnet, uid, row);
    }

    /// A uid's bonds after the last epoch.
    pub fn bonds_row(&self, subnet: SubnetId, uid: Uid) -> Result<Row, CorruptState> {
        self.row(PREFIX_BONDS, subnet, uid)
    }

    pub(crate) fn put_bonds_row(&mut self, subnet: SubnetId, uid: Uid, row: &Row) {
        self.put_row(PREFIX_BONDS, subnet, uid, row);
    }

    pub(crate) fn commit_record(
        &self,
        subnet: SubnetId,
        uid: Uid,
    ) -> Result<Option<WeightCommit>, CorruptState> {
        self.get(&key(PREFIX_COMMIT, subnet, &uid.to_be_bytes()))
    }

    pub(crate) fn put_commit(&mut self, subnet: SubnetId, uid: Uid, c: &WeightCommit) {
        self.put(key(PREFIX_COMMIT, subnet, &uid.to_be_bytes()), c);
    }

    pub(crate) fn delete_commit(&mut self, subnet: SubnetId, uid: Uid) {
        self.auth_mut().delete(&key(PREFIX_COMMIT, subnet, &uid.to_be_bytes()));
    }
}
