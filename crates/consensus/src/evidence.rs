//! Turns simplex's reports of conflicting votes (`ConflictingNotarize`, `ConflictingFinalize`)
//! into equivocation evidence the chain checks by itself (`alx_types::equivocation`), and
//! submits it from this validator's account: the equivocator's own stake is slashed, half of it
//! to this validator.

use alx_ledger::Ledger;
use alx_types::{
    Address, Hash,
    equivocation::{Equivocation, SignedVote, VoteKind},
    tx::Payload,
};
use commonware_actor::Feedback;
use commonware_codec::{Encode as _, ReadExt as _};
use commonware_consensus::{
    Reporter,
    simplex::{
        scheme::ed25519::Scheme,
        types::{Activity, Finalize, Notarize},
    },
};
use commonware_cryptography::ed25519::{PrivateKey, PublicKey};
use commonware_utils::ordered::Set;
use std::sync::Arc;
use tracing::{info, warn};

/// The evidence in a simplex activity, if it reports conflicting votes. `participants` is the
/// epoch's validator set in simplex's order (the attestation names its signer by index).
#[must_use]
pub fn evidence(
    activity: &Activity<Scheme, Hash>,
    participants: &Set<PublicKey>,
) -> Option<Equivocation> {
    let (kind, bytes) = match activity {
        Activity::ConflictingNotarize(c) => (VoteKind::Notarize, c.encode()),
        Activity::ConflictingFinalize(c) => (VoteKind::Finalize, c.encode()),
        _ => return None,
    };
    // Both votes are encoded back to back; their fields are public once read.
    let mut buf = commonware_codec::Copying(bytes.as_ref());
    let mut vote = || -> Option<(usize, SignedVote)> {
        let (proposal, attestation) = match kind {
            VoteKind::Notarize => {
                let v = Notarize::<Scheme, Hash>::read(&mut buf).ok()?;
                (v.proposal, v.attestation)
            }
            VoteKind::Finalize => {
                let v = Finalize::<Scheme, Hash>::read(&mut buf).ok()?;
                (v.proposal, v.attestation)
            }
        };
        let signer = usize::from(attestation.signer);
        let signature = attestation.signature.encode().to_vec();
        Some((signer, SignedVote { proposal: proposal.encode().to_vec(), signature }))
    };
    let ((signer, a), (other, b)) = (vote()?, vote()?);
    if signer != other {
        return None;
    }
    let key = participants.iter().nth(signer)?;
    Some(Equivocation { validator: Address::from_public_key(key), kind, a, b })
}

/// Reports conflicting votes to the chain (every other activity is ignored).
#[derive(Clone)]
pub(crate) struct EvidenceReporter {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) signer: PrivateKey,
    pub(crate) participants: Set<PublicKey>,
}

impl Reporter for EvidenceReporter {
    type Activity = Activity<Scheme, Hash>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        let Some(e) = evidence(&activity, &self.participants) else { return Feedback::Ok };
        // Once the equivocator's own stake is gone, later rounds' evidence would only fail.
        let own = self.ledger.committed().state.delegation(&e.validator, &e.validator);
        if own.is_ok_and(|a| a.is_zero()) {
            return Feedback::Ok;
        }
        // Checked as the chain will check it, so this validator never pays for a refusal.
        let Ok((epoch, view)) = e.verify() else {
            warn!("conflicting votes reported by the engine do not verify; not submitted");
            return Feedback::Ok;
        };
        let validator = e.validator;
        let payload = Payload::ReportEquivocation(Box::new(e));
        match alx_ledger::ChainView::submit_own(self.ledger.as_ref(), &self.signer, payload) {
            Ok(tx) => {
                info!(%validator, epoch, view, tx = %alx_types::hash::to_hex(&tx), "equivocation reported");
            }
            Err(err) => warn!(%validator, epoch, view, %err, "cannot submit equivocation evidence"),
        }
        Feedback::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alx_types::NAMESPACE_CONSENSUS;
    use commonware_consensus::{
        simplex::types::{ConflictingFinalize, ConflictingNotarize, Proposal},
        types::{Epoch, Round, View},
    };
    use commonware_cryptography::Signer as _;

    fn setup() -> (Vec<PrivateKey>, Set<PublicKey>) {
        let keys: Vec<PrivateKey> = (0..4).map(PrivateKey::from_seed).collect();
        let participants = Set::try_from(keys.iter().map(|k| k.public_key()).collect::<Vec<_>>())
            .expect("distinct keys");
        (keys, participants)
    }

    fn proposal(payload: &[u8]) -> Proposal<Hash> {
        Proposal::new(
            Round::new(Epoch::new(3), View::new(11)),
            View::new(10),
            alx_types::hash::sha256(&[payload]),
        )
    }

    /// Votes signed by simplex itself become evidence our chain accepts: same encoding, same
    /// namespaces, the signer resolved to its address.
    #[test]
    fn simplex_conflicts_become_evidence_the_chain_accepts() {
        let (keys, participants) = setup();
        let me = &keys[2];
        let index = participants.iter().position(|k| *k == me.public_key()).unwrap();
        let scheme = Scheme::signer(NAMESPACE_CONSENSUS, participants.clone(), me.clone()).unwrap();
        let f1 = Finalize::sign(&scheme, proposal(b"a")).unwrap();
        let f2 = Finalize::sign(&scheme, proposal(b"b")).unwrap();
        let finalize = Activity::ConflictingFinalize(ConflictingFinalize::new(f1, f2));
        let e = evidence(&finalize, &participants).expect("evidence");
        assert_eq!(
            e.validator,
            Address::from_public_key(&participants.iter().nth(index).unwrap().clone())
        );
        assert_eq!(e.kind, VoteKind::Finalize);
        assert_eq!(e.verify(), Ok((3, 11)));
        let n1 = Notarize::sign(&scheme, proposal(b"a")).unwrap();
        let n2 = Notarize::sign(&scheme, proposal(b"b")).unwrap();
        let notarize = Activity::ConflictingNotarize(ConflictingNotarize::new(n1, n2));
        let e = evidence(&notarize, &participants).expect("evidence");
        assert_eq!(e.kind, VoteKind::Notarize);
        assert_eq!(e.verify(), Ok((3, 11)));
        // A single vote is no evidence.
        let single = Activity::Notarize(Notarize::sign(&scheme, proposal(b"a")).unwrap());
        assert!(evidence(&single, &participants).is_none());
    }
}
