//! A 64-bit set of small integers: one per cron field, bit `n` set when value `n` matches.

/// The values a cron field accepts, as bits of a `u64` (bit `n` = value `n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Bits(u64);

impl Bits {
    /// The empty set.
    pub(crate) const EMPTY: Bits = Bits(0);

    /// Every value in `min..=max` (both below 64).
    pub(crate) fn range(min: u32, max: u32) -> Bits {
        let mut bits = Bits::EMPTY;
        for value in min..=max {
            bits.insert(value);
        }
        bits
    }

    /// Adds `value` (ignored when 64 or more, which parsing never produces).
    pub(crate) fn insert(&mut self, value: u32) {
        if value < 64 {
            self.0 |= 1 << value;
        }
    }

    /// Removes `value`.
    pub(crate) fn remove(&mut self, value: u32) {
        if value < 64 {
            self.0 &= !(1 << value);
        }
    }

    /// Whether `value` is in the set.
    pub(crate) fn contains(self, value: u32) -> bool {
        value < 64 && self.0 & (1 << value) != 0
    }

    /// The smallest value in the set that is `>= from`, if any.
    pub(crate) fn next_at_or_after(self, from: u32) -> Option<u32> {
        if from >= 64 {
            return None;
        }
        let rest = self.0 >> from;
        if rest == 0 {
            None
        } else {
            Some(from + rest.trailing_zeros())
        }
    }

    /// How many values the set holds.
    pub(crate) fn count(self) -> u64 {
        u64::from(self.0.count_ones())
    }

    /// How many values in the set are `< bound`.
    pub(crate) fn count_below(self, bound: u32) -> u64 {
        let below = if bound >= 64 {
            self.0
        } else {
            self.0 & ((1_u64 << bound) - 1)
        };
        u64::from(below.count_ones())
    }

    /// Whether the two sets share a value.
    pub(crate) fn intersects(self, other: Bits) -> bool {
        self.0 & other.0 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::Bits;

    #[test]
    fn next_at_or_after_jumps_to_the_next_member() {
        let mut bits = Bits::EMPTY;
        bits.insert(3);
        bits.insert(59);
        assert_eq!(bits.next_at_or_after(0), Some(3));
        assert_eq!(bits.next_at_or_after(3), Some(3));
        assert_eq!(bits.next_at_or_after(4), Some(59));
        assert_eq!(bits.next_at_or_after(60), None);
        assert_eq!(bits.next_at_or_after(64), None);
        assert_eq!(bits.next_at_or_after(u32::MAX), None);
    }

    #[test]
    fn range_insert_remove_contains() {
        let mut bits = Bits::range(0, 7);
        assert!(bits.contains(7));
        bits.remove(7);
        assert!(!bits.contains(7));
        assert!(!bits.contains(64));
        assert!(bits.intersects(Bits::range(5, 6)));
        assert!(!bits.intersects(Bits::range(8, 9)));
        assert_eq!(Bits::EMPTY.count(), 0);
        assert_eq!(bits.count(), 7);
        assert_eq!(bits.count_below(3), 3);
        assert_eq!(bits.count_below(0), 0);
        assert_eq!(bits.count_below(64), 7);
    }
}
