//! PostgreSQL `NUMERIC` binary values as exact decimal strings (no precision lost to floats).

/// Decodes PostgreSQL's binary `NUMERIC`: `ndigits: i16, weight: i16, sign: u16, dscale: u16`,
/// then `ndigits` base-10000 digits (`i16` each), all big-endian. The result keeps exactly
/// `dscale` fractional digits, e.g. `"-12.340"`, `"0"`, `"NaN"`, `"Infinity"`, `"-Infinity"`.
///
/// Errors with a lowercase message when the bytes are not a well-formed value.
pub(crate) fn decode_pg_numeric(bytes: &[u8]) -> Result<String, String> {
    let word = |index: usize| -> Result<u16, String> {
        bytes
            .get(index * 2..index * 2 + 2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .ok_or_else(|| "truncated numeric value".to_owned())
    };
    let digit_count = usize::from(word(0)?);
    let weight = i64::from(word(1)?.cast_signed());
    let sign = word(2)?;
    let scale = usize::from(word(3)?);
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        0xC000 => return Ok("NaN".to_owned()),
        0xD000 => return Ok("Infinity".to_owned()),
        0xF000 => return Ok("-Infinity".to_owned()),
        other => return Err(format!("unknown numeric sign {other:#06x}")),
    };
    let mut digits = Vec::with_capacity(digit_count);
    for index in 0..digit_count {
        let digit = word(4 + index)?;
        if digit > 9999 {
            return Err(format!("numeric digit {digit} out of range"));
        }
        digits.push(digit);
    }
    // Base-10000 digit at position `i` has the value `digits[i] * 10000^(weight - i)`.
    let digit_at = |position: i64| -> u16 {
        usize::try_from(position)
            .ok()
            .and_then(|index| digits.get(index).copied())
            .unwrap_or(0)
    };

    let mut integer = String::new();
    for position in 0..=weight {
        let digit = digit_at(position);
        if integer.is_empty() {
            if digit != 0 {
                integer.push_str(&digit.to_string());
            }
        } else {
            integer.push_str(&format!("{digit:04}"));
        }
    }
    if integer.is_empty() {
        integer.push('0');
    }

    let mut fraction = String::new();
    let mut position = weight + 1;
    while fraction.len() < scale {
        fraction.push_str(&format!("{:04}", digit_at(position)));
        position += 1;
    }
    fraction.truncate(scale);

    let is_zero = digits.iter().all(|&digit| digit == 0);
    let mut text = String::new();
    if negative && !is_zero {
        text.push('-');
    }
    text.push_str(&integer);
    if !fraction.is_empty() {
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(weight: i16, sign: u16, scale: u16, digits: &[u16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for word in [digits.len() as u16, weight.cast_unsigned(), sign, scale]
            .into_iter()
            .chain(digits.iter().copied())
        {
            bytes.extend_from_slice(&word.to_be_bytes());
        }
        bytes
    }

    fn check(weight: i16, sign: u16, scale: u16, digits: &[u16], expected: &str) {
        assert_eq!(
            decode_pg_numeric(&encode(weight, sign, scale, digits)).expect("well-formed"),
            expected
        );
    }

    #[test]
    fn numerics() {
        check(0, 0, 0, &[], "0");
        check(0, 0, 2, &[], "0.00");
        check(0, 0, 0, &[42], "42");
        check(1, 0, 0, &[12, 3456], "123456");
        check(2, 0, 0, &[1], "100000000");
        check(0, 0x4000, 3, &[12, 3400], "-12.340");
        check(-1, 0, 4, &[5], "0.0005");
        check(-2, 0, 6, &[1200], "0.000012");
        check(0, 0, 1, &[1, 5000], "1.5");
        check(0, 0xC000, 0, &[], "NaN");
        check(0, 0xD000, 0, &[], "Infinity");
        check(0, 0xF000, 0, &[], "-Infinity");
        assert!(decode_pg_numeric(&[0, 1]).is_err());
        assert!(decode_pg_numeric(&encode(0, 0, 0, &[10000])).is_err());
    }
}
