//! Provider bonds and challenges of settlements.
//!
//! A provider must hold a bond to be named on API keys. Every settlement stays challengeable for
//! [`CHALLENGE_WINDOW_BLOCKS`]; the fees of its settlements still challengeable never pass its
//! bond, so one slash covers anything it could have taken, and the bond cannot be withdrawn
//! while one of them is. A challenge names a settlement and
//! brings evidence the chain checks by itself against the settlement's receipt root:
//!
//! - [`Evidence::Sums`]: a node of the tree, opened from the root down, whose totals are not
//!   the sum of its two children's, whose children do not have the tree's shape (see
//!   `settled`), or with a child that is not well formed. The money the settlement moved is the
//!   root's totals, so a tree whose sums do not add up settled more (or other) than its
//!   receipts.
//! - [`Evidence::Leaf`]: one leaf, proven under the root, that charges more than its tokens
//!   cost at the highest price the model had within the window before the settlement, or whose
//!   receipt number is not `first + its position`.
//! - [`Evidence::Receipt`]: a receipt the provider signed for a request, and the leaf it
//!   settled under the same number, proven under the root, with another receipt's id (two
//!   receipts for one request), or with its id but settling what it does not record (other
//!   tokens, a higher fee, other credits, another key or model). A leaf written off without
//!   its receipt (id zero) charges nothing and is not evidence.
//!
//! Wrongs only the data shows (an attribution, a generation) are disputes (`crate::dispute`);
//! a batch never published is answered by a demand (`crate::withheld`).
//!
//! Evidence that holds slashes the provider's whole bond: [`CHALLENGER_SHARE_BPS`] of it to the
//! challenger, the rest to the protection fund, and the settlement can no longer be challenged.
//! Evidence that does not hold fails the challenge and moves nothing.

use crate::{
    Address, Amount, Hash,
    datanet::read_count,
    hash::ZERO,
    settled::{LeafProof, PROOF_DEPTH_MAX, SettledReceipt, Totals, node_digest},
};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize as _, Read, ReadExt as _, Write,
};
use serde::{Deserialize, Serialize};

/// Blocks a settlement stays challengeable (and its provider's bond locked).
pub const CHALLENGE_WINDOW_BLOCKS: u64 = 300;

/// Part of a slashed bond paid to the challenger (basis points); the rest goes to the
/// protection fund.
pub const CHALLENGER_SHARE_BPS: u16 = 5_000;

/// The preimage of an inner node of a settlement's tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    /// The left child's digest.
    #[serde(with = "crate::hash::serde_hex")]
    pub left: Hash,
    /// The right child's digest.
    #[serde(with = "crate::hash::serde_hex")]
    pub right: Hash,
    /// The node's totals.
    pub totals: Totals,
}

impl Opening {
    /// The node's digest.
    #[must_use]
    pub fn digest(&self) -> Hash {
        node_digest(&self.left, &self.right, &self.totals)
    }
}

/// A child of an opened node, opened in turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Opened {
    /// The empty subtree (zero digest, zero totals).
    Empty,
    /// A leaf.
    Leaf {
        /// The leaf.
        leaf: SettledReceipt,
    },
    /// An inner node.
    Node {
        /// Its preimage.
        opening: Opening,
    },
}

impl Opened {
    /// The child's digest.
    #[must_use]
    pub fn digest(&self) -> Hash {
        match self {
            Self::Empty => ZERO,
            Self::Leaf { leaf } => leaf.digest(),
            Self::Node { opening } => opening.digest(),
        }
    }

    /// The child's totals (`None`: not well formed).
    #[must_use]
    pub fn totals(&self) -> Option<Totals> {
        match self {
            Self::Empty => Some(Totals::default()),
            Self::Leaf { leaf } => leaf.totals(),
            Self::Node { opening } => opening.totals.is_canonical().then(|| opening.totals.clone()),
        }
    }
}

/// What shows a settlement wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// Inner nodes from the root down (each the child of the one before), and the two children
    /// of the last, whose totals do not add up to the last node's.
    Sums {
        /// The openings, root first.
        path: Vec<Opening>,
        /// The last node's children.
        children: Box<[Opened; 2]>,
    },
    /// A leaf under the root that charges more than its tokens cost, or is numbered outside
    /// the settled range.
    Leaf {
        /// The leaf.
        leaf: SettledReceipt,
        /// Its path to the root.
        proof: LeafProof,
    },
    /// A receipt the provider signed for a request (held by whoever it served), and the leaf
    /// the provider settled under the same number: another receipt. Two receipts for one
    /// request, or one settled in place of the one given to the client.
    Receipt {
        /// The signed receipt (JSON), as the provider gave it.
        receipt: String,
        /// The leaf settled at its number.
        leaf: SettledReceipt,
        /// The leaf's path to the root.
        proof: LeafProof,
    },
}

/// A challenge of one settlement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// The settling provider.
    pub provider: Address,
    /// The settlement's first receipt.
    pub first_receipt: u64,
    /// What shows it wrong.
    pub evidence: Evidence,
}

/// The two children of the root of the tree over `leaves`, opened: what `Evidence::Sums`
/// needs when a settlement names the right children but totals they do not add up to.
#[must_use]
pub fn root_children(leaves: &[SettledReceipt]) -> Option<[Opened; 2]> {
    let open = |part: &[SettledReceipt]| -> Option<Opened> {
        match part {
            [one] => Some(Opened::Leaf { leaf: one.clone() }),
            _ => {
                let r = crate::settled::root(part).ok()?;
                Some(Opened::Node {
                    opening: Opening {
                        left: r.children[0],
                        right: r.children[1],
                        totals: r.totals,
                    },
                })
            }
        }
    };
    match leaves.len() {
        0 => None,
        1 => Some([open(leaves)?, Opened::Empty]),
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            Some([open(&leaves[..k])?, open(&leaves[k..])?])
        }
    }
}

/// The most a leaf may charge: its tokens at `(input, output)` per 1,000 tokens, rounded down
/// as the gateway charges.
#[must_use]
pub fn fee_cap(leaf: &SettledReceipt, input_per_1k: Amount, output_per_1k: Amount) -> u128 {
    crate::model::token_fee(input_per_1k, output_per_1k, leaf.prompt_tokens, leaf.completion_tokens)
        .0
}

impl Evidence {
    /// Whether the evidence shows the settlement with receipt root `root`, covering `receipts`
    /// receipts from `first`, wrong. `prices` gives a model's highest price in the window
    /// before the settlement (input, output per 1,000 tokens; `None`: the settlement charged
    /// nothing on that model).
    #[must_use]
    pub fn holds(
        &self,
        provider: &crate::Address,
        root: &Hash,
        first: u64,
        receipts: u32,
        prices: impl Fn(crate::model::ModelId) -> Option<(Amount, Amount)>,
    ) -> bool {
        match self {
            Self::Sums { path, children } => {
                if path.is_empty() || path.len() > PROOF_DEPTH_MAX || path[0].digest() != *root {
                    return false;
                }
                let chained = path.windows(2).all(|w| {
                    let d = w[1].digest();
                    d == w[0].left || d == w[0].right
                });
                let last = &path[path.len() - 1];
                if !chained
                    || children[0].digest() != last.left
                    || children[1].digest() != last.right
                {
                    return false;
                }
                let (Some(l), Some(r)) = (children[0].totals(), children[1].totals()) else {
                    return true; // A child that is not well formed.
                };
                l.add(&r).as_ref() != Some(&last.totals)
                    || !canonical_shape(last.totals.receipts, path.len() == 1, children)
            }
            Self::Leaf { leaf, proof } => {
                if proof.root_of(leaf).as_ref() != Some(root) {
                    return false;
                }
                let index = proof.position();
                let end = first.saturating_add(u64::from(receipts));
                if !(first..end).contains(&leaf.number)
                    || leaf.number != first.saturating_add(index)
                {
                    return true;
                }
                if leaf.fee.is_zero() {
                    return false;
                }
                prices(leaf.model).is_none_or(|(i, o)| leaf.fee.0 > fee_cap(leaf, i, o))
            }
            Self::Receipt { receipt, leaf, proof } => {
                if !proof.opens(root, leaf, first, receipts) || leaf.id == crate::hash::ZERO {
                    return false;
                }
                // Another receipt under its number, or its own leaf settling what it does not
                // record (other tokens, a higher fee, other credits, another key or model).
                crate::usage_api::UsageReceipt::parse_signed(receipt, provider, leaf.number)
                    .is_some_and(|r| {
                        r.id != leaf.id || crate::settled_batch::leaf_agrees(leaf, &r).is_err()
                    })
            }
        }
    }
}

/// Whether a node of `n` receipts has the children the tree's shape gives it: the largest
/// power of two below `n` on the left, the rest on the right, each an inner node unless it
/// holds one receipt; the one-receipt root alone has a leaf and the empty tree. A tree of any
/// other shape could hide a node deeper than evidence can reach.
fn canonical_shape(n: u64, root: bool, children: &[Opened; 2]) -> bool {
    let count = |o: &Opened| match o {
        Opened::Empty => Some(0),
        Opened::Leaf { .. } => Some(1),
        Opened::Node { opening } => {
            (opening.totals.receipts >= 2).then_some(opening.totals.receipts)
        }
    };
    let (Some(l), Some(r)) = (count(&children[0]), count(&children[1])) else { return false };
    match n {
        0 => false,
        1 => root && l == 1 && r == 0,
        _ => {
            let k = 1u64 << (63 - (n - 1).leading_zeros());
            l == k && r == n - k
        }
    }
}

fn write_opening(o: &Opening, buf: &mut impl BufMut) {
    o.left.write(buf);
    o.right.write(buf);
    o.totals.write(buf);
}

fn read_opening(buf: &mut impl Buf) -> Result<Opening, CodecError> {
    Ok(Opening { left: Hash::read(buf)?, right: Hash::read(buf)?, totals: Totals::read(buf)? })
}

fn write_opened(o: &Opened, buf: &mut impl BufMut) {
    match o {
        Opened::Empty => buf.put_u8(0),
        Opened::Leaf { leaf } => {
            buf.put_u8(1);
            leaf.write(buf);
        }
        Opened::Node { opening } => {
            buf.put_u8(2);
            write_opening(opening, buf);
        }
    }
}

fn read_opened(buf: &mut impl Buf) -> Result<Opened, CodecError> {
    Ok(match u8::read(buf)? {
        0 => Opened::Empty,
        1 => Opened::Leaf { leaf: SettledReceipt::read(buf)? },
        2 => Opened::Node { opening: read_opening(buf)? },
        tag => return Err(CodecError::InvalidEnum(tag)),
    })
}

fn opened_size(o: &Opened) -> usize {
    1 + match o {
        Opened::Empty => 0,
        Opened::Leaf { leaf } => leaf.encode_size(),
        Opened::Node { opening } => 64 + opening.totals.encode_size(),
    }
}

impl Write for Challenge {
    fn write(&self, buf: &mut impl BufMut) {
        self.provider.write(buf);
        self.first_receipt.write(buf);
        match &self.evidence {
            Evidence::Sums { path, children } => {
                buf.put_u8(0);
                buf.put_u8(path.len().min(255) as u8);
                for o in path.iter().take(255) {
                    write_opening(o, buf);
                }
                write_opened(&children[0], buf);
                write_opened(&children[1], buf);
            }
            Evidence::Leaf { leaf, proof } => {
                buf.put_u8(1);
                leaf.write(buf);
                proof.write(buf);
            }
            Evidence::Receipt { receipt, leaf, proof } => {
                buf.put_u8(2);
                crate::dispute::write_opened(leaf, proof, receipt, buf);
            }
        }
    }
}

impl EncodeSize for Challenge {
    fn encode_size(&self) -> usize {
        Address::SIZE
            + 8
            + 1
            + match &self.evidence {
                Evidence::Sums { path, children } => {
                    1 + path.iter().take(255).map(|o| 64 + o.totals.encode_size()).sum::<usize>()
                        + opened_size(&children[0])
                        + opened_size(&children[1])
                }
                Evidence::Leaf { leaf, proof } => leaf.encode_size() + proof.encode_size(),
                Evidence::Receipt { receipt, leaf, proof } => {
                    crate::dispute::opened_size(leaf, proof, receipt)
                }
            }
    }
}

impl Read for Challenge {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let provider = Address::read(buf)?;
        let first_receipt = u64::read(buf)?;
        let evidence = match u8::read(buf)? {
            0 => {
                let path = (0..read_count(buf, PROOF_DEPTH_MAX)?)
                    .map(|_| read_opening(buf))
                    .collect::<Result<_, _>>()?;
                let children = Box::new([read_opened(buf)?, read_opened(buf)?]);
                Evidence::Sums { path, children }
            }
            1 => {
                let leaf = SettledReceipt::read(buf)?;
                let proof = LeafProof::read(buf)?;
                Evidence::Leaf { leaf, proof }
            }
            2 => {
                let (leaf, proof, receipt) = crate::dispute::read_opened(buf)?;
                Evidence::Receipt { receipt, leaf, proof }
            }
            tag => return Err(CodecError::InvalidEnum(tag)),
        };
        Ok(Self { provider, first_receipt, evidence })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{
        datanet::{ContributionId, DatanetId},
        hash::sha256,
        model::ModelId,
        settled::{node_digest, root},
        usage::Credit,
    };

    /// The provider the tests' challenges name.
    const P: Address = Address([3; 32]);

    pub(crate) fn leaves(n: u64, credits: u64) -> Vec<SettledReceipt> {
        (0..n)
            .map(|i| SettledReceipt {
                number: i,
                id: sha256(&[&i.to_be_bytes()]),
                key_hash: sha256(&[&(i % 32).to_be_bytes()]),
                model: ModelId(0),
                prompt_tokens: 1,
                completion_tokens: 1,
                fee: Amount(1_000),
                credits: (0..credits)
                    .map(|c| Credit {
                        model: ModelId(0),
                        datanet: DatanetId(0),
                        contribution: ContributionId(c + i % 2),
                        amount: Amount(1),
                    })
                    .collect(),
            })
            .collect()
    }

    pub(crate) fn sums_challenge() -> Challenge {
        let l = leaves(2, 3);
        let r = root(&l).unwrap();
        Challenge {
            provider: Address([3; 32]),
            first_receipt: 9,
            evidence: Evidence::Sums {
                path: vec![Opening { left: r.children[0], right: r.children[1], totals: r.totals }],
                children: Box::new([Opened::Leaf { leaf: l[0].clone() }, Opened::Empty]),
            },
        }
    }

    pub(crate) fn leaf_challenge() -> Challenge {
        let l = leaves(5, 2);
        Challenge {
            provider: Address([3; 32]),
            first_receipt: 0,
            evidence: Evidence::Leaf { leaf: l[3].clone(), proof: LeafProof::of(&l, 3).unwrap() },
        }
    }

    /// The widest settlement the gateway builds (1,024 receipts over 32 keys and 63 credited
    /// contributions) can still be challenged at its deepest node, in one transaction; any
    /// other transaction stays within the usual limit.
    #[test]
    fn the_deepest_evidence_fits_a_challenge_transaction() {
        use crate::{
            Transaction,
            limits::{CHALLENGE_TX_SIZE_MAX, TX_SIZE_MAX},
        };
        use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
        let l = leaves(1_024, 62);
        let proof = LeafProof::of(&l, 1_023).unwrap();
        assert_eq!(proof.steps.len(), 10);
        let challenge = Challenge {
            provider: Address([3; 32]),
            first_receipt: 0,
            evidence: Evidence::Leaf { leaf: l[1_023].clone(), proof },
        };
        let key = PrivateKey::from_seed(1);
        let signed = Transaction {
            chain_id: "x".parse().unwrap(),
            sender: Address::from_public_key(&key.public_key()),
            nonce: 0,
            fee: Amount(1),
            payload: crate::Payload::Usage(crate::usage::UsageOp::Challenge(Box::new(challenge))),
        }
        .sign(&key);
        let bytes = signed.to_bytes();
        assert!(
            bytes.len() > TX_SIZE_MAX && bytes.len() <= CHALLENGE_TX_SIZE_MAX,
            "{}",
            bytes.len()
        );
        // It pays the minimum for every started 8 KiB.
        let units = bytes.len().div_ceil(TX_SIZE_MAX) as u128;
        assert!(units >= 2);
        assert_eq!(signed.min_fee(Amount(1_000)), Amount(1_000 * units));
        assert_eq!(crate::tx::min_fee_for_size(1, Amount(7)), Amount(7));
        assert_eq!(crate::tx::min_fee_for_size(TX_SIZE_MAX, Amount(7)), Amount(7));
        assert_eq!(crate::tx::min_fee_for_size(TX_SIZE_MAX + 1, Amount(7)), Amount(14));
        assert_eq!(crate::SignedTx::decode_bytes(&bytes).unwrap(), signed);
    }

    /// A settlement that names the leaves' true children with inflated totals: the opened
    /// children show it.
    #[test]
    fn inflated_totals_over_true_children_are_shown_by_the_children() {
        for n in [1u64, 2, 3, 5, 8] {
            let l = leaves(n, 2);
            let r = root(&l).unwrap();
            let children = root_children(&l).unwrap();
            assert_eq!([children[0].digest(), children[1].digest()], r.children);
            let honest = Evidence::Sums {
                path: vec![Opening {
                    left: r.children[0],
                    right: r.children[1],
                    totals: r.totals.clone(),
                }],
                children: Box::new(children.clone()),
            };
            assert!(!honest.holds(&P, &r.digest, 0, u32::try_from(n).unwrap(), |_| None), "{n}");
            let mut inflated = r.totals.clone();
            inflated.charges[0].amount = Amount(inflated.charges[0].amount.0 + 1);
            let digest = node_digest(&r.children[0], &r.children[1], &inflated);
            let lie = Evidence::Sums {
                path: vec![Opening { left: r.children[0], right: r.children[1], totals: inflated }],
                children: Box::new(children),
            };
            assert!(lie.holds(&P, &digest, 0, u32::try_from(n).unwrap(), |_| None), "{n}");
        }
    }

    #[test]
    fn evidence_of_an_honest_tree_never_holds() {
        let l = leaves(7, 2);
        let r = root(&l).unwrap();
        let prices = |_| Some((Amount(1_000_000), Amount(1_000_000)));
        for i in 0..l.len() {
            let e = Evidence::Leaf { leaf: l[i].clone(), proof: LeafProof::of(&l, i).unwrap() };
            assert!(!e.holds(&P, &r.digest, 0, 7, prices));
            assert!(e.holds(&P, &r.digest, 1, 7, prices), "leaf {i} is not numbered 1 + {i}");
        }
        let e = Evidence::Leaf { leaf: l[2].clone(), proof: LeafProof::of(&l, 2).unwrap() };
        assert!(e.holds(&P, &r.digest, 0, 7, |_| Some((Amount(1), Amount(1)))), "over its price");
        assert!(!e.holds(&P, &sha256(&[b"other"]), 0, 7, |_| Some((Amount(1), Amount(1)))));
    }
}
