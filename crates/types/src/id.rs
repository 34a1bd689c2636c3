//! Typed `u64` numbers: block heights and the ids of datanets, contributions, models and
//! subnets. Each is its own type, so a datanet id can never be passed where a model id or a
//! height is expected, yet each reads, writes and prints exactly like the `u64` it wraps:
//!
//! - codec: 8 bytes, big-endian (the encoding of a `u64`), so no stored record, transaction or
//!   state root changes;
//! - JSON: a plain number (`#[serde(transparent)]`);
//! - text: the decimal number (`Display`, and `FromStr` for command-line arguments).
//!
//! `next()` is the number after (ids are handed out in order, heights follow each other).

/// Declares a public newtype over `u64` with the traits above. The caller writes the type's
/// docs; extra methods go in a separate `impl` next to the invocation.
macro_rules! u64_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Clone,
            Copy,
            Debug,
            Default,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The next number (saturating at `u64::MAX`, which no counter reaches).
            #[must_use]
            pub const fn next(self) -> Self {
                Self(self.0.saturating_add(1))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                text.parse().map(Self)
            }
        }

        impl commonware_codec::Write for $name {
            fn write(&self, buf: &mut impl bytes::BufMut) {
                commonware_codec::Write::write(&self.0, buf);
            }
        }

        impl commonware_codec::FixedSize for $name {
            const SIZE: usize = <u64 as commonware_codec::FixedSize>::SIZE;
        }

        impl commonware_codec::Read for $name {
            type Cfg = ();
            fn read_cfg(
                buf: &mut impl commonware_codec::Buf,
                _: &(),
            ) -> Result<Self, commonware_codec::Error> {
                <u64 as commonware_codec::ReadExt>::read(buf).map(Self)
            }
        }
    };
}

pub(crate) use u64_newtype;

#[cfg(test)]
mod tests {
    use crate::{
        Height,
        datanet::{ContributionId, DatanetId},
        model::ModelId,
        subnet::SubnetId,
    };
    use commonware_codec::{DecodeExt as _, Encode as _, FixedSize as _};

    #[test]
    fn encodes_exactly_like_u64() {
        for n in [0, 1, 0x0123_4567_89ab_cdef, u64::MAX] {
            let bytes = n.encode();
            assert_eq!(DatanetId(n).encode(), bytes);
            assert_eq!(ContributionId(n).encode(), bytes);
            assert_eq!(ModelId(n).encode(), bytes);
            assert_eq!(SubnetId(n).encode(), bytes);
            assert_eq!(Height(n).encode(), bytes);
            assert_eq!(ModelId::decode(bytes).ok(), Some(ModelId(n)));
        }
        assert_eq!(SubnetId::SIZE, 8);
        assert!(DatanetId::decode(bytes::Bytes::from_static(&[0; 7])).is_err());
    }

    #[test]
    fn json_and_text_are_the_plain_number() {
        assert_eq!(serde_json::to_string(&SubnetId(42)).ok().as_deref(), Some("42"));
        assert_eq!(serde_json::from_str::<ModelId>("7").ok(), Some(ModelId(7)));
        assert_eq!(DatanetId(12).to_string(), "12");
        assert_eq!("9".parse::<ContributionId>(), Ok(ContributionId(9)));
        assert!("-1".parse::<Height>().is_err());
    }
}
