//! The validator's key file: the ed25519 key that signs votes, authenticates p2p connections
//! and receives block fees. Stored as JSON with mode 0600, like the consensus keys of other
//! chains: a validator must sign without a human typing a passphrase.

use alx_types::Address;
use anyhow::{Context as _, bail};
use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::{Signer as _, ed25519::PrivateKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    address: Address,
    private_key: String,
}

/// Writes a new key file; refuses to overwrite one.
pub fn write(path: &Path, key: &PrivateKey) -> anyhow::Result<()> {
    if path.exists() {
        bail!("{} already exists; refusing to overwrite a validator key", path.display());
    }
    let file = KeyFile {
        address: Address::from_public_key(&key.public_key()),
        private_key: hex::encode(key.encode()),
    };
    let text = serde_json::to_string_pretty(&file)?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Reads a key file and checks that its address matches its key.
pub fn read(path: &Path) -> anyhow::Result<PrivateKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read validator key {}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a validator key file", path.display()))?;
    let bytes = hex::decode(&file.private_key)
        .with_context(|| format!("{}: private_key is not hex", path.display()))?;
    let key = PrivateKey::decode(bytes).map_err(|e| {
        anyhow::anyhow!("{}: private_key is not an ed25519 key: {e}", path.display())
    })?;
    if Address::from_public_key(&key.public_key()) != file.address {
        bail!("{}: address does not match the private key", path.display());
    }
    Ok(key)
}
