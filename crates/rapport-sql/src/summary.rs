//! The customer summary as a DataFusion plan: the per-customer aggregation of the
//! workspace's purchases, with lifetimes' period semantics, as a user-defined aggregate
//! function, `rapport_summary(time, amount)`.
//!
//! The function keeps what the embedded path keeps per customer, the 12-byte purchase
//! rows of `rapport_core::summary` (amounts in millionths, so sums are exact and do not
//! depend on the order rows arrive in), and folds them with the same `SummaryFold`: the
//! two paths share the rules, not a copy of them. Its state is two Arrow lists (the
//! amounts and the packed period keys) and three counts, so partial aggregates merge
//! across partitions, and across machines when DataFusion plans are distributed.
//!
//! Rows that name only an order take the customer of the purchase that carries it, and a
//! refund naming an order nets against that purchase's period, as in the embedded path
//! (`Workspace::order_links`): a join on the order id in the plan.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, LargeStringArray, ListArray, StringArray, StructArray,
    UInt64Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int32Type, Int64Type};
use datafusion::common::{Result as DataFusionResult, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, TypeSignature, Volatility,
};
use rapport_core::summary::{CustomerSummary, Excluded, PurchaseRow, Summary, SummaryCounts, SummaryFold, SummaryOptions};
use rapport_core::time::{ParsedTime, Zone};

use crate::{Session, SqlError, internal};

/// The name the aggregate is registered under.
pub const SUMMARY_FUNCTION: &str = "rapport_summary";

/// `rapport_summary(time, amount[, own_time])`: one customer's summary row (a struct)
/// from their purchase times (UTC timestamps) and amounts, for fixed options and time
/// zone. With `own_time` (a refund netted against its order's purchase carries that
/// purchase's time as `time` and its own as `own_time`), a row whose own time falls
/// after the observation end counts at its own time, and so is left out: a refund made
/// after the end had not happened by then (`SummaryOptions::observed`).
#[derive(Debug, Clone)]
pub struct SummaryFunction {
    signature: Signature,
    options: SummaryOptions,
    zone: Zone,
}

impl PartialEq for SummaryFunction {
    fn eq(&self, other: &Self) -> bool {
        self.options == other.options && self.zone.to_string() == other.zone.to_string()
    }
}

impl Eq for SummaryFunction {}

impl Hash for SummaryFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        format!("{:?}|{}", self.options, self.zone).hash(state);
    }
}

impl SummaryFunction {
    /// The function for these options (their observation end resolved) in `zone`.
    pub fn new(options: SummaryOptions, zone: Zone) -> SummaryFunction {
        let signature = Signature::one_of(vec![TypeSignature::Any(2), TypeSignature::Any(3)], Volatility::Immutable);
        SummaryFunction { signature, options, zone }
    }

    /// As a DataFusion aggregate, to register on a session.
    pub fn udaf(self) -> AggregateUDF {
        AggregateUDF::from(self)
    }

    /// Its options and zone as JSON: what travels to cluster workers.
    pub fn to_json(&self) -> String {
        serde_json::json!({ "options": self.options, "zone": self.zone.to_string() }).to_string()
    }

    /// The function from what [`SummaryFunction::to_json`] wrote.
    pub fn from_json(text: &str) -> Result<SummaryFunction, SqlError> {
        #[derive(serde::Deserialize)]
        struct Spec {
            options: SummaryOptions,
            zone: String,
        }
        let bad = |error: String| SqlError::Internal(format!("the summary function: {error}"));
        let spec: Spec = serde_json::from_str(text).map_err(|error| bad(error.to_string()))?;
        let zone = spec.zone.parse::<Zone>().map_err(|error| bad(error.to_string()))?;
        Ok(SummaryFunction::new(spec.options, zone))
    }
}

/// The fields of the function's result, in order.
fn result_fields() -> Fields {
    Fields::from(vec![
        Field::new("frequency", DataType::Float64, true),
        Field::new("recency", DataType::Float64, true),
        Field::new("T", DataType::Float64, true),
        Field::new("monetary_value", DataType::Float64, true),
        Field::new("frequency_holdout", DataType::Float64, true),
        Field::new("monetary_value_holdout", DataType::Float64, true),
        Field::new("excluded", DataType::Utf8, true),
        Field::new("rows", DataType::UInt64, false),
        Field::new("refunds", DataType::UInt64, false),
        Field::new("after_observation_end", DataType::UInt64, false),
    ])
}

impl AggregateUDFImpl for SummaryFunction {
    fn name(&self) -> &str {
        SUMMARY_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DataFusionResult<Box<dyn Accumulator>> {
        Ok(Box::new(SummaryState { options: self.options, zone: self.zone, rows: Vec::new(), counts: [0; 3] }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    /// Every group's rows in one accumulator: without it DataFusion keeps an accumulator
    /// object per customer and converts each one's state to list scalars, about 4.5 KB a
    /// customer at a million customers (docs/benchmarks.md, "Engines").
    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> DataFusionResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SummaryGroups { options: self.options, zone: self.zone, rows: Vec::new(), counts: Vec::new(), held: 0 }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DataFusionResult<Vec<FieldRef>> {
        let name = |part: &str| datafusion::logical_expr::utils::format_state_name(args.name, part);
        Ok(vec![
            Arc::new(Field::new(name("micros"), DataType::List(Arc::new(Field::new_list_field(DataType::Int64, false))), true)),
            Arc::new(Field::new(name("keys"), DataType::List(Arc::new(Field::new_list_field(DataType::Int32, false))), true)),
            Arc::new(Field::new(name("rows"), DataType::UInt64, true)),
            Arc::new(Field::new(name("refunds"), DataType::UInt64, true)),
            Arc::new(Field::new(name("after_observation_end"), DataType::UInt64, true)),
        ])
    }
}

/// The row arrays of the function's arguments: times, amounts and (with a third
/// argument) the rows' own times.
struct Arguments {
    times: Int64Array,
    amounts: Float64Array,
    own: Option<Int64Array>,
}

impl Arguments {
    fn new(values: &[ArrayRef]) -> DataFusionResult<Arguments> {
        let int64 = |array: &ArrayRef| -> DataFusionResult<Int64Array> {
            Ok(arrow::compute::cast(array, &DataType::Int64)?.as_primitive::<Int64Type>().clone())
        };
        let amounts = arrow::compute::cast(&values[1], &DataType::Float64)?.as_primitive::<Float64Type>().clone();
        Ok(Arguments { times: int64(&values[0])?, amounts, own: values.get(2).map(int64).transpose()? })
    }

    /// Row `row`'s local time and amount, or none for a null.
    fn at(&self, row: usize, options: &SummaryOptions, zone: Zone) -> Option<(i64, f64)> {
        if self.times.is_null(row) || self.amounts.is_null(row) {
            return None;
        }
        let local = |time: i64| zone.local_seconds(ParsedTime::Instant(time));
        let time = match &self.own {
            Some(own) if !own.is_null(row) && own.value(row) != self.times.value(row) => {
                let own = local(own.value(row));
                if options.observed(own) { local(self.times.value(row)) } else { own }
            }
            _ => local(self.times.value(row)),
        };
        Some((time, self.amounts.value(row)))
    }
}

/// One customer's rows while they are aggregated.
#[derive(Debug)]
struct SummaryState {
    options: SummaryOptions,
    zone: Zone,
    rows: Vec<PurchaseRow>,
    /// Rows, refunds, rows after the observation end.
    counts: [u64; 3],
}

fn list<T: arrow::datatypes::ArrowPrimitiveType>(values: arrow::array::PrimitiveArray<T>) -> ScalarValue {
    let length = values.len();
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), false));
    ScalarValue::List(Arc::new(ListArray::new(field, OffsetBuffer::from_lengths([length]), Arc::new(values), None)))
}

impl Accumulator for SummaryState {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DataFusionResult<()> {
        let arguments = Arguments::new(values)?;
        for row in 0..arguments.times.len() {
            let Some((local, amount)) = arguments.at(row, &self.options, self.zone) else {
                continue;
            };
            self.counts[0] += 1;
            self.counts[1] += u64::from(amount < 0.0);
            match self.options.row(local, amount) {
                Some(purchase) => self.rows.push(purchase),
                None => self.counts[2] += 1,
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> DataFusionResult<ScalarValue> {
        let fold = SummaryFold::new(self.options, None);
        let array = summary_array(&fold, std::iter::once((&mut self.rows, self.counts)))?;
        Ok(ScalarValue::Struct(Arc::new(array)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.rows.capacity() * std::mem::size_of::<PurchaseRow>()
    }

    fn state(&mut self) -> DataFusionResult<Vec<ScalarValue>> {
        let micros = Int64Array::from_iter_values(self.rows.iter().map(|row| row.micros()));
        let keys = Int32Array::from_iter_values(self.rows.iter().map(|row| row.key()));
        Ok(vec![
            list(micros),
            list(keys),
            ScalarValue::UInt64(Some(self.counts[0])),
            ScalarValue::UInt64(Some(self.counts[1])),
            ScalarValue::UInt64(Some(self.counts[2])),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DataFusionResult<()> {
        let micros = states[0].as_list::<i32>();
        let keys = states[1].as_list::<i32>();
        for state in 0..micros.len() {
            if micros.is_null(state) {
                continue;
            }
            let amounts = micros.value(state);
            let amounts = amounts.as_primitive::<Int64Type>();
            let packed = keys.value(state);
            let packed = packed.as_primitive::<Int32Type>();
            self.rows.extend(amounts.values().iter().zip(packed.values()).map(|(&micros, &key)| PurchaseRow::from_parts(micros, key)));
            for (count, column) in self.counts.iter_mut().zip(&states[2..5]) {
                *count += column.as_primitive::<arrow::datatypes::UInt64Type>().value(state);
            }
        }
        Ok(())
    }
}

/// The function's results for groups of rows (each group's rows and counts), as one
/// struct array.
fn summary_array<'a>(
    fold: &SummaryFold,
    groups: impl Iterator<Item = (&'a mut Vec<PurchaseRow>, [u64; 3])>,
) -> DataFusionResult<StructArray> {
    let mut numbers: [Vec<Option<f64>>; 6] = Default::default();
    let mut excluded: Vec<Option<&str>> = Vec::new();
    let mut counts: [Vec<u64>; 3] = Default::default();
    for (rows, count) in groups {
        // A customer all of whose rows fall after the observation end is not seen at all,
        // as in the embedded path (which keeps no row of theirs): "outside", not counted.
        let (summary, why) = if rows.is_empty() {
            (None, Some("outside"))
        } else {
            match fold.fold(rows) {
                Ok(summary) => (Some(summary), None),
                Err(Excluded::RefundsOnly) => (None, Some("refunds_only")),
                Err(Excluded::HoldoutOnly) => (None, Some("holdout_only")),
            }
        };
        let values = [
            summary.map(|summary| f64::from(summary.frequency)),
            summary.map(|summary| summary.recency),
            summary.map(|summary| summary.t),
            summary.map(|summary| summary.monetary_value),
            summary.and_then(|summary| summary.holdout_frequency().map(f64::from)),
            summary.and_then(|summary| summary.holdout_monetary_value()),
        ];
        for (column, value) in numbers.iter_mut().zip(values) {
            column.push(value);
        }
        excluded.push(why);
        for (column, value) in counts.iter_mut().zip(count) {
            column.push(value);
        }
    }
    let mut columns: Vec<ArrayRef> = numbers.into_iter().map(|values| Arc::new(Float64Array::from(values)) as ArrayRef).collect();
    columns.push(Arc::new(StringArray::from(excluded)));
    columns.extend(counts.into_iter().map(|values| Arc::new(UInt64Array::from(values)) as ArrayRef));
    Ok(StructArray::try_new(result_fields(), columns, None)?)
}

/// The rows of every customer group of a partition, for DataFusion's hash aggregate.
#[derive(Debug)]
struct SummaryGroups {
    options: SummaryOptions,
    zone: Zone,
    /// Per group (DataFusion's group index).
    rows: Vec<Vec<PurchaseRow>>,
    /// Per group: rows, refunds, rows after the observation end.
    counts: Vec<[u64; 3]>,
    /// Purchase rows held across the groups (for `size`, which must not walk them).
    held: usize,
}

impl SummaryGroups {
    fn grow(&mut self, total_num_groups: usize) {
        if self.rows.len() < total_num_groups {
            self.rows.resize_with(total_num_groups, Vec::new);
            self.counts.resize(total_num_groups, [0; 3]);
        }
    }
}

impl GroupsAccumulator for SummaryGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DataFusionResult<()> {
        self.grow(total_num_groups);
        let arguments = Arguments::new(values)?;
        for (row, &group) in group_indices.iter().enumerate() {
            if opt_filter.is_some_and(|filter| !filter.value(row) || filter.is_null(row)) {
                continue;
            }
            let Some((local, amount)) = arguments.at(row, &self.options, self.zone) else {
                continue;
            };
            let counts = &mut self.counts[group];
            counts[0] += 1;
            counts[1] += u64::from(amount < 0.0);
            match self.options.row(local, amount) {
                Some(purchase) => {
                    self.rows[group].push(purchase);
                    self.held += 1;
                }
                None => counts[2] += 1,
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DataFusionResult<ArrayRef> {
        let fold = SummaryFold::new(self.options, None);
        let (mut rows, counts) = self.take(emit_to);
        Ok(Arc::new(summary_array(&fold, rows.iter_mut().zip(counts))?))
    }

    fn state(&mut self, emit_to: EmitTo) -> DataFusionResult<Vec<ArrayRef>> {
        let (rows, counts) = self.take(emit_to);
        Ok(state_arrays(&rows, &counts))
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> DataFusionResult<Vec<ArrayRef>> {
        // Each input row as a group's state of its own (the partial stage passing rows on
        // when it does not reduce them).
        let mut single = SummaryGroups { options: self.options, zone: self.zone, rows: Vec::new(), counts: Vec::new(), held: 0 };
        let groups: Vec<usize> = (0..values[0].len()).collect();
        single.update_batch(values, &groups, opt_filter, groups.len())?;
        Ok(state_arrays(&single.rows, &single.counts))
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> DataFusionResult<()> {
        self.grow(total_num_groups);
        let micros = values[0].as_list::<i32>();
        let keys = values[1].as_list::<i32>();
        let (all_micros, all_keys) = (micros.values().as_primitive::<Int64Type>(), keys.values().as_primitive::<Int32Type>());
        let counts: Vec<&arrow::array::UInt64Array> =
            values[2..5].iter().map(|column| column.as_primitive::<arrow::datatypes::UInt64Type>()).collect();
        for (state, &group) in group_indices.iter().enumerate() {
            if micros.is_null(state) {
                continue;
            }
            let (start, end) = (micros.value_offsets()[state] as usize, micros.value_offsets()[state + 1] as usize);
            let (key_start, _) = (keys.value_offsets()[state] as usize, keys.value_offsets()[state + 1] as usize);
            let amounts = &all_micros.values()[start..end];
            let packed = &all_keys.values()[key_start..key_start + (end - start)];
            self.rows[group].extend(amounts.iter().zip(packed).map(|(&micros, &key)| PurchaseRow::from_parts(micros, key)));
            self.held += end - start;
            for (count, column) in self.counts[group].iter_mut().zip(&counts) {
                *count += column.value(state);
            }
        }
        Ok(())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.rows.capacity() * std::mem::size_of::<Vec<PurchaseRow>>()
            + self.held * std::mem::size_of::<PurchaseRow>()
            + self.counts.capacity() * std::mem::size_of::<[u64; 3]>()
    }
}

impl SummaryGroups {
    /// The groups `emit_to` names, taken out (the rest renumbered from 0).
    fn take(&mut self, emit_to: EmitTo) -> (Vec<Vec<PurchaseRow>>, Vec<[u64; 3]>) {
        let rows = emit_to.take_needed(&mut self.rows);
        self.held -= rows.iter().map(Vec::len).sum::<usize>();
        (rows, emit_to.take_needed(&mut self.counts))
    }
}

/// Groups' rows and counts as the function's state columns (two lists, three counts).
fn state_arrays(rows: &[Vec<PurchaseRow>], counts: &[[u64; 3]]) -> Vec<ArrayRef> {
    let offsets = OffsetBuffer::from_lengths(rows.iter().map(Vec::len));
    let micros = Int64Array::from_iter_values(rows.iter().flatten().map(|row| row.micros()));
    let keys = Int32Array::from_iter_values(rows.iter().flatten().map(|row| row.key()));
    let list = |values: ArrayRef| -> ArrayRef {
        let field = Arc::new(Field::new_list_field(values.data_type().clone(), false));
        Arc::new(ListArray::new(field, offsets.clone(), values, None))
    };
    let count = |index: usize| Arc::new(UInt64Array::from_iter_values(counts.iter().map(|count| count[index]))) as ArrayRef;
    vec![list(Arc::new(micros)), list(Arc::new(keys)), count(0), count(1), count(2)]
}

/// What the order links did, as the embedded path counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounts {
    /// Rows naming an order no purchase with a customer carries (left out).
    pub unlinked: u64,
    /// Of those, refunds.
    pub unlinked_refunds: u64,
    /// Refunds netted against the purchase of the order they name.
    pub refunds_by_order: u64,
}

/// The purchases with each row's customer resolved through its order where it names
/// none, and a refund's time moved to its order's purchase: the SQL of the link rule.
/// The purchase that carries an order is its earliest (then its smallest customer id),
/// a rule that does not depend on the order rows were stored in. It is written as two
/// plain `min` aggregates and a join rather than `first_value(… ORDER BY time,
/// customer_id)`: DataFusion keeps an ordered accumulator object per group for the
/// latter, one per order, where `min` keeps a flat column. Only the orders a refund or a
/// row without a customer names are linked (`needed`, a small share of the orders as a
/// rule): the aggregates and the join's hash table hold those orders, not every order,
/// and every other row passes the final join unmatched (docs/benchmarks.md, "Engines").
/// The orders the summary links: those a purchase row without a customer or a refund names.
const NEEDED: &str = "SELECT DISTINCT order_id FROM events.purchases WHERE order_id IS NOT NULL AND (customer_id IS NULL OR amount < 0)";

/// The purchases with their customer resolved through `links` (crate::links): a row
/// naming no customer takes its order's, and a refund naming an order its purchase's
/// time (`by_order`; `own_time` keeps the row's own, which decides whether a refund made
/// after the observation end is left out).
fn linked(links: &crate::links::Links) -> String {
    if links.rows == 0 {
        return "SELECT customer_id AS customer, time, amount, time AS own_time, false AS by_order FROM events.purchases".to_string();
    }
    let table = &links.table;
    format!(
        "SELECT COALESCE(p.customer_id, l.link_customer) AS customer,
                CASE WHEN p.amount < 0 AND l.link_customer = COALESCE(p.customer_id, l.link_customer) THEN l.link_time ELSE p.time END AS time,
                p.amount AS amount,
                p.time AS own_time,
                COALESCE(p.amount < 0 AND l.link_customer = COALESCE(p.customer_id, l.link_customer), false) AS by_order
         FROM {table} l RIGHT JOIN events.purchases p ON p.order_id = l.order_id"
    )
}

/// The customer summary of the workspace's purchases, computed by DataFusion: equal to
/// the embedded path's for the same options (the observation end, when not given, is the
/// last purchase's local time, as there).
pub fn summary(session: &Session, options: SummaryOptions, zone: Zone) -> Result<(Summary, LinkCounts), SqlError> {
    let context = &session.context;
    if !context.table_exist("events.purchases").map_err(internal)? {
        return Err(SqlError::Query("the workspace holds no purchases".into()));
    }
    // Registered until the last query below has run.
    let order_links = crate::links::order_links(session, NEEDED, "rapport_summary_links")?;
    let linked = format!("WITH linked AS ({})", linked(&order_links));
    let run = |sql: String| -> Result<Vec<arrow::record_batch::RecordBatch>, SqlError> {
        session.block_on(async {
            let frame = context.sql(&sql).await.map_err(|error| SqlError::Query(error.to_string()))?;
            frame.collect().await.map_err(|error| SqlError::Query(error.to_string()))
        })
    };

    // Links first: what was left out and why.
    let counts = run(format!(
        "{linked} SELECT COUNT(*) FILTER (WHERE customer IS NULL), COUNT(*) FILTER (WHERE customer IS NULL AND amount < 0),
                COUNT(*) FILTER (WHERE by_order), MAX(time) FILTER (WHERE customer IS NOT NULL) FROM linked"
    ))?;
    let batch = counts.first().ok_or_else(|| SqlError::Internal("no counts".into()))?;
    let count = |index: usize| batch.column(index).as_primitive::<Int64Type>().value(0) as u64;
    let mut links = LinkCounts { unlinked: count(0), unlinked_refunds: count(1), refunds_by_order: count(2) };
    // A refund made after an observation end is not netted (nor counted as netted): each
    // near the end is placed by its local time, as the embedded path does.
    if let Some(end) = options.observation_end {
        let (surely_in, surely_out) = observed_utc_bounds(end);
        links.refunds_by_order = 0;
        for batch in run(format!(
            "{linked} SELECT CASE WHEN arrow_cast(own_time, 'Int64') > {surely_in} THEN arrow_cast(own_time, 'Int64') END AS own,
                    COUNT(*) AS n
             FROM linked WHERE by_order AND arrow_cast(own_time, 'Int64') <= {surely_out} GROUP BY own"
        ))? {
            // (Refunds surely inside counted together, as a null time.)
            let (own, n) = (batch.column(0).as_primitive::<Int64Type>(), batch.column(1).as_primitive::<Int64Type>());
            for row in 0..batch.num_rows() {
                if own.is_null(row) || options.observed(zone.local_seconds(ParsedTime::Instant(own.value(row)))) {
                    links.refunds_by_order += n.value(row) as u64;
                }
            }
        }
    }
    let last = arrow::compute::cast(batch.column(3), &DataType::Int64).map_err(internal)?;
    let last = last.as_primitive::<Int64Type>();
    // The latest local time (the embedded path's tally): among the last few hours of UTC
    // times, since a clock set back makes local time run backwards for a while.
    let mut last_seen = None;
    if !last.is_null(0) {
        let since = last.value(0) - 3 * 3600;
        for batch in run(format!(
            "{linked} SELECT DISTINCT arrow_cast(time, 'Int64') FROM linked WHERE customer IS NOT NULL AND arrow_cast(time, 'Int64') >= {since}"
        ))? {
            let times = batch.column(0).as_primitive::<Int64Type>();
            for time in times.iter().flatten() {
                let local = zone.local_seconds(ParsedTime::Instant(time));
                last_seen = Some(last_seen.map_or(local, |seen: i64| seen.max(local)));
            }
        }
    }
    let resolved = SummaryOptions { observation_end: options.observation_end.or(last_seen).or(Some(0)), ..options };

    context.register_udaf(SummaryFunction::new(resolved, zone).udaf());
    let batches = run(format!(
        "{linked} SELECT customer, {SUMMARY_FUNCTION}(time, amount{own}) AS summary FROM linked WHERE customer IS NOT NULL GROUP BY customer",
        // Without an end given, every row is inside the window (its end the last row).
        own = if options.observation_end.is_some() { ", own_time" } else { "" }
    ))?;
    Ok((summary_from_batches(&batches, 1, options, last_seen)?, links))
}

/// UTC bounds around an observation end given in local seconds: every row at or before
/// the first is inside the window in any time zone (local time is within 15 hours of
/// UTC), and every row after the second is outside it (past the end's period, a month at
/// most, in any zone).
fn observed_utc_bounds(end_local: i64) -> (i64, i64) {
    const HOUR: i64 = 3600;
    (end_local - 16 * HOUR, end_local + 32 * 24 * HOUR + 16 * HOUR)
}

/// The summary table from query results whose first column is the customer id and
/// column `column` the [`SummaryFunction`]'s result; `options` as asked, `last_seen` the
/// latest local purchase time when they give no observation end.
pub(crate) fn summary_from_batches(
    batches: &[arrow::record_batch::RecordBatch],
    column: usize,
    options: SummaryOptions,
    last_seen: Option<i64>,
) -> Result<Summary, SqlError> {
    let mut customers: Vec<(String, CustomerSummary)> = Vec::new();
    let mut totals = SummaryCounts::default();
    for batch in batches {
        let ids = arrow::compute::cast(batch.column(0), &DataType::Utf8).map_err(internal)?;
        let ids = ids.as_string::<i32>();
        let summaries = batch.column(column).as_struct();
        let column = |name: &str| summaries.column_by_name(name).ok_or_else(|| SqlError::Internal(format!("no {name}")));
        let float = |name: &str| column(name).map(|array| array.as_primitive::<Float64Type>().clone());
        let unsigned = |name: &str| column(name).map(|array| array.as_primitive::<arrow::datatypes::UInt64Type>().clone());
        let (frequency, recency, t, monetary) = (float("frequency")?, float("recency")?, float("T")?, float("monetary_value")?);
        let (frequency_holdout, monetary_holdout) = (float("frequency_holdout")?, float("monetary_value_holdout")?);
        let excluded = column("excluded")?.as_string::<i32>().clone();
        let (rows, refunds, after) = (unsigned("rows")?, unsigned("refunds")?, unsigned("after_observation_end")?);
        for row in 0..batch.num_rows() {
            totals.rows += rows.value(row);
            totals.refunds += refunds.value(row);
            totals.after_observation_end += after.value(row);
            if !excluded.is_null(row) {
                match excluded.value(row) {
                    "refunds_only" => totals.exclude(Excluded::RefundsOnly),
                    "holdout_only" => totals.exclude(Excluded::HoldoutOnly),
                    _ => {}
                }
                continue;
            }
            let holdout = (!frequency_holdout.is_null(row)).then(|| (frequency_holdout.value(row) as u32, monetary_holdout.value(row)));
            customers.push((
                ids.value(row).to_string(),
                CustomerSummary::from_parts(frequency.value(row) as u32, recency.value(row), t.value(row), monetary.value(row), holdout),
            ));
        }
    }
    customers.sort_by(|a, b| rapport_core::table::natural_order(&a.0, &b.0));
    let ids = LargeStringArray::from_iter_values(customers.iter().map(|(id, _)| id.as_str()));
    let rows: Vec<CustomerSummary> = customers.into_iter().map(|(_, summary)| summary).collect();
    // The table's window as the embedded path gives it: the options as asked, the
    // observation end from the tally when none was given.
    let fold = SummaryFold::new(options, last_seen);
    Ok(fold.table(ids, &rows, totals))
}
