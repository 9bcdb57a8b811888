//! What routing remembers per job between placements: plain data the caller stores.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long use counts are kept before they start again, ms (24 h, as XXL-JOB clears its
/// LFU cache daily).
pub const USE_COUNTS_RESET_MS: i64 = 24 * 60 * 60 * 1000;

/// Per-job routing state that `round_robin`, `least_frequently_used` and
/// `least_recently_used` need: the caller loads it, passes it to [`super::place`], and
/// stores the memory returned in the placement (a store keeps it as JSON). Nothing is
/// mutated in place; `Default` is a job never placed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingMemory {
    /// `round_robin`: the counter the next placement takes modulo the group size; `None`
    /// before the first placement (then it starts at `seed % 100`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_robin: Option<u64>,
    /// `least_frequently_used`: placements per agent name since `use_counts_since_ms`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub use_counts: BTreeMap<String, u64>,
    /// When the use counts were started, Unix ms; they are cleared
    /// [`USE_COUNTS_RESET_MS`] later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_counts_since_ms: Option<i64>,
    /// `least_recently_used`: the last placement on each agent, Unix ms.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub last_used_ms: BTreeMap<String, i64>,
}

/// SplitMix64 (Steele, Lea, Flood 2014): one well-mixed `u64` from another. Used to derive
/// several independent numbers from the one seed a placement gets.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
