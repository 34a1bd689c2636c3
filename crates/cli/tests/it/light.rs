//! The light client against a real node: the finalization certificates the consensus engine
//! assembled verify against the validators of the home's genesis file, with alx-light's own
//! reading of the message, namespace and quorum; and what a lying node could alter is refused.

use crate::*;
use alx_types::Height;

#[test]
fn a_nodes_certificates_verify_against_its_genesis_validators() {
    let home = tempfile::tempdir().unwrap();
    let node = Node::up(home.path(), free_port(), free_port());
    node.wait_height(4, Duration::from_secs(60));
    let text = std::fs::read_to_string(home.path().join("genesis.json")).unwrap();
    let genesis: alx_state::Genesis = serde_json::from_str(&text).unwrap();
    let set =
        alx_light::ValidatorSet::new(0, genesis.validators.iter().map(|v| v.address)).unwrap();
    let client = node.client();
    for height in 1..=3 {
        let proof = client.finalization(Height(height)).unwrap();
        assert_eq!(proof.height, Height(height));
        let headers: Vec<Vec<u8>> = proof.headers.iter().map(|h| hex::decode(h).unwrap()).collect();
        let certificate = hex::decode(&proof.certificate).unwrap();
        let verified = alx_light::verify_finalization(&set, &headers, &certificate)
            .unwrap_or_else(|e| panic!("height {height}: {e}"));
        assert_eq!(verified[0].height, Height(height));
        // The header the node serves at that height is the one proven final.
        let block = client.block(&height.to_string()).unwrap();
        assert_eq!(alx_types::hash::to_hex(&verified[0].state_root), block.header.state_root);

        // What a lying node could change: the state root, the certificate's signatures.
        let mut altered = headers.clone();
        let last = altered.len() - 1;
        let at = altered[last].len() - 1; // the state root's last byte
        altered[last][at] ^= 1;
        assert!(alx_light::verify_finalization(&set, &altered, &certificate).is_err());
        let mut forged = certificate.clone();
        let at = forged.len() - 1;
        forged[at] ^= 1;
        assert!(alx_light::verify_finalization(&set, &headers, &forged).is_err());
    }
    // The genesis block needs no certificate; a height not yet committed has none.
    assert!(client.finalization(Height(0)).is_err());
    assert!(client.finalization(Height(1_000_000)).unwrap_err().is_not_found());
}
