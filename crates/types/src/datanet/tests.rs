//! Codec round trips and limits of datanet operations.
use super::*;
use commonware_codec::{DecodeExt as _, Encode as _};

pub(crate) fn spec() -> DatanetSpec {
    DatanetSpec {
        name: "move-contracts".into(),
        description: "Audited Move smart contracts".into(),
        tags: vec!["move".into(), "smart-contracts".into()],
        license: "Apache-2.0".into(),
        policy: Policy::Approval,
        contribution_fee: Amount(5),
        contribution_stake: Amount(100),
        daily_byte_cap: 1 << 20,
        curators: vec![Address([3; 32])],
        duplicate_threshold_bps: 8_000,
    }
}

#[test]
fn every_op_round_trips_and_truncations_fail() {
    let ops = [
        DatanetOp::Create(Box::new(spec())),
        DatanetOp::Contribute {
            datanet: DatanetId(7),
            content: ContentRef {
                hash: crate::hash::sha256(&[b"c"]),
                size: 42,
                media_type: MediaType::Jsonl,
            },
        },
        DatanetOp::Review { datanet: DatanetId(7), contribution: ContributionId(3), approve: true },
        DatanetOp::Withdraw { datanet: DatanetId(7), contribution: ContributionId(3) },
        DatanetOp::PublishVersion { datanet: DatanetId(7) },
        DatanetOp::FlagNearDuplicate {
            datanet: DatanetId(7),
            contribution: ContributionId(3),
            copies: ContributionId(1),
        },
        DatanetOp::Remove { datanet: DatanetId(7), contribution: ContributionId(3) },
        DatanetOp::DisputeFlag { datanet: DatanetId(7), contribution: ContributionId(3) },
        DatanetOp::Attest {
            reports: vec![
                crate::availability::DataReport {
                    datanet: DatanetId(7),
                    contribution: ContributionId(3),
                    verdict: crate::availability::DataVerdict::Unreadable,
                };
                REPORTS_PER_TX_MAX
            ],
        },
    ];
    for op in ops {
        let bytes = op.encode();
        assert_eq!(bytes.len(), op.encode_size(), "{}", op.kind());
        assert_eq!(DatanetOp::decode(bytes.clone()).unwrap(), op);
        for cut in 0..bytes.len() {
            assert!(
                DatanetOp::decode(commonware_codec::Copying(&bytes[..cut])).is_err(),
                "{} cut {cut}",
                op.kind()
            );
        }
    }
}

#[test]
fn oversized_fields_and_bad_tags_are_refused() {
    let mut long = spec();
    long.name = "x".repeat(NAME_LEN_MAX + 1);
    assert!(DatanetOp::decode(DatanetOp::Create(Box::new(long)).encode()).is_err());
    let mut many = spec();
    many.tags = vec!["t".into(); TAGS_MAX + 1];
    assert!(DatanetOp::decode(DatanetOp::Create(Box::new(many)).encode()).is_err());
    let content = DatanetOp::Contribute {
        datanet: DatanetId(1),
        content: ContentRef { hash: crate::hash::ZERO, size: 1, media_type: MediaType::Text },
    };
    let mut bytes = content.encode().to_vec();
    let last = bytes.len() - 1;
    bytes[last] = 9; // media type
    assert!(DatanetOp::decode(commonware_codec::Copying(&bytes[..])).is_err());
    assert!(DatanetOp::decode(commonware_codec::Copying(&[8u8][..])).is_err());
}

#[test]
fn the_largest_create_fits_in_a_transaction() {
    use crate::{Transaction, limits::TX_SIZE_MAX};
    use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
    let spec = DatanetSpec {
        name: "n".repeat(NAME_LEN_MAX),
        description: "d".repeat(DESCRIPTION_LEN_MAX),
        tags: vec!["t".repeat(TAG_LEN_MAX); TAGS_MAX],
        license: "l".repeat(LICENSE_LEN_MAX),
        curators: vec![Address([1; 32]); CURATORS_MAX],
        ..spec()
    };
    let key = PrivateKey::from_seed(1);
    let signed = Transaction {
        chain_id: "x".repeat(crate::limits::CHAIN_ID_LEN_MAX).parse().unwrap(),
        sender: Address::from_public_key(&key.public_key()),
        nonce: u64::MAX,
        fee: Amount(u128::MAX),
        payload: crate::Payload::Datanet(DatanetOp::Create(Box::new(spec))),
    }
    .sign(&key);
    let bytes = signed.to_bytes();
    assert!(bytes.len() <= TX_SIZE_MAX, "{} bytes", bytes.len());
    assert_eq!(crate::SignedTx::decode_bytes(&bytes).unwrap(), signed);
}
