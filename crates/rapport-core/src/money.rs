//! Money: an amount in a currency's minor units, so that sums are exact.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// An ISO-4217 currency code (three upper-case letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollars, the default of a new workspace.
    pub const USD: Currency = Currency(*b"USD");

    /// The code, e.g. `EUR`.
    pub fn code(&self) -> &str {
        // Only ASCII upper-case letters are ever stored (see `from_str`).
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Decimal places of the minor unit (ISO 4217): 0 for yen-like currencies, 3 for the
    /// dinars, 2 for the rest.
    pub fn minor_digits(&self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"VND" | b"CLP" | b"ISK" | b"PYG" | b"UGX" | b"XAF" | b"XOF" | b"XPF" | b"KMF" | b"GNF" | b"RWF" | b"DJF"
            | b"BIF" | b"VUV" => 0,
            b"BHD" | b"KWD" | b"OMR" | b"JOD" | b"IQD" | b"LYD" | b"TND" => 3,
            _ => 2,
        }
    }
}

impl FromStr for Currency {
    type Err = CoreError;
    fn from_str(text: &str) -> Result<Self, CoreError> {
        let upper = text.trim().to_ascii_uppercase();
        match <[u8; 3]>::try_from(upper.as_bytes()) {
            Ok(code) if code.iter().all(u8::is_ascii_uppercase) => Ok(Currency(code)),
            _ => Err(CoreError::invalid(text, "a three-letter currency code such as USD")),
        }
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An amount of money: whole minor units (cents) of a currency. Sums of `Money` are
/// exact, so equal totals tie and the order of addition never matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents for USD); negative for refunds.
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// From a decimal amount in major units, rounded to the nearest minor unit. Fails
    /// on a value that is not finite or does not fit.
    pub fn from_major(amount: f64, currency: Currency) -> Result<Money, CoreError> {
        let scaled = (amount * 10f64.powi(currency.minor_digits() as i32)).round();
        if !scaled.is_finite() || scaled.abs() >= 9.0e18 {
            return Err(CoreError::invalid(&amount.to_string(), format!("an amount of {currency}")));
        }
        Ok(Money { minor: scaled as i64, currency })
    }

    /// The amount in major units (dollars for USD).
    pub fn major(&self) -> f64 {
        self.minor as f64 / 10f64.powi(self.currency.minor_digits() as i32)
    }

    /// The sum of two amounts of the same currency; `None` for different currencies or
    /// an overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency).then_some(())?;
        Some(Money { minor: self.minor.checked_add(other.minor)?, currency: self.currency })
    }
}

/// A total in millionths of the currency unit (sums of
/// [`to_micros`](crate::summary::to_micros)) in currency units, rounded half away from
/// zero to `minor_digits` decimals (at most 6): exact integer rounding, so the same total
/// gives the same amount however it was summed.
pub fn micros_to_minor(total: i128, minor_digits: u32) -> f64 {
    let digits = minor_digits.min(6);
    let scale = 10_i128.pow(6 - digits);
    let (mut quotient, remainder) = (total / scale, total % scale);
    if 2 * remainder.abs() >= scale {
        quotient += total.signum();
    }
    quotient as f64 / 10f64.powi(digits as i32)
}

impl std::fmt::Display for Money {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = self.currency.minor_digits() as usize;
        write!(formatter, "{:.digits$} {}", self.major(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_sum_exactly() {
        let usd = Currency::USD;
        let total =
            (0..10).map(|_| Money::from_major(0.1, usd).expect("money")).try_fold(Money { minor: 0, currency: usd }, Money::checked_add);
        assert_eq!(total.map(|money| money.minor), Some(100));
        assert_eq!(Money::from_major(1234.0, "JPY".parse().expect("yen")).map(|money| money.minor), Ok(1234));
        assert_eq!(Money::from_major(1.2345, "KWD".parse().expect("dinar")).map(|money| money.to_string()), Ok("1.235 KWD".into()));
        let eur: Currency = "eur".parse().expect("euro");
        assert_eq!(Money::from_major(1.0, usd).expect("usd").checked_add(Money::from_major(1.0, eur).expect("eur")), None);
        assert!("EURO".parse::<Currency>().is_err() && "E1R".parse::<Currency>().is_err());
        assert!(Money::from_major(f64::INFINITY, usd).is_err());
    }

    #[test]
    fn micro_totals_round_half_away_from_zero_to_the_minor_unit() {
        assert_eq!(micros_to_minor(1_234_500, 2), 1.23);
        assert_eq!(micros_to_minor(1_235_000, 2), 1.24);
        assert_eq!(micros_to_minor(-1_235_000, 2), -1.24);
        assert_eq!(micros_to_minor(2_500_000, 0), 3.0);
        assert_eq!(micros_to_minor(1_234_567, 6), 1.234567);
        // 0.1 + 0.2 in millionths is exactly 0.3.
        let total = i128::from(crate::summary::to_micros(0.1)) + i128::from(crate::summary::to_micros(0.2));
        assert_eq!(micros_to_minor(total, 2), 0.3);
    }
}
