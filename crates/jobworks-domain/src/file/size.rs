//! Byte sizes written with a unit, like `10MiB` or `500KB`.

use std::fmt;

/// Units accepted by [`parse_size`] with their size in bytes; matched ignoring case.
const UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
];

/// Why a size string was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeError {
    /// The text does not start with a whole number.
    NoNumber,
    /// The number has a fractional part (`1.5MiB`); sizes are whole numbers of a unit.
    Fraction,
    /// The number has no unit after it.
    NoUnit,
    /// The unit is not one of `B`, `KiB`, `MiB`, `GiB`, `KB`, `MB`, `GB`.
    UnknownUnit(String),
    /// The size does not fit in 64 bits of bytes.
    TooLarge,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeError::NoNumber => f.write_str("a size starts with a whole number"),
            SizeError::Fraction => f.write_str("a size is a whole number of a unit"),
            SizeError::NoUnit => f.write_str("a size needs a unit"),
            SizeError::UnknownUnit(unit) => write!(f, "unknown size unit `{unit}`"),
            SizeError::TooLarge => f.write_str("size is too large"),
        }
    }
}

impl std::error::Error for SizeError {}

/// Parses a byte size: a whole number, optional spaces, and a unit. Binary units `KiB`,
/// `MiB`, `GiB` are powers of 1024; decimal units `KB`, `MB`, `GB` are powers of 1000; `B`
/// is bytes. Units are matched ignoring case (`10mib` = `10MiB`).
///
/// Returns the size in bytes. Errors: [`SizeError`] when there is no number, a fraction,
/// no unit, an unknown unit, or the size overflows `u64`.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: String = number.chars().filter(|c| *c != '_').collect();
    if number.is_empty() {
        return Err(SizeError::NoNumber);
    }
    if unit.starts_with(['.', ',']) {
        return Err(SizeError::Fraction);
    }
    let unit = unit.trim_start();
    if unit.is_empty() {
        return Err(SizeError::NoUnit);
    }
    let Some((_, factor)) = UNITS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(unit))
    else {
        return Err(SizeError::UnknownUnit(unit.to_owned()));
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|count| count.checked_mul(*factor))
        .ok_or(SizeError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases: &[(&str, Result<u64, SizeError>)] = &[
            ("10MiB", Ok(10 * 1024 * 1024)),
            ("10 MiB", Ok(10 * 1024 * 1024)),
            ("10mib", Ok(10 * 1024 * 1024)),
            ("1GiB", Ok(1 << 30)),
            ("512KiB", Ok(512 * 1024)),
            ("0B", Ok(0)),
            ("1_000B", Ok(1000)),
            ("500KB", Ok(500_000)),
            ("2MB", Ok(2_000_000)),
            ("3GB", Ok(3_000_000_000)),
            ("10", Err(SizeError::NoUnit)),
            ("MiB", Err(SizeError::NoNumber)),
            ("", Err(SizeError::NoNumber)),
            ("1.5MiB", Err(SizeError::Fraction)),
            ("10 TB", Err(SizeError::UnknownUnit("TB".into()))),
            ("99999999999999GiB", Err(SizeError::TooLarge)),
            ("-1MiB", Err(SizeError::NoNumber)),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_size(text), want, "{text}");
        }
    }
}
