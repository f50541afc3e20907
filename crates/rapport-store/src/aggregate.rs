//! Per-customer aggregation: rows keyed by customer id in, one folded value per
//! customer out, on all cores.
//!
//! A [`Grouper`] interns each customer id and buffers the row's value (any small `Copy`
//! type) under the id's index. Ids are spread over [`PARTITIONS`] partitions by a fixed
//! hash of the id, so the same id lands in the same partition in every grouper, on every
//! core and every machine. Groupers fed from different parts of the input merge (merge
//! only appends; the pieces are combined partition by partition when folded). Folding
//! hands each customer's rows to a pure function — the analysis's rules, which live in
//! core — and keeps only its result: after the fold, the state is one value per
//! customer, whatever the number of rows.
//!
//! Partial results merge in two ways. Before the fold, groupers merge ([`Grouper::merge`]).
//! After the fold, results over disjoint sets of customers merge ([`Folded::merge`]):
//! rows shuffled by customer (a partition's customers to one worker, as a cluster's
//! hash repartition does) fold independently, and their results combine exactly.
//!
//! The layout is the radix-partitioned aggregation of DuckDB and polars, written by hand
//! because the rows are folded by rules (lifetimes' period semantics) that no
//! off-the-shelf aggregate expresses, and because the summary's speed depends on every
//! row costing one cache-resident hash probe (see the notes on each piece).

use std::hash::BuildHasher;

use arrow::array::{Array, LargeStringArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use foldhash::fast::FixedState;
use hashbrown::HashTable;
use rapport_core::table::{NaturalKey, natural_tail};
use rayon::iter::{IndexedParallelIterator, IntoParallelIterator, ParallelExtend, ParallelIterator};
use rayon::slice::{ParallelSlice, ParallelSliceMut};

/// Customer ids are spread over this many partitions by hash, so that each partition's
/// intern table is small enough to stay in cache while a batch of rows for it is
/// processed. One big table of a million ids made every row a cache miss; this is 2–3×
/// faster.
const PARTITION_BITS: u32 = 10;
/// Number of partitions.
pub const PARTITIONS: usize = 1 << PARTITION_BITS;
/// Rows buffered before they are routed to their partitions.
const BATCH_ROWS: usize = 1 << 19;
/// Bytes of long ids buffered before the rows are routed: bounds the buffer's memory and
/// keeps its offsets within `u32` whatever the ids' length.
const BATCH_ID_BYTES: usize = 64 << 20;
/// The fixed seed of the id hash: partitions agree across groupers and machines.
const SEED: u64 = 0x5241_5050;

/// The partition of a customer id (the same in every grouper).
pub fn partition_of(customer: &str) -> usize {
    partition_of_hash(FixedState::with_seed(SEED).hash_one(customer.as_bytes()))
}

fn partition_of_hash(hash: u64) -> usize {
    (hash >> (64 - PARTITION_BITS)) as usize
}

/// A buffered row: the customer's index in its partition and the value.
#[derive(Debug, Clone, Copy)]
struct Entry<T> {
    customer: u32,
    value: T,
}

/// One partition of one grouper: its interned ids and their rows.
#[derive(Debug, Clone)]
struct Piece<T> {
    /// The interned ids, found by hash.
    index: HashTable<Slot>,
    /// The ids, back to back; id `i` ends at `name_ends[i]`.
    name_bytes: Vec<u8>,
    name_ends: Vec<u32>,
    rows: Rows<T>,
}

impl<T> Default for Piece<T> {
    fn default() -> Self {
        Piece { index: HashTable::new(), name_bytes: Vec::new(), name_ends: Vec::new(), rows: Rows { chunks: Vec::new() } }
    }
}

/// One partition's rows in chunks that never move. A vector growing by doubling copied
/// every row about once more and could leave half its capacity unused (with chunks, the
/// 100-million-row summary peaked 170 MB lower). Chunks start small (a partition of a
/// small file holds a few rows) and grow to [`CHUNK_ROWS`], so at most one partly filled
/// chunk of that size per partition is unused.
#[derive(Debug, Clone)]
struct Rows<T> {
    chunks: Vec<Vec<Entry<T>>>,
}

const CHUNK_ROWS: usize = 2048;

impl<T: Copy> Rows<T> {
    #[inline]
    fn push(&mut self, entry: Entry<T>) {
        if let Some(chunk) = self.chunks.last_mut()
            && chunk.len() < chunk.capacity()
        {
            return chunk.push(entry);
        }
        let capacity = self.chunks.last().map_or(16, |last| (last.capacity() * 2).min(CHUNK_ROWS));
        let mut chunk = Vec::with_capacity(capacity);
        chunk.push(entry);
        self.chunks.push(chunk);
    }

    fn iter(&self) -> impl Iterator<Item = &Entry<T>> + Clone {
        self.chunks.iter().flatten()
    }
}

/// A hash table slot: the id's hash, index and first 16 bytes (zero-padded), so that
/// looking up an id of up to 16 bytes reads one cache line of the table and nothing else.
/// Looking the id up in `name_bytes` through `name_ends` cost two more dependent cache
/// misses per row, and interning was then a quarter of a ten-million-row summary.
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    index: u32,
    len: u32,
    prefix: [u8; INLINE],
}

const INLINE: usize = 16;

fn prefix_of(id: &[u8]) -> [u8; INLINE] {
    let mut prefix = [0u8; INLINE];
    let shown = id.len().min(INLINE);
    prefix[..shown].copy_from_slice(&id[..shown]);
    prefix
}

impl<T> Piece<T> {
    fn name(&self, index: u32) -> &[u8] {
        let index = index as usize;
        let start = if index == 0 { 0 } else { self.name_ends[index - 1] as usize };
        &self.name_bytes[start..self.name_ends[index] as usize]
    }

    fn customers(&self) -> usize {
        self.name_ends.len()
    }

    /// The index of the id (its hash and first bytes given), added if new.
    fn intern(&mut self, hash: u64, prefix: [u8; INLINE], customer: &[u8]) -> u32 {
        let Piece { index, name_bytes, name_ends, .. } = self;
        let len = customer.len() as u32;
        let found = index.find(hash, |slot| {
            slot.hash == hash
                && slot.len == len
                && slot.prefix == prefix
                && (customer.len() <= INLINE || {
                    let candidate = slot.index as usize;
                    let start = if candidate == 0 { 0 } else { name_ends[candidate - 1] as usize };
                    same_bytes(&name_bytes[start..name_ends[candidate] as usize], customer)
                })
        });
        if let Some(slot) = found {
            return slot.index;
        }
        let next = self.name_ends.len() as u32;
        self.name_bytes.extend_from_slice(customer);
        self.name_ends.push(self.name_bytes.len() as u32);
        self.index.insert_unique(hash, Slot { hash, index: next, len, prefix }, |slot| slot.hash);
        next
    }
}

/// Byte equality without a libc call for short ids (most customer ids are under 16
/// bytes, and `==` on slices calls `memcmp`, which was a fifth of `rapport summary`'s
/// time on ten million rows).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Whole 8-byte words compare as integers; the tail byte by byte.
    let ((a_words, a_tail), (b_words, b_tail)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    a_words.iter().zip(b_words).all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y))
        && a_tail.iter().zip(b_tail).all(|(x, y)| x == y)
}

/// A row waiting to be routed to its partition. The id's first bytes travel with it:
/// reading them from a side buffer after the rows were scattered into partition order
/// missed cache on almost every row. Longer ids also keep their bytes in `pending_bytes`.
#[derive(Debug, Clone, Copy)]
struct Pending<T> {
    hash: u64,
    prefix: [u8; INLINE],
    /// Where a longer id's bytes start in `pending_bytes`.
    start: u32,
    len: u32,
    value: T,
}

/// Rows grouped by customer id, mergeable, folded per customer at the end.
///
/// Memory: `4 + size_of::<T>()` bytes per row (rounded to `T`'s alignment) plus each
/// distinct customer id once. Keep `T` small: the summary's row is 12 bytes.
#[derive(Debug, Clone)]
pub struct Grouper<T> {
    hasher: FixedState,
    /// Per partition, the pieces from every grouper merged into this one; new rows go to
    /// the first. Merging only appends pieces: they are combined partition by partition,
    /// in parallel, when folded (merging eagerly re-interned every id of the merged
    /// grouper on one core, a seventh of a ten-million-row summary).
    partitions: Vec<Vec<Piece<T>>>,
    /// Bytes of pending ids longer than [`INLINE`].
    pending_bytes: Vec<u8>,
    pending: Vec<Pending<T>>,
    routed: Vec<Pending<T>>,
}

impl<T: Copy + Send + Sync> Default for Grouper<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Send + Sync> Grouper<T> {
    /// An empty grouper.
    pub fn new() -> Self {
        Grouper {
            hasher: FixedState::with_seed(SEED),
            partitions: (0..PARTITIONS).map(|_| vec![Piece::default()]).collect(),
            pending_bytes: Vec::new(),
            pending: Vec::new(),
            routed: Vec::new(),
        }
    }

    /// Add one row of `customer`.
    #[inline]
    pub fn push(&mut self, customer: &str, value: T) {
        let customer = customer.as_bytes();
        let start = self.pending_bytes.len() as u32;
        if customer.len() > INLINE {
            self.pending_bytes.extend_from_slice(customer);
        }
        let hash = self.hasher.hash_one(customer);
        self.pending.push(Pending { hash, prefix: prefix_of(customer), start, len: customer.len() as u32, value });
        if self.pending.len() >= BATCH_ROWS || self.pending_bytes.len() >= BATCH_ID_BYTES {
            self.flush();
        }
    }

    /// Intern the buffered rows into their partitions, one partition at a time. Done
    /// automatically; call it when a worker's share of the rows is complete so that the
    /// work happens on that worker rather than in [`Grouper::merge`].
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut counts = vec![0u32; PARTITIONS + 1];
        for row in &self.pending {
            counts[partition_of_hash(row.hash) + 1] += 1;
        }
        for index in 1..=PARTITIONS {
            counts[index] += counts[index - 1];
        }
        let placeholder = self.pending[0];
        self.routed.clear();
        self.routed.resize(self.pending.len(), placeholder);
        for row in &self.pending {
            let slot = &mut counts[partition_of_hash(row.hash)];
            self.routed[*slot as usize] = *row;
            *slot += 1;
        }
        for row in &self.routed {
            let piece = &mut self.partitions[partition_of_hash(row.hash)][0];
            let id = if row.len as usize <= INLINE {
                &row.prefix[..row.len as usize]
            } else {
                &self.pending_bytes[row.start as usize..(row.start + row.len) as usize]
            };
            let customer = piece.intern(row.hash, row.prefix, id);
            piece.rows.push(Entry { customer, value: row.value });
        }
        self.pending.clear();
        self.pending_bytes.clear();
    }

    /// Take in another grouper's rows.
    pub fn merge(&mut self, mut other: Grouper<T>) {
        self.flush();
        other.flush();
        for (mine, theirs) in self.partitions.iter_mut().zip(other.partitions) {
            mine.extend(theirs.into_iter().filter(|piece| piece.customers() > 0));
        }
    }

    /// Fold each customer's rows with `fold` (given them in no particular order, to sort
    /// as it needs) and keep the customers it returns a value for, ordered by id
    /// ([`rapport_core::table::natural_order`]: numbers by value).
    pub fn fold<R: Send + Sync>(mut self, fold: impl Fn(&mut [T]) -> Option<R> + Sync) -> Folded<R> {
        self.flush();
        // Each partition folds its customers and keeps its ids where they are: results
        // point at them by (partition, index), and the ids are copied once, in order,
        // into the string column (a `String` per customer cost an allocation and a free
        // for each of millions of ids).
        let folded: Vec<(Piece<T>, Vec<Keyed<R>>)> = self
            .partitions
            .into_par_iter()
            .enumerate()
            .map(|(partition, pieces)| {
                let mut grouped = Grouped::of(pieces);
                let mut out = Vec::with_capacity(grouped.customers());
                for customer in 0..grouped.customers() {
                    let Some(value) = fold(grouped.rows_mut(customer)) else { continue };
                    out.push(Keyed {
                        key: NaturalKey::of(grouped.names.name(customer as u32)),
                        partition: partition as u32,
                        name: customer as u32,
                        value,
                    });
                }
                (grouped.names, out)
            })
            .collect();
        let (names, parts): (Vec<Piece<T>>, Vec<Vec<Keyed<R>>>) = folded.into_iter().unzip();
        let mut rows = Vec::with_capacity(parts.iter().map(Vec::len).sum());
        rows.par_extend(parts.into_par_iter().flatten());
        let name_of = |row: &Keyed<R>| names[row.partition as usize].name(row.name);
        // The key of each id is computed once (above, in parallel); the tail comparison
        // is needed only for ties.
        rows.par_sort_unstable_by(|a, b| a.key.cmp(&b.key).then_with(|| natural_tail(name_of(a), name_of(b))));
        let ids = gather_ids(&rows, &names);
        // Freeing a thousand partitions' tables and ids, in parallel as they were built.
        names.into_par_iter().for_each(drop);
        Folded { ids, values: rows.into_iter().map(|row| row.value).collect() }
    }

    /// Visit every customer's rows (in no particular order) into per-partition
    /// accumulators started by `identity`, combined by `combine`: for results that are
    /// not per customer (a histogram over all customers, say).
    pub fn reduce<A: Send>(
        mut self,
        identity: impl Fn() -> A + Sync + Send,
        visit: impl Fn(&mut A, &mut [T]) + Sync + Send,
        combine: impl Fn(A, A) -> A + Sync + Send,
    ) -> A {
        self.flush();
        self.partitions
            .into_par_iter()
            .map(|pieces| {
                let mut grouped = Grouped::of(pieces);
                let mut accumulator = identity();
                for customer in 0..grouped.customers() {
                    visit(&mut accumulator, grouped.rows_mut(customer));
                }
                accumulator
            })
            .reduce(&identity, &combine)
    }
}

/// One customer's folded value, pointing at its id in its partition.
struct Keyed<R> {
    key: NaturalKey,
    partition: u32,
    name: u32,
    value: R,
}

/// Folded values, one per customer, ordered by id.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded<R> {
    /// The customer ids, in [`rapport_core::table::natural_order`].
    pub ids: LargeStringArray,
    /// One value per id.
    pub values: Vec<R>,
}

impl<R> Folded<R> {
    /// Combine results over disjoint sets of customers (from different partitions or
    /// machines) into one, in id order. A customer in both keeps both values: callers
    /// shuffle rows by customer so that this does not happen.
    pub fn merge(self, other: Folded<R>) -> Folded<R> {
        let (left, right) = (self, other);
        let mut ids = Vec::with_capacity(left.ids.len() + right.ids.len());
        let mut values = Vec::with_capacity(ids.capacity());
        let (mut left_values, mut right_values) = (left.values.into_iter(), right.values.into_iter());
        let (mut i, mut j) = (0, 0);
        while i < left.ids.len() || j < right.ids.len() {
            let take_left = j == right.ids.len()
                || (i < left.ids.len()
                    && rapport_core::table::natural_order(left.ids.value(i), right.ids.value(j)) != std::cmp::Ordering::Greater);
            if take_left {
                ids.push(left.ids.value(i));
                values.extend(left_values.next());
                i += 1;
            } else {
                ids.push(right.ids.value(j));
                values.extend(right_values.next());
                j += 1;
            }
        }
        Folded { ids: LargeStringArray::from_iter_values(ids), values }
    }
}

/// One partition's pieces combined: the ids of the first piece extended with the
/// others', and every row grouped by customer (a counting sort on the dense customer
/// index: linear, where the comparison sort of all of a partition's rows it replaces was
/// n log n).
struct Grouped<T> {
    names: Piece<T>,
    values: Vec<T>,
    starts: Vec<u32>,
}

impl<T: Copy> Grouped<T> {
    fn of(mut pieces: Vec<Piece<T>>) -> Grouped<T> {
        let mut names = pieces.swap_remove(0);
        let first_rows = std::mem::replace(&mut names.rows, Rows { chunks: Vec::new() });
        let mut remaps: Vec<Vec<u32>> = vec![Vec::new()];
        for piece in &pieces {
            // The piece's own slots hold each id's hash and prefix.
            let mut remap = vec![0; piece.customers()];
            for slot in piece.index.iter() {
                remap[slot.index as usize] = names.intern(slot.hash, slot.prefix, piece.name(slot.index));
            }
            remaps.push(remap);
        }
        let customers = names.customers();
        let sources =
            std::iter::once((&first_rows, &remaps[0])).chain(pieces.iter().zip(&remaps[1..]).map(|(piece, remap)| (&piece.rows, remap)));
        let (values, starts) = group_rows(customers, sources);
        Grouped { names, values, starts }
    }

    fn customers(&self) -> usize {
        self.names.customers()
    }

    fn rows_mut(&mut self, customer: usize) -> &mut [T] {
        &mut self.values[self.starts[customer] as usize..self.starts[customer + 1] as usize]
    }
}

/// Values of several pieces in customer order (customer indexes mapped through each
/// piece's remap; an empty remap is the identity), with the start of every customer's.
fn group_rows<'a, T: Copy + 'a>(
    customers: usize,
    sources: impl Iterator<Item = (&'a Rows<T>, &'a Vec<u32>)> + Clone,
) -> (Vec<T>, Vec<u32>) {
    let map = |remap: &Vec<u32>, customer: u32| if remap.is_empty() { customer } else { remap[customer as usize] };
    let mut starts = vec![0u32; customers + 1];
    for (rows, remap) in sources.clone() {
        for row in rows.iter() {
            starts[map(remap, row.customer) as usize + 1] += 1;
        }
    }
    for index in 1..=customers {
        starts[index] += starts[index - 1];
    }
    let total = starts[customers] as usize;
    // `T` has no default: the slots start as copies of the first value and each is
    // overwritten exactly once below.
    let Some(first) = sources.clone().find_map(|(rows, _)| rows.iter().next().map(|entry| entry.value)) else {
        return (Vec::new(), starts);
    };
    let mut grouped = vec![first; total];
    let mut next = starts.clone();
    for (rows, remap) in sources {
        for row in rows.iter() {
            let slot = &mut next[map(remap, row.customer) as usize];
            grouped[*slot as usize] = row.value;
            *slot += 1;
        }
    }
    (grouped, starts)
}

/// The ids of `rows`, in order, as one string column. Gathered in parallel chunks: the
/// rows point into a thousand partitions, so the gather is mostly cache misses, and on
/// one core it took a third of finishing a million customers.
fn gather_ids<R: Send + Sync, T: Sync>(rows: &[Keyed<R>], names: &[Piece<T>]) -> LargeStringArray {
    let name_of = |row: &Keyed<R>| names[row.partition as usize].name(row.name);
    let chunks: Vec<(Vec<u8>, Vec<usize>)> = rows
        .par_chunks(1 << 16)
        .map(|chunk| {
            let mut bytes = Vec::with_capacity(chunk.len() * 12);
            let mut ends = Vec::with_capacity(chunk.len());
            for row in chunk {
                bytes.extend_from_slice(name_of(row));
                ends.push(bytes.len());
            }
            (bytes, ends)
        })
        .collect();
    let mut offsets = Vec::with_capacity(rows.len() + 1);
    offsets.push(0i64);
    let mut values = Vec::with_capacity(chunks.iter().map(|(bytes, _)| bytes.len()).sum());
    for (bytes, ends) in chunks {
        let base = values.len() as i64;
        offsets.extend(ends.into_iter().map(|end| base + end as i64));
        values.extend_from_slice(&bytes);
    }
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    // The ids were `&str`s when interned, so they are valid UTF-8; `try_new` checks it.
    match LargeStringArray::try_new(offsets, Buffer::from_vec(values), None) {
        Ok(ids) => ids,
        Err(_) => LargeStringArray::from_iter_values(rows.iter().map(|row| String::from_utf8_lossy(name_of(row)).into_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sums(folded: &Folded<i64>) -> Vec<(String, i64)> {
        (0..folded.ids.len()).map(|row| (folded.ids.value(row).to_string(), folded.values[row])).collect()
    }

    #[test]
    fn groups_by_id_in_natural_order() {
        let mut grouper = Grouper::new();
        for (customer, value) in [("10", 1i64), ("9", 2), ("b", 3), ("10", 4), ("a", 5)] {
            grouper.push(customer, value);
        }
        let folded = grouper.fold(|rows: &mut [i64]| Some(rows.iter().sum::<i64>()));
        assert_eq!(sums(&folded), [("9".into(), 2), ("10".into(), 5), ("a".into(), 5), ("b".into(), 3)]);
    }

    #[test]
    fn long_ids_with_a_common_prefix_stay_apart() {
        let mut grouper = Grouper::new();
        let ids: Vec<String> = (0..50).map(|index| format!("{}{index}", "x".repeat(40))).collect();
        for (index, customer) in ids.iter().enumerate() {
            grouper.push(customer, index as i64);
            grouper.push(customer, index as i64);
        }
        let folded = grouper.fold(|rows: &mut [i64]| Some((rows.len() as i64, rows[0])));
        assert_eq!(folded.ids.len(), 50);
        for row in 0..50 {
            let index: i64 = folded.ids.value(row)[40..].parse().expect("index");
            assert_eq!(folded.values[row], (2, index));
        }
    }

    #[test]
    fn very_long_ids_flush_early_and_keep_their_rows() {
        // 40 ids of 5 MB pass the 64 MB bound on buffered id bytes several times.
        let mut grouper = Grouper::new();
        let ids: Vec<String> = (0..40).map(|index| format!("{}{index:02}", "y".repeat(5 << 20))).collect();
        for round in 0..2 {
            for customer in &ids {
                grouper.push(customer, round);
            }
        }
        let folded = grouper.fold(|rows: &mut [i64]| Some(rows.len() as i64));
        assert_eq!(folded.ids.len(), 40);
        assert!(folded.values.iter().all(|count| *count == 2));
    }

    #[test]
    fn reduce_visits_every_customer_once() {
        let mut grouper = Grouper::new();
        for index in 0..10_000i64 {
            grouper.push(&(index % 777).to_string(), index);
        }
        let (customers, rows) =
            grouper.reduce(|| (0usize, 0usize), |total, rows| *total = (total.0 + 1, total.1 + rows.len()), |a, b| (a.0 + b.0, a.1 + b.1));
        assert_eq!((customers, rows), (777, 10_000));
    }

    fn id(customer: u8) -> String {
        if customer.is_multiple_of(3) { format!("customer-with-a-long-shared-prefix-{customer}") } else { customer.to_string() }
    }

    proptest! {
        /// Any split of the rows into merged groupers folds as one pass; and rows shuffled
        /// by customer partition fold separately into results that merge to the same.
        #[test]
        fn merges_before_and_after_the_fold_equal_one_pass(rows in prop::collection::vec((0u8..40, -100i64..100), 0..300), split in 0usize..300) {
            let fold = |rows: &mut [i64]| { rows.sort_unstable(); Some(rows.iter().fold(0i64, |hash, value| hash.wrapping_mul(31).wrapping_add(*value))) };
            let mut one = Grouper::new();
            for (customer, value) in &rows {
                one.push(&id(*customer), *value);
            }
            let one = one.fold(fold);
            let split = split.min(rows.len());
            let (mut left, mut right) = (Grouper::new(), Grouper::new());
            for (customer, value) in &rows[..split] {
                left.push(&id(*customer), *value);
            }
            for (customer, value) in &rows[split..] {
                right.push(&id(*customer), *value);
            }
            left.merge(right);
            prop_assert_eq!(&left.fold(fold), &one);
            // Shuffle by partition: even partitions to one worker, odd to another.
            let (mut even, mut odd) = (Grouper::new(), Grouper::new());
            for (customer, value) in &rows {
                let customer = id(*customer);
                if partition_of(&customer).is_multiple_of(2) { even.push(&customer, *value) } else { odd.push(&customer, *value) }
            }
            prop_assert_eq!(even.fold(fold).merge(odd.fold(fold)), one);
        }
    }
}
