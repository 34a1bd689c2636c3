//! Amounts of ALX in base units. 1 ALX = 10^9 base units. All arithmetic is checked: an
//! overflow is an error the caller must handle, never a wrap.

use bytes::{Buf as _, BufMut};
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, Write};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Base units in one ALX.
pub const BASE_UNITS_PER_ALX: u128 = 1_000_000_000;

/// An amount of ALX in base units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub u128);

impl Amount {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// `n` whole ALX, or `None` on overflow.
    #[must_use]
    pub const fn from_alx(n: u128) -> Option<Self> {
        match n.checked_mul(BASE_UNITS_PER_ALX) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// Checked addition.
    #[must_use]
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// Checked subtraction.
    #[must_use]
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// True if zero.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parses a decimal amount of ALX (`"1.5"`, `"0.000000001"`, `"12"`) into base units.
    /// At most 9 fractional digits; no sign, no exponent.
    pub fn parse_alx(text: &str) -> Result<Self, AmountParseError> {
        let text = text.trim();
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(AmountParseError::Empty);
        }
        let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !digits_ok(whole) || !digits_ok(frac) {
            return Err(AmountParseError::NotDecimal(text.to_owned()));
        }
        if frac.len() > 9 {
            return Err(AmountParseError::TooPrecise);
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| AmountParseError::Overflow)?
        };
        let mut frac_units: u128 = 0;
        for (i, b) in frac.bytes().enumerate() {
            frac_units += u128::from(b - b'0') * 10u128.pow(8 - i as u32);
        }
        whole
            .checked_mul(BASE_UNITS_PER_ALX)
            .and_then(|w| w.checked_add(frac_units))
            .map(Self)
            .ok_or(AmountParseError::Overflow)
    }
}

/// Why a decimal amount could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AmountParseError {
    /// Nothing to parse.
    #[error("empty amount")]
    Empty,
    /// Not a plain decimal number.
    #[error("not a decimal amount: {0:?}")]
    NotDecimal(String),
    /// More than 9 fractional digits (1 base unit = 0.000000001 ALX).
    #[error("more than 9 decimal places (the smallest unit is 0.000000001 ALX)")]
    TooPrecise,
    /// Does not fit in 128 bits of base units.
    #[error("amount too large")]
    Overflow,
}

impl fmt::Display for Amount {
    /// Formats as ALX with up to 9 decimals, trailing zeros trimmed: `1.5 ALX`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / BASE_UNITS_PER_ALX;
        let frac = self.0 % BASE_UNITS_PER_ALX;
        if frac == 0 {
            write!(f, "{whole} ALX")
        } else {
            let frac = format!("{frac:09}");
            write!(f, "{whole}.{} ALX", frac.trim_end_matches('0'))
        }
    }
}

impl Write for Amount {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u128(self.0);
    }
}

impl Read for Amount {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        if buf.remaining() < 16 {
            return Err(CodecError::EndOfBuffer);
        }
        Ok(Self(buf.get_u128()))
    }
}

impl FixedSize for Amount {
    const SIZE: usize = 16;
}

/// JSON carries amounts as decimal strings of base units: `u128` exceeds what JSON numbers hold
/// exactly in most clients.
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom("amount must be a string of base-unit digits"));
        }
        text.parse::<u128>().map(Self).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let check = |text: &str, units: u128, shown: &str| {
            let amount = Amount::parse_alx(text).unwrap();
            assert_eq!(amount, Amount(units), "{text}");
            assert_eq!(amount.to_string(), shown);
        };
        check("1", 1_000_000_000, "1 ALX");
        check("1.5", 1_500_000_000, "1.5 ALX");
        check("0.000000001", 1, "0.000000001 ALX");
        check(".25", 250_000_000, "0.25 ALX");
        assert_eq!(Amount::parse_alx("1.0000000001"), Err(AmountParseError::TooPrecise));
        assert!(matches!(Amount::parse_alx("-1"), Err(AmountParseError::NotDecimal(_))));
        assert_eq!(Amount::parse_alx(""), Err(AmountParseError::Empty));
        assert_eq!(
            Amount::parse_alx("999999999999999999999999999999999999999"),
            Err(AmountParseError::Overflow)
        );
    }
}
