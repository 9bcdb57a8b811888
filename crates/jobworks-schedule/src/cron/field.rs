//! The six cron fields: their names, value ranges and symbolic names (Vixie cron's tables).

/// One cron field, with the bounds and names Vixie cron / cronie accept for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Field {
    /// The name used in error messages, e.g. `day of month`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day of month",
            Field::Month => "month",
            Field::DayOfWeek => "day of week",
        }
    }

    /// The smallest accepted value.
    pub(crate) fn min(self) -> u32 {
        match self {
            Field::DayOfMonth | Field::Month => 1,
            Field::Second | Field::Minute | Field::Hour | Field::DayOfWeek => 0,
        }
    }

    /// The largest accepted value (day of week accepts 7 as a second Sunday).
    pub(crate) fn max(self) -> u32 {
        match self {
            Field::Second | Field::Minute => 59,
            Field::Hour => 23,
            Field::DayOfMonth => 31,
            Field::Month => 12,
            Field::DayOfWeek => 7,
        }
    }

    /// Whether `?` is accepted as a synonym of `*` (Quartz habit, day fields only).
    pub(crate) fn accepts_question_mark(self) -> bool {
        matches!(self, Field::DayOfMonth | Field::DayOfWeek)
    }

    /// Whether the field accepts three-letter names at all.
    pub(crate) fn has_names(self) -> bool {
        matches!(self, Field::Month | Field::DayOfWeek)
    }

    /// The value of a three-letter name (`JAN` = 1, `SUN` = 0), compared case-insensitively.
    pub(crate) fn value_of_name(self, name: &str) -> Option<u32> {
        let (names, first): (&[&str], u32) = match self {
            Field::Month => (&MONTH_NAMES, 1),
            Field::DayOfWeek => (&WEEKDAY_NAMES, 0),
            _ => return None,
        };
        let index = names
            .iter()
            .position(|known| known.eq_ignore_ascii_case(name))?;
        u32::try_from(index).ok().map(|index| index + first)
    }
}

#[cfg(test)]
mod tests {
    use super::Field;

    #[test]
    fn names_are_case_insensitive_and_offset_per_field() {
        assert_eq!(Field::Month.value_of_name("jan"), Some(1));
        assert_eq!(Field::Month.value_of_name("Dec"), Some(12));
        assert_eq!(Field::DayOfWeek.value_of_name("sun"), Some(0));
        assert_eq!(Field::DayOfWeek.value_of_name("SAT"), Some(6));
        assert_eq!(Field::DayOfWeek.value_of_name("FUNDAY"), None);
        assert_eq!(Field::Hour.value_of_name("MON"), None);
    }
}
