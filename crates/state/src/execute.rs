//! Block execution: `apply(state, block) -> (state', receipts)`.
//!
//! For each transaction, in order:
//!
//! ```text
//! signature invalid            → failed: bad_signature     (nothing charged)
//! chain id differs             → failed: wrong_chain_id    (nothing charged)
//! nonce ≠ sender's next nonce  → failed: bad_nonce         (nothing charged)
//! fee < min_fee                → failed: fee_too_low       (nothing charged)
//! balance < fee                → failed: insufficient_fee  (nothing charged)
//! otherwise: charge the fee, advance the nonce, then run the payload; a payload that fails
//! changes nothing else and gets a failed receipt with the fee charged.
//! ```
//!
//! A signature is valid only under the strict rule of `alx_types::strict` (no small-order or
//! non-canonical key or `R`); addresses a payload creates or names for later signing (a new
//! transfer recipient, curators, an API key's provider) must be strict keys too
//! (`bad_address`).
//!
//! After the transactions: what was scheduled for this height runs (API keys whose revocation
//! delay ended close, contributions whose data never came are dropped); unbondings that
//! matured at this height return to balances; the block's emission is minted and split, and
//! its chain-validator class with the block's fees is shared by the active set's stake
//! (`staking_pools`: commission, then each validator's delegators); subnets whose
//! tempo ends at this height run their Yuma epoch; the last block of an epoch pays the epoch
//! pools and re-chooses the active set for the next epoch. A failed transaction never makes the block invalid.

use crate::{
    keys::Account,
    state::{CorruptState, State},
};
use alx_types::{Address, Amount, ErrorCode, Hash, Receipt, SignedTx, block::Height, tx::Payload};

/// What execution needs to know about the block beyond its transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockContext {
    /// The block's height: the state's height plus one.
    pub height: Height,
    /// The block's proposer. Fees are not its alone: they are shared by the active set's
    /// stake with the chain-validator emission.
    pub proposer: Address,
}

/// The result of executing a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
    /// The state root after the block.
    pub state_root: Hash,
}

/// Why a block could not be executed at all.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// The block does not extend this state.
    #[error("block height {got} does not follow state height {state}")]
    WrongHeight {
        /// The state's height.
        state: Height,
        /// The block's height.
        got: Height,
    },
    /// Signature results do not match the transactions (a caller bug).
    #[error("{sigs} signature results for {txs} transactions")]
    SignatureCount {
        /// Results given.
        sigs: usize,
        /// Transactions given.
        txs: usize,
    },
    /// Storage is corrupt.
    #[error(transparent)]
    Corrupt(#[from] CorruptState),
}

/// A payload failure: the fee stays charged, nothing else changes.
pub(crate) type PayloadResult = Result<(), PayloadError>;

/// Either a user-facing failure code or corrupt state.
pub(crate) enum PayloadError {
    Code(ErrorCode),
    Corrupt(CorruptState),
}

impl From<CorruptState> for PayloadError {
    fn from(e: CorruptState) -> Self {
        Self::Corrupt(e)
    }
}

impl From<ErrorCode> for PayloadError {
    fn from(e: ErrorCode) -> Self {
        Self::Code(e)
    }
}

impl State {
    /// Executes a block's transactions on this state. `signatures_valid[i]` says whether
    /// transaction `i`'s signature verified (checked in batches by the caller). On error the
    /// state may be partly written and must be discarded: callers execute on a clone.
    pub fn execute_block(
        &mut self,
        ctx: &BlockContext,
        txs: &[SignedTx],
        signatures_valid: &[bool],
    ) -> Result<BlockOutcome, ExecuteError> {
        if signatures_valid.len() != txs.len() {
            return Err(ExecuteError::SignatureCount {
                sigs: signatures_valid.len(),
                txs: txs.len(),
            });
        }
        let state_height = self.height()?;
        if ctx.height != state_height.next() {
            return Err(ExecuteError::WrongHeight { state: state_height, got: ctx.height });
        }
        let mut fees = Amount::ZERO;
        let mut receipts = Vec::with_capacity(txs.len());
        for (tx, &sig_ok) in txs.iter().zip(signatures_valid) {
            let receipt = self.execute_tx(ctx, tx, sig_ok)?;
            // Fees are bounded by the supply, which fits in u128.
            fees = fees.checked_add(receipt.fee_paid).ok_or_else(overflow)?;
            receipts.push(receipt);
        }
        // Revocations whose delay ended, data deadlines that passed.
        self.run_due(ctx.height)?;
        self.mature_unbondings(ctx.height)?;
        // The block's fees and its chain-validator emission are the active set's staking
        // reward, shared by stake (`staking_pools`).
        let validators_class = self.emit(ctx.height)?;
        let staking = fees.checked_add(validators_class).ok_or_else(overflow)?;
        self.distribute_staking(ctx.height, staking)?;
        // Subnets whose tempo ends here run Yuma over the weights revealed so far, this
        // block's included, and pay what is pending (this block's share included).
        self.run_subnet_epochs(ctx.height)?;
        // The last block of an epoch pays the epoch's emission pools and chooses the set of
        // the next one (heights [e·L, e·L + L − 1] form epoch e, as the consensus engine's
        // epocher counts them).
        if ctx.height.0 % self.params.epoch_length == self.params.epoch_length - 1 {
            self.pay_epoch_pools(ctx.height)?;
            self.rotate_active_set()?;
        }
        self.put_height(ctx.height);
        let state_root = self.root();
        Ok(BlockOutcome { receipts, state_root })
    }

    fn execute_tx(
        &mut self,
        ctx: &BlockContext,
        signed: &SignedTx,
        sig_ok: bool,
    ) -> Result<Receipt, CorruptState> {
        let hash = signed.hash();
        let tx = &signed.tx;
        let reject = |code| Ok(Receipt::failed(hash, code, Amount::ZERO));
        if !sig_ok {
            return reject(ErrorCode::BadSignature);
        }
        if tx.chain_id != self.chain_id {
            return reject(ErrorCode::WrongChainId);
        }
        let mut sender = self.account(&tx.sender)?.unwrap_or_default();
        if tx.nonce != sender.nonce {
            return reject(ErrorCode::BadNonce);
        }
        if tx.fee < signed.min_fee(self.params.min_fee) {
            return reject(ErrorCode::FeeTooLow);
        }
        let Some(balance) = sender.balance.checked_sub(tx.fee) else {
            return reject(ErrorCode::InsufficientFee);
        };
        sender.balance = balance;
        sender.nonce += 1;

        let result = match tx.payload {
            // The hot path: the sender's record is written once, with fee and amount applied.
            Payload::Transfer { to, amount } => {
                let result = self.transfer(&tx.sender, &mut sender, &to, amount);
                self.put_account(&tx.sender, &sender);
                result
            }
            Payload::Bond { validator, amount } => {
                self.put_account(&tx.sender, &sender);
                self.bond(&tx.sender, &validator, amount)
            }
            Payload::Unbond { validator, amount } => {
                self.put_account(&tx.sender, &sender);
                self.unbond(ctx.height, &tx.sender, tx.nonce, &validator, amount)
            }
            Payload::RegisterValidator { p2p_addr } => {
                self.put_account(&tx.sender, &sender);
                self.register_validator(ctx.height, &tx.sender, p2p_addr)
            }
            Payload::Datanet(ref op) => {
                self.put_account(&tx.sender, &sender);
                self.datanet_op(ctx.height, &tx.sender, op)
            }
            Payload::Model(ref op) => {
                self.put_account(&tx.sender, &sender);
                self.model_op(ctx.height, &tx.sender, op)
            }
            Payload::Usage(ref op) => {
                self.put_account(&tx.sender, &sender);
                self.usage_op(ctx.height, &tx.sender, op)
            }
            Payload::Subnet(ref op) => {
                self.put_account(&tx.sender, &sender);
                self.subnet_op(ctx.height, &tx.sender, op)
            }
            Payload::ReportEquivocation(ref e) => {
                self.put_account(&tx.sender, &sender);
                self.report_equivocation(&tx.sender, e)
            }
            Payload::Staking(op) => {
                self.put_account(&tx.sender, &sender);
                self.staking_op(ctx.height, &tx.sender, op)
            }
        };
        match result {
            Ok(()) => Ok(Receipt::success(hash, tx.fee)),
            Err(PayloadError::Code(code)) => Ok(Receipt::failed(hash, code, tx.fee)),
            Err(PayloadError::Corrupt(e)) => Err(e),
        }
    }

    /// Moves `amount` from `sender` (the caller writes the sender's record) to `to`.
    fn transfer(
        &mut self,
        from: &Address,
        sender: &mut Account,
        to: &Address,
        amount: Amount,
    ) -> PayloadResult {
        if amount.is_zero() {
            return Err(ErrorCode::ZeroAmount.into());
        }
        let balance = sender.balance.checked_sub(amount).ok_or(ErrorCode::InsufficientFunds)?;
        if from == to {
            return Ok(());
        }
        let recipient = self.account(to)?;
        // A new account must be a key someone holds: funds sent to bytes that are no point
        // are lost, and a small-order key could be spent by anyone. Existing accounts passed
        // this check (or the genesis's) when they were created, so the hot path of transfers
        // between known accounts decompresses nothing.
        if recipient.is_none() && !to.is_strict_key() {
            return Err(ErrorCode::BadAddress.into());
        }
        let mut recipient = recipient.unwrap_or_default();
        recipient.balance =
            recipient.balance.checked_add(amount).ok_or(ErrorCode::AmountOverflow)?;
        sender.balance = balance;
        self.put_account(to, &recipient);
        Ok(())
    }

    /// Reads an account that must exist (the sender, after its fee was charged).
    pub(crate) fn existing_account(&self, address: &Address) -> Result<Account, CorruptState> {
        Ok(self.account(address)?.unwrap_or_default())
    }
}

pub(crate) fn overflow() -> CorruptState {
    CorruptState {
        key: "supply".into(),
        source: commonware_codec::Error::Invalid("amount", "sum exceeds the supply"),
    }
}
