//! Typed ids: a run id can never be passed where a job id is expected.
//!
//! Ids are 64-bit integers assigned by the store (SQLite `INTEGER PRIMARY KEY`, PostgreSQL
//! `bigint` identity); they increase with insertion order.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl From<i64> for $name {
            fn from(value: i64) -> Self {
                Self(value)
            }
        }
    };
}

id_type!(
    /// Id of a job (stable across versions of its definition).
    JobId
);
id_type!(
    /// Id of a run: one execution of a job or workflow, made of task instances.
    RunId
);
id_type!(
    /// Id of a task instance: one task of one run; a plain job's run has exactly one.
    TaskInstanceId
);
id_type!(
    /// Id of an attempt: one try of a task instance; a retry is a new attempt. Also serves as
    /// the fencing token of the attempt's lease.
    AttemptId
);
