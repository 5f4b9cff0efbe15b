//! A set of disjoint half-open byte ranges, `[start, end)`.
//!
//! Used for the ranges of a send buffer that were acknowledged out of order
//! or declared lost, and for the out-of-order pieces of a receive buffer.
//! Those sets are usually empty or tiny, but the peer shapes two of them
//! (which of our packets it acknowledges, which offsets it sends), so every
//! operation is O(log n) rather than the O(n) memmove of a sorted vector: a
//! `BTreeMap` from start to end. An empty set allocates nothing.

use std::collections::BTreeMap;

/// Disjoint, non-touching `[start, end)` ranges: adjacent inserts merge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RangeSet {
    map: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// An empty set (no allocation).
    pub(crate) const fn new() -> Self {
        Self {
            map: BTreeMap::new(),
        }
    }

    /// Whether the set holds no range.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The number of disjoint ranges.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The lowest range.
    pub(crate) fn first(&self) -> Option<(u64, u64)> {
        self.map.first_key_value().map(|(&s, &e)| (s, e))
    }

    /// Removes and returns the lowest range.
    pub(crate) fn pop_first(&mut self) -> Option<(u64, u64)> {
        self.map.pop_first()
    }

    /// Drops every range.
    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    /// Adds `[start, end)`, merging with overlapping or touching ranges.
    /// O(log n) plus the ranges merged away.
    pub(crate) fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut s, mut e) = (start, end);
        if let Some((&ps, &pe)) = self.map.range(..=s).next_back() {
            if pe >= s {
                s = ps;
                e = e.max(pe);
                self.map.remove(&ps);
            }
        }
        while let Some((&k, &v)) = self.map.range(s..=e).next() {
            e = e.max(v);
            self.map.remove(&k);
        }
        self.map.insert(s, e);
    }

    /// Removes `[start, end)`, splitting ranges that straddle its ends.
    pub(crate) fn remove(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        if let Some((&ps, &pe)) = self.map.range(..start).next_back() {
            if pe > start {
                self.map.insert(ps, start);
                if pe > end {
                    self.map.insert(end, pe);
                    return;
                }
            }
        }
        while let Some((&k, &v)) = self.map.range(start..end).next() {
            self.map.remove(&k);
            if v > end {
                self.map.insert(end, v);
                break;
            }
        }
    }

    /// Calls `f` with each maximal piece of `[start, end)` that no range
    /// covers, in increasing order.
    pub(crate) fn for_each_gap(&self, start: u64, end: u64, mut f: impl FnMut(u64, u64)) {
        let mut at = start;
        if let Some((_, &pe)) = self.map.range(..=start).next_back() {
            at = at.max(pe);
        }
        for (&s, &e) in self.map.range(start..end) {
            if s > at {
                f(at, s.min(end));
            }
            at = at.max(e);
        }
        if at < end {
            f(at, end);
        }
    }

    /// The ranges, lowest first.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.map.iter().map(|(&s, &e)| (s, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(ranges: &[(u64, u64)]) -> RangeSet {
        let mut s = RangeSet::new();
        for &(a, b) in ranges {
            s.insert(a, b);
        }
        s
    }

    fn ranges(s: &RangeSet) -> Vec<(u64, u64)> {
        s.iter().collect()
    }

    fn gaps(s: &RangeSet, a: u64, b: u64) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        s.for_each_gap(a, b, |x, y| v.push((x, y)));
        v
    }

    #[test]
    fn inserts_merge_overlapping_and_touching_ranges() {
        let mut s = set(&[(10, 20), (30, 40)]);
        assert_eq!(ranges(&s), [(10, 20), (30, 40)]);
        s.insert(20, 25);
        assert_eq!(ranges(&s), [(10, 25), (30, 40)]);
        s.insert(5, 50);
        assert_eq!(ranges(&s), [(5, 50)]);
        s.insert(0, 0);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn remove_splits_straddling_ranges() {
        let mut s = set(&[(0, 100)]);
        s.remove(10, 20);
        assert_eq!(ranges(&s), [(0, 10), (20, 100)]);
        s.remove(5, 30);
        assert_eq!(ranges(&s), [(0, 5), (30, 100)]);
        s.remove(0, 200);
        assert!(s.is_empty());
    }

    #[test]
    fn gaps_are_the_uncovered_pieces() {
        let s = set(&[(10, 20), (30, 40)]);
        assert_eq!(gaps(&s, 0, 50), [(0, 10), (20, 30), (40, 50)]);
        assert_eq!(gaps(&s, 15, 35), [(20, 30)]);
        assert_eq!(gaps(&s, 12, 18), []);
    }

    proptest! {
        #[test]
        fn matches_a_bitmap_model(ops in proptest::collection::vec((any::<bool>(), 0u64..64, 0u64..16), 0..40)) {
            let mut s = RangeSet::new();
            let mut model = [false; 80];
            for (add, start, len) in ops {
                let end = start + len;
                if add { s.insert(start, end) } else { s.remove(start, end) }
                for b in &mut model[start as usize..end as usize] { *b = add; }
                let mut covered = [false; 80];
                let mut last_end = None;
                for (a, b) in s.iter() {
                    prop_assert!(a < b);
                    if let Some(le) = last_end { prop_assert!(a > le, "touching ranges not merged"); }
                    last_end = Some(b);
                    for c in &mut covered[a as usize..b as usize] { *c = true; }
                }
                prop_assert_eq!(covered, model);
                let mut uncovered = [false; 80];
                s.for_each_gap(0, 80, |a, b| for c in &mut uncovered[a as usize..b as usize] { *c = true; });
                prop_assert!(uncovered.iter().zip(&model).all(|(u, m)| *u != *m));
            }
        }
    }
}
