//! Contributions' data on chain: nothing is approved before a quorum of the active validators
//! reports its bytes held; lies about size or content and copies are refused with evidence;
//! data nobody holds is dropped at its deadline, so no version ever waits for it.
//!
//! Accounts 0 and 4 are validators (a set of two: the quorum is both); 1 owns the datanet,
//! 2 contributes, 3 is an outsider.

use crate::*;
use alx_state::ContributionStatus;
use alx_types::{
    ErrorCode,
    availability::{DATA_DEADLINE_BLOCKS, DataReport, DataVerdict, Refusal},
    datanet::{ContentRef, ContributionId, DatanetId, DatanetOp, DatanetSpec, MediaType, Policy},
    hash::sha256,
};

const STAKE: u128 = 100;

struct Chain {
    state: State,
    nonces: [u64; 5],
}

impl Chain {
    /// Two validators (0 and 4) and an open datanet with a near-duplicate threshold of 80%.
    fn new(policy: Policy) -> Self {
        let mut g = genesis();
        g.accounts.push(alx_state::GenesisAccount { address: addr(4), balance: Amount(1_000_000) });
        g.validators.push(alx_state::GenesisValidator {
            address: addr(4),
            stake: Amount(5000),
            p2p_addr: "127.0.0.1:2".parse().unwrap(),
        });
        let mut c = Self { state: State::from_genesis(&g).unwrap(), nonces: [0; 5] };
        let spec = DatanetSpec {
            name: "d".into(),
            description: String::new(),
            tags: vec![],
            license: "MIT".into(),
            policy,
            contribution_fee: Amount(0),
            contribution_stake: Amount(STAKE),
            daily_byte_cap: 0,
            curators: vec![],
            duplicate_threshold_bps: 8_000,
        };
        assert_eq!(c.send(1, Payload::Datanet(DatanetOp::Create(Box::new(spec)))), None);
        c
    }

    fn send(&mut self, from: u64, payload: Payload) -> Option<ErrorCode> {
        let nonce = self.nonces[from as usize];
        self.nonces[from as usize] += 1;
        let receipt = run(&mut self.state, &[tx(from, nonce, MIN_FEE, payload)]).remove(0);
        assert_eq!(total_held(&self.state), self.state.supply().unwrap().0, "supply moved");
        receipt.error
    }

    fn contribute(&mut self, seed: &str, size: u64) -> ContributionId {
        let id = ContributionId(self.state.datanet(DatanetId(0)).unwrap().unwrap().contributions);
        let content =
            ContentRef { hash: sha256(&[seed.as_bytes()]), size, media_type: MediaType::Text };
        assert_eq!(
            self.send(
                2,
                Payload::Datanet(DatanetOp::Contribute { datanet: DatanetId(0), content })
            ),
            None
        );
        id
    }

    fn report(&mut self, from: u64, id: ContributionId, verdict: DataVerdict) -> Option<ErrorCode> {
        self.send(
            from,
            attest(vec![DataReport { datanet: DatanetId(0), contribution: id, verdict }]),
        )
    }

    fn status(&self, id: ContributionId) -> ContributionStatus {
        self.state.contribution(DatanetId(0), id).unwrap().unwrap().status
    }

    fn balance(&self, who: u64) -> u128 {
        self.state.account(&addr(who)).unwrap().unwrap().balance.0
    }
}

fn held(text: &str, coverage_bps: u16, covered_by: Option<ContributionId>) -> DataVerdict {
    DataVerdict::Held {
        text_hash: sha256(&[text.as_bytes()]),
        coverage_bps,
        covered_by,
        against_version: 0,
    }
}

#[test]
fn a_quorum_of_validators_makes_data_held() {
    let mut c = Chain::new(Policy::Open);
    let id = c.contribute("a", 400);
    assert_eq!(c.status(id), ContributionStatus::AwaitingData);
    // An outsider's word counts for nothing.
    assert_eq!(c.report(3, id, held("a", 0, None)), Some(ErrorCode::NotActiveValidator));
    // One of two validators is not a quorum; reporting twice counts once.
    assert_eq!(c.report(0, id, held("a", 0, None)), None);
    assert_eq!(c.report(0, id, held("a", 0, None)), None);
    assert_eq!(c.status(id), ContributionStatus::AwaitingData);
    // A second validator with another verdict does not join the first's.
    let before = c.balance(2);
    assert_eq!(c.report(4, id, held("other", 0, None)), None);
    assert_eq!(c.status(id), ContributionStatus::AwaitingData);
    // Validator 4 reported already: its second word is ignored, so the quorum still waits.
    assert_eq!(c.report(4, id, held("a", 0, None)), None);
    assert_eq!(c.status(id), ContributionStatus::AwaitingData);
    assert_eq!(c.balance(2), before);
}

#[test]
fn agreed_verdicts_approve_or_refuse_with_evidence() {
    let mut c = Chain::new(Policy::Open);
    let agree = |c: &mut Chain, id, verdict| {
        assert_eq!(c.report(0, id, verdict), None);
        assert_eq!(c.report(4, id, verdict), None);
    };
    let a = c.contribute("a", 400);
    let contributor = c.balance(2);
    agree(&mut c, a, held("text a", 0, None));
    assert_eq!(c.status(a), ContributionStatus::Approved);
    assert_eq!(c.balance(2), contributor + STAKE, "approved: the stake is back");
    assert_eq!(c.state.datanet(DatanetId(0)).unwrap().unwrap().approved_bytes, 400);

    // Declared 10 bytes, really 180 KB: refused, the stake to the owner, no bytes counted.
    let small = c.contribute("small", 10);
    let owner = c.balance(1);
    assert_eq!(
        c.report(0, small, DataVerdict::WrongSize { actual: 10 }),
        Some(ErrorCode::BadReport),
        "a 'wrong' size equal to the declared one is a contradiction"
    );
    agree(&mut c, small, DataVerdict::WrongSize { actual: 180_000 });
    let refused = c.state.contribution(DatanetId(0), small).unwrap().unwrap();
    assert_eq!(refused.status, ContributionStatus::Refused);
    assert_eq!(refused.refusal, Some(Refusal::WrongSize { declared: 10, actual: 180_000 }));
    assert_eq!(c.balance(1), owner + STAKE);
    assert_eq!(c.state.datanet(DatanetId(0)).unwrap().unwrap().approved_bytes, 400);

    // The same text with other whitespace or line endings: a duplicate of `a`.
    let copy = c.contribute("a with crlf", 410);
    agree(&mut c, copy, held("text a", 10_000, Some(a)));
    let refused = c.state.contribution(DatanetId(0), copy).unwrap().unwrap();
    assert_eq!(refused.refusal, Some(Refusal::Duplicate { of: a }));

    // 95% held already: a near-duplicate, with the coverage and its main source.
    let near = c.contribute("near", 300);
    agree(&mut c, near, held("text near", 9_500, Some(a)));
    let refused = c.state.contribution(DatanetId(0), near).unwrap().unwrap();
    assert_eq!(
        refused.refusal,
        Some(Refusal::NearDuplicate {
            coverage_bps: 9_500,
            covered_by: Some(a),
            against_version: 0
        })
    );
    // Not text at all.
    let junk = c.contribute("junk", 50);
    agree(&mut c, junk, DataVerdict::Unreadable);
    assert_eq!(
        c.state.contribution(DatanetId(0), junk).unwrap().unwrap().refusal,
        Some(Refusal::Unreadable)
    );
    // A refused content may be offered again (fixed), and a refused copy holds no text slot.
    let again = c.contribute("small", 10);
    agree(&mut c, again, held("text small", 0, None));
    assert_eq!(c.status(again), ContributionStatus::Approved);
    assert_eq!(c.state.datanet_stake_locked().unwrap(), Amount::ZERO);
}

#[test]
fn reports_name_the_version_the_contribution_was_offered_against() {
    let mut c = Chain::new(Policy::Open);
    let a = c.contribute("a", 100);
    let later = DataVerdict::Held {
        text_hash: sha256(&[b"a"]),
        coverage_bps: 0,
        covered_by: None,
        against_version: 3,
    };
    assert_eq!(c.report(0, a, later), Some(ErrorCode::BadReport));
    assert_eq!(c.report(0, ContributionId(99), held("x", 0, None)), Some(ErrorCode::BadReport));
}

#[test]
fn data_nobody_holds_is_dropped_at_its_deadline() {
    let mut c = Chain::new(Policy::Open);
    let ghost = c.contribute("ghost", 100);
    let submitted = c.state.height().unwrap();
    let contributor = c.balance(2);
    assert_eq!(c.report(0, ghost, held("ghost", 0, None)), None);
    while c.state.height().unwrap() < submitted.saturating_add(DATA_DEADLINE_BLOCKS) {
        run(&mut c.state, &[]);
    }
    assert_eq!(c.status(ghost), ContributionStatus::Unavailable);
    assert_eq!(c.balance(2), contributor + STAKE, "nobody proved a lie: the stake goes back");
    assert!(c.state.awaiting_data().unwrap().is_empty());
    // A late report changes nothing, and nothing waits: the datanet publishes what it holds.
    assert_eq!(c.report(4, ghost, held("ghost", 0, None)), None);
    assert_eq!(c.status(ghost), ContributionStatus::Unavailable);
    assert_eq!(
        c.send(1, Payload::Datanet(DatanetOp::PublishVersion { datanet: DatanetId(0) })),
        Some(ErrorCode::NothingToPublish)
    );
    let id = c.contribute("real", 100);
    for v in [0, 4] {
        assert_eq!(c.report(v, id, held("real", 0, None)), None);
    }
    assert_eq!(
        c.send(1, Payload::Datanet(DatanetOp::PublishVersion { datanet: DatanetId(0) })),
        None
    );
    let contents = c.state.version_contents(DatanetId(0), 1).unwrap();
    assert_eq!(contents.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![id]);
}

#[test]
fn the_owner_removes_what_awaits_its_data_and_review_waits_for_it() {
    let mut c = Chain::new(Policy::Approval);
    let a = c.contribute("a", 100);
    let review = Payload::Datanet(DatanetOp::Review {
        datanet: DatanetId(0),
        contribution: a,
        approve: true,
    });
    assert_eq!(c.send(1, review), Some(ErrorCode::NotPending));
    let remove = Payload::Datanet(DatanetOp::Remove { datanet: DatanetId(0), contribution: a });
    assert_eq!(c.send(3, remove.clone()), Some(ErrorCode::NotCurator));
    let contributor = c.balance(2);
    assert_eq!(c.send(1, remove.clone()), None);
    assert_eq!(c.status(a), ContributionStatus::Removed);
    assert_eq!(c.balance(2), contributor + STAKE);
    assert_eq!(c.send(1, remove), Some(ErrorCode::NotPending));
    // In an approval datanet, held data goes to review, not straight in.
    let b = c.contribute("b", 100);
    for v in [0, 4] {
        assert_eq!(c.report(v, b, held("b", 0, None)), None);
    }
    assert_eq!(c.status(b), ContributionStatus::Pending);
    let review = Payload::Datanet(DatanetOp::Review {
        datanet: DatanetId(0),
        contribution: b,
        approve: true,
    });
    assert_eq!(c.send(1, review), None);
    assert_eq!(c.status(b), ContributionStatus::Approved);
}
