//! A compact set of event-id fingerprints, for finding duplicates among hundreds of
//! millions of events in bounded memory.
//!
//! An id is reduced to a 128-bit hash (two independent 64-bit foldhash values). Its top
//! 12 bits choose one of 4,096 partitions, and each partition keeps the other hash's 64
//! bits, so the set decides membership on a 76-bit fingerprint: among 100 million
//! stored and 100 million new events, the expected number of new events wrongly taken
//! as duplicates is about 1e16 / 2^76 ≈ 1.3e-7. Each partition holds a sorted vector
//! (8 bytes per id, searched by bisection) and a small hash set of recent insertions,
//! merged into the vector when it reaches a sixteenth of it (a directory of the
//! vector's buckets makes a lookup one or two cache lines); merging touches one
//! partition at a time, so growing the set never holds two copies of it. Memory is
//! about 8.5 bytes per id (850 MB for 100 million), where a `HashSet<String>` of the
//! ids took 60–100 bytes each.
//!
//! Written here rather than taken from a crate: an exact set would hold the ids (too
//! big), a Bloom or cuckoo filter answers "maybe" (a duplicate must be certain to be
//! dropped), and the partitioned sorted layout is what keeps growth from doubling
//! memory.

use std::hash::{BuildHasher, Hasher};

use hashbrown::HashSet;

const PARTITION_BITS: u32 = 12;
const PARTITIONS: usize = 1 << PARTITION_BITS;
const SEEDS: (u64, u64) = (0x5241_5050_4f52_5431, 0x6964_7365_7421_2121);

/// The fingerprint of an event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    partition: u16,
    value: u64,
}

impl Fingerprint {
    /// The fingerprint of `id`.
    pub fn of(id: &[u8]) -> Fingerprint {
        let first = foldhash::quality::FixedState::with_seed(SEEDS.0).hash_one(id);
        let second = foldhash::quality::FixedState::with_seed(SEEDS.1).hash_one(id);
        Fingerprint { partition: (first >> (64 - PARTITION_BITS)) as u16, value: second }
    }
}

/// Values are already uniform hashes: mix them once so hashbrown's control bits (the
/// top seven) differ between entries.
#[derive(Debug, Clone, Copy, Default)]
struct Mix;

#[derive(Debug, Default)]
struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl BuildHasher for Mix {
    type Hasher = MixHasher;
    fn build_hasher(&self) -> MixHasher {
        MixHasher::default()
    }
}

#[derive(Debug, Default)]
struct Partition {
    sorted: Vec<u64>,
    /// Where each bucket of values (by their top `bucket_bits`) starts in `sorted`, so a
    /// lookup reads one directory entry and a cache line or two of `sorted` rather than
    /// bisecting the whole vector (a cache miss per step: two thirds of an ingest's
    /// time went there). Values are uniform hashes, so buckets hold about eight each.
    directory: Vec<u32>,
    bucket_bits: u32,
    recent: HashSet<u64, Mix>,
}

impl Partition {
    fn in_sorted(&self, value: u64) -> bool {
        if self.sorted.is_empty() {
            return false;
        }
        let bucket = if self.bucket_bits == 0 { 0 } else { (value >> (64 - self.bucket_bits)) as usize };
        let (start, end) = (self.directory[bucket] as usize, self.directory[bucket + 1] as usize);
        self.sorted[start..end].binary_search(&value).is_ok()
    }

    fn contains(&self, value: u64) -> bool {
        self.recent.contains(&value) || self.in_sorted(value)
    }

    fn merge_recent(&mut self) {
        let mut recent: Vec<u64> = self.recent.drain().collect();
        recent.sort_unstable();
        let mut merged = Vec::with_capacity(self.sorted.len() + recent.len());
        let (mut i, mut j) = (0, 0);
        while i < self.sorted.len() && j < recent.len() {
            if self.sorted[i] <= recent[j] {
                merged.push(self.sorted[i]);
                i += 1;
            } else {
                merged.push(recent[j]);
                j += 1;
            }
        }
        merged.extend_from_slice(&self.sorted[i..]);
        merged.extend_from_slice(&recent[j..]);
        self.sorted = merged;
        // `drain` kept the recent set's table: it refills to the same size without
        // growing (and rehashing) again.
        self.bucket_bits = (self.sorted.len() / 8).max(1).next_power_of_two().trailing_zeros();
        let buckets = 1usize << self.bucket_bits;
        self.directory.clear();
        self.directory.reserve(buckets + 1);
        let mut position = 0usize;
        for bucket in 0..buckets {
            while position < self.sorted.len()
                && self.bucket_bits > 0
                && ((self.sorted[position] >> (64 - self.bucket_bits)) as usize) < bucket
            {
                position += 1;
            }
            self.directory.push(position as u32);
        }
        self.directory.push(self.sorted.len() as u32);
    }
}

/// A set of [`Fingerprint`]s.
#[derive(Debug)]
pub struct FingerprintSet {
    partitions: Vec<Partition>,
    len: u64,
}

impl Default for FingerprintSet {
    fn default() -> Self {
        FingerprintSet { partitions: (0..PARTITIONS).map(|_| Partition::default()).collect(), len: 0 }
    }
}

impl FingerprintSet {
    /// An empty set.
    pub fn new() -> FingerprintSet {
        FingerprintSet::default()
    }

    /// How many fingerprints the set holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the set holds `fingerprint`.
    pub fn contains(&self, fingerprint: Fingerprint) -> bool {
        self.partitions[usize::from(fingerprint.partition)].contains(fingerprint.value)
    }

    /// Add `fingerprint`; false if it was already there.
    pub fn insert(&mut self, fingerprint: Fingerprint) -> bool {
        let partition = &mut self.partitions[usize::from(fingerprint.partition)];
        if partition.in_sorted(fingerprint.value) || !partition.recent.insert(fingerprint.value) {
            return false;
        }
        if partition.recent.len() >= (partition.sorted.len() / 16).max(256) {
            partition.merge_recent();
        }
        self.len += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_inserted_and_nothing_else() {
        let mut set = FingerprintSet::new();
        for id in 0..200_000u32 {
            assert!(set.insert(Fingerprint::of(format!("order-{id}").as_bytes())));
        }
        assert_eq!(set.len(), 200_000);
        for id in 0..200_000u32 {
            assert!(set.contains(Fingerprint::of(format!("order-{id}").as_bytes())), "{id}");
            assert!(!set.insert(Fingerprint::of(format!("order-{id}").as_bytes())));
        }
        let strangers = (200_000..400_000u32).filter(|id| set.contains(Fingerprint::of(format!("order-{id}").as_bytes()))).count();
        assert_eq!(strangers, 0);
        assert_eq!(set.len(), 200_000);
    }
}
