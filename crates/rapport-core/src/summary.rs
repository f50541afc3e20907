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
//! These are the rules only, as pure functions: [`SummaryOptions::row`] turns a purchase
//! into the 12-byte [`PurchaseRow`] kept until its customer is folded,
//! [`SummaryFold::fold`] folds one customer's rows into a [`CustomerSummary`], and
//! [`SummaryFold::table`] makes the customer table. Grouping rows by customer, in
//! parallel and mergeably, is the store's aggregation layer (`rapport_store::aggregate`).

use std::collections::BTreeMap;

use rayon::iter::{IntoParallelRefIterator, ParallelIterator};
use serde::{Deserialize, Serialize};

use arrow_array::LargeStringArray;

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
    /// Customers left out because every row of theirs in the calibration window is a
    /// refund (no purchase period yet).
    #[serde(default)]
    pub refund_only_customers: u64,
    /// Customers left out because they first bought after the calibration end (lifetimes
    /// leaves them out too: they have no calibration history).
    #[serde(default)]
    pub holdout_only_customers: u64,
}

impl SummaryCounts {
    /// Count a customer left out of the table.
    pub fn exclude(&mut self, why: Excluded) {
        match why {
            Excluded::RefundsOnly => self.refund_only_customers += 1,
            Excluded::HoldoutOnly => self.holdout_only_customers += 1,
        }
    }
}

/// Why a customer seen in the purchases is not in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excluded {
    /// Only refunds in the (calibration) window.
    RefundsOnly,
    /// First purchase after the calibration end.
    HoldoutOnly,
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

/// One purchase as the aggregation keeps it until its customer is folded: the amount in
/// millionths of the currency unit (so that sums are exact and do not depend on the
/// order rows are added in: 0.1 + 0.2 totals 0.3, not 0.30000000000000004), and the
/// period with the refund and holdout flags in its two lowest bits. Twelve bytes
/// (packed to 4-byte alignment: with the grouping's customer index a row is 16 bytes,
/// as many as ten million rows can afford).
#[repr(C, packed(4))]
#[derive(Debug, Clone, Copy)]
pub struct PurchaseRow {
    micros: i64,
    key: i32,
}

/// Amounts are kept to a millionth of the currency unit.
const MICROS: f64 = 1e6;

impl PurchaseRow {
    /// A purchase (a refund if `amount < 0`) in `period`, in the holdout window or not.
    /// The amount is rounded to a millionth (beyond ±9.2·10¹² it saturates).
    pub fn new(period: i64, holdout: bool, amount: f64) -> PurchaseRow {
        // Periods count hours, days, weeks or months since 1970: far inside ±2²⁹.
        let key = ((period as i32) << 2) | (i32::from(amount < 0.0) << 1) | i32::from(holdout);
        PurchaseRow { micros: to_micros(amount), key }
    }

    /// The packed period key (period, refund and holdout flags): with [`PurchaseRow::micros`]
    /// what a row is, for carrying rows between processes.
    pub fn key(self) -> i32 {
        self.key
    }

    /// The row whose [`PurchaseRow::micros`] and [`PurchaseRow::key`] these are.
    pub fn from_parts(micros: i64, key: i32) -> PurchaseRow {
        PurchaseRow { micros, key }
    }

    /// The period index.
    pub fn period(self) -> i32 {
        self.key >> 2
    }

    /// Whether it falls after the calibration end.
    pub fn holdout(self) -> bool {
        self.key & 1 == 1
    }

    /// Whether it is a refund (its amount was negative, however small).
    pub fn is_refund(self) -> bool {
        self.key & 2 == 2
    }

    /// The amount in millionths of the currency unit.
    pub fn micros(self) -> i64 {
        self.micros
    }

    /// The amount (negative for a refund), to a millionth.
    pub fn amount(self) -> f64 {
        self.micros as f64 / MICROS
    }
}

/// An amount in millionths, rounded to nearest. Below 2⁵¹ millionths (2·10⁹ currency
/// units) adding and subtracting 1.5·2⁵² rounds in two additions (ties to even), where
/// `f64::round` is a library call per purchase row (2% of a summary's instructions).
#[inline]
pub fn to_micros(amount: f64) -> i64 {
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 · 2⁵²
    let scaled = amount * MICROS;
    if scaled.abs() < 2_251_799_813_685_248.0 { ((scaled + SHIFT) - SHIFT) as i64 } else { scaled.round() as i64 }
}

/// `total` millionths over `count`, in currency units: one correctly rounded division
/// of exact numbers, so a mean of 475.39 prints as 475.39.
fn mean_of_micros(total: i128, count: f64) -> f64 {
    total as f64 / (count * MICROS)
}

impl SummaryOptions {
    /// The row a purchase at `local_seconds` becomes, or `None` when it falls after the
    /// observation end (the whole period of the end without a calibration split, as
    /// lifetimes; the exact second with one).
    pub fn row(&self, local_seconds: i64, amount: f64) -> Option<PurchaseRow> {
        self.observed(local_seconds).then(|| {
            PurchaseRow::new(self.period.index(local_seconds), self.calibration_end.is_some_and(|end| local_seconds > end), amount)
        })
    }

    /// Whether a row at `local_seconds` falls inside the observation window: by the
    /// whole period of the end without a calibration split (as lifetimes), by the exact
    /// second with one; always without an end. A refund netted against its order's
    /// purchase is netted only when it was made inside the window itself: one made after
    /// the end had not happened by then, and is left out like any later row.
    pub fn observed(&self, local_seconds: i64) -> bool {
        match self.observation_end {
            Some(end) if self.calibration_end.is_some() => local_seconds <= end,
            Some(end) => self.period.index(local_seconds) <= self.period.index(end),
            None => true,
        }
    }
}

/// Counts of a summary's input and the last time seen: mergeable, kept beside the rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SummaryTally {
    /// What went in.
    pub counts: SummaryCounts,
    /// The latest local time of a row inside the observation window.
    pub last_seen: Option<i64>,
}

impl SummaryTally {
    /// Count one purchase row (refund if `amount < 0`) at `local_seconds`, inside the
    /// observation window or not.
    #[inline]
    pub fn count(&mut self, local_seconds: i64, amount: f64, inside: bool) {
        self.counts.rows += 1;
        if amount < 0.0 {
            self.counts.refunds += 1;
        }
        if inside {
            self.last_seen = Some(self.last_seen.map_or(local_seconds, |last| last.max(local_seconds)));
        } else {
            self.counts.after_observation_end += 1;
        }
    }

    /// Add another tally.
    pub fn merge(&mut self, other: SummaryTally) {
        self.last_seen = match (self.last_seen, other.last_seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.counts.rows += other.counts.rows;
        self.counts.refunds += other.counts.refunds;
        self.counts.after_observation_end += other.counts.after_observation_end;
    }
}

/// One customer's summary: what is kept per customer after the fold (bounded by
/// customers, not rows).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomerSummary {
    /// Repeat purchase periods.
    pub frequency: u32,
    /// Age at the last purchase period, in the time unit.
    pub recency: f64,
    /// Age at the end of (calibration) observation.
    pub t: f64,
    /// Mean value of the repeat purchase periods (0 for one-time buyers).
    pub monetary_value: f64,
    /// Holdout columns, with a calibration split.
    holdout: Option<Holdout>,
}

impl CustomerSummary {
    /// A summary from its columns (as carried between processes); `holdout` is the
    /// holdout frequency and mean value, with a calibration split.
    pub fn from_parts(frequency: u32, recency: f64, t: f64, monetary_value: f64, holdout: Option<(u32, f64)>) -> CustomerSummary {
        CustomerSummary {
            frequency,
            recency,
            t,
            monetary_value,
            holdout: holdout.map(|(frequency, monetary_value)| Holdout { frequency, monetary_value }),
        }
    }

    /// Distinct purchase periods in the holdout window, with a calibration split.
    pub fn holdout_frequency(&self) -> Option<u32> {
        self.holdout.map(|holdout| holdout.frequency)
    }

    /// Mean value of the holdout purchases, with a calibration split.
    pub fn holdout_monetary_value(&self) -> Option<f64> {
        self.holdout.map(|holdout| holdout.monetary_value)
    }
}

/// The summary's rules as a pure per-customer fold, for a window whose ends are known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummaryFold {
    options: SummaryOptions,
    observation_end: i64,
    calibration_end_period: i64,
    duration_holdout: Option<f64>,
}

impl SummaryFold {
    /// The fold for these options; `last_seen` (the latest row, from the tally) is the
    /// observation end when none was given.
    pub fn new(options: SummaryOptions, last_seen: Option<i64>) -> SummaryFold {
        let observation_end = options.observation_end.or(last_seen).unwrap_or_default();
        let end_period = options.period.index(observation_end);
        // With a split, the calibration summary is observed up to the calibration end.
        let calibration_end_period = options.period.index(options.calibration_end.unwrap_or(observation_end));
        let duration_holdout = options
            .calibration_end
            .map(|calibration_end| options.time_unit.between(options.period, options.period.index(calibration_end), end_period));
        SummaryFold { options, observation_end, calibration_end_period, duration_holdout }
    }

    /// Fold one customer's rows (in any order); a customer without a purchase period in
    /// the calibration window is left out, with the reason (refunds only, or purchases
    /// only after the calibration end, as in lifetimes).
    pub fn fold(&self, rows: &mut [PurchaseRow]) -> Result<CustomerSummary, Excluded> {
        // Calibration rows first, each window by period and amount, so that sums do not
        // depend on the input order.
        rows.sort_unstable_by(|a, b| a.holdout().cmp(&b.holdout()).then(a.period().cmp(&b.period())).then(a.micros().cmp(&b.micros())));
        let split = rows.partition_point(|row| !row.holdout());
        let (calibration, holdout) = rows.split_at(split);
        let Some(periods) = purchase_periods(calibration) else {
            let bought_later = holdout.iter().any(|row| !row.is_refund());
            return Err(if bought_later { Excluded::HoldoutOnly } else { Excluded::RefundsOnly });
        };
        let unit = self.options.time_unit;
        let period = self.options.period;
        Ok(CustomerSummary {
            frequency: periods.repeat_count,
            recency: unit.between(period, i64::from(periods.first), i64::from(periods.last)),
            t: unit.between(period, i64::from(periods.first), self.calibration_end_period),
            monetary_value: if periods.repeat_count == 0 {
                0.0
            } else {
                mean_of_micros(periods.repeat_total, f64::from(periods.repeat_count))
            },
            holdout: self.duration_holdout.map(|_| holdout_of(holdout)),
        })
    }

    /// The customer table of folded customers (ids in table order).
    pub fn table(&self, ids: LargeStringArray, rows: &[CustomerSummary], counts: SummaryCounts) -> Summary {
        let options = self.options;
        let window = Window {
            time_unit: Some(options.time_unit),
            period: Some(options.period),
            observation_end: Some(self.observation_end),
            calibration_end: options.calibration_end,
        };
        let mut customers = CustomerTable::new(ids, window);
        let suffix = if options.calibration_end.is_some() { "_cal" } else { "" };
        let column = |pick: fn(&CustomerSummary) -> f64| rows.par_iter().map(pick).collect::<Vec<f64>>();
        let mut add = |name: String, values: Vec<f64>| customers.push_f64(&name, values).expect("columns have one value per customer");
        add(format!("{}{suffix}", columns::FREQUENCY), column(|row| f64::from(row.frequency)));
        add(format!("{}{suffix}", columns::RECENCY), column(|row| row.recency));
        add(format!("{}{suffix}", columns::T), column(|row| row.t));
        if options.monetary {
            add(format!("{}{suffix}", columns::MONETARY_VALUE), column(|row| row.monetary_value));
        }
        if let Some(duration) = self.duration_holdout {
            add(columns::FREQUENCY_HOLDOUT.into(), column(|row| row.holdout.map_or(0.0, |holdout| f64::from(holdout.frequency))));
            if options.monetary {
                add(columns::MONETARY_VALUE_HOLDOUT.into(), column(|row| row.holdout.map_or(0.0, |holdout| holdout.monetary_value)));
            }
            add(columns::DURATION_HOLDOUT.into(), vec![duration; rows.len()]);
        }
        Summary { options, observation_end: self.observation_end, customers, counts }
    }
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

impl PurchaseHistogram {
    /// Count one customer's first and repeat purchase periods (calibration and holdout
    /// rows alike: a period can straddle the calibration end and is then one period;
    /// refund-only periods are not purchase periods, as in the summary).
    pub fn add_customer(&mut self, rows: &mut [PurchaseRow]) {
        rows.sort_unstable_by_key(|row| row.period());
        let mut first = true;
        for period_rows in rows.chunk_by(|a, b| a.period() == b.period()) {
            if period_rows.iter().all(|row| row.is_refund()) {
                continue;
            }
            let bucket = if first { &mut self.first } else { &mut self.repeat };
            *bucket.entry(i64::from(period_rows[0].period())).or_default() += 1;
            first = false;
        }
    }

    /// Add another histogram.
    pub fn merge(mut self, other: PurchaseHistogram) -> PurchaseHistogram {
        for (period, count) in other.first {
            *self.first.entry(period).or_default() += count;
        }
        for (period, count) in other.repeat {
            *self.repeat.entry(period).or_default() += count;
        }
        self
    }
}

struct PurchasePeriods {
    first: i32,
    last: i32,
    repeat_count: u32,
    /// Millionths.
    repeat_total: i128,
}

/// Walk one customer's rows (sorted by period) period by period.
fn purchase_periods(rows: &[PurchaseRow]) -> Option<PurchasePeriods> {
    let mut summary: Option<PurchasePeriods> = None;
    for period_rows in rows.chunk_by(|a, b| a.period() == b.period()) {
        if period_rows.iter().all(|row| row.is_refund()) {
            continue; // refund-only period: not a purchase period
        }
        let total: i128 = period_rows.iter().map(|row| i128::from(row.micros())).sum();
        let period = period_rows[0].period();
        match summary.as_mut() {
            None => summary = Some(PurchasePeriods { first: period, last: period, repeat_count: 0, repeat_total: 0 }),
            Some(summary) => {
                summary.last = period;
                summary.repeat_count += 1;
                summary.repeat_total += total;
            }
        }
    }
    summary
}

fn holdout_of(rows: &[PurchaseRow]) -> Holdout {
    let mut frequency = 0;
    for period_rows in rows.chunk_by(|a, b| a.period() == b.period()) {
        if period_rows.iter().any(|row| !row.is_refund()) {
            frequency += 1;
        }
    }
    let purchases = rows.iter().filter(|row| !row.is_refund()).count();
    let total: i128 = rows.iter().map(|row| i128::from(row.micros())).sum();
    Holdout { frequency, monetary_value: if purchases == 0 { 0.0 } else { mean_of_micros(total, purchases as f64) } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::natural_order;
    use crate::time::days_from_civil;

    fn day(year: i32, month: u32, day: u32) -> i64 {
        days_from_civil(year, month, day).expect("date") * 86_400
    }

    /// The rules applied with the simplest grouping there is (the store's aggregation
    /// layer does the same in parallel; its tests check it groups as this does).
    fn summarize(options: SummaryOptions, purchases: &[(&str, i64, f64)]) -> Summary {
        let mut tally = SummaryTally::default();
        let mut groups: BTreeMap<&str, Vec<PurchaseRow>> = BTreeMap::new();
        for &(customer, time, amount) in purchases {
            let row = options.row(time, amount);
            tally.count(time, amount, row.is_some());
            groups.entry(customer).or_default().extend(row);
        }
        let fold = SummaryFold::new(options, tally.last_seen);
        let mut counts = tally.counts;
        let mut folded: Vec<(&str, CustomerSummary)> = Vec::new();
        for (customer, mut rows) in groups {
            match fold.fold(&mut rows) {
                Ok(row) => folded.push((customer, row)),
                Err(why) => counts.exclude(why),
            }
        }
        folded.sort_by(|a, b| natural_order(a.0, b.0));
        let ids = LargeStringArray::from_iter_values(folded.iter().map(|row| row.0));
        let rows: Vec<CustomerSummary> = folded.into_iter().map(|row| row.1).collect();
        fold.table(ids, &rows, counts)
    }

    /// (id, frequency, recency, T, monetary value) of every customer.
    fn rows(summary: &Summary) -> Vec<(String, f64, f64, f64, f64)> {
        let table = &summary.customers;
        let (frequency, recency, age) = (table.frequency().expect("frequency"), table.recency().expect("recency"), table.age().expect("T"));
        let monetary = table.monetary_value().expect("monetary");
        (0..table.len()).map(|row| (table.id(row).to_string(), frequency[row], recency[row], age[row], monetary[row])).collect()
    }

    #[test]
    fn purchase_rows_keep_period_flag_and_amount() {
        for (period, holdout, amount) in [(0i64, false, 1.5), (-3, true, -2.0), (1 << 28, true, 9e12), (-(1 << 28), false, 0.0)] {
            let row = PurchaseRow::new(period, holdout, amount);
            assert_eq!((i64::from(row.period()), row.holdout(), row.amount(), row.is_refund()), (period, holdout, amount, amount < 0.0));
        }
        for amount in [0.1, 0.29, 12.345678, -67.91, 4_000_000_000.5, 1e-7, 2.5e-6, -2.5e-6] {
            assert_eq!(to_micros(amount), (amount * MICROS).round_ties_even() as i64, "{amount}");
        }
        // A refund too small for a millionth is still a refund.
        assert!(PurchaseRow::new(0, false, -1e-9).is_refund());
        assert_eq!(std::mem::size_of::<PurchaseRow>(), 12);
    }

    #[test]
    fn lifetimes_semantics_for_one_customer() {
        // Two purchases on the first day count once; a refund nets against its day.
        let summary = summarize(
            SummaryOptions::default(),
            &[
                ("a", day(2020, 1, 1), 10.0),
                ("a", day(2020, 1, 1) + 3600, 5.0),
                ("a", day(2020, 1, 11), 20.0),
                ("a", day(2020, 1, 11), -5.0),
                ("a", day(2020, 1, 21), -7.0),
                ("a", day(2020, 1, 31), 40.0),
            ],
        );
        assert_eq!(rows(&summary), [("a".to_string(), 2.0, 30.0, 30.0, (15.0 + 40.0) / 2.0)]);
        assert_eq!(summary.counts.refunds, 2);
    }

    /// Sums are exact to a millionth: the mean of 0.1 and 0.2 over repeat days is 0.15
    /// and a total of 475.39 is 475.39 (floating-point sums gave 0.15000000000000002
    /// and 475.38999999999993).
    #[test]
    fn money_sums_are_exact() {
        let summary = summarize(
            SummaryOptions::default(),
            &[("a", day(2020, 1, 1), 1.0), ("a", day(2020, 1, 2), 0.1), ("a", day(2020, 1, 3), 0.2), ("b", day(2020, 1, 1), 1.0)]
                .into_iter()
                .chain((0..7).map(|_| ("b", day(2020, 1, 5), 67.91)))
                .chain([("b", day(2020, 1, 5), 0.02)])
                .collect::<Vec<_>>(),
        );
        let monetary = summary.customers.monetary_value().expect("monetary");
        assert_eq!(monetary[0], 0.15);
        assert_eq!(monetary[1], 475.39);
    }

    #[test]
    fn refund_only_customer_is_not_a_customer_yet() {
        let summary = summarize(SummaryOptions::default(), &[("r", day(2020, 1, 1), -10.0), ("b", day(2020, 1, 2), 10.0)]);
        assert_eq!(summary.customers.len(), 1);
        assert_eq!(summary.customers.id(0), "b");
        assert_eq!(summary.counts.refund_only_customers, 1, "the refund-only customer is counted");
    }

    #[test]
    fn calibration_and_holdout_split() {
        let options = SummaryOptions {
            calibration_end: Some(day(2020, 1, 10) + 86_399),
            observation_end: Some(day(2020, 1, 20) + 86_399),
            ..SummaryOptions::default()
        };
        let summary = summarize(
            options,
            &[
                ("a", day(2020, 1, 1), 10.0),
                ("a", day(2020, 1, 5), 10.0),
                ("a", day(2020, 1, 12), 4.0),
                ("a", day(2020, 1, 12), 6.0),
                ("a", day(2020, 1, 15), 2.0),
                ("a", day(2020, 1, 25), 99.0),
                ("late", day(2020, 1, 15), 1.0),
            ],
        );
        assert_eq!(summary.customers.len(), 1, "holdout-only customers are left out, as in lifetimes");
        assert_eq!(summary.counts.holdout_only_customers, 1, "and counted");
        let row = &rows(&summary)[0];
        assert_eq!((row.1, row.2, row.3), (1.0, 4.0, 9.0));
        let customers = &summary.customers;
        assert_eq!(customers.frequency_holdout(), Some(&[2.0][..]));
        assert!((customers.f64("monetary_value_holdout").expect("holdout")[0] - 4.0).abs() < 1e-12);
        assert_eq!(customers.duration_holdout(), Some(&[10.0][..]));
        assert_eq!(summary.counts.after_observation_end, 1);
    }

    #[test]
    fn the_fold_does_not_depend_on_row_order() {
        let fold = SummaryFold::new(SummaryOptions { calibration_end: Some(5 * 86_400), ..SummaryOptions::default() }, Some(9 * 86_400));
        let mut rows: Vec<PurchaseRow> = [(0, 0.1), (0, 0.2), (3, 0.3), (3, -0.7), (6, 5.0), (6, 0.1), (7, -1.0)]
            .iter()
            .map(|&(day, amount)| PurchaseRow::new(day, day > 5, amount))
            .collect();
        let forward = fold.fold(&mut rows.clone());
        rows.reverse();
        assert_eq!(fold.fold(&mut rows), forward);
    }
}
