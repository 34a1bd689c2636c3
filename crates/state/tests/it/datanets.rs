//! Datanets: rules, money and versions. Account 1 owns, 2 contributes, 3 curates; fees go to
//! the proposer, account 0.

use crate::*;
use alx_state::{ContributionStatus, contribution_leaf};
use alx_types::{
    ErrorCode, TxStatus,
    datanet::{
        BLOCKS_PER_DAY, ContentRef, ContributionId, DatanetId, DatanetOp, DatanetSpec, MediaType,
        Policy,
    },
    hash::sha256,
    merkle::list_root,
};

const FEE: u128 = 5;
const STAKE: u128 = 100;

fn spec(policy: Policy) -> DatanetSpec {
    DatanetSpec {
        name: "move-contracts".into(),
        description: "Audited Move smart contracts".into(),
        tags: vec!["move".into()],
        license: "Apache-2.0".into(),
        policy,
        contribution_fee: Amount(FEE),
        contribution_stake: Amount(STAKE),
        daily_byte_cap: 1000,
        curators: vec![addr(3)],
        duplicate_threshold_bps: 8_000,
    }
}

fn content(seed: &str, size: u64) -> ContentRef {
    ContentRef { hash: sha256(&[seed.as_bytes()]), size, media_type: MediaType::Code }
}

/// Runs one transaction and returns its receipt, checking the supply after it.
struct Chain {
    state: State,
    nonces: [u64; 5],
}

impl Chain {
    fn new() -> Self {
        // A fifth funded account, for an outsider (rich enough to dispute a flag).
        let mut g = genesis();
        g.accounts.push(alx_state::GenesisAccount { address: addr(4), balance: Amount(1 << 50) });
        Self { state: State::from_genesis(&g).unwrap(), nonces: [0; 5] }
    }

    fn send(&mut self, from: u64, op: DatanetOp) -> Option<ErrorCode> {
        self.send_payload(from, Payload::Datanet(op))
    }

    fn send_payload(&mut self, from: u64, payload: Payload) -> Option<ErrorCode> {
        let nonce = self.nonces[from as usize];
        self.nonces[from as usize] += 1;
        let receipt = run(&mut self.state, &[tx(from, nonce, MIN_FEE, payload)]).remove(0);
        assert_eq!(total_held(&self.state), self.state.supply().unwrap().0, "supply moved");
        assert_eq!(receipt.status == TxStatus::Success, receipt.error.is_none());
        receipt.error
    }

    fn balance(&self, who: u64) -> u128 {
        self.state.account(&addr(who)).unwrap().unwrap().balance.0
    }

    /// The validator (account 0, the whole active set) reports contribution `id`'s data held.
    fn hold(&mut self, id: ContributionId) {
        let report = held(&self.state, DatanetId(0), id);
        assert_eq!(self.send_payload(0, attest(vec![report])), None);
    }

    /// Fails with `code`, changing nothing but the sender's fee and nonce.
    fn refused(&mut self, from: u64, op: DatanetOp, code: ErrorCode) {
        let before: Vec<u128> = (1..5).map(|i| self.balance(i)).collect();
        assert_eq!(self.send(from, op), Some(code));
        for (i, b) in (1..5).zip(before) {
            let expected = if i == from { b - MIN_FEE } else { b };
            assert_eq!(self.balance(i), expected, "account {i} after {code:?}");
        }
    }
}

#[test]
fn approval_datanet_fees_stakes_reviews_and_versions() {
    let mut c = Chain::new();
    assert_eq!(c.send(1, DatanetOp::Create(Box::new(spec(Policy::Approval)))), None);
    let d = c.state.datanet(DatanetId(0)).unwrap().unwrap();
    assert_eq!((d.owner, d.version, d.contributions), (addr(1), 0, 0));

    let (owner, contributor) = (c.balance(1), c.balance(2));
    let a = content("a", 400);
    assert_eq!(c.send(2, DatanetOp::Contribute { datanet: DatanetId(0), content: a }), None);
    assert_eq!(c.balance(1), owner + FEE, "the fee goes to the owner");
    assert_eq!(c.balance(2), contributor - MIN_FEE - FEE - STAKE, "the stake is locked");
    assert_eq!(c.state.datanet_stake_locked().unwrap(), Amount(STAKE));
    c.refused(
        2,
        DatanetOp::Contribute { datanet: DatanetId(0), content: a },
        ErrorCode::DuplicateContent,
    );
    // Nobody reviews bytes nobody has seen: it awaits its data first.
    c.refused(
        3,
        DatanetOp::Review { datanet: DatanetId(0), contribution: ContributionId(0), approve: true },
        ErrorCode::NotPending,
    );
    c.hold(ContributionId(0));
    assert_eq!(
        c.state.contribution(DatanetId(0), ContributionId(0)).unwrap().unwrap().status,
        ContributionStatus::Pending
    );

    // Only the owner and curators review; a contributor cannot approve their own.
    c.refused(
        2,
        DatanetOp::Review { datanet: DatanetId(0), contribution: ContributionId(0), approve: true },
        ErrorCode::NotCurator,
    );
    let contributor = c.balance(2);
    assert_eq!(
        c.send(
            3,
            DatanetOp::Review {
                datanet: DatanetId(0),
                contribution: ContributionId(0),
                approve: true
            }
        ),
        None
    );
    assert_eq!(c.balance(2), contributor + STAKE, "approval returns the stake");
    assert_eq!(
        c.state.contribution(DatanetId(0), ContributionId(0)).unwrap().unwrap().status,
        ContributionStatus::Approved
    );
    c.refused(
        3,
        DatanetOp::Review {
            datanet: DatanetId(0),
            contribution: ContributionId(0),
            approve: false,
        },
        ErrorCode::NotPending,
    );

    // A rejected contribution's stake goes to the owner; the content may come back later.
    let b = content("b", 100);
    assert_eq!(c.send(2, DatanetOp::Contribute { datanet: DatanetId(0), content: b }), None);
    c.hold(ContributionId(1));
    let owner = c.balance(1);
    assert_eq!(
        c.send(
            1,
            DatanetOp::Review {
                datanet: DatanetId(0),
                contribution: ContributionId(1),
                approve: false
            }
        ),
        None
    );
    assert_eq!(c.balance(1), owner - MIN_FEE + STAKE);
    assert_eq!(c.send(2, DatanetOp::Contribute { datanet: DatanetId(0), content: b }), None);

    // Withdrawal: only by the contributor, only while pending; the stake comes back.
    c.refused(
        4,
        DatanetOp::Withdraw { datanet: DatanetId(0), contribution: ContributionId(2) },
        ErrorCode::NotContributor,
    );
    let contributor = c.balance(2);
    assert_eq!(
        c.send(2, DatanetOp::Withdraw { datanet: DatanetId(0), contribution: ContributionId(2) }),
        None
    );
    assert_eq!(c.balance(2), contributor - MIN_FEE + STAKE);
    assert_eq!(c.state.datanet_stake_locked().unwrap(), Amount::ZERO);

    // Versions: only the owner; a root over every approved contribution; never empty twice.
    c.refused(3, DatanetOp::PublishVersion { datanet: DatanetId(0) }, ErrorCode::NotCurator);
    assert_eq!(c.send(1, DatanetOp::PublishVersion { datanet: DatanetId(0) }), None);
    let c0 = c.state.contribution(DatanetId(0), ContributionId(0)).unwrap().unwrap();
    let v1 = c.state.datanet_version(DatanetId(0), 1).unwrap().unwrap();
    assert_eq!(v1.root, list_root(&[contribution_leaf(ContributionId(0), &c0)]));
    assert_eq!((v1.contributions, v1.bytes), (1, 400));
    c.refused(1, DatanetOp::PublishVersion { datanet: DatanetId(0) }, ErrorCode::NothingToPublish);

    let e = content("e", 50);
    assert_eq!(c.send(4, DatanetOp::Contribute { datanet: DatanetId(0), content: e }), None);
    c.hold(ContributionId(3));
    assert_eq!(
        c.send(
            1,
            DatanetOp::Review {
                datanet: DatanetId(0),
                contribution: ContributionId(3),
                approve: true
            }
        ),
        None
    );
    assert_eq!(c.send(1, DatanetOp::PublishVersion { datanet: DatanetId(0) }), None);
    let c3 = c.state.contribution(DatanetId(0), ContributionId(3)).unwrap().unwrap();
    let v2 = c.state.datanet_version(DatanetId(0), 2).unwrap().unwrap();
    // Version 2 still holds version 1's contribution.
    assert_eq!(
        v2.root,
        list_root(&[
            contribution_leaf(ContributionId(0), &c0),
            contribution_leaf(ContributionId(3), &c3)
        ])
    );
    assert_eq!((v2.contributions, v2.bytes), (2, 450));
    assert_eq!(
        c.state.datanet_version(DatanetId(0), 1).unwrap().unwrap(),
        v1,
        "old versions never change"
    );
    // Every version's contents can be rebuilt from the state, and hash to its root.
    for (version, expected) in [(1, v1.root), (2, v2.root)] {
        let leaves: Vec<_> = c
            .state
            .version_contents(DatanetId(0), version)
            .unwrap()
            .iter()
            .map(|(id, c)| contribution_leaf(*id, c))
            .collect();
        assert_eq!(list_root(&leaves), expected, "version {version}");
    }
    assert_eq!((c0.first_version, c3.first_version), (1, 2));

    // Near-duplicates: flagged by owner or curator, naming the earlier approved contribution
    // copied; kept, marked.
    let flag = |contribution: u64, copies: u64| DatanetOp::FlagNearDuplicate {
        datanet: DatanetId(0),
        contribution: ContributionId(contribution),
        copies: ContributionId(copies),
    };
    c.refused(2, flag(3, 0), ErrorCode::NotCurator);
    c.refused(3, flag(2, 0), ErrorCode::NotPending);
    c.refused(3, flag(3, 3), ErrorCode::BadOriginal);
    c.refused(3, flag(0, 3), ErrorCode::BadOriginal);
    c.refused(3, flag(3, 2), ErrorCode::BadOriginal);
    c.refused(3, flag(3, 9), ErrorCode::UnknownContribution);
    assert_eq!(c.send(3, flag(3, 0)), None);
    let flagged = c.state.contribution(DatanetId(0), ContributionId(3)).unwrap().unwrap();
    assert!(flagged.near_duplicate);
    assert_eq!(flagged.copy_of, Some(ContributionId(0)));
    assert_eq!(flagged.status, ContributionStatus::Approved);

    // The flag is disputed: the validators' verdict decides. An unflagged contribution has no
    // flag to dispute. Guilty (the flag does not hold): it is lifted, the bond returns.
    use alx_types::{
        dispute::{DISPUTE_BOND, Verdict},
        usage::UsageOp,
    };
    let dispute = |contribution: u64| DatanetOp::DisputeFlag {
        datanet: DatanetId(0),
        contribution: ContributionId(contribution),
    };
    c.refused(4, dispute(0), ErrorCode::DisputeRejected);
    c.refused(4, dispute(9), ErrorCode::UnknownContribution);
    let before = c.balance(4);
    assert_eq!(c.send(4, dispute(3)), None);
    assert_eq!(c.balance(4), before - MIN_FEE - DISPUTE_BOND.0);
    let vote = |guilty| Payload::Usage(UsageOp::Verdicts(vec![Verdict { dispute: 0, guilty }]));
    assert_eq!(c.send_payload(4, vote(true)), Some(ErrorCode::NotActiveValidator));
    assert_eq!(c.send_payload(0, vote(true)), None);
    let lifted = c.state.contribution(DatanetId(0), ContributionId(3)).unwrap().unwrap();
    assert!(!lifted.near_duplicate && lifted.copy_of.is_none(), "{lifted:?}");
    assert_eq!(c.balance(4), before - 2 * MIN_FEE);
    // Flagged again, disputed again, found to hold: the flag stays, the bond goes to the fund.
    assert_eq!(c.send(3, flag(3, 0)), None);
    assert_eq!(c.send(4, dispute(3)), None);
    let fund = c.state.amount_global(alx_state::emission::PROTECTION_FUND).unwrap().0;
    assert_eq!(
        c.send_payload(
            0,
            Payload::Usage(UsageOp::Verdicts(vec![Verdict { dispute: 1, guilty: false }]))
        ),
        None
    );
    assert_eq!(
        c.state.amount_global(alx_state::emission::PROTECTION_FUND).unwrap().0,
        fund + DISPUTE_BOND.0
    );
    assert!(c.state.contribution(DatanetId(0), ContributionId(3)).unwrap().unwrap().near_duplicate);
}

#[test]
fn open_datanet_approves_once_held_and_caps_daily_bytes() {
    let mut c = Chain::new();
    assert_eq!(c.send(1, DatanetOp::Create(Box::new(spec(Policy::Open)))), None);
    let contributor = c.balance(2);
    assert_eq!(
        c.send(2, DatanetOp::Contribute { datanet: DatanetId(0), content: content("a", 600) }),
        None
    );
    assert_eq!(c.balance(2), contributor - MIN_FEE - FEE - STAKE, "the stake waits for the data");
    let c0 = c.state.contribution(DatanetId(0), ContributionId(0)).unwrap().unwrap();
    assert_eq!(c0.status, ContributionStatus::AwaitingData);
    assert_eq!(
        c.state.datanet(DatanetId(0)).unwrap().unwrap().approved_bytes,
        0,
        "unheld bytes count nothing"
    );
    c.hold(ContributionId(0));
    assert_eq!(c.balance(2), contributor - MIN_FEE - FEE, "approved once held: the stake is back");
    assert_eq!(
        c.state.contribution(DatanetId(0), ContributionId(0)).unwrap().unwrap().status,
        ContributionStatus::Approved
    );
    assert_eq!(c.state.datanet(DatanetId(0)).unwrap().unwrap().approved_bytes, 600);
    // 600 + 500 > the cap of 1000 bytes a day.
    c.refused(
        2,
        DatanetOp::Contribute { datanet: DatanetId(0), content: content("b", 500) },
        ErrorCode::DailyCapExceeded,
    );
    assert_eq!(
        c.send(2, DatanetOp::Contribute { datanet: DatanetId(0), content: content("b", 400) }),
        None
    );
    // Another account has its own cap.
    assert_eq!(
        c.send(3, DatanetOp::Contribute { datanet: DatanetId(0), content: content("c", 900) }),
        None
    );
    // The next day the cap starts over.
    while c.state.height().unwrap().0 < BLOCKS_PER_DAY {
        run(&mut c.state, &[]);
    }
    assert_eq!(
        c.send(2, DatanetOp::Contribute { datanet: DatanetId(0), content: content("d", 900) }),
        None
    );
}

#[test]
fn bad_datanets_and_unknown_ids_fail_cleanly() {
    let mut c = Chain::new();
    for bad in [
        DatanetSpec { name: "Move!".into(), ..spec(Policy::Open) },
        DatanetSpec { license: "MIT\u{0}".into(), ..spec(Policy::Open) },
        DatanetSpec { tags: vec!["Tag".into()], ..spec(Policy::Open) },
        DatanetSpec { curators: vec![addr(3), addr(3)], ..spec(Policy::Open) },
    ] {
        c.refused(1, DatanetOp::Create(Box::new(bad)), ErrorCode::BadDatanetField);
    }
    assert_eq!(c.state.datanet_count().unwrap(), 0);
    c.refused(
        2,
        DatanetOp::Contribute { datanet: DatanetId(9), content: content("a", 1) },
        ErrorCode::UnknownDatanet,
    );
    assert_eq!(c.send(1, DatanetOp::Create(Box::new(spec(Policy::Approval)))), None);
    c.refused(
        2,
        DatanetOp::Contribute { datanet: DatanetId(0), content: content("a", 0) },
        ErrorCode::BadContribution,
    );
    c.refused(
        1,
        DatanetOp::Review { datanet: DatanetId(0), contribution: ContributionId(7), approve: true },
        ErrorCode::UnknownContribution,
    );
    // A contributor who cannot pay the fee and the stake: refused, nothing locked.
    let poor = 4;
    let keep = MIN_FEE + FEE + STAKE - 1;
    let give = c.balance(poor) - MIN_FEE - keep;
    assert_eq!(c.send_payload(poor, Payload::Transfer { to: addr(2), amount: Amount(give) }), None);
    c.refused(
        poor,
        DatanetOp::Contribute { datanet: DatanetId(0), content: content("p", 1) },
        ErrorCode::InsufficientFunds,
    );
    assert_eq!(c.state.datanet_stake_locked().unwrap(), Amount::ZERO);
    assert_eq!(c.state.datanet(DatanetId(0)).unwrap().unwrap().contributions, 0);
}
