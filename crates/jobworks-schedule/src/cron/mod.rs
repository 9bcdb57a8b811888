//! Cron expressions: parsing to bitsets and DST-aware next-fire computation (Vixie cron / cronie).

mod bits;
mod calendar;
mod count;
mod error;
mod expr;
mod field;
mod gap;
mod never;
mod next;
mod parse;
mod zone;

#[cfg(test)]
mod tests;

pub(crate) use count::approx_count_between;
pub use error::CronError;
pub use expr::CronExpr;
pub use next::CronIter;
