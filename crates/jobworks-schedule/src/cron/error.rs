//! The error returned when a cron expression does not parse.

use std::fmt;

use super::field::Field;

/// Why a cron expression was rejected, pointing at the field the user typed.
///
/// `Display` gives the full message, e.g.
/// `cron field 3 (day of month): 32 is out of range 1-31` or
/// `expected 5 or 6 fields (or a macro such as @daily), found 4`.
/// Field positions are 1-based and count what the user typed, so with six fields
/// field 1 is the seconds field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct CronError {
    /// 1-based position of the offending field in the expression as typed, or `None` when
    /// the problem is the expression as a whole (field count, macros).
    pub field: Option<usize>,
    /// What is wrong, without the field prefix, e.g. `32 is out of range 1-31`.
    pub message: String,
    field_name: Option<&'static str>,
}

impl CronError {
    /// An error about the whole expression.
    pub(crate) fn whole(message: impl Into<String>) -> CronError {
        CronError {
            field: None,
            message: message.into(),
            field_name: None,
        }
    }

    /// An error about field `field` at 1-based `position`.
    pub(crate) fn in_field(position: usize, field: Field, message: impl Into<String>) -> CronError {
        CronError {
            field: Some(position),
            message: message.into(),
            field_name: Some(field.name()),
        }
    }

    /// The name of the offending field (`second`, `minute`, `hour`, `day of month`,
    /// `month`, `day of week`), or `None` for errors about the whole expression.
    pub fn field_name(&self) -> Option<&'static str> {
        self.field_name
    }

    fn render(&self) -> Rendered<'_> {
        Rendered(self)
    }
}

struct Rendered<'a>(&'a CronError);

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.field, self.0.field_name) {
            (Some(position), Some(name)) => {
                write!(f, "cron field {position} ({name}): {}", self.0.message)
            }
            _ => f.write_str(&self.0.message),
        }
    }
}
