//! Durations as the configuration writes them: `500ms`, `30s`, `10m`, `72h`,
//! `30d`, or a plain integer meaning seconds.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was written.
    #[error("empty duration: write a number with a unit, e.g. 30s, 20m, 72h, 30d")]
    Empty,
    /// The text does not start with a whole number.
    #[error(
        "invalid duration {0:?}: write a whole number with a unit ms, s, m, h or d (e.g. 30s, 20m)"
    )]
    Malformed(String),
    /// The unit is not one of ms, s, m, h, d.
    #[error("invalid duration {text:?}: unknown unit {unit:?} (use ms, s, m, h or d)")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// The value does not fit in a duration.
    #[error("duration {0:?} is too large")]
    Overflow(String),
}

/// Parses `N` followed by a unit (`ms`, `s`, `m`, `h`, `d`) or a bare `N`
/// (seconds). Surrounding whitespace is ignored; there are no fractions,
/// signs or compound forms, so every accepted text has one meaning.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    if digits.is_empty() {
        return Err(DurationError::Malformed(text.to_owned()));
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| DurationError::Overflow(text.to_owned()))?;
    let millis_per_unit: u64 = match unit {
        "" | "s" => 1_000,
        "ms" => 1,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(DurationError::UnknownUnit {
                text: text.to_owned(),
                unit: unit.to_owned(),
            });
        }
    };
    value
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| DurationError::Overflow(text.to_owned()))
}

/// Writes a duration the way the configuration would: the largest unit that
/// divides it exactly (`20m`, `30d`, `1500ms`).
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

/// A duration field of the YAML model: an integer (seconds) or a string with
/// a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DurationValue(pub(crate) Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = DurationValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 500ms, 30s, 20m, 72h, 30d, or whole seconds")
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Self::Value, E> {
        Ok(DurationValue(Duration::from_secs(seconds)))
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Self::Value, E> {
        u64::try_from(seconds)
            .map(|s| DurationValue(Duration::from_secs(s)))
            .map_err(|_| E::custom(format!("invalid duration {seconds}: must not be negative")))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        parse_duration(text).map(DurationValue).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("20m"), Ok(Duration::from_secs(1_200)));
        assert_eq!(parse_duration("72h"), Ok(Duration::from_secs(259_200)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(2_592_000)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bare_number_is_seconds_and_whitespace_is_ignored() {
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration(" 5m "), Ok(Duration::from_secs(300)));
    }

    #[test]
    fn rejects_what_has_no_single_meaning() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("  "), Err(DurationError::Empty));
        for bad in ["s", "-5s", "1.5h", "+3s", "abc", "5 m"] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(
            parse_duration("3w"),
            Err(DurationError::UnknownUnit {
                text: "3w".into(),
                unit: "w".into()
            })
        );
        assert!(matches!(
            parse_duration("1h30m"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("5M"),
            Err(DurationError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::Overflow("99999999999999999999s".into()))
        );
        assert_eq!(
            parse_duration("18446744073709551615d"),
            Err(DurationError::Overflow("18446744073709551615d".into()))
        );
    }

    #[test]
    fn messages_name_the_text() {
        let err = parse_duration("3w").unwrap_err().to_string();
        assert!(
            err.contains("\"3w\"") && err.contains("ms, s, m, h or d"),
            "{err}"
        );
    }

    #[test]
    fn formats_with_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(1_200)), "20m");
        assert_eq!(format_duration(Duration::from_secs(2_592_000)), "30d");
        assert_eq!(format_duration(Duration::from_millis(1_500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn deserializes_from_yaml_numbers_and_strings() {
        let from = |y: &str| serde_yaml::from_str::<DurationValue>(y).map(|d| d.0);
        assert_eq!(from("30").ok(), Some(Duration::from_secs(30)));
        assert_eq!(from("20m").ok(), Some(Duration::from_secs(1_200)));
        assert_eq!(from("\"500ms\"").ok(), Some(Duration::from_millis(500)));
        let negative = from("-3").unwrap_err().to_string();
        assert!(negative.contains("must not be negative"), "{negative}");
        let list = from("[1]").unwrap_err().to_string();
        assert!(list.contains("a duration such as"), "{list}");
    }
}
