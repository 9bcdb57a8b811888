//! Where a byte of a TOML string's value sits in the file: the value is the string after
//! escapes are decoded, the file holds the string as written.

/// The byte offset in `raw` (a TOML string as written, delimiters included) of the decoded
/// value's byte `decoded`; `None` when `raw` is not a string as this function knows them.
pub(crate) fn source_offset(raw: &str, decoded: usize) -> Option<usize> {
    let (delimiter, literal) = ["\"\"\"", "'''", "\"", "'"]
        .into_iter()
        .find(|delimiter| raw.starts_with(delimiter))
        .map(|delimiter| (delimiter, delimiter.starts_with('\'')))?;
    let mut at = delimiter.len();
    if delimiter.len() == 3 {
        // a newline right after the opening delimiter is not part of the value
        if raw[at..].starts_with("\r\n") {
            at += 2;
        } else if raw[at..].starts_with('\n') {
            at += 1;
        }
    }
    let mut seen = 0;
    let mut chars = raw[at..].char_indices().peekable();
    while let Some((index, ch)) = chars.next() {
        let line_ending_backslash =
            !literal && ch == '\\' && chars.peek().is_some_and(|(_, next)| next.is_whitespace());
        if seen >= decoded && !line_ending_backslash {
            return Some(at + index);
        }
        if literal || ch != '\\' {
            seen += ch.len_utf8();
            continue;
        }
        let (_, escape) = chars.next()?;
        let hex_digits = match escape {
            'u' => 4,
            'U' => 8,
            'x' => 2,
            ' ' | '\t' | '\r' | '\n' => {
                // a line-ending backslash: the whitespace and newlines after it are dropped
                while chars.next_if(|(_, next)| next.is_whitespace()).is_some() {}
                continue;
            }
            _ => {
                seen += 1;
                continue;
            }
        };
        let mut code = String::new();
        for _ in 0..hex_digits {
            code.push(chars.next()?.1);
        }
        seen += char::from_u32(u32::from_str_radix(&code, 16).ok()?)?.len_utf8();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::source_offset;

    #[test]
    fn decoded_offsets_map_to_the_text_as_written() {
        let cases: &[(&str, usize, Option<usize>)] = &[
            (r#""ab;cd""#, 3, Some(4)),
            (r#""a\"b;cd""#, 4, Some(6)),
            (r#""\u00e9;x""#, 3, Some(8)),
            ("'a\\n;b'", 4, Some(5)),
            ("'''\nab;\ncd'''", 4, Some(8)),
            ("\"\"\"\nab; \\\n    cd\"\"\"", 4, Some(14)),
            ("\"ab\"", 9, None),
            ("bare", 0, None),
        ];
        for (raw, decoded, expected) in cases {
            assert_eq!(
                source_offset(raw, *decoded),
                *expected,
                "{raw:?} at {decoded}"
            );
        }
    }
}
