//! A set of sequence numbers kept as disjoint inclusive ranges.
//!
//! Streams are almost always contiguous, so a stream's stored samples collapse into a handful of
//! ranges however long it runs; the number of ranges grows only with the number of gaps.

use std::collections::BTreeMap;

/// Disjoint, non-adjacent inclusive ranges `start..=end`, keyed by start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqRanges {
    ranges: BTreeMap<u64, u64>,
}

impl SeqRanges {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `first..=last` and returns how many of those numbers were not in the set before.
    pub fn insert(&mut self, first: u64, last: u64) -> u64 {
        debug_assert!(first <= last);
        let added = self.uncovered(first, last).iter().map(|(a, b)| b - a + 1).sum();
        let mut start = first;
        let mut end = last;
        // Merge with a range that starts before `first` and reaches it (or touches it).
        if let Some((&s, &e)) = self.ranges.range(..=first).next_back()
            && e.saturating_add(1) >= first
        {
            start = s;
            end = end.max(e);
            self.ranges.remove(&s);
        }
        // Swallow every range that starts inside `start..=end + 1`.
        loop {
            let next =
                self.ranges.range(start..=end.saturating_add(1)).next().map(|(&s, &e)| (s, e));
            match next {
                Some((s, e)) => {
                    end = end.max(e);
                    self.ranges.remove(&s);
                }
                None => break,
            }
        }
        self.ranges.insert(start, end);
        added
    }

    /// The parts of `first..=last` not in the set, in order.
    pub fn uncovered(&self, first: u64, last: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut cursor = first;
        // A range starting before `first` may cover its beginning.
        if let Some((_, &e)) = self.ranges.range(..first).next_back()
            && e >= first
        {
            if e >= last {
                return out;
            }
            cursor = e + 1;
        }
        for (&s, &e) in self.ranges.range(first..=last) {
            if s > cursor {
                out.push((cursor, s - 1));
            }
            if e >= last {
                return out;
            }
            cursor = cursor.max(e + 1);
        }
        if cursor <= last {
            out.push((cursor, last));
        }
        out
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.ranges.range(..=seq).next_back().is_some_and(|(_, &e)| e >= seq)
    }

    /// How many numbers the set holds.
    pub fn count(&self) -> u64 {
        self.ranges.iter().map(|(s, e)| e - s + 1).sum()
    }

    /// Largest number in the set.
    pub fn max(&self) -> Option<u64> {
        self.ranges.iter().next_back().map(|(_, &e)| e)
    }

    /// The highest `n` such that every number `0..=n` is in the set.
    pub fn contiguous_from_zero(&self) -> Option<u64> {
        self.ranges.get(&0).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The ranges, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(&s, &e)| (s, e))
    }

    /// Number of disjoint ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Union of two sets.
    pub fn union(&self, other: &SeqRanges) -> SeqRanges {
        let mut u = self.clone();
        for (s, e) in other.iter() {
            u.insert(s, e);
        }
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn merges_adjacent_and_overlapping_ranges() {
        let mut r = SeqRanges::new();
        assert_eq!(r.insert(10, 19), 10);
        assert_eq!(r.insert(0, 4), 5);
        assert_eq!(r.len(), 2);
        assert_eq!(r.insert(5, 9), 5);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(0, 19)]);
        assert_eq!(r.insert(3, 25), 6);
        assert_eq!(r.contiguous_from_zero(), Some(25));
        assert_eq!(r.insert(30, 30), 1);
        assert_eq!(r.uncovered(0, 40), vec![(26, 29), (31, 40)]);
        assert_eq!(r.count(), 27);
        assert_eq!(r.max(), Some(30));
        assert!(r.contains(30) && !r.contains(29));
    }

    #[test]
    fn no_zero_means_no_watermark() {
        let mut r = SeqRanges::new();
        r.insert(1, 100);
        assert_eq!(r.contiguous_from_zero(), None);
        r.insert(0, 0);
        assert_eq!(r.contiguous_from_zero(), Some(100));
    }

    #[test]
    fn handles_the_top_of_the_sequence_space() {
        let mut r = SeqRanges::new();
        r.insert(u64::MAX - 1, u64::MAX);
        r.insert(u64::MAX - 5, u64::MAX - 2);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![(u64::MAX - 5, u64::MAX)]);
        assert!(r.uncovered(u64::MAX - 5, u64::MAX).is_empty());
    }

    proptest! {
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((0u64..200, 0u64..20), 1..60)) {
            let mut r = SeqRanges::new();
            let mut model = BTreeSet::new();
            for (start, len) in ops {
                let end = start + len;
                let before = model.len();
                let uncovered: u64 = r.uncovered(start, end).iter().map(|(a, b)| b - a + 1).sum();
                let expected_new = (start..=end).filter(|x| !model.contains(x)).count() as u64;
                prop_assert_eq!(uncovered, expected_new);
                let added = r.insert(start, end);
                model.extend(start..=end);
                prop_assert_eq!(added, (model.len() - before) as u64);
                prop_assert_eq!(r.count(), model.len() as u64);
                // Disjoint and non-adjacent.
                let v: Vec<_> = r.iter().collect();
                for w in v.windows(2) {
                    prop_assert!(w[0].1 + 1 < w[1].0);
                }
            }
            for x in 0..230 {
                prop_assert_eq!(r.contains(x), model.contains(&x));
            }
            let zero_run = (0..).take_while(|x| model.contains(x)).last();
            prop_assert_eq!(r.contiguous_from_zero(), zero_run);
        }
    }
}
