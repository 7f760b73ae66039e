//! The guids a complete export has written, so each mailbox is written once
//! (a mailbox listed again after a move or a retried pipeline) and the
//! next export knows them (the cookie's `mailboxes`).
//!
//! A hash set of every guid took about 34 bytes per mailbox at its peak
//! (buckets at a load of 7/8, doubled, plus the old table while growing)
//! and was then copied into the cookie's sorted list: about 50 MiB more of
//! the component's memory at 1,000,000 mailboxes, memory a wasm instance
//! never gives back. Here guids are kept in one sorted list (16 bytes each,
//! which is the cookie's own list at the end) and a small hash set of the
//! recent ones, merged into the list whenever it reaches an eighth of it:
//! merges cost a few passes over the list in all, and the recent set stays
//! a few bytes per mailbox.

use std::collections::HashSet;

use super::state::GuidSet;

/// The recent set is merged once it holds this many guids, or an eighth of
/// the sorted list if more (so there are O(log n) merges of O(n) each).
const RECENT_MIN: usize = 1 << 14;

#[derive(Debug, Default)]
pub struct Written {
    /// Sorted, without duplicates.
    settled: Vec<u128>,
    recent: HashSet<u128>,
    recent_min: usize,
}

impl Written {
    pub fn new() -> Self {
        Written::with_recent_min(RECENT_MIN)
    }

    fn with_recent_min(recent_min: usize) -> Self {
        Written {
            settled: Vec::new(),
            recent: HashSet::new(),
            recent_min: recent_min.max(1),
        }
    }

    pub fn contains(&self, guid: u128) -> bool {
        self.recent.contains(&guid) || self.settled.binary_search(&guid).is_ok()
    }

    /// Adds `guid`; `false` if it was there already.
    pub fn insert(&mut self, guid: u128) -> bool {
        if self.contains(guid) {
            return false;
        }
        self.recent.insert(guid);
        if self.recent.len() >= self.recent_min.max(self.settled.len() / 8) {
            self.settle();
        }
        true
    }

    /// Every guid, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.settled.iter().chain(self.recent.iter()).copied()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.settled.len() + self.recent.len()
    }

    /// Merges the recent guids into the sorted list, from its end, in
    /// place: no second copy of the list.
    fn settle(&mut self) {
        if self.recent.is_empty() {
            return;
        }
        let mut recent: Vec<u128> = self.recent.drain().collect();
        recent.sort_unstable();
        let old = self.settled.len();
        self.settled.resize(old + recent.len(), 0);
        let (mut i, mut j, mut k) = (old, recent.len(), self.settled.len());
        // Both runs are sorted and disjoint (a guid is inserted once).
        while j > 0 {
            k -= 1;
            if i > 0 && self.settled[i - 1] > recent[j - 1] {
                i -= 1;
                self.settled[k] = self.settled[i];
            } else {
                j -= 1;
                self.settled[k] = recent[j];
            }
        }
        self.recent = HashSet::new();
    }

    /// The set, as the cookie keeps it.
    pub fn into_set(mut self) -> GuidSet {
        self.settle();
        GuidSet::from_sorted_unique(self.settled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of guids with repeats (xorshift).
    fn guids(count: usize, distinct: u64) -> Vec<u128> {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let n = state % distinct;
                u128::from(n).wrapping_mul(0x0123_4567_89AB_CDEF_0011_2233_4455_6677)
                    ^ u128::from(n)
            })
            .collect()
    }

    #[test]
    fn it_answers_as_a_hash_set_does_across_many_merges() {
        for recent_min in [1, 2, 7, 64, 1 << 20] {
            let mut written = Written::with_recent_min(recent_min);
            let mut reference = HashSet::new();
            for guid in guids(5_000, 1_500) {
                assert_eq!(written.insert(guid), reference.insert(guid), "{guid:x}");
                assert!(written.contains(guid));
                assert_eq!(written.len(), reference.len());
            }
            let mut expected: Vec<u128> = reference.into_iter().collect();
            expected.sort_unstable();
            assert_eq!(written.into_set(), GuidSet::from_unsorted(expected));
        }
    }

    #[test]
    fn extremes_and_an_empty_set() {
        let mut written = Written::with_recent_min(1);
        assert!(written.insert(u128::MAX));
        assert!(written.insert(0));
        assert!(!written.insert(u128::MAX));
        assert!(!written.insert(0));
        assert_eq!(
            written.into_set(),
            GuidSet::from_unsorted(vec![0, u128::MAX])
        );
        assert_eq!(Written::new().into_set(), GuidSet::default());
    }
}
