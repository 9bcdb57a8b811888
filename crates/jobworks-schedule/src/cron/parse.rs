//! Parses cron text (five or six fields, or an `@` macro) into per-field bitsets.

use super::bits::Bits;
use super::error::CronError;
use super::expr::{CronExpr, DayRule};
use super::field::Field;

const FIVE_FIELDS: [Field; 5] = [
    Field::Minute,
    Field::Hour,
    Field::DayOfMonth,
    Field::Month,
    Field::DayOfWeek,
];
const SIX_FIELDS: [Field; 6] = [
    Field::Second,
    Field::Minute,
    Field::Hour,
    Field::DayOfMonth,
    Field::Month,
    Field::DayOfWeek,
];

/// Parses `source` as cronie does; see [`CronExpr::parse`] for the grammar.
pub(crate) fn parse(source: &str) -> Result<CronExpr, CronError> {
    let tokens: Vec<&str> = source.split_ascii_whitespace().collect();
    if let Some(first) = tokens.first()
        && first.starts_with('@')
    {
        if tokens.len() > 1 {
            return Err(CronError::whole(format!(
                "a macro such as `{first}` must be the whole expression, found `{}` after it",
                tokens[1..].join(" ")
            )));
        }
        let expansion = expand_macro(first)?;
        let expansion_tokens: Vec<&str> = expansion.split_ascii_whitespace().collect();
        return build(source, &expansion_tokens);
    }
    build(source, &tokens)
}

fn expand_macro(token: &str) -> Result<&'static str, CronError> {
    let expansion = match token.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        "@reboot" => {
            return Err(CronError::whole(
                "@reboot has no schedule equivalent: it runs once when the daemon starts",
            ));
        }
        _ => {
            return Err(CronError::whole(format!(
                "unknown macro `{token}` (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"
            )));
        }
    };
    Ok(expansion)
}

fn build(source: &str, tokens: &[&str]) -> Result<CronExpr, CronError> {
    let fields: &[Field] = match tokens.len() {
        5 => &FIVE_FIELDS,
        6 => &SIX_FIELDS,
        found => {
            return Err(CronError::whole(format!(
                "expected 5 or 6 fields (or a macro such as @daily), found {found}"
            )));
        }
    };
    let mut parsed = [ParsedField::default(); 6];
    // Five-field expressions fire at second 0.
    parsed[0] = ParsedField {
        bits: Bits::range(0, 0),
        star: false,
    };
    let offset = 6 - fields.len();
    for (index, (field, text)) in fields.iter().zip(tokens).enumerate() {
        parsed[index + offset] = parse_field(*field, text)
            .map_err(|message| CronError::in_field(index + 1, *field, message))?;
    }
    let [second, minute, hour, day_of_month, month, day_of_week] = parsed;
    // cronie's DOM_STAR / DOW_STAR: a field "is a star" when its text starts with `*`;
    // only when neither is a star does the OR rule apply.
    let day_rule = if day_of_month.star || day_of_week.star {
        DayRule::Both
    } else {
        DayRule::Either
    };
    // cronie's SEC_STAR / MIN_STAR / HR_STAR: these decide the fall-back behaviour.
    let wild = second.star || minute.star || hour.star;
    Ok(CronExpr::from_parts(
        source.to_owned(),
        [
            second.bits,
            minute.bits,
            hour.bits,
            day_of_month.bits,
            month.bits,
            day_of_week.bits,
        ],
        fields.len() == 6,
        day_rule,
        wild,
    ))
}

#[derive(Clone, Copy, Default)]
struct ParsedField {
    bits: Bits,
    star: bool,
}

/// Parses one field's text into its bitset; the error is the message without the field prefix.
fn parse_field(field: Field, text: &str) -> Result<ParsedField, String> {
    let star = text.starts_with('*') || (field.accepts_question_mark() && text.starts_with('?'));
    let mut bits = Bits::EMPTY;
    for item in text.split(',') {
        parse_item(field, item, &mut bits)?;
    }
    if field == Field::DayOfWeek && bits.contains(7) {
        // 7 is a second spelling of Sunday.
        bits.remove(7);
        bits.insert(0);
    }
    Ok(ParsedField { bits, star })
}

/// Parses one list item (`*`, `a`, `a-b`, each optionally `/step`) into `bits`.
fn parse_item(field: Field, item: &str, bits: &mut Bits) -> Result<(), String> {
    if item.is_empty() {
        return Err("empty list item".to_owned());
    }
    let (range_text, step) = match item.split_once('/') {
        Some((range_text, step_text)) => (range_text, Some(parse_step(step_text)?)),
        None => (item, None),
    };
    let (low, high) = if range_text == "*" || (field.accepts_question_mark() && range_text == "?") {
        (field.min(), field.max())
    } else if let Some((low_text, high_text)) = range_text.split_once('-') {
        let low = parse_value(field, low_text)?;
        let high = parse_value(field, high_text)?;
        if low > high {
            return Err(format!("range {range_text} is reversed"));
        }
        (low, high)
    } else {
        let value = parse_value(field, range_text)?;
        // cronie reads `a/n` as `a-max/n`.
        match step {
            Some(_) => (value, field.max()),
            None => (value, value),
        }
    };
    let step = step.unwrap_or(1);
    let mut value = low;
    while value <= high {
        bits.insert(value);
        match value.checked_add(step) {
            Some(next) => value = next,
            None => break,
        }
    }
    Ok(())
}

fn parse_step(text: &str) -> Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!("invalid step `{text}`: expected a positive number"));
    }
    match text.parse::<u32>() {
        Ok(0) => Err("step 0 is not allowed".to_owned()),
        Ok(step) => Ok(step),
        // Longer than u32: larger than any field, so it selects only the first value.
        Err(_) => Ok(u32::MAX),
    }
}

fn parse_value(field: Field, text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Err("missing value in range".to_owned());
    }
    if text.bytes().all(|byte| byte.is_ascii_digit()) {
        let in_range = text
            .parse::<u32>()
            .ok()
            .filter(|value| (field.min()..=field.max()).contains(value));
        return in_range
            .ok_or_else(|| format!("{text} is out of range {}-{}", field.min(), field.max()));
    }
    if text.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        if !field.has_names() {
            return Err(format!("expected a number, found `{text}`"));
        }
        return field
            .value_of_name(text)
            .ok_or_else(|| format!("unknown name `{text}`"));
    }
    Err(format!("invalid value `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::parse;

    /// Parses `source` and compares the error's `Display` with `expected`.
    fn check_error(source: &str, expected: &str) {
        let error = parse(source).expect_err("expression should be rejected");
        assert_eq!(error.to_string(), expected, "for `{source}`");
    }

    #[test]
    fn errors_name_the_field_as_typed() {
        check_error(
            "0 0 32 * *",
            "cron field 3 (day of month): 32 is out of range 1-31",
        );
        check_error(
            "0 0 * * FUNDAY",
            "cron field 5 (day of week): unknown name `FUNDAY`",
        );
        check_error("0 */0 * * *", "cron field 2 (hour): step 0 is not allowed");
        check_error(
            "50-10 * * * *",
            "cron field 1 (minute): range 50-10 is reversed",
        );
        check_error(
            "0 0 * *",
            "expected 5 or 6 fields (or a macro such as @daily), found 4",
        );
        check_error(
            "",
            "expected 5 or 6 fields (or a macro such as @daily), found 0",
        );
        check_error(
            "* * * * * * *",
            "expected 5 or 6 fields (or a macro such as @daily), found 7",
        );
        check_error(
            "60 * * * * *",
            "cron field 1 (second): 60 is out of range 0-59",
        );
        check_error(
            "0 60 * * * *",
            "cron field 2 (minute): 60 is out of range 0-59",
        );
        check_error("0 24 * * *", "cron field 2 (hour): 24 is out of range 0-23");
        check_error(
            "0 0 0 * *",
            "cron field 3 (day of month): 0 is out of range 1-31",
        );
        check_error(
            "0 0 * 13 *",
            "cron field 4 (month): 13 is out of range 1-12",
        );
        check_error(
            "0 0 * * 8",
            "cron field 5 (day of week): 8 is out of range 0-7",
        );
        check_error(
            "0 0 * * 99999999999",
            "cron field 5 (day of week): 99999999999 is out of range 0-7",
        );
        check_error("0 0 * FOO *", "cron field 4 (month): unknown name `FOO`");
        check_error(
            "abc * * * *",
            "cron field 1 (minute): expected a number, found `abc`",
        );
        check_error("1x * * * *", "cron field 1 (minute): invalid value `1x`");
        check_error("1,,2 * * * *", "cron field 1 (minute): empty list item");
        check_error("1, * * * *", "cron field 1 (minute): empty list item");
        check_error(
            "*/x * * * *",
            "cron field 1 (minute): invalid step `x`: expected a positive number",
        );
        check_error(
            "1-2-3 * * * *",
            "cron field 1 (minute): invalid value `2-3`",
        );
        check_error(
            "1- * * * *",
            "cron field 1 (minute): missing value in range",
        );
        check_error("? * * * *", "cron field 1 (minute): invalid value `?`");
        check_error(
            "0 0 L * *",
            "cron field 3 (day of month): expected a number, found `L`",
        );
        check_error(
            "0 0 * * 5#2",
            "cron field 5 (day of week): invalid value `5#2`",
        );
        check_error(
            "0 0 * * FRI-MON",
            "cron field 5 (day of week): range FRI-MON is reversed",
        );
        check_error(
            "@reboot",
            "@reboot has no schedule equivalent: it runs once when the daemon starts",
        );
        check_error(
            "@fortnightly",
            "unknown macro `@fortnightly` (expected @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)",
        );
        check_error(
            "@daily 0",
            "a macro such as `@daily` must be the whole expression, found `0` after it",
        );
    }

    #[test]
    fn error_fields_are_exposed() {
        let error = parse("0 0 32 * *").expect_err("out of range");
        assert_eq!(error.field, Some(3));
        assert_eq!(error.field_name(), Some("day of month"));
        assert_eq!(error.message, "32 is out of range 1-31");
        let error = parse("0 0 * *").expect_err("too few fields");
        assert_eq!(error.field, None);
        assert_eq!(error.field_name(), None);
    }

    #[test]
    fn accepts_the_cronie_grammar() {
        for source in [
            "* * * * *",
            "*/15 0-23/2 1,15 JAN-jun/2 mon-FRI",
            "5/10 * * * *",
            "0 0 ? * 1",
            "0 0 1 * ?",
            "0 0 * * 5-7",
            "0 0 * * 0-7",
            "0 0 * * 7",
            "*/4294967296 * * * *",
            "  0   0 * * *  ",
            "0\t0\t*\t*\t*",
            "@DAILY",
            "@Hourly",
            "0 0 0 * * *",
        ] {
            assert!(parse(source).is_ok(), "`{source}` should parse");
        }
    }
}
