//! The per-customer summary that every lifetime-value model consumes.
//!
//! Semantics are those of lifetimes 0.11.3's `summary_data_from_transaction_data`
//! and `calibration_and_holdout_data`:
//!
//! * purchases are grouped into periods (`freq`); several purchases in one period are
//!   one purchase period whose value is their total;
//! * `frequency` = number of purchase periods after the first (repeat periods);
//! * `recency` = age at the last purchase period, `T` = age at the end of observation,
//!   both measured between period starts, in the chosen time unit;
//! * `monetary_value` = mean value of the repeat periods (0 for one-time buyers);
//! * with a calibration end, the calibration columns get `_cal` and the holdout adds
//!   `frequency_holdout` (distinct purchase periods after the calibration end),
//!   `monetary_value_holdout` (mean of the holdout purchases — per transaction, as
//!   lifetimes does) and `duration_holdout`.
//!
//! Rapport adds one rule lifetimes has no need for: a negative amount is a return or a
//! refund. It nets against the value of its period but never makes a period a purchase
//! period, so a log without refunds summarises exactly as lifetimes does.
//!
//! [`SummaryAccumulator`] is mergeable (update / merge / finish) so the same code runs
//! on one core, on many, or over partitions; split-then-merge equals one pass.

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use rayon::iter::{IndexedParallelIterator, IntoParallelIterator, IntoParallelRefIterator, ParallelExtend, ParallelIterator};
use rayon::slice::ParallelSlice;
use rayon::slice::ParallelSliceMut;
use serde::{Deserialize, Serialize};

use arrow_array::LargeStringArray;
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};

use crate::table::{CustomerTable, Window, columns};
use crate::time::{Period, TimeUnit};

/// What to summarise and how.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SummaryOptions {
    /// Bucket for grouping purchases (lifetimes' `freq`). Default: day.
    pub period: Period,
    /// Unit of `recency`, `T` and `duration_holdout`. Default: the period's own unit.
    pub time_unit: TimeUnit,
    /// Last local second observed; `None` means the time of the last event.
    pub observation_end: Option<i64>,
    /// Last local second of the calibration window; `None` means no holdout split.
    pub calibration_end: Option<i64>,
    /// Whether amounts were given (adds the monetary columns).
    pub monetary: bool,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions { period: Period::Day, time_unit: TimeUnit::Days, observation_end: None, calibration_end: None, monetary: true }
    }
}

/// The holdout columns of one customer in a calibration / holdout split.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Holdout {
    /// Distinct purchase periods in the holdout window.
    frequency: u32,
    /// Mean value of the holdout purchases (per transaction, as lifetimes).
    monetary_value: f64,
}

/// Counts of what went into a summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryCounts {
    /// Purchase rows accumulated (including refunds).
    pub rows: u64,
    /// Rows with a negative amount.
    pub refunds: u64,
    /// Rows after the observation end, left out.
    pub after_observation_end: u64,
}

/// The finished summary: the customer table (one row per customer with at least one
/// purchase period, ordered by id, numerically when ids are numbers) and what went in.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Options it was built with.
    pub options: SummaryOptions,
    /// The observation end actually used (local seconds).
    pub observation_end: i64,
    /// The customer table: `customer_id, frequency, recency, T[, monetary_value]`, with
    /// `_cal` and the holdout columns after a split.
    pub customers: CustomerTable,
    /// What went in.
    pub counts: SummaryCounts,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    customer: u32,
    period: i32,
    amount: f64,
}

/// Customer ids are spread over this many partitions by hash, so that each
/// partition's intern table is small enough to stay in cache while a batch of rows for
/// it is processed (the radix-partitioned aggregation of DuckDB and polars). One big
/// table of a million ids made every row a cache miss; this is 2–3× faster.
const PARTITION_BITS: u32 = 10;
const PARTITIONS: usize = 1 << PARTITION_BITS;
/// Rows buffered before they are routed to their partitions.
const BATCH_ROWS: usize = 1 << 19;
/// Bytes of long ids buffered before the rows are routed: bounds the buffer's memory
/// and keeps its offsets within `u32` whatever the ids' length.
const BATCH_ID_BYTES: usize = 64 << 20;

#[derive(Debug, Clone, Default)]
struct Partition {
    /// The interned ids, found by hash.
    index: HashTable<Slot>,
    /// The ids, back to back; id `i` ends at `name_ends[i]`.
    name_bytes: Vec<u8>,
    name_ends: Vec<u32>,
    calibration: Rows,
    holdout: Rows,
}

/// One partition's rows in chunks that never move. A vector growing by doubling copied
/// every row about once more and could leave half its capacity unused (with chunks, the
/// 100-million-row summary peaked 170 MB lower). Chunks start small (a partition of a small file
/// holds a few rows) and grow to [`CHUNK_ROWS`], so at most one partly filled chunk of
/// that size per partition is unused.
#[derive(Debug, Clone, Default)]
struct Rows {
    chunks: Vec<Vec<Entry>>,
}

const CHUNK_ROWS: usize = 2048;

impl Rows {
    #[inline]
    fn push(&mut self, entry: Entry) {
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

    fn iter(&self) -> impl Iterator<Item = &Entry> + Clone {
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

impl Partition {
    fn name(&self, index: u32) -> &[u8] {
        let index = index as usize;
        let start = if index == 0 { 0 } else { self.name_ends[index - 1] as usize };
        &self.name_bytes[start..self.name_ends[index] as usize]
    }

    /// The index of the id (its hash and first bytes given), added if new.
    fn intern(&mut self, hash: u64, prefix: [u8; INLINE], customer: &[u8]) -> u32 {
        let Partition { index, name_bytes, name_ends, .. } = self;
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
struct PendingRow {
    hash: u64,
    prefix: [u8; INLINE],
    /// Where a longer id's bytes start in `pending_bytes`.
    start: u32,
    len: u32,
    period: i32,
    holdout: bool,
    amount: f64,
}

/// Mergeable accumulator of purchases into customer summaries.
///
/// Memory: 16 bytes per purchase row plus each distinct customer id once.
#[derive(Debug, Clone)]
pub struct SummaryAccumulator {
    options: SummaryOptions,
    hasher: FixedState,
    /// Per partition, the pieces from every accumulator merged into this one; new rows go
    /// to the first. Merging only appends pieces: they are combined partition by
    /// partition, in parallel, when the summary is finished (merging eagerly re-interned
    /// every id of the merged accumulator on one core, a seventh of a ten-million-row run).
    partitions: Vec<Vec<Partition>>,
    /// Bytes of pending ids longer than [`INLINE`].
    pending_bytes: Vec<u8>,
    pending: Vec<PendingRow>,
    routed: Vec<PendingRow>,
    last_seen: Option<i64>,
    counts: SummaryCounts,
}

impl SummaryAccumulator {
    /// An empty accumulator.
    pub fn new(options: SummaryOptions) -> Self {
        SummaryAccumulator {
            options,
            hasher: FixedState::with_seed(0x5241_5050),
            partitions: vec![vec![Partition::default()]; PARTITIONS],
            pending_bytes: Vec::new(),
            pending: Vec::new(),
            routed: Vec::new(),
            last_seen: None,
            counts: SummaryCounts::default(),
        }
    }

    /// The options this accumulator was made with.
    pub fn options(&self) -> &SummaryOptions {
        &self.options
    }

    fn partition_of(hash: u64) -> usize {
        (hash >> (64 - PARTITION_BITS)) as usize
    }

    /// Add one purchase (or refund, if `amount < 0`) at local time `local_seconds`.
    pub fn update(&mut self, customer: &str, local_seconds: i64, amount: f64) {
        self.counts.rows += 1;
        if amount < 0.0 {
            self.counts.refunds += 1;
        }
        let period = self.options.period.index(local_seconds);
        let in_observation = match self.options.observation_end {
            Some(end) if self.options.calibration_end.is_some() => local_seconds <= end,
            Some(end) => period <= self.options.period.index(end),
            None => true,
        };
        if !in_observation {
            self.counts.after_observation_end += 1;
            return;
        }
        self.last_seen = Some(self.last_seen.map_or(local_seconds, |last| last.max(local_seconds)));
        let customer = customer.as_bytes();
        let start = self.pending_bytes.len() as u32;
        if customer.len() > INLINE {
            self.pending_bytes.extend_from_slice(customer);
        }
        let hash = self.hasher.hash_one(customer);
        self.pending.push(PendingRow {
            hash,
            prefix: prefix_of(customer),
            start,
            len: customer.len() as u32,
            period: period as i32,
            holdout: self.options.calibration_end.is_some_and(|end| local_seconds > end),
            amount,
        });
        if self.pending.len() >= BATCH_ROWS || self.pending_bytes.len() >= BATCH_ID_BYTES {
            self.flush();
        }
    }

    /// Intern the buffered rows into their partitions, one partition at a time. Done
    /// automatically; call it when a worker's share of the rows is complete so that the
    /// work happens on that worker rather than in [`SummaryAccumulator::merge`].
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut counts = vec![0u32; PARTITIONS + 1];
        for row in &self.pending {
            counts[Self::partition_of(row.hash) + 1] += 1;
        }
        for index in 1..=PARTITIONS {
            counts[index] += counts[index - 1];
        }
        let placeholder = self.pending[0];
        self.routed.clear();
        self.routed.resize(self.pending.len(), placeholder);
        for row in &self.pending {
            let slot = &mut counts[Self::partition_of(row.hash)];
            self.routed[*slot as usize] = *row;
            *slot += 1;
        }
        for row in &self.routed {
            let partition = &mut self.partitions[Self::partition_of(row.hash)][0];
            let id = if row.len as usize <= INLINE {
                &row.prefix[..row.len as usize]
            } else {
                &self.pending_bytes[row.start as usize..(row.start + row.len) as usize]
            };
            let customer = partition.intern(row.hash, row.prefix, id);
            let entry = Entry { customer, period: row.period, amount: row.amount };
            if row.holdout { partition.holdout.push(entry) } else { partition.calibration.push(entry) }
        }
        self.pending.clear();
        self.pending_bytes.clear();
    }

    /// Fold another accumulator (built with the same options) into this one.
    pub fn merge(&mut self, mut other: SummaryAccumulator) {
        self.flush();
        other.flush();
        for (mine, theirs) in self.partitions.iter_mut().zip(other.partitions) {
            mine.extend(theirs.into_iter().filter(|piece| !piece.name_ends.is_empty()));
        }
        self.last_seen = match (self.last_seen, other.last_seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.counts.rows += other.counts.rows;
        self.counts.refunds += other.counts.refunds;
        self.counts.after_observation_end += other.counts.after_observation_end;
    }

    /// Compute the summary: the customer table.
    pub fn finish(mut self) -> Summary {
        self.flush();
        let options = self.options;
        let observation_end = options.observation_end.or(self.last_seen).unwrap_or_default();
        let end_period = options.period.index(observation_end);
        // With a split, the calibration summary is observed up to the calibration end.
        let calibration_end_period = options.period.index(options.calibration_end.unwrap_or(observation_end));
        let unit = options.time_unit;
        let duration_holdout =
            options.calibration_end.map(|calibration_end| unit.between(options.period, options.period.index(calibration_end), end_period));
        // Each partition folds its customers and keeps its ids where they are: rows point
        // at them by (partition, index), and the ids are copied once, in order, into the
        // table's string column (a `String` per customer cost an allocation and a free
        // for each of millions of ids).
        let folded: Vec<(Partition, Vec<FoldedRow>)> = self
            .partitions
            .into_par_iter()
            .enumerate()
            .map(|(partition, pieces)| {
                let grouped = Grouped::of(pieces);
                let mut out = Vec::with_capacity(grouped.customers());
                for customer in 0..grouped.customers() {
                    let Some(periods) = purchase_periods(grouped.calibration(customer)) else { continue };
                    let holdout = duration_holdout.map(|_| holdout_of(grouped.holdout(customer)));
                    out.push(FoldedRow {
                        key: NaturalKey::of_bytes(grouped.names.name(customer as u32)),
                        partition: partition as u32,
                        name: customer as u32,
                        frequency: periods.repeat_count,
                        recency: unit.between(options.period, i64::from(periods.first), i64::from(periods.last)),
                        t: unit.between(options.period, i64::from(periods.first), calibration_end_period),
                        monetary_value: if periods.repeat_count == 0 {
                            0.0
                        } else {
                            periods.repeat_total / f64::from(periods.repeat_count)
                        },
                        holdout,
                    });
                }
                (grouped.names, out)
            })
            .collect();
        let (names, parts): (Vec<Partition>, Vec<Vec<FoldedRow>>) = folded.into_iter().unzip();
        let mut rows = Vec::with_capacity(parts.iter().map(Vec::len).sum());
        rows.par_extend(parts.into_par_iter().flatten());
        let name_of = |row: &FoldedRow| names[row.partition as usize].name(row.name);
        // The key of each id is computed once (above, in parallel); the tail comparison
        // is needed only for ties.
        rows.par_sort_unstable_by(|a, b| a.key.cmp(&b.key).then_with(|| natural_tail(name_of(a), name_of(b))));
        let ids = gather_ids(&rows, &names);
        // Freeing a thousand partitions' tables and ids, in parallel as they were built.
        names.into_par_iter().for_each(drop);
        let window = Window {
            time_unit: Some(unit),
            period: Some(options.period),
            observation_end: Some(observation_end),
            calibration_end: options.calibration_end,
        };
        let mut customers = CustomerTable::new(ids, window);
        let suffix = if options.calibration_end.is_some() { "_cal" } else { "" };
        let column = |pick: fn(&FoldedRow) -> f64| rows.par_iter().map(pick).collect::<Vec<f64>>();
        let mut add = |name: String, values: Vec<f64>| customers.push_f64(&name, values).expect("columns have one value per customer");
        add(format!("{}{suffix}", columns::FREQUENCY), column(|row| f64::from(row.frequency)));
        add(format!("{}{suffix}", columns::RECENCY), column(|row| row.recency));
        add(format!("{}{suffix}", columns::T), column(|row| row.t));
        if options.monetary {
            add(format!("{}{suffix}", columns::MONETARY_VALUE), column(|row| row.monetary_value));
        }
        if let Some(duration) = duration_holdout {
            add(columns::FREQUENCY_HOLDOUT.into(), column(|row| row.holdout.map_or(0.0, |holdout| f64::from(holdout.frequency))));
            if options.monetary {
                add(columns::MONETARY_VALUE_HOLDOUT.into(), column(|row| row.holdout.map_or(0.0, |holdout| holdout.monetary_value)));
            }
            add(columns::DURATION_HOLDOUT.into(), vec![duration; rows.len()]);
        }
        Summary { options, observation_end, customers, counts: self.counts }
    }
}

/// The ids of `rows`, in order, as one string column. Gathered in parallel chunks: the
/// rows point into a thousand partitions, so the gather is mostly cache misses, and on
/// one core it took a third of finishing a million customers.
fn gather_ids(rows: &[FoldedRow], names: &[Partition]) -> LargeStringArray {
    let name_of = |row: &FoldedRow| names[row.partition as usize].name(row.name);
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

/// One customer's folded summary, pointing at its id in its partition.
struct FoldedRow {
    key: NaturalKey,
    partition: u32,
    name: u32,
    frequency: u32,
    recency: f64,
    t: f64,
    monetary_value: f64,
    holdout: Option<Holdout>,
}

/// One partition's pieces combined: the ids of the first piece extended with the others',
/// and every row grouped by customer (a counting sort on the dense customer index, then
/// each customer's few rows sorted by period and amount, so sums do not depend on the
/// input order). A counting sort because the index is dense and known: linear, where the
/// comparison sort of all of a partition's rows it replaces was n log n.
struct Grouped {
    names: Partition,
    calibration: Vec<Entry>,
    calibration_starts: Vec<u32>,
    holdout: Vec<Entry>,
    holdout_starts: Vec<u32>,
}

impl Grouped {
    fn of(mut pieces: Vec<Partition>) -> Grouped {
        let mut names = pieces.swap_remove(0);
        let calibration_rows = std::mem::take(&mut names.calibration);
        let holdout_rows = std::mem::take(&mut names.holdout);
        let mut remaps: Vec<Vec<u32>> = vec![Vec::new()];
        for piece in &pieces {
            // The piece's own slots hold each id's hash and prefix.
            let mut remap = vec![0; piece.name_ends.len()];
            for slot in piece.index.iter() {
                remap[slot.index as usize] = names.intern(slot.hash, slot.prefix, piece.name(slot.index));
            }
            remaps.push(remap);
        }
        let customers = names.name_ends.len();
        let (calibration, calibration_starts) = group_rows(
            customers,
            std::iter::once((&calibration_rows, &remaps[0]))
                .chain(pieces.iter().zip(&remaps[1..]).map(|(piece, remap)| (&piece.calibration, remap))),
        );
        let (holdout, holdout_starts) = group_rows(
            customers,
            std::iter::once((&holdout_rows, &remaps[0]))
                .chain(pieces.iter().zip(&remaps[1..]).map(|(piece, remap)| (&piece.holdout, remap))),
        );
        Grouped { names, calibration, calibration_starts, holdout, holdout_starts }
    }

    fn customers(&self) -> usize {
        self.names.name_ends.len()
    }

    fn calibration(&self, customer: usize) -> &[Entry] {
        &self.calibration[self.calibration_starts[customer] as usize..self.calibration_starts[customer + 1] as usize]
    }

    fn holdout(&self, customer: usize) -> &[Entry] {
        &self.holdout[self.holdout_starts[customer] as usize..self.holdout_starts[customer + 1] as usize]
    }
}

/// Rows of several pieces in customer order (customer indexes mapped through each
/// piece's remap; an empty remap is the identity), each customer's rows sorted by period
/// and amount; with the start of every customer's rows.
fn group_rows<'a>(customers: usize, sources: impl Iterator<Item = (&'a Rows, &'a Vec<u32>)> + Clone) -> (Vec<Entry>, Vec<u32>) {
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
    let mut grouped = vec![Entry { customer: 0, period: 0, amount: 0.0 }; total];
    let mut next = starts.clone();
    for (rows, remap) in sources {
        for row in rows.iter() {
            let customer = map(remap, row.customer);
            let slot = &mut next[customer as usize];
            grouped[*slot as usize] = Entry { customer, ..*row };
            *slot += 1;
        }
    }
    for customer in 0..customers {
        grouped[starts[customer] as usize..starts[customer + 1] as usize]
            .sort_unstable_by(|a, b| a.period.cmp(&b.period).then(a.amount.total_cmp(&b.amount)));
    }
    (grouped, starts)
}

/// Every customer's first purchase period and repeat purchase periods, counted per
/// period: what the tracking plot of cumulative repeat purchases needs (FHL 2005, Fig. 3;
/// lifetimes' `expected_cumulative_transactions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurchaseHistogram {
    /// Customers whose first purchase period is this one.
    pub first: BTreeMap<i64, u64>,
    /// Repeat purchase periods (a customer's purchase periods after the first) in this period.
    pub repeat: BTreeMap<i64, u64>,
}

impl SummaryAccumulator {
    /// First and repeat purchase periods of every customer (calibration and holdout rows
    /// alike; refund-only periods are not purchase periods, as in the summary).
    pub fn purchase_histogram(mut self) -> PurchaseHistogram {
        self.flush();
        let merge = |mut a: PurchaseHistogram, b: PurchaseHistogram| {
            for (period, count) in b.first {
                *a.first.entry(period).or_default() += count;
            }
            for (period, count) in b.repeat {
                *a.repeat.entry(period).or_default() += count;
            }
            a
        };
        self.partitions
            .into_par_iter()
            .map(|pieces| {
                let grouped = Grouped::of(pieces);
                let mut histogram = PurchaseHistogram::default();
                let mut rows = Vec::new();
                for customer in 0..grouped.customers() {
                    // A period can straddle the calibration end: both halves are one period.
                    rows.clear();
                    rows.extend_from_slice(grouped.calibration(customer));
                    rows.extend_from_slice(grouped.holdout(customer));
                    rows.sort_by_key(|row: &Entry| row.period);
                    let mut first = true;
                    for period_rows in rows.chunk_by(|a, b| a.period == b.period) {
                        if period_rows.iter().all(|row| row.amount < 0.0) {
                            continue;
                        }
                        let bucket = if first { &mut histogram.first } else { &mut histogram.repeat };
                        *bucket.entry(i64::from(period_rows[0].period)).or_default() += 1;
                        first = false;
                    }
                }
                histogram
            })
            .reduce(PurchaseHistogram::default, merge)
    }
}

struct PurchasePeriods {
    first: i32,
    last: i32,
    repeat_count: u32,
    repeat_total: f64,
}

/// Walk one customer's rows (sorted by period) period by period.
fn purchase_periods(rows: &[Entry]) -> Option<PurchasePeriods> {
    let mut summary: Option<PurchasePeriods> = None;
    for period_rows in rows.chunk_by(|a, b| a.period == b.period) {
        if period_rows.iter().all(|row| row.amount < 0.0) {
            continue; // refund-only period: not a purchase period
        }
        let total: f64 = period_rows.iter().map(|row| row.amount).sum();
        let period = period_rows[0].period;
        match summary.as_mut() {
            None => summary = Some(PurchasePeriods { first: period, last: period, repeat_count: 0, repeat_total: 0.0 }),
            Some(summary) => {
                summary.last = period;
                summary.repeat_count += 1;
                summary.repeat_total += total;
            }
        }
    }
    summary
}

fn holdout_of(rows: &[Entry]) -> Holdout {
    let mut frequency = 0;
    for period_rows in rows.chunk_by(|a, b| a.period == b.period) {
        if period_rows.iter().any(|row| row.amount >= 0.0) {
            frequency += 1;
        }
    }
    let purchases = rows.iter().filter(|row| row.amount >= 0.0).count();
    let total: f64 = rows.iter().map(|row| row.amount).sum();
    Holdout { frequency, monetary_value: if purchases == 0 { 0.0 } else { total / purchases as f64 } }
}

/// The order of customer ids in a summary: ids that are unsigned integers first, by
/// value (then by their text, so "007" and "7" have a fixed order), then every other id
/// byte-wise. A total order, so sorting with it is well defined for any mix of ids.
pub fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    NaturalKey::of_bytes(a.as_bytes()).cmp(&NaturalKey::of_bytes(b.as_bytes())).then_with(|| natural_tail(a.as_bytes(), b.as_bytes()))
}

/// The part of [`natural_order`] that is cheap to compare: an integer id of up to 19
/// significant digits is its value; the sort computes this once per id instead of once
/// per comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum NaturalKey {
    /// An integer id that fits in a u64 (after leading zeros).
    Small(u64),
    /// A longer integer id: significant digits (compared in full by `natural_tail`).
    Large(usize),
    /// Anything else, by its first 8 bytes (zero-padded, big-endian: the same order as
    /// the bytes); ties are settled by the whole text.
    Text(u64),
}

impl NaturalKey {
    fn of_bytes(id: &[u8]) -> NaturalKey {
        if id.is_empty() || !id.iter().all(u8::is_ascii_digit) {
            let mut prefix = [0u8; 8];
            for (slot, byte) in prefix.iter_mut().zip(id) {
                *slot = *byte;
            }
            return NaturalKey::Text(u64::from_be_bytes(prefix));
        }
        let digits = trim_zeros(id);
        if digits.len() <= 19 {
            NaturalKey::Small(digits.iter().fold(0u64, |value, byte| value * 10 + u64::from(byte - b'0')))
        } else {
            NaturalKey::Large(digits.len())
        }
    }
}

/// Ties of [`NaturalKey`]: long integers by their significant digits, then every id by its text.
fn natural_tail(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    trim_zeros(a).cmp(trim_zeros(b)).then_with(|| a.cmp(b))
}

fn trim_zeros(id: &[u8]) -> &[u8] {
    &id[id.iter().position(|&byte| byte != b'0').unwrap_or(id.len())..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::days_from_civil;
    use proptest::prelude::*;

    fn day(year: i32, month: u32, day: u32) -> i64 {
        days_from_civil(year, month, day).expect("date") * 86_400
    }

    fn options() -> SummaryOptions {
        SummaryOptions::default()
    }

    /// (id, frequency, recency, T, monetary value) of every customer.
    fn rows(summary: &Summary) -> Vec<(String, f64, f64, f64, f64)> {
        let table = &summary.customers;
        let (frequency, recency, age) = (table.frequency().expect("frequency"), table.recency().expect("recency"), table.age().expect("T"));
        let monetary = table.monetary_value().expect("monetary");
        (0..table.len()).map(|row| (table.id(row).to_string(), frequency[row], recency[row], age[row], monetary[row])).collect()
    }

    #[test]
    fn lifetimes_semantics_for_one_customer() {
        // Two purchases on the first day count once; a refund nets against its day.
        let mut accumulator = SummaryAccumulator::new(options());
        accumulator.update("a", day(2020, 1, 1), 10.0);
        accumulator.update("a", day(2020, 1, 1) + 3600, 5.0);
        accumulator.update("a", day(2020, 1, 11), 20.0);
        accumulator.update("a", day(2020, 1, 11), -5.0);
        accumulator.update("a", day(2020, 1, 21), -7.0);
        accumulator.update("a", day(2020, 1, 31), 40.0);
        let table = accumulator.finish();
        assert_eq!(rows(&table), [("a".to_string(), 2.0, 30.0, 30.0, (15.0 + 40.0) / 2.0)]);
        assert_eq!(table.counts.refunds, 2);
    }

    #[test]
    fn refund_only_customer_is_not_a_customer_yet() {
        let mut accumulator = SummaryAccumulator::new(options());
        accumulator.update("r", day(2020, 1, 1), -10.0);
        accumulator.update("b", day(2020, 1, 2), 10.0);
        let table = accumulator.finish();
        assert_eq!(table.customers.len(), 1);
        assert_eq!(table.customers.id(0), "b");
    }

    #[test]
    fn calibration_and_holdout_split() {
        let options = SummaryOptions {
            calibration_end: Some(day(2020, 1, 10) + 86_399),
            observation_end: Some(day(2020, 1, 20) + 86_399),
            ..options()
        };
        let mut accumulator = SummaryAccumulator::new(options);
        accumulator.update("a", day(2020, 1, 1), 10.0);
        accumulator.update("a", day(2020, 1, 5), 10.0);
        accumulator.update("a", day(2020, 1, 12), 4.0);
        accumulator.update("a", day(2020, 1, 12), 6.0);
        accumulator.update("a", day(2020, 1, 15), 2.0);
        accumulator.update("a", day(2020, 1, 25), 99.0);
        accumulator.update("late", day(2020, 1, 15), 1.0);
        let table = accumulator.finish();
        assert_eq!(table.customers.len(), 1, "holdout-only customers are left out, as in lifetimes");
        let row = &rows(&table)[0];
        assert_eq!((row.1, row.2, row.3), (1.0, 4.0, 9.0));
        let customers = &table.customers;
        assert_eq!(customers.frequency_holdout(), Some(&[2.0][..]));
        assert!((customers.f64("monetary_value_holdout").expect("holdout")[0] - 4.0).abs() < 1e-12);
        assert_eq!(customers.duration_holdout(), Some(&[10.0][..]));
        assert_eq!(table.counts.after_observation_end, 1);
    }

    #[test]
    fn long_ids_with_a_common_prefix_stay_apart() {
        let mut accumulator = SummaryAccumulator::new(options());
        let ids: Vec<String> = (0..50).map(|index| format!("{}{index}", "x".repeat(40))).collect();
        for (index, customer) in ids.iter().enumerate() {
            accumulator.update(customer, day(2020, 1, 1), index as f64);
            accumulator.update(customer, day(2020, 1, 3), index as f64);
        }
        let table = accumulator.finish();
        assert_eq!(table.customers.len(), 50);
        for row in rows(&table) {
            let index: f64 = row.0[40..].parse().expect("index");
            assert_eq!((row.1, row.4), (1.0, index));
        }
    }

    #[test]
    fn very_long_ids_flush_early_and_keep_their_rows() {
        // 40 ids of 5 MB pass the 64 MB bound on buffered id bytes several times.
        let mut accumulator = SummaryAccumulator::new(options());
        let ids: Vec<String> = (0..40).map(|index| format!("{}{index:02}", "y".repeat(5 << 20))).collect();
        for round in 0..2 {
            for customer in &ids {
                accumulator.update(customer, day(2020, 1, 1 + round), 3.0);
            }
        }
        let table = accumulator.finish();
        assert_eq!(table.customers.len(), 40);
        assert!(rows(&table).iter().all(|row| row.1 == 1.0 && row.4 == 3.0 && row.0.len() == (5 << 20) + 2));
    }

    #[test]
    fn natural_order_sorts_numbers_numerically() {
        let mut ids = vec!["10", "9", "0002", "b", "a"];
        ids.sort_by(|a, b| natural_order(a, b));
        assert_eq!(ids, ["0002", "9", "10", "a", "b"]);
        // Mixed ids: integers first (the old byte-wise fallback for mixed pairs was not a
        // total order: "2" < "10" < "1a" < "2").
        let mut ids = vec!["1a", "10", "2", "007", "7", "123456789012345678901234", "99999999999999999999", "A"];
        ids.sort_by(|a, b| natural_order(a, b));
        assert_eq!(ids, ["2", "007", "7", "10", "99999999999999999999", "123456789012345678901234", "1a", "A"]);
    }

    proptest! {
        /// natural_order is a total order: antisymmetric and transitive on any ids.
        #[test]
        fn natural_order_is_a_total_order(ids in prop::collection::vec("[0-9a]{0,4}|[0-9]{18,22}", 3)) {
            use std::cmp::Ordering;
            let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
            prop_assert_eq!(natural_order(a, b), natural_order(b, a).reverse());
            if natural_order(a, b) != Ordering::Greater && natural_order(b, c) != Ordering::Greater {
                prop_assert_ne!(natural_order(a, c), Ordering::Greater);
            }
            prop_assert_eq!(natural_order(a, b) == Ordering::Equal, a == b);
        }
    }

    /// Short ids, and ids longer than the 16 bytes kept inline that differ only after them.
    fn id(customer: u8) -> String {
        if customer.is_multiple_of(3) { format!("customer-with-a-long-shared-prefix-{customer}") } else { customer.to_string() }
    }

    fn purchases() -> impl Strategy<Value = Vec<(u8, i64, f64)>> {
        prop::collection::vec((0u8..20, 0i64..400 * 86_400, -50.0f64..200.0), 1..200)
    }

    proptest! {
        #[test]
        fn order_and_batching_do_not_matter(rows in purchases(), split in 0usize..200, seed in any::<u64>()) {
            let options = SummaryOptions { period: Period::Week, time_unit: TimeUnit::Days, calibration_end: Some(200 * 86_400), ..options() };
            let mut one_pass = SummaryAccumulator::new(options);
            for (customer, time, amount) in &rows {
                one_pass.update(&id(*customer), *time, amount.round());
            }
            let mut shuffled = rows.clone();
            // A cheap deterministic shuffle from the seed.
            let length = shuffled.len();
            for index in 0..length {
                let other = (seed.wrapping_mul(6364136223846793005).wrapping_add(index as u64) % length as u64) as usize;
                shuffled.swap(index, other);
            }
            let split = split.min(length);
            let mut left = SummaryAccumulator::new(options);
            let mut right = SummaryAccumulator::new(options);
            for (customer, time, amount) in &shuffled[..split] {
                left.update(&id(*customer), *time, amount.round());
            }
            for (customer, time, amount) in &shuffled[split..] {
                right.update(&id(*customer), *time, amount.round());
            }
            right.merge(left);
            prop_assert_eq!(one_pass.finish(), right.finish());
        }
    }
}
