//! Argon2id parameters: the cost of turning a passphrase into an encryption key.
//!
//! The parameters are stored in every key file, so a file written with one setting is still
//! read after the default changes. Because a file is hostile input, the parameters read from one
//! are bounded ([`KdfParams::M_COST_MAX_KIB`] and friends) before any memory is allocated.

use crate::error::{KeystoreError, Result};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl KdfParams {
    /// The OWASP minimum for Argon2id: 19 MiB of memory, 2 passes, 1 lane. Used for every new
    /// key unless the keystore is told otherwise.
    pub const RECOMMENDED: Self = Self { m_cost_kib: 19 * 1024, t_cost: 2, p_cost: 1 };

    /// The most memory a key file may ask for: 1 GiB.
    pub const M_COST_MAX_KIB: u32 = 1024 * 1024;
    /// The most passes a key file may ask for.
    pub const T_COST_MAX: u32 = 16;
    /// The most lanes a key file may ask for.
    pub const P_COST_MAX: u32 = 16;

    /// Parameters with `m_cost_kib` KiB of memory, `t_cost` passes and `p_cost` lanes.
    ///
    /// Values far below [`KdfParams::RECOMMENDED`] are accepted so tests can run fast; they make
    /// a passphrase much cheaper to guess and do not belong in production.
    ///
    /// # Errors
    /// [`KeystoreError::InvalidKdfParams`] if a value is outside Argon2's range
    /// (`p_cost >= 1`, `t_cost >= 1`, `m_cost_kib >= 8 * p_cost`) or above the maximums.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        let invalid = |reason: String| Err(KeystoreError::InvalidKdfParams(reason));
        if !(1..=Self::P_COST_MAX).contains(&p_cost) {
            return invalid(format!("p_cost {p_cost} is not in 1..={}", Self::P_COST_MAX));
        }
        if !(1..=Self::T_COST_MAX).contains(&t_cost) {
            return invalid(format!("t_cost {t_cost} is not in 1..={}", Self::T_COST_MAX));
        }
        let m_min = 8 * p_cost;
        if !(m_min..=Self::M_COST_MAX_KIB).contains(&m_cost_kib) {
            return invalid(format!(
                "m_cost {m_cost_kib} KiB is not in {m_min}..={}",
                Self::M_COST_MAX_KIB
            ));
        }
        Ok(Self { m_cost_kib, t_cost, p_cost })
    }

    /// Memory in KiB.
    #[must_use]
    pub const fn m_cost_kib(&self) -> u32 {
        self.m_cost_kib
    }

    /// Number of passes.
    #[must_use]
    pub const fn t_cost(&self) -> u32 {
        self.t_cost
    }

    /// Number of lanes.
    #[must_use]
    pub const fn p_cost(&self) -> u32 {
        self.p_cost
    }

    /// Derives a 32-byte encryption key from `passphrase` and `salt` with Argon2id v1.3.
    ///
    /// # Errors
    /// [`KeystoreError::InvalidKdfParams`] if Argon2 refuses the salt or cannot allocate its
    /// memory. The parameters themselves were checked by [`KdfParams::new`].
    pub(crate) fn derive_key(&self, passphrase: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let to_error = |e: argon2::Error| KeystoreError::InvalidKdfParams(e.to_string());
        let params =
            Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32)).map_err(to_error)?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.as_bytes(), salt, &mut key[..])
            .map_err(to_error)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(KdfParams::new(8, 1, 1).is_ok());
        let r = KdfParams::RECOMMENDED;
        assert_eq!(KdfParams::new(r.m_cost_kib(), r.t_cost(), r.p_cost()).unwrap(), r);
        for (m, t, p) in [
            (7, 1, 1),
            (16, 1, 3),
            (8, 0, 1),
            (8, 1, 0),
            (KdfParams::M_COST_MAX_KIB + 1, 1, 1),
            (8, 17, 1),
            (u32::MAX, u32::MAX, u32::MAX),
        ] {
            assert!(
                matches!(KdfParams::new(m, t, p), Err(KeystoreError::InvalidKdfParams(_))),
                "{m} {t} {p}"
            );
        }
    }

    #[test]
    fn derive_key_depends_on_every_input() {
        let params = KdfParams::new(64, 1, 1).unwrap();
        let salt = [1u8; 16];
        let key = params.derive_key("pass", &salt).unwrap();
        assert_eq!(*key, *params.derive_key("pass", &salt).unwrap());
        assert_ne!(*key, *params.derive_key("pasS", &salt).unwrap());
        assert_ne!(*key, *params.derive_key("pass", &[2u8; 16]).unwrap());
        let other = KdfParams::new(64, 2, 1).unwrap();
        assert_ne!(*key, *other.derive_key("pass", &salt).unwrap());
        // Argon2 refuses salts under 8 bytes; that is an error, not a panic.
        assert!(params.derive_key("pass", &[0u8; 4]).is_err());
    }
}
