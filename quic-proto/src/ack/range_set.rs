//! A short sorted set of disjoint `u64` ranges with a floor and a cap.

use core::iter::{FusedIterator, Rev};
use core::ops::RangeInclusive;
use core::slice;

use smallvec::SmallVec;

/// How many ranges a [`RangeSet`] holds without allocating.
const INLINE: usize = 2;

/// One inclusive range of values, `start <= end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u64,
    end: u64,
}

impl Span {
    fn to_range(self) -> RangeInclusive<u64> {
        self.start..=self.end
    }
}

/// A set of `u64` values kept as sorted, disjoint, non-adjacent inclusive
/// ranges: the received packet numbers of one packet-number space.
///
/// The ranges live in a `SmallVec` (eight inline, no allocation for the
/// usual handful of ranges). Adding a value at or just above the top, the
/// common case for packet numbers, is O(1); other insertions find their
/// place by binary search and shift the ranges above.
///
/// # Floor and cap
///
/// The set forgets values in two ways, and remembers that it did through
/// its [floor](RangeSet::floor): every value below the floor has been
/// removed or dropped, so the set can no longer say whether it was present.
/// Values below the floor are never inserted again.
///
/// - [`RangeSet::remove_below`] raises the floor explicitly.
/// - The set holds at most [`RangeSet::limit`] ranges. When an insertion
///   makes one range too many, the lowest range is dropped and the floor
///   rises just above it (RFC 9000 §13.2.3: a receiver limits the ranges it
///   remembers, and "MUST retain an ACK Range unless it can ensure that it
///   will not subsequently accept packets with numbers in that range").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeSet {
    /// Ascending, disjoint, non-adjacent; every value at or above `floor`.
    spans: SmallVec<[Span; INLINE]>,
    floor: u64,
    limit: usize,
}

impl RangeSet {
    /// An empty set holding at most `limit` ranges (at least one).
    pub fn new(limit: usize) -> Self {
        Self {
            spans: SmallVec::new(),
            floor: 0,
            limit: limit.max(1),
        }
    }

    /// An empty set with no cap on its ranges (for tests and models; peer
    /// input needs the cap of [`RangeSet::new`]).
    pub fn unbounded() -> Self {
        Self::new(usize::MAX)
    }

    /// The most ranges the set holds.
    pub const fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the cap, dropping the lowest ranges at once if there are now
    /// too many.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(1);
        self.enforce_limit();
    }

    /// The lowest value the set still speaks for: everything below was
    /// removed or dropped. Zero until something is forgotten.
    pub const fn floor(&self) -> u64 {
        self.floor
    }

    /// The number of ranges (not values).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the set holds no value.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The largest value, if any.
    pub fn max(&self) -> Option<u64> {
        self.spans.last().map(|s| s.end)
    }

    /// The smallest value, if any.
    pub fn min(&self) -> Option<u64> {
        self.spans.first().map(|s| s.start)
    }

    /// Whether `x` is in the set (false for anything below the floor).
    pub fn contains(&self, x: u64) -> bool {
        self.contains_range(x..=x)
    }

    /// Whether every value of `range` is in the set. True for an empty
    /// range.
    pub fn contains_range(&self, range: RangeInclusive<u64>) -> bool {
        let (lo, hi) = (*range.start(), *range.end());
        if lo > hi {
            return true;
        }
        let i = self.spans.partition_point(|s| s.end < lo);
        self.spans
            .get(i)
            .is_some_and(|s| s.start <= lo && hi <= s.end)
    }

    /// Adds `x`; see [`RangeSet::insert_range`].
    pub fn insert(&mut self, x: u64) -> bool {
        self.insert_range(x..=x)
    }

    /// Adds every value of `range` at or above the floor, merging with the
    /// ranges it overlaps or touches, then drops the lowest range if there
    /// are too many.
    ///
    /// Returns whether any value was new: not already present and not below
    /// the floor. (A new value can still be forgotten at once if its range
    /// became the lowest of one range too many.)
    pub fn insert_range(&mut self, range: RangeInclusive<u64>) -> bool {
        let start = (*range.start()).max(self.floor);
        let end = *range.end();
        if start > end {
            return false;
        }
        // Fast path: at or above the top, as packet numbers mostly arrive.
        match self.spans.last_mut() {
            None => {
                self.spans.push(Span { start, end });
                return true;
            }
            Some(top) if start > top.end => {
                if top.end.checked_add(1) == Some(start) {
                    top.end = end;
                } else {
                    self.spans.push(Span { start, end });
                    self.enforce_limit();
                }
                return true;
            }
            Some(_) => {}
        }
        self.insert_general(Span { start, end })
    }

    /// Inserts `new` anywhere: finds the ranges it overlaps or touches by
    /// binary search and replaces them with their union.
    fn insert_general(&mut self, new: Span) -> bool {
        // First range that reaches `new.start - 1` or beyond.
        let i = self
            .spans
            .partition_point(|s| s.end.saturating_add(1) < new.start);
        // One past the last range starting at or before `new.end + 1`.
        let j = self
            .spans
            .partition_point(|s| s.start <= new.end.saturating_add(1));
        if j <= i {
            // Nothing overlaps or touches: a range of its own.
            self.spans.insert(i, new);
            self.enforce_limit();
            return true;
        }
        // Both in bounds: i < j <= len. Bail out rather than panic if not.
        let (Some(first), Some(last)) =
            (self.spans.get(i).copied(), self.spans.get(j - 1).copied())
        else {
            return false;
        };
        let merged = Span {
            start: first.start.min(new.start),
            end: last.end.max(new.end),
        };
        // Several ranges always leave a gap for `new` to fill.
        let added = j - i > 1 || first.start > new.start || first.end < new.end;
        if let Some(slot) = self.spans.get_mut(i) {
            *slot = merged;
        }
        self.spans.drain(i + 1..j);
        added
    }

    /// Drops the lowest ranges while there are more than the limit, raising
    /// the floor above each.
    fn enforce_limit(&mut self) {
        while self.spans.len() > self.limit {
            let lowest = self.spans.remove(0);
            self.floor = self.floor.max(lowest.end.saturating_add(1));
        }
    }

    /// Forgets every value below `x` and raises the floor to `x` (a lower
    /// `x` than the current floor changes nothing).
    pub fn remove_below(&mut self, x: u64) {
        if x <= self.floor {
            return;
        }
        self.floor = x;
        let i = self.spans.partition_point(|s| s.end < x);
        self.spans.drain(..i);
        if let Some(first) = self.spans.first_mut() {
            first.start = first.start.max(x);
        }
    }

    /// The ranges, largest first, as an ACK frame lists them.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.spans.iter().rev(),
        }
    }

    /// The allocated room for ranges (inline or on the heap).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.spans.capacity()
    }
}

impl<'a> IntoIterator for &'a RangeSet {
    type Item = RangeInclusive<u64>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The ranges of a [`RangeSet`], largest first. Cheap to clone, as
/// [`AckFrame::encode_ranges`](crate::frame::AckFrame::encode_ranges) needs.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    inner: Rev<slice::Iter<'a, Span>>,
}

impl Iterator for Iter<'_> {
    type Item = RangeInclusive<u64>;

    fn next(&mut self) -> Option<RangeInclusive<u64>> {
        self.inner.next().map(|s| s.to_range())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<RangeInclusive<u64>> {
        self.inner.next_back().map(|s| s.to_range())
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl FusedIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn ranges(set: &RangeSet) -> Vec<RangeInclusive<u64>> {
        set.iter().collect()
    }

    #[test]
    fn appending_at_the_top_extends_the_top_range() {
        let mut s = RangeSet::new(4);
        for x in 0..100 {
            assert!(s.insert(x));
        }
        assert_eq!(ranges(&s), [0..=99]);
        assert!(s.insert(101));
        assert_eq!(ranges(&s), [101..=101, 0..=99]);
        assert_eq!((s.min(), s.max(), s.len()), (Some(0), Some(101), 2));
    }

    #[test]
    fn insert_merges_both_neighbours() {
        let mut s = RangeSet::unbounded();
        s.insert_range(1..=3);
        s.insert_range(5..=7);
        assert_eq!(ranges(&s), [5..=7, 1..=3]);
        assert!(s.insert(4));
        assert_eq!(ranges(&s), [1..=7]);
    }

    #[test]
    fn insert_range_bridges_several_ranges() {
        let mut s = RangeSet::unbounded();
        for x in [1, 3, 5, 7, 20] {
            s.insert(x);
        }
        assert!(s.insert_range(2..=8));
        assert_eq!(ranges(&s), [20..=20, 1..=8]);
        assert!(!s.insert_range(2..=6), "already present");
        assert!(s.insert_range(0..=0));
        assert_eq!(ranges(&s), [20..=20, 0..=8]);
    }

    #[test]
    fn insert_below_lowest_range_keeps_order() {
        let mut s = RangeSet::unbounded();
        s.insert(10);
        s.insert(5);
        s.insert(0);
        s.insert(7);
        assert_eq!(ranges(&s), [10..=10, 7..=7, 5..=5, 0..=0]);
    }

    #[test]
    fn duplicate_insert_reports_nothing_new() {
        let mut s = RangeSet::unbounded();
        assert!(s.insert(5));
        assert!(!s.insert(5));
        assert!(s.insert_range(4..=6));
        assert!(!s.insert_range(4..=6));
    }

    #[test]
    fn contains_and_contains_range() {
        let mut s = RangeSet::unbounded();
        s.insert_range(3..=6);
        s.insert_range(9..=9);
        assert!(s.contains(3) && s.contains(6) && s.contains(9));
        assert!(!s.contains(2) && !s.contains(7) && !s.contains(10));
        assert!(s.contains_range(4..=6));
        assert!(!s.contains_range(5..=9));
        assert!(s.contains_range(RangeInclusive::new(8, 7)), "empty range");
    }

    #[test]
    fn remove_below_splits_a_range_and_raises_the_floor() {
        let mut s = RangeSet::unbounded();
        s.insert_range(0..=4);
        s.insert_range(6..=9);
        s.remove_below(7);
        assert_eq!(ranges(&s), [7..=9]);
        assert_eq!(s.floor(), 7);
        assert!(!s.insert(5), "below the floor is never inserted");
        assert!(s.insert_range(3..=12));
        assert_eq!(ranges(&s), [7..=12]);
        s.remove_below(2);
        assert_eq!(s.floor(), 7, "the floor never goes down");
    }

    #[test]
    fn cap_drops_the_lowest_range_and_raises_the_floor() {
        let mut s = RangeSet::new(2);
        s.insert(1);
        s.insert(4);
        s.insert(7);
        assert_eq!(ranges(&s), [7..=7, 4..=4]);
        assert_eq!(s.floor(), 2);
        // A new lowest range when at the cap is dropped at once.
        assert!(s.insert(2), "the value was new");
        assert_eq!(ranges(&s), [7..=7, 4..=4]);
        assert_eq!(s.floor(), 3);
        // Touching the lowest range merges instead.
        s.insert(3);
        assert_eq!(ranges(&s), [7..=7, 3..=4]);
        s.set_limit(1);
        assert_eq!(ranges(&s), [7..=7]);
        assert_eq!(s.floor(), 5);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut s = RangeSet::unbounded();
        s.insert(u64::MAX);
        s.insert(u64::MAX - 1);
        s.insert(0);
        assert_eq!(ranges(&s), [u64::MAX - 1..=u64::MAX, 0..=0]);
        s.insert_range(1..=u64::MAX - 2);
        assert_eq!(ranges(&s), [0..=u64::MAX]);
        s.remove_below(u64::MAX);
        assert_eq!(ranges(&s), [u64::MAX..=u64::MAX]);
    }

    #[test]
    fn iteration_is_descending_both_ways() {
        let mut s = RangeSet::unbounded();
        for x in [0, 2, 4] {
            s.insert(x);
        }
        assert_eq!(s.iter().len(), 3);
        assert_eq!(s.iter().rev().collect::<Vec<_>>(), [0..=0, 2..=2, 4..=4]);
        assert_eq!((&s).into_iter().next(), Some(4..=4));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64),
        InsertRange(u64, u64),
        RemoveBelow(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u64..200).prop_map(Op::Insert),
            2 => (0u64..200, 0u64..12).prop_map(|(a, n)| Op::InsertRange(a, a + n)),
            1 => (0u64..200).prop_map(Op::RemoveBelow),
        ]
    }

    /// The model's values as maximal ranges, largest first.
    fn model_ranges(model: &BTreeSet<u64>) -> Vec<RangeInclusive<u64>> {
        let mut out: Vec<RangeInclusive<u64>> = Vec::new();
        for &x in model.iter().rev() {
            match out.last_mut() {
                Some(r) if *r.start() == x + 1 => *r = x..=*r.end(),
                _ => out.push(x..=x),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn matches_a_btreeset_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut set = RangeSet::unbounded();
            let mut model = BTreeSet::new();
            let mut floor = 0;
            for op in ops {
                match op {
                    Op::Insert(x) => {
                        let new = x >= floor && model.insert(x);
                        prop_assert_eq!(set.insert(x), new);
                    }
                    Op::InsertRange(a, b) => {
                        let mut new = false;
                        for x in a.max(floor)..=b {
                            new |= model.insert(x);
                        }
                        prop_assert_eq!(set.insert_range(a..=b), new);
                    }
                    Op::RemoveBelow(x) => {
                        floor = floor.max(x);
                        model.retain(|&y| y >= x);
                        set.remove_below(x);
                    }
                }
                prop_assert_eq!(set.floor(), floor);
                prop_assert_eq!(ranges(&set), model_ranges(&model));
            }
            for x in 0..220 {
                prop_assert_eq!(set.contains(x), model.contains(&x));
            }
        }

        #[test]
        fn capped_set_keeps_the_highest_values(
            xs in proptest::collection::vec(0u64..500, 0..300),
            limit in 1usize..10,
        ) {
            let mut set = RangeSet::new(limit);
            let mut model = BTreeSet::new();
            for x in xs {
                set.insert(x);
                model.insert(x);
                prop_assert!(set.len() <= limit);
            }
            // Whatever the set still holds is true, and above the floor it
            // holds everything the model does.
            for x in 0..500 {
                if x >= set.floor() {
                    prop_assert_eq!(set.contains(x), model.contains(&x));
                } else {
                    prop_assert!(!set.contains(x));
                }
            }
        }
    }
}
