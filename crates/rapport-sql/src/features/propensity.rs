//! What propensity reads of each customer at its cut-offs
//! (`rapport_action::propensity::CutoffFacts`), as plans: the purchase rows through an
//! aggregate and the conversations through a function over each customer's list, both
//! calling the embedded path's own code, and the surveys, engagement and programs through
//! `FILTER`ed aggregates of the same rules.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListArray, RecordBatch, StructArray, UInt32Array};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type, UInt32Type};
use datafusion::common::{Result as DataFusionResult, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, EmitTo, GroupsAccumulator, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use rapport_action::propensity::{ConversationCut, CutoffFacts, PurchaseCut};
use rapport_action::response::ContactFacts;
use rapport_core::event::EngagementType;
use rapport_core::survey::SurveyType;

use super::{FeatureSpec, LOCAL_DAY_FUNCTION, Reused, engagement_name, ids, int64_list_state, integers, quoted};
use crate::{SqlError, internal};

const DAY: i64 = 86_400;

/// `rapport_cutoff_purchases(t, day, amount, cutoffs)`: a customer's purchase rows (UTC
/// seconds, local day, amount) at each cut-off of `cutoffs`, a literal of comma-separated
/// local days with the label's horizon in days last (`'19800,19890,19980,90'`), as
/// `rapport_action::propensity::PurchaseCut::of` reads them: a list with a struct per
/// cut-off, null where the customer had not bought by then.
pub const CUTOFF_PURCHASES_FUNCTION: &str = "rapport_cutoff_purchases";
/// `rapport_cutoff_conversations(list, cutoffs)`: what propensity reads of a list of
/// `rapport_conversation_list` at each cut-off of `cutoffs` (a literal of comma-separated
/// UTC seconds), as `rapport_action::propensity::ConversationCut::of` reads them: a list
/// with a struct per cut-off.
pub const CUTOFF_CONVERSATIONS_FUNCTION: &str = "rapport_cutoff_conversations";

fn purchase_fields() -> Fields {
    Fields::from(vec![
        Field::new("days", DataType::UInt32, false),
        Field::new("first_day", DataType::Int64, false),
        Field::new("last_day", DataType::Int64, false),
        Field::new("days_last_90", DataType::UInt32, false),
        Field::new("days_last_365", DataType::UInt32, false),
        Field::new("spend_micros", DataType::Int64, false),
        Field::new("refunds", DataType::UInt32, false),
        Field::new("last_purchase", DataType::Int64, false),
        Field::new("label", DataType::Boolean, false),
    ])
}

fn conversation_fields() -> Fields {
    Fields::from(vec![
        Field::new("last_365", DataType::UInt32, false),
        Field::new("unrecovered_last_180", DataType::UInt32, false),
        Field::new("last_start", DataType::Int64, true),
        Field::new("last_unrecovered_start", DataType::Int64, true),
    ])
}

fn list_of(fields: Fields) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Struct(fields), true)))
}

/// Comma-separated integers of a literal argument.
fn integers_of(text: &str, function: &str) -> DataFusionResult<Vec<i64>> {
    text.split(',')
        .map(|part| part.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .or_else(|_| exec_err!("{function} takes its cut-offs as a literal of comma-separated integers, not {text:?}"))
}

/// The purchase facts as `groups` lists of structs, `per_group` of `cuts` to a list, null
/// where `None`.
fn purchase_lists(cuts: &[Option<PurchaseCut>], per_group: usize, groups: usize) -> DataFusionResult<ListArray> {
    let get = |read: &dyn Fn(&PurchaseCut) -> i64| Int64Array::from_iter_values(cuts.iter().map(|cut| cut.as_ref().map_or(0, read)));
    let count = |read: &dyn Fn(&PurchaseCut) -> u32| UInt32Array::from_iter_values(cuts.iter().map(|cut| cut.as_ref().map_or(0, read)));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(count(&|cut| cut.days)),
        Arc::new(get(&|cut| cut.first_day)),
        Arc::new(get(&|cut| cut.last_day)),
        Arc::new(count(&|cut| cut.days_last_90)),
        Arc::new(count(&|cut| cut.days_last_365)),
        Arc::new(get(&|cut| cut.spend_micros)),
        Arc::new(count(&|cut| cut.refunds)),
        Arc::new(get(&|cut| cut.last_purchase)),
        Arc::new(BooleanArray::from_iter(cuts.iter().map(|cut| Some(cut.is_some_and(|cut| cut.label))))),
    ];
    let valid = NullBuffer::from_iter(cuts.iter().map(Option::is_some));
    let values = StructArray::try_new(purchase_fields(), columns, Some(valid))?;
    Ok(ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Struct(purchase_fields()), true)),
        OffsetBuffer::from_lengths(std::iter::repeat_n(per_group, groups)),
        Arc::new(values),
        None,
    )?)
}

/// One customer's cut-offs of `rows (UTC seconds, local day, amount)` at `cutoffs` (local
/// days, then the horizon), appended to `cuts`.
fn cuts_of(rows: &[(i64, i64, f64)], cutoffs: &[i64], cuts: &mut Vec<Option<PurchaseCut>>) {
    if let Some((&horizon, days)) = cutoffs.split_last() {
        cuts.extend(days.iter().map(|&cutoff_day| PurchaseCut::of(rows.iter().copied(), cutoff_day, horizon)));
    }
}

/// See [`CUTOFF_PURCHASES_FUNCTION`].
#[derive(Debug, Clone)]
pub struct CutoffPurchases {
    signature: Signature,
}
parameterless!(CutoffPurchases);

impl CutoffPurchases {
    pub(super) fn new() -> CutoffPurchases {
        CutoffPurchases {
            signature: Signature::exact(vec![DataType::Int64, DataType::Int64, DataType::Float64, DataType::Utf8], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for CutoffPurchases {
    fn name(&self) -> &str {
        CUTOFF_PURCHASES_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(list_of(purchase_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DataFusionResult<Box<dyn Accumulator>> {
        Ok(Box::<PurchaseRows>::default())
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> DataFusionResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::<PurchaseGroups>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DataFusionResult<Vec<FieldRef>> {
        let list = |suffix: &str| int64_list_state(args.name, suffix);
        let name = datafusion::logical_expr::utils::format_state_name(args.name, "amounts");
        let amounts = Arc::new(Field::new(name, DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true))), true));
        Ok(vec![list("times"), list("days"), amounts, list("cutoffs")])
    }
}

/// The purchase rows `(UTC seconds, local day, amount)` of a batch's arrays, each with
/// its row index; rows with a null are left out.
fn purchase_rows<'a>(
    times: &'a ArrayRef,
    days: &'a ArrayRef,
    amounts: &'a ArrayRef,
) -> impl Iterator<Item = (usize, (i64, i64, f64))> + 'a {
    let (times, days, amounts) =
        (times.as_primitive::<Int64Type>(), days.as_primitive::<Int64Type>(), amounts.as_primitive::<Float64Type>());
    (0..times.len())
        .filter(|&row| !times.is_null(row) && !days.is_null(row) && !amounts.is_null(row))
        .map(|row| (row, (times.value(row), days.value(row), amounts.value(row))))
}

/// The cut-offs of the function's literal argument, from the first row that has one.
fn literal_cutoffs(cutoffs: &ArrayRef) -> DataFusionResult<Option<Vec<i64>>> {
    match cutoffs.as_string_opt::<i32>().and_then(|text| text.iter().flatten().next()) {
        Some(text) => Ok(Some(integers_of(text, CUTOFF_PURCHASES_FUNCTION)?)),
        None => Ok(None),
    }
}

/// Groups' rows as the function's state: the times', days' and amounts' lists, one entry
/// per group, and the cut-offs on every group (the final aggregation's partitions receive
/// the states hashed by customer, so each group's state must carry them).
fn purchase_state(groups: &[Vec<(i64, i64, f64)>], cutoffs: &[i64]) -> Vec<ArrayRef> {
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(Vec::len));
    let rows = || groups.iter().flatten();
    let list = |values: ArrayRef, offsets: OffsetBuffer<i32>| {
        let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
        Arc::new(ListArray::new(field, offsets, values, None)) as ArrayRef
    };
    let carried = OffsetBuffer::from_lengths(std::iter::repeat_n(cutoffs.len(), groups.len()));
    let carried_values = Int64Array::from_iter_values(std::iter::repeat_n(cutoffs, groups.len()).flatten().copied());
    vec![
        list(Arc::new(Int64Array::from_iter_values(rows().map(|row| row.0))), offsets.clone()),
        list(Arc::new(Int64Array::from_iter_values(rows().map(|row| row.1))), offsets.clone()),
        list(Arc::new(Float64Array::from_iter_values(rows().map(|row| row.2))), offsets),
        list(Arc::new(carried_values), carried),
    ]
}

/// One customer's purchase rows while they are aggregated, and the cut-offs (their local
/// days, then the horizon).
#[derive(Debug, Default)]
struct PurchaseRows {
    rows: Vec<(i64, i64, f64)>,
    cutoffs: Vec<i64>,
}

impl Accumulator for PurchaseRows {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DataFusionResult<()> {
        let [times, days, amounts, cutoffs] = values else { return exec_err!("{CUTOFF_PURCHASES_FUNCTION} takes 4 arguments") };
        self.rows.extend(purchase_rows(times, days, amounts).map(|(_, row)| row));
        if self.cutoffs.is_empty()
            && let Some(found) = literal_cutoffs(cutoffs)?
        {
            self.cutoffs = found;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> DataFusionResult<ScalarValue> {
        let mut cuts = Vec::new();
        cuts_of(&self.rows, &self.cutoffs, &mut cuts);
        Ok(ScalarValue::List(Arc::new(purchase_lists(&cuts, cuts.len(), 1)?)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.rows.capacity() * std::mem::size_of::<(i64, i64, f64)>() + self.cutoffs.capacity() * 8
    }

    fn state(&mut self) -> DataFusionResult<Vec<ScalarValue>> {
        purchase_state(std::slice::from_ref(&self.rows), &self.cutoffs).iter().map(|list| ScalarValue::try_from_array(list, 0)).collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DataFusionResult<()> {
        let mut single = PurchaseGroups { cutoffs: std::mem::take(&mut self.cutoffs), ..PurchaseGroups::default() };
        single.merge_batch(states, &vec![0; states.first().map_or(0, |state| state.len())], 1)?;
        if let Some(rows) = single.rows.pop() {
            self.rows.extend(rows);
        }
        self.cutoffs = single.cutoffs;
        Ok(())
    }
}

/// Every customer group's purchase rows of a partition, for DataFusion's hash aggregate
/// (one state for all groups rather than an accumulator object per customer, which at a
/// million customers held several gigabytes).
#[derive(Debug, Default)]
struct PurchaseGroups {
    rows: Vec<Vec<(i64, i64, f64)>>,
    /// Rows held, for `size`.
    held: usize,
    cutoffs: Vec<i64>,
}

impl PurchaseGroups {
    fn grow(&mut self, total_num_groups: usize) {
        if self.rows.len() < total_num_groups {
            self.rows.resize_with(total_num_groups, Vec::new);
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<(i64, i64, f64)>> {
        let taken = emit_to.take_needed(&mut self.rows);
        self.held -= taken.iter().map(Vec::len).sum::<usize>();
        taken
    }
}

impl GroupsAccumulator for PurchaseGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DataFusionResult<()> {
        let [times, days, amounts, cutoffs] = values else { return exec_err!("{CUTOFF_PURCHASES_FUNCTION} takes 4 arguments") };
        self.grow(total_num_groups);
        if self.cutoffs.is_empty()
            && let Some(found) = literal_cutoffs(cutoffs)?
        {
            self.cutoffs = found;
        }
        for (row, values) in purchase_rows(times, days, amounts) {
            if opt_filter.is_some_and(|filter| filter.is_null(row) || !filter.value(row)) {
                continue;
            }
            self.rows[group_indices[row]].push(values);
            self.held += 1;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DataFusionResult<ArrayRef> {
        let taken = self.take(emit_to);
        let per_group = self.cutoffs.len().saturating_sub(1);
        let mut cuts = Vec::with_capacity(taken.len() * per_group);
        for rows in &taken {
            cuts_of(rows, &self.cutoffs, &mut cuts);
        }
        Ok(Arc::new(purchase_lists(&cuts, per_group, taken.len())?))
    }

    fn state(&mut self, emit_to: EmitTo) -> DataFusionResult<Vec<ArrayRef>> {
        let taken = self.take(emit_to);
        Ok(purchase_state(&taken, &self.cutoffs))
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> DataFusionResult<()> {
        let [times, days, amounts, cutoffs] = values else { return exec_err!("{CUTOFF_PURCHASES_FUNCTION} merges 4 states") };
        self.grow(total_num_groups);
        let (times, days, amounts, cutoffs) =
            (times.as_list::<i32>(), days.as_list::<i32>(), amounts.as_list::<i32>(), cutoffs.as_list::<i32>());
        if self.cutoffs.is_empty()
            && let Some(state) = (0..cutoffs.len()).find(|&state| !cutoffs.is_null(state) && !cutoffs.value(state).is_empty())
        {
            self.cutoffs = cutoffs.value(state).as_primitive::<Int64Type>().iter().flatten().collect();
        }
        // Every state's rows at once, then each state's slice of them to its group.
        let (all_times, all_days, all_amounts) = (times.values(), days.values(), amounts.values());
        let (all_times, all_days, all_amounts) =
            (all_times.as_primitive::<Int64Type>(), all_days.as_primitive::<Int64Type>(), all_amounts.as_primitive::<Float64Type>());
        let offsets = times.value_offsets();
        for (state, &group) in group_indices.iter().enumerate() {
            if times.is_null(state) {
                continue;
            }
            for at in offsets[state] as usize..offsets[state + 1] as usize {
                if all_times.is_null(at) || all_days.is_null(at) || all_amounts.is_null(at) {
                    continue;
                }
                self.rows[group].push((all_times.value(at), all_days.value(at), all_amounts.value(at)));
                self.held += 1;
            }
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> DataFusionResult<Vec<ArrayRef>> {
        let mut single = PurchaseGroups::default();
        let groups: Vec<usize> = (0..values.first().map_or(0, |column| column.len())).collect();
        single.update_batch(values, &groups, opt_filter, groups.len())?;
        Ok(purchase_state(&single.rows, &single.cutoffs))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.rows.capacity() * std::mem::size_of::<Vec<(i64, i64, f64)>>()
            + self.held * std::mem::size_of::<(i64, i64, f64)>()
            + self.cutoffs.capacity() * 8
    }
}

/// See [`CUTOFF_CONVERSATIONS_FUNCTION`].
#[derive(Debug, Clone)]
pub struct CutoffConversations {
    signature: Signature,
}
parameterless!(CutoffConversations);

impl CutoffConversations {
    pub(super) fn new() -> CutoffConversations {
        CutoffConversations { signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for CutoffConversations {
    fn name(&self) -> &str {
        CUTOFF_CONVERSATIONS_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(list_of(conversation_fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DataFusionResult<ColumnarValue> {
        let cutoffs = match args.args.get(1) {
            Some(ColumnarValue::Scalar(
                ScalarValue::Utf8(Some(text)) | ScalarValue::Utf8View(Some(text)) | ScalarValue::LargeUtf8(Some(text)),
            )) => integers_of(text, CUTOFF_CONVERSATIONS_FUNCTION)?,
            _ => return exec_err!("{CUTOFF_CONVERSATIONS_FUNCTION} takes a list and the cut-offs as a literal"),
        };
        let Some(lists) = args.args.first() else { return exec_err!("{CUTOFF_CONVERSATIONS_FUNCTION} takes 2 arguments") };
        let lists = lists.to_array(args.number_rows)?;
        let lists = lists.as_list::<i32>();
        let (mut last_365, mut unrecovered, mut last_start, mut last_unrecovered) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for row in 0..lists.len() {
            let conversations = (!lists.is_null(row)).then(|| lists.value(row));
            let of_row: Vec<(i64, bool)> = conversations
                .as_ref()
                .map(|list| {
                    let list = list.as_struct();
                    let start = list.column(0).as_primitive::<Int64Type>();
                    let unrecovered = list.column(6).as_boolean();
                    (0..list.len()).map(|index| (start.value(index), unrecovered.value(index))).collect()
                })
                .unwrap_or_default();
            for &cutoff in &cutoffs {
                let cut = ConversationCut::of(of_row.iter().copied(), cutoff);
                last_365.push(cut.last_365);
                unrecovered.push(cut.unrecovered_last_180);
                last_start.push(cut.last_start);
                last_unrecovered.push(cut.last_unrecovered_start);
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(last_365)),
            Arc::new(UInt32Array::from(unrecovered)),
            Arc::new(Int64Array::from(last_start)),
            Arc::new(Int64Array::from(last_unrecovered)),
        ];
        let values = StructArray::try_new(conversation_fields(), columns, None)?;
        let field = Arc::new(Field::new_list_field(DataType::Struct(conversation_fields()), true));
        let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(cutoffs.len(), lists.len()));
        Ok(ColumnarValue::Array(Arc::new(ListArray::try_new(field, offsets, Arc::new(values), None)?)))
    }
}

/// Each customer's [`CutoffFacts`] at the cut-offs `[(UTC seconds, local day)]`, labelled
/// over `horizon` days, by id: for the customers who had bought by at least one of them
/// (`None` at a cut-off before their first purchase). `referred` is left false: the
/// customer table has it. One plan per event kind, merged here by id (joined in a plan,
/// the join held one side's every customer in memory, which a cluster's executors under a
/// memory limit refused).
#[allow(clippy::too_many_arguments)]
pub(super) fn cutoff_facts(
    spec: &FeatureSpec,
    roster: &super::Roster,
    cutoffs: &[(i64, i64)],
    horizon: i64,
    lists: Option<&Reused>,
    linked: &dyn Fn(&str, &str) -> String,
    run: &dyn Fn(String) -> Result<Vec<RecordBatch>, SqlError>,
    exists: &dyn Fn(&str) -> Result<bool, SqlError>,
) -> Result<super::ByCustomer<Vec<Option<CutoffFacts>>>, SqlError> {
    let mut facts: super::ByCustomer<Vec<Option<CutoffFacts>>> = super::ByCustomer::new(roster);
    if !exists("purchases")? || cutoffs.is_empty() {
        return Ok(facts);
    }
    let k = cutoffs.len();
    let join = |list: Vec<String>| list.join(",");
    let days = join(cutoffs.iter().map(|(_, day)| day.to_string()).chain(std::iter::once(horizon.to_string())).collect());
    let times = join(cutoffs.iter().map(|(time, _)| time.to_string()).collect());
    let zone = quoted(std::iter::once(spec.zone.to_string()));
    // Every customer who had bought by a cut-off, with the purchases' facts.
    let batches = run(format!(
        "SELECT customer, {CUTOFF_PURCHASES_FUNCTION}(t, {LOCAL_DAY_FUNCTION}(t, {zone}), arrow_cast(amount, 'Float64'), '{days}') AS p
         FROM ({}) GROUP BY customer",
        linked("purchases", "k.amount AS amount")
    ))?;
    for batch in &batches {
        let ids = ids(batch)?;
        let purchases = batch.column(1).as_list::<i32>();
        for row in 0..batch.num_rows() {
            let cuts = purchases.value(row);
            let cuts = cuts.as_struct();
            let u32_at = |field: usize, index: usize| cuts.column(field).as_primitive::<UInt32Type>().value(index);
            let i64_at = |field: usize, index: usize| cuts.column(field).as_primitive::<Int64Type>().value(index);
            let found: Vec<Option<CutoffFacts>> = (0..k)
                .map(|index| {
                    (index < cuts.len() && !cuts.is_null(index)).then(|| CutoffFacts {
                        purchases: PurchaseCut {
                            days: u32_at(0, index),
                            first_day: i64_at(1, index),
                            last_day: i64_at(2, index),
                            days_last_90: u32_at(3, index),
                            days_last_365: u32_at(4, index),
                            spend_micros: i64_at(5, index),
                            refunds: u32_at(6, index),
                            last_purchase: i64_at(7, index),
                            label: cuts.column(8).as_boolean().value(index),
                        },
                        last_nps: f64::NAN,
                        ..CutoffFacts::default()
                    })
                })
                .collect();
            if found.iter().any(Option::is_some) {
                *facts.entry(ids.value(row)) = found;
            }
        }
    }
    // The other kinds' facts, each customer's into those of the cut-offs they are in.
    let mut merge = |batches: Vec<RecordBatch>, fill: &dyn Fn(&RecordBatch, usize, usize, &mut CutoffFacts)| -> Result<(), SqlError> {
        for batch in &batches {
            let ids = ids(batch)?;
            for row in 0..batch.num_rows() {
                let Some(found) = facts.get_mut(ids.value(row)) else { continue };
                for (index, slot) in found.iter_mut().enumerate() {
                    if let Some(slot) = slot {
                        fill(batch, row, index, slot);
                    }
                }
            }
        }
        Ok(())
    };
    if let Some(lists) = lists {
        let batches = run(format!("SELECT customer, {CUTOFF_CONVERSATIONS_FUNCTION}(list, '{times}') AS c FROM {}", lists.from))?;
        merge(batches, &|batch, row, index, slot| {
            let talks = batch.column(1).as_list::<i32>().value(row);
            let talks = talks.as_struct();
            let optional = |field: usize| {
                let column = talks.column(field).as_primitive::<Int64Type>();
                (!column.is_null(index)).then(|| column.value(index))
            };
            slot.conversations = ConversationCut {
                last_365: talks.column(0).as_primitive::<UInt32Type>().value(index),
                unrecovered_last_180: talks.column(1).as_primitive::<UInt32Type>().value(index),
                last_start: optional(2),
                last_unrecovered_start: optional(3),
            };
        })?;
    }
    let count = |batch: &RecordBatch, column: usize, row: usize| -> u32 {
        let column = batch.column(column).as_primitive::<Int64Type>();
        if column.is_null(row) { 0 } else { column.value(row) as u32 }
    };
    if exists("surveys")? {
        let known = quoted(SurveyType::ALL.iter().map(|survey| survey.name()));
        let nps = SurveyType::Nps.name();
        let columns: Vec<String> = cutoffs
            .iter()
            .enumerate()
            .map(|(k, (time, _))| {
                format!("first_value(score ORDER BY t DESC, score DESC) FILTER (WHERE survey = '{nps}' AND t <= {time}) AS nps_{k}")
            })
            .collect();
        let rows = linked("surveys", "lower(trim(k.survey_type)) AS survey, arrow_cast(k.score, 'Float64') AS score");
        let batches = run(format!("SELECT customer, {} FROM ({rows}) WHERE survey IN ({known}) GROUP BY customer", columns.join(", ")))?;
        merge(batches, &|batch, row, index, slot| {
            let scores = batch.column(1 + index).as_primitive::<Float64Type>();
            slot.last_nps = if scores.is_null(row) { f64::NAN } else { scores.value(row) };
        })?;
    }
    if exists("engagement")? {
        let known = quoted(EngagementType::NAMES.iter().copied());
        let social = quoted(EngagementType::NAMES.iter().copied().filter(|name| {
            serde_json::from_value::<EngagementType>(serde_json::Value::String(name.to_string()))
                .is_ok_and(rapport_measures::timeline::is_social)
        }));
        let advocacy = quoted([EngagementType::Review, EngagementType::Referral].into_iter().filter_map(engagement_name));
        let columns: Vec<String> = cutoffs
            .iter()
            .enumerate()
            .map(|(k, (time, _))| {
                let year = time - 365 * DAY;
                format!(
                    "COUNT(*) FILTER (WHERE kind IN ({social}) AND t <= {time} AND t > {year}) AS social_{k},
                     COUNT(*) FILTER (WHERE kind IN ({advocacy}) AND t <= {time}) AS advocacy_{k},
                     MAX(t) FILTER (WHERE t <= {time}) AS engaged_{k}"
                )
            })
            .collect();
        let rows = linked("engagement", "k.engagement_type AS kind");
        let batches = run(format!("SELECT customer, {} FROM ({rows}) WHERE kind IN ({known}) GROUP BY customer", columns.join(", ")))?;
        merge(batches, &|batch, row, index, slot| {
            slot.social_last_365 = count(batch, 1 + 3 * index, row);
            slot.reviews_and_referrals = count(batch, 2 + 3 * index, row);
            let engaged = batch.column(3 + 3 * index).as_primitive::<Int64Type>();
            slot.last_engagement = (!engaged.is_null(row)).then(|| engaged.value(row));
        })?;
    }
    if exists("programs")? {
        let as_of = spec.as_of;
        let columns: Vec<String> = cutoffs
            .iter()
            .enumerate()
            .map(|(k, (time, _))| {
                let quarter = time - 90 * DAY;
                format!("COUNT(*) FILTER (WHERE NOT control AND t <= {time} AND t > {quarter}) AS programs_{k}")
            })
            .collect();
        let batches = run(format!(
            "SELECT customer, {} FROM (
                SELECT NULLIF(customer_id, '') AS customer, arrow_cast(time, 'Int64') AS t, COALESCE(control_group, false) AS control
                FROM events.programs WHERE arrow_cast(time, 'Int64') <= {as_of} AND NULLIF(customer_id, '') IS NOT NULL
             ) GROUP BY customer",
            columns.join(", ")
        ))?;
        merge(batches, &|batch, row, index, slot| slot.program_contacts_last_90 = count(batch, 1 + index, row))?;
    }
    Ok(facts)
}

/// Each program's first contact (UTC seconds) with any customer, by program name.
pub(super) fn program_firsts(
    as_of: i64,
    run: &dyn Fn(String) -> Result<Vec<RecordBatch>, SqlError>,
    exists: &dyn Fn(&str) -> Result<bool, SqlError>,
) -> Result<Vec<(String, i64)>, SqlError> {
    if !exists("programs")? {
        return Ok(Vec::new());
    }
    let batches = run(format!(
        "SELECT program, MIN(arrow_cast(time, 'Int64')) AS first FROM events.programs
         WHERE arrow_cast(time, 'Int64') <= {as_of} AND NULLIF(customer_id, '') IS NOT NULL GROUP BY program"
    ))?;
    let mut firsts = Vec::new();
    for batch in &batches {
        let (names, first) = (ids(batch)?, integers(batch)(1)?);
        firsts.extend((0..batch.num_rows()).map(|row| (names.value(row).to_string(), first.value(row))));
    }
    firsts.sort();
    Ok(firsts)
}

/// Each customer's first contact with each program whose window of `window_days` after it
/// has closed by the observation end (`rapport_action::response::ContactFacts`): by
/// program, then customer id.
pub(super) fn program_contacts(
    spec: &FeatureSpec,
    roster: &super::Roster,
    window_days: i64,
    linked: &dyn Fn(&str, &str) -> String,
    run: &dyn Fn(String) -> Result<Vec<RecordBatch>, SqlError>,
    exists: &dyn Fn(&str) -> Result<bool, SqlError>,
) -> Result<HashMap<String, super::ByCustomer<Option<ContactFacts>>>, SqlError> {
    let mut contacts: HashMap<String, super::ByCustomer<Option<ContactFacts>>> = HashMap::new();
    if !exists("programs")? {
        return Ok(contacts);
    }
    let (as_of, window) = (spec.as_of, window_days * DAY);
    // The first contact: of contacts at one time, a treated one (control false) first.
    let first = format!(
        "SELECT customer, program, MIN(t) AS t, first_value(NOT control ORDER BY t, control) AS treated FROM (
            SELECT NULLIF(customer_id, '') AS customer, arrow_cast(time, 'Int64') AS t, program, COALESCE(control_group, false) AS control
            FROM events.programs WHERE arrow_cast(time, 'Int64') <= {as_of} AND NULLIF(customer_id, '') IS NOT NULL
         ) GROUP BY customer, program"
    );
    let sql = match exists("purchases")? {
        true => format!(
            "SELECT c.customer, c.program, c.treated,
                    COALESCE(bool_or(p.amount > 0 AND p.t > c.t AND p.t <= c.t + {window}), false) AS bought
             FROM ({first}) c LEFT JOIN ({}) p ON p.customer = c.customer
             WHERE c.t + {window} <= {as_of} GROUP BY c.customer, c.program, c.treated",
            linked("purchases", "k.amount AS amount")
        ),
        false => format!("SELECT customer, program, treated, false AS bought FROM ({first}) WHERE t + {window} <= {as_of}"),
    };
    for batch in run(sql)?.iter() {
        let ids = ids(batch)?;
        let programs = arrow::compute::cast(batch.column(1), &DataType::Utf8).map_err(internal)?;
        let programs = programs.as_string::<i32>();
        let (treated, bought) = (batch.column(2).as_boolean(), batch.column(3).as_boolean());
        for row in 0..batch.num_rows() {
            *contacts.entry(programs.value(row).to_string()).or_insert_with(|| super::ByCustomer::new(roster)).entry(ids.value(row)) =
                Some(ContactFacts { treated: treated.value(row), bought: bought.value(row) });
        }
    }
    Ok(contacts)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema, UInt32Type};
    use datafusion::datasource::MemTable;
    use datafusion::logical_expr::AggregateUDF;
    use datafusion::prelude::{SessionConfig, SessionContext};
    use rapport_action::propensity::PurchaseCut;

    use super::CutoffPurchases;

    const CUTOFFS: [i64; 3] = [100, 150, 200];
    const HORIZON: i64 = 30;

    /// Each customer's rows `(UTC seconds, local day, amount)`: 60 customers with 0 to 12
    /// rows from a fixed linear congruential sequence, some refunds, some of amount 0,
    /// some on the same day, some before and after every cut-off.
    fn rows() -> BTreeMap<String, Vec<(i64, i64, f64)>> {
        let mut state: u64 = 7;
        let mut next = |modulus: u64| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % modulus) as i64
        };
        (0..60)
            .map(|customer| {
                let count = next(13);
                let found = (0..count)
                    .map(|_| {
                        let day = 40 + next(200);
                        let amount = match next(10) {
                            0 => -(next(5000) as f64) / 100.0,
                            1 => 0.0,
                            _ => next(20_000) as f64 / 100.0 + 0.01,
                        };
                        (day * 86_400 + next(86_400), day, amount)
                    })
                    .collect();
                (format!("c{customer:02}"), found)
            })
            .collect()
    }

    /// The aggregate's list of structs for one row, read back into `PurchaseCut`s.
    fn cuts_at(lists: &arrow::array::ListArray, row: usize) -> Vec<Option<PurchaseCut>> {
        let cuts = lists.value(row);
        let cuts = cuts.as_struct();
        let u32_at = |field: usize, index: usize| cuts.column(field).as_primitive::<UInt32Type>().value(index);
        let i64_at = |field: usize, index: usize| cuts.column(field).as_primitive::<Int64Type>().value(index);
        (0..cuts.len())
            .map(|index| {
                (!cuts.is_null(index)).then(|| PurchaseCut {
                    days: u32_at(0, index),
                    first_day: i64_at(1, index),
                    last_day: i64_at(2, index),
                    days_last_90: u32_at(3, index),
                    days_last_365: u32_at(4, index),
                    spend_micros: i64_at(5, index),
                    refunds: u32_at(6, index),
                    last_purchase: i64_at(7, index),
                    label: cuts.column(8).as_boolean().value(index),
                })
            })
            .collect()
    }

    /// `rapport_cutoff_purchases` gives `PurchaseCut::of` of each customer's rows at every
    /// cut-off, exactly, when DataFusion aggregates four partitions' rows into partial
    /// states and merges them by customer (the `GroupsAccumulator`), and when one
    /// accumulator takes a customer's rows without a `GROUP BY`.
    #[test]
    fn cutoff_purchases_equal_purchase_cut_of_across_partitions() {
        let customers = rows();
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer", DataType::Utf8, false),
            Field::new("t", DataType::Int64, false),
            Field::new("day", DataType::Int64, false),
            Field::new("amount", DataType::Float64, false),
        ]));
        // Rows dealt out to four partitions of two batches each, so that a customer's
        // rows are in several partial states.
        let flat: Vec<(&String, (i64, i64, f64))> =
            customers.iter().flat_map(|(customer, found)| found.iter().map(move |&row| (customer, row))).collect();
        let partitions: Vec<Vec<RecordBatch>> = (0..4)
            .map(|partition| {
                (0..2)
                    .map(|half| {
                        let mine: Vec<_> =
                            flat.iter().enumerate().filter(|(at, _)| at % 8 == partition * 2 + half).map(|(_, row)| row).collect();
                        RecordBatch::try_new(
                            Arc::clone(&schema),
                            vec![
                                Arc::new(StringArray::from_iter_values(mine.iter().map(|(customer, _)| customer.as_str()))),
                                Arc::new(Int64Array::from_iter_values(mine.iter().map(|(_, row)| row.0))),
                                Arc::new(Int64Array::from_iter_values(mine.iter().map(|(_, row)| row.1))),
                                Arc::new(Float64Array::from_iter_values(mine.iter().map(|(_, row)| row.2))),
                            ],
                        )
                        .expect("a batch")
                    })
                    .collect()
            })
            .collect();
        let context = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
        context.register_table("rows", Arc::new(MemTable::try_new(schema, partitions).expect("a table"))).expect("registered");
        context.register_udaf(AggregateUDF::from(CutoffPurchases::new()));
        let literal = "'100,150,200,30'";
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        let run = |sql: String| runtime.block_on(async { context.sql(&sql).await?.collect().await }).expect("the query runs");
        let expected = |customer: &str| -> Vec<Option<PurchaseCut>> {
            let found = &customers[customer];
            CUTOFFS.iter().map(|&day| PurchaseCut::of(found.iter().copied(), day, HORIZON)).collect()
        };

        let mut seen = 0;
        for batch in run(format!("SELECT customer, rapport_cutoff_purchases(t, day, amount, {literal}) AS p FROM rows GROUP BY customer")) {
            let (ids, lists) = (batch.column(0).as_string::<i32>(), batch.column(1).as_list::<i32>());
            for row in 0..batch.num_rows() {
                assert_eq!(cuts_at(lists, row), expected(ids.value(row)), "customer {}", ids.value(row));
                seen += 1;
            }
        }
        assert_eq!(seen, customers.values().filter(|found| !found.is_empty()).count());
        // The cases the data must hold for the comparison to mean something.
        let all: Vec<Option<PurchaseCut>> = customers.keys().flat_map(|customer| expected(customer)).collect();
        assert!(
            all.iter().any(Option::is_none) && all.iter().flatten().any(|cut| cut.label) && all.iter().flatten().any(|cut| cut.refunds > 0)
        );

        for customer in ["c03", "c17", "c42"] {
            let batches =
                run(format!("SELECT rapport_cutoff_purchases(t, day, amount, {literal}) AS p FROM rows WHERE customer = '{customer}'"));
            assert_eq!(cuts_at(batches[0].column(0).as_list::<i32>(), 0), expected(customer), "customer {customer} without GROUP BY");
        }
    }
}
