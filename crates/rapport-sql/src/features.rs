//! The per-customer aggregation of `analyze` as DataFusion plans: each event kind grouped
//! by customer into the event columns of the customer table (orders, refunds, net spend,
//! first and last purchase, conversations and how they went, the latest NPS answer,
//! social engagement, reviews, referrals) and the customer summary the lifetime-value fit
//! reads, with the rules of the embedded analysis:
//!
//! * only events at or before the observation end count;
//! * a row naming no customer takes the customer of the order it names (the order's
//!   earliest purchase, then the smallest customer id); a row that names neither is left
//!   out;
//! * orders are the distinct order ids of the non-negative rows, or their distinct times
//!   where rows name no order (an export with a row per line item gives an order's lines one
//!   time); refunds are the distinct times of the negative rows;
//! * net spend is summed exactly, in millionths of the currency unit
//!   (`rapport_micros(amount)`);
//! * conversations follow `rapport_measures::conversations`, through the aggregate
//!   `rapport_conversation_list(conversation_id, channel, time, inbound, tone, resolved)`,
//!   each customer message's tone from the service sentiment model (`rapport_tone(text)`),
//!   and every plan reading a customer's conversations reads that list;
//! * a survey or engagement row whose type is not one Rapport knows is left out.
//!
//! The functions are the embedded path's own code (`rapport_core`, `rapport_measures`,
//! `rapport_text`), so the two paths share the rules, not a copy of them. Each query
//! returns one row per customer, so what comes back to the client is small; the grouping
//! (a shuffle by customer on a cluster) and the sentiment scoring run on the workers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int8Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray, UInt64Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int8Type, Int64Type, UInt64Type};
use datafusion::common::{Result as DataFusionResult, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, EmitTo, GroupsAccumulator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use rapport_action::alerts::Windows;
use rapport_action::lapse::Rhythm;
use rapport_action::playbook::{NeedCounts, PlaybookFacts};
use rapport_action::ror::{RorInputs, reward_contact};
use rapport_action::strength::{PERIOD_DAYS, StrengthInputs, satisfaction, split_of};
use rapport_action::watch::Signal;
use rapport_core::event::EngagementType;
use rapport_core::summary::{Summary, SummaryOptions};
use rapport_core::survey::SurveyType;
use rapport_core::time::Zone;
use rapport_measures::{CustomerEvents, Message, ThreadRow, Tone};
use rapport_text::SentimentModel;

use crate::summary::{SUMMARY_FUNCTION, SummaryFunction};
use crate::{Session, SqlError, internal};

/// `rapport_micros(amount)`: the amount in millionths of the currency unit, as the
/// embedded path rounds it.
pub const MICROS_FUNCTION: &str = "rapport_micros";
/// `rapport_tone(text)`: the service sentiment model's tone of a text (−1 negative,
/// 0 neutral, 1 positive).
pub const TONE_FUNCTION: &str = "rapport_tone";
/// `rapport_compound(text)`: the service sentiment model's compound score of a text, in
/// [−1, 1] (its tone is negative at or below −0.05, positive at or above 0.05).
pub const COMPOUND_FUNCTION: &str = "rapport_compound";
/// `rapport_order_key(order_id)`: an order id as a key that no time takes
/// (`i64::MIN` + the timeline's 32-bit order hash, `rapport_measures::timeline::order_key`),
/// null for none: `COUNT(DISTINCT COALESCE(rapport_order_key(order_id), t))` counts orders
/// as the embedded path does, collisions included, on 8-byte keys rather than strings.
pub const ORDER_KEY_FUNCTION: &str = "rapport_order_key";
/// `rapport_conversation_list(conversation_id, channel, time, inbound, tone, resolved)`:
/// a customer's conversations (`rapport_measures::conversations`) as a list of `{start,
/// channel, tone, opening, first_response_seconds, watch, unrecovered, resolved}`: `tone`
/// the closing message's tone, else the opening's, in half points (negative 0, neutral 1,
/// positive 2); `opening` the opening message's tone (−1, 0, 1).
pub const CONVERSATION_LIST_FUNCTION: &str = "rapport_conversation_list";
/// `rapport_conversation_counts(list)`: of a list from [`CONVERSATION_LIST_FUNCTION`], a
/// struct of `conversations, opened_negative, recovered, unresolved` and `first_start`
/// (the first conversation's start, UTC seconds; null for none). Counted from the list
/// so that every plan reading a customer's conversations scores the messages in one
/// place (held once on one machine).
pub const CONVERSATION_COUNTS_FUNCTION: &str = "rapport_conversation_counts";
/// `rapport_conversation_factors(list, split, as_of)`: what strength reads of a list from
/// [`CONVERSATION_LIST_FUNCTION`] in the year to each of two times (literals): the
/// distinct channels of the conversations started then, those with a tone and their tones'
/// half points.
pub const CONVERSATION_FACTORS_FUNCTION: &str = "rapport_conversation_factors";
/// `rapport_local_day(time, zone)`: the local day (days since 1970-01-01 on the local
/// calendar) of UTC seconds in the named IANA zone (`'UTC'` for none), as
/// `rapport_core::time::Zone::local_day` gives it.
pub const LOCAL_DAY_FUNCTION: &str = "rapport_local_day";

/// The scalar functions of this module, by name (they take no parameters).
pub fn scalar_function(name: &str) -> Option<ScalarUDF> {
    match name {
        MICROS_FUNCTION => Some(ScalarUDF::from(Micros::new())),
        TONE_FUNCTION => Some(ScalarUDF::from(ToneFunction::new())),
        COMPOUND_FUNCTION => Some(ScalarUDF::from(ToneFunction::compound())),
        ORDER_KEY_FUNCTION => Some(ScalarUDF::from(OrderKey::new())),
        LOCAL_DAY_FUNCTION => Some(ScalarUDF::from(LocalDay::new())),
        CONVERSATION_FACTORS_FUNCTION => Some(ScalarUDF::from(ConversationFactors::new())),
        CONVERSATION_COUNTS_FUNCTION => Some(ScalarUDF::from(ConversationCounts::new())),
        CUTOFF_CONVERSATIONS_FUNCTION => Some(ScalarUDF::from(CutoffConversations::new())),
        _ => None,
    }
}

/// The aggregate functions of this module, by name (they take no parameters).
pub fn aggregate_function(name: &str) -> Option<AggregateUDF> {
    match name {
        CONVERSATION_LIST_FUNCTION => Some(AggregateUDF::from(Conversations::new())),
        RHYTHM_FUNCTION => Some(AggregateUDF::from(RhythmFunction::new())),
        FOLLOWED_FUNCTION => Some(AggregateUDF::from(FollowedFunction::new())),
        ORDERS_FUNCTION => Some(AggregateUDF::from(OrdersFunction::new())),
        CUTOFF_PURCHASES_FUNCTION => Some(AggregateUDF::from(CutoffPurchases::new())),
        _ => None,
    }
}

macro_rules! parameterless {
    ($name:ident) => {
        impl PartialEq for $name {
            fn eq(&self, _other: &Self) -> bool {
                true
            }
        }
        impl Eq for $name {}
        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                std::hash::Hash::hash(stringify!($name), state);
            }
        }
    };
}

// After the macro: the module uses it.
mod propensity;
pub use propensity::{CUTOFF_CONVERSATIONS_FUNCTION, CUTOFF_PURCHASES_FUNCTION, CutoffConversations, CutoffPurchases};

/// See [`MICROS_FUNCTION`].
#[derive(Debug, Clone)]
pub struct Micros {
    signature: Signature,
}

impl Micros {
    fn new() -> Micros {
        Micros { signature: Signature::any(1, Volatility::Immutable) }
    }
}

parameterless!(Micros);

impl ScalarUDFImpl for Micros {
    fn name(&self) -> &str {
        MICROS_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DataFusionResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(amounts) = arrays.first() else { return exec_err!("{MICROS_FUNCTION} takes 1 argument") };
        let amounts = arrow::compute::cast(amounts, &DataType::Float64)?;
        let micros: Int64Array =
            amounts.as_primitive::<Float64Type>().iter().map(|amount| amount.map(rapport_core::summary::to_micros)).collect();
        Ok(ColumnarValue::Array(Arc::new(micros)))
    }
}

/// See [`LOCAL_DAY_FUNCTION`].
#[derive(Debug, Clone)]
pub struct LocalDay {
    signature: Signature,
}

impl LocalDay {
    pub(crate) fn new() -> LocalDay {
        LocalDay { signature: Signature::any(2, Volatility::Immutable) }
    }
}

parameterless!(LocalDay);

impl ScalarUDFImpl for LocalDay {
    fn name(&self) -> &str {
        LOCAL_DAY_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DataFusionResult<ColumnarValue> {
        // The zone is a literal: parsed once a batch, not once a row.
        let zone = match args.args.get(1) {
            Some(ColumnarValue::Scalar(
                ScalarValue::Utf8(Some(name)) | ScalarValue::Utf8View(Some(name)) | ScalarValue::LargeUtf8(Some(name)),
            )) => name
                .parse::<Zone>()
                .map_err(|error| datafusion::common::DataFusionError::Execution(format!("{LOCAL_DAY_FUNCTION}: {error}")))?,
            _ => return exec_err!("{LOCAL_DAY_FUNCTION} takes a time and a zone's name as a literal"),
        };
        let Some(times) = args.args.first() else { return exec_err!("{LOCAL_DAY_FUNCTION} takes 2 arguments") };
        let times = arrow::compute::cast(&times.to_array(args.number_rows)?, &DataType::Int64)?;
        let days: Int64Array = times.as_primitive::<Int64Type>().iter().map(|time| time.map(|time| zone.local_day(time))).collect();
        Ok(ColumnarValue::Array(Arc::new(days)))
    }
}

/// See [`CONVERSATION_FACTORS_FUNCTION`].
#[derive(Debug, Clone)]
pub struct ConversationFactors {
    signature: Signature,
}

impl ConversationFactors {
    fn new() -> ConversationFactors {
        ConversationFactors { signature: Signature::any(3, Volatility::Immutable) }
    }
}

parameterless!(ConversationFactors);

fn conversation_factor_fields() -> Fields {
    Fields::from(
        ["channels_split", "toned_split", "tone_split", "channels_end", "toned_end", "tone_end"]
            .map(|name| Field::new(name, DataType::UInt32, false))
            .to_vec(),
    )
}

impl ScalarUDFImpl for ConversationFactors {
    fn name(&self) -> &str {
        CONVERSATION_FACTORS_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Struct(conversation_factor_fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DataFusionResult<ColumnarValue> {
        let time = |index: usize| match args.args.get(index) {
            Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(time)))) => Ok(*time),
            _ => exec_err!("{CONVERSATION_FACTORS_FUNCTION} takes a list and two times as integer literals"),
        };
        let (split, as_of) = (time(1)?, time(2)?);
        let Some(lists) = args.args.first() else { return exec_err!("{CONVERSATION_FACTORS_FUNCTION} takes 3 arguments") };
        let lists = lists.to_array(args.number_rows)?;
        let lists = lists.as_list::<i32>();
        let mut columns: [Vec<u32>; 6] = Default::default();
        for row in 0..lists.len() {
            let mut values = [0_u32; 6];
            if !lists.is_null(row) {
                let conversations = lists.value(row);
                let conversations = conversations.as_struct();
                let start = conversations.column(0).as_primitive::<Int64Type>();
                let channel = conversations.column(1).as_string::<i32>();
                let tone = conversations.column(2).as_primitive::<arrow::datatypes::UInt32Type>();
                for (offset, t) in [split, as_of].into_iter().enumerate() {
                    // The year to `t`, as `rapport_action::strength::FactorInputs::of` reads it.
                    let within = |index: usize| start.value(index) <= t && start.value(index) > t - 365 * 86_400;
                    let mut channels: Vec<&str> =
                        (0..start.len()).filter(|&index| within(index)).map(|index| channel.value(index)).collect();
                    channels.sort_unstable();
                    channels.dedup();
                    let toned: Vec<u32> =
                        (0..start.len()).filter(|&index| within(index) && !tone.is_null(index)).map(|index| tone.value(index)).collect();
                    values[offset * 3] = channels.len() as u32;
                    values[offset * 3 + 1] = toned.len() as u32;
                    values[offset * 3 + 2] = toned.iter().sum();
                }
            }
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
        }
        let columns: Vec<ArrayRef> =
            columns.into_iter().map(|values| Arc::new(arrow::array::UInt32Array::from(values)) as ArrayRef).collect();
        Ok(ColumnarValue::Array(Arc::new(StructArray::try_new(conversation_factor_fields(), columns, None)?)))
    }
}

/// See [`CONVERSATION_COUNTS_FUNCTION`].
#[derive(Debug, Clone)]
pub struct ConversationCounts {
    signature: Signature,
}

impl ConversationCounts {
    fn new() -> ConversationCounts {
        ConversationCounts { signature: Signature::any(1, Volatility::Immutable) }
    }
}

parameterless!(ConversationCounts);

impl ScalarUDFImpl for ConversationCounts {
    fn name(&self) -> &str {
        CONVERSATION_COUNTS_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Struct(conversation_fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DataFusionResult<ColumnarValue> {
        let Some(lists) = args.args.first() else { return exec_err!("{CONVERSATION_COUNTS_FUNCTION} takes 1 argument") };
        let lists = lists.to_array(args.number_rows)?;
        let lists = lists.as_list::<i32>();
        let mut columns: [Vec<u64>; 4] = Default::default();
        let mut first_start: Vec<Option<i64>> = Vec::with_capacity(lists.len());
        for row in 0..lists.len() {
            let mut values = [0_u64; 4];
            let mut first = None;
            if !lists.is_null(row) {
                let conversations = lists.value(row);
                let conversations = conversations.as_struct();
                let field = |name: &str| {
                    conversations.column_by_name(name).ok_or_else(|| {
                        datafusion::error::DataFusionError::Execution(format!("{CONVERSATION_COUNTS_FUNCTION}: a list without {name}"))
                    })
                };
                let start = field("start")?.as_primitive::<Int64Type>();
                let opening = field("opening")?.as_primitive::<Int8Type>();
                let (unrecovered, resolved) = (field("unrecovered")?.as_boolean(), field("resolved")?.as_boolean());
                first = start.iter().flatten().min();
                for index in 0..conversations.len() {
                    // As `rapport_measures::Conversation::opened_negative` and `recovered`:
                    // a recovery opened negative, so it is a negative opening not unrecovered.
                    let opened_negative = opening.is_valid(index) && opening.value(index) == -1;
                    values[0] += 1;
                    values[1] += u64::from(opened_negative);
                    values[2] += u64::from(opened_negative && !unrecovered.value(index));
                    values[3] += u64::from(!resolved.value(index));
                }
            }
            for (column, value) in columns.iter_mut().zip(values) {
                column.push(value);
            }
            first_start.push(first);
        }
        let mut columns: Vec<ArrayRef> = columns.into_iter().map(|values| Arc::new(UInt64Array::from(values)) as ArrayRef).collect();
        columns.push(Arc::new(Int64Array::from(first_start)));
        Ok(ColumnarValue::Array(Arc::new(StructArray::try_new(conversation_fields(), columns, None)?)))
    }
}

/// See [`ORDER_KEY_FUNCTION`].
#[derive(Debug, Clone)]
pub struct OrderKey {
    signature: Signature,
}

impl OrderKey {
    fn new() -> OrderKey {
        OrderKey { signature: Signature::any(1, Volatility::Immutable) }
    }
}

parameterless!(OrderKey);

impl ScalarUDFImpl for OrderKey {
    fn name(&self) -> &str {
        ORDER_KEY_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DataFusionResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(orders) = arrays.first() else { return exec_err!("{ORDER_KEY_FUNCTION} takes 1 argument") };
        let orders = arrow::compute::cast(orders, &DataType::Utf8)?;
        let keys: Int64Array = orders
            .as_string::<i32>()
            .iter()
            .map(|order| {
                order.filter(|order| !order.is_empty()).map(|order| i64::MIN + i64::from(rapport_measures::timeline::order_key(order)))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(keys)))
    }
}

/// See [`TONE_FUNCTION`] and [`COMPOUND_FUNCTION`].
#[derive(Debug, Clone)]
pub struct ToneFunction {
    signature: Signature,
    /// The compound score rather than the tone.
    compound: bool,
}

impl ToneFunction {
    pub(crate) fn new() -> ToneFunction {
        ToneFunction { signature: Signature::any(1, Volatility::Immutable), compound: false }
    }

    pub(crate) fn compound() -> ToneFunction {
        ToneFunction { signature: Signature::any(1, Volatility::Immutable), compound: true }
    }
}

impl PartialEq for ToneFunction {
    fn eq(&self, other: &Self) -> bool {
        self.compound == other.compound
    }
}

impl Eq for ToneFunction {}

impl std::hash::Hash for ToneFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.compound.hash(state);
    }
}

fn tone_code(tone: Tone) -> i8 {
    match tone {
        Tone::Negative => -1,
        Tone::Neutral => 0,
        Tone::Positive => 1,
    }
}

fn tone_of_code(code: i8) -> Tone {
    match code {
        ..0 => Tone::Negative,
        0 => Tone::Neutral,
        _ => Tone::Positive,
    }
}

impl ScalarUDFImpl for ToneFunction {
    fn name(&self) -> &str {
        if self.compound { COMPOUND_FUNCTION } else { TONE_FUNCTION }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(if self.compound { DataType::Float64 } else { DataType::Int8 })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DataFusionResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(texts) = arrays.first() else { return exec_err!("{} takes 1 argument", self.name()) };
        let texts = arrow::compute::cast(texts, &DataType::Utf8)?;
        if self.compound {
            let scores: arrow::array::Float64Array = texts
                .as_string::<i32>()
                .iter()
                .map(|text| text.map(|text| SentimentModel::Service.polarity_scores(text).compound))
                .collect();
            return Ok(ColumnarValue::Array(Arc::new(scores)));
        }
        let tones: Int8Array = texts
            .as_string::<i32>()
            .iter()
            .map(|text| text.map(|text| tone_code(Tone::of_compound(SentimentModel::Service.polarity_scores(text).compound))))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(tones)))
    }
}

/// See [`CONVERSATION_LIST_FUNCTION`].
#[derive(Debug, Clone)]
pub struct Conversations {
    signature: Signature,
}

impl Conversations {
    fn new() -> Conversations {
        Conversations { signature: Signature::any(6, Volatility::Immutable) }
    }
}

parameterless!(Conversations);

fn conversation_list_fields() -> Fields {
    Fields::from(vec![
        Field::new("start", DataType::Int64, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("tone", DataType::UInt32, true),
        Field::new("opening", DataType::Int8, true),
        Field::new("first_response_seconds", DataType::Int64, true),
        // A watch-list signal (`rapport_action::watch::Signal::of_conversation`): 1 an
        // unresolved complaint, 0 negative sentiment, null neither.
        Field::new("watch", DataType::Int8, true),
        // Opened negative and was not recovered (propensity's features).
        Field::new("unrecovered", DataType::Boolean, false),
        Field::new("resolved", DataType::Boolean, false),
    ])
}

fn conversation_list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Struct(conversation_list_fields()), true)))
}

/// Each group's conversations as one list (see [`CONVERSATION_LIST_FUNCTION`]).
fn conversation_list_array<'a>(groups: impl Iterator<Item = &'a mut Vec<ThreadRow>>) -> DataFusionResult<ListArray> {
    let (mut start, mut channel, mut tone, mut opening, mut response) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut watch, mut unrecovered, mut resolved) = (Vec::new(), Vec::new(), Vec::new());
    let mut lengths = Vec::new();
    for rows in groups {
        let found = rapport_measures::conversations(rows);
        lengths.push(found.len());
        for conversation in found {
            start.push(conversation.start);
            tone.push(conversation.closing.or(conversation.opening).map(rapport_action::strength::tone_halves));
            opening.push(conversation.opening.map(|tone| match tone {
                Tone::Negative => -1_i8,
                Tone::Neutral => 0,
                Tone::Positive => 1,
            }));
            response.push(conversation.first_response_seconds);
            watch.push(Signal::of_conversation(&conversation).map(i8::from));
            unrecovered.push(conversation.opened_negative() && !conversation.recovered());
            resolved.push(conversation.resolved);
            channel.push(conversation.channel);
        }
    }
    let values = StructArray::try_new(
        conversation_list_fields(),
        vec![
            Arc::new(Int64Array::from(start)),
            Arc::new(StringArray::from(channel)),
            Arc::new(arrow::array::UInt32Array::from(tone)),
            Arc::new(Int8Array::from(opening)),
            Arc::new(Int64Array::from(response)),
            Arc::new(Int8Array::from(watch)),
            Arc::new(BooleanArray::from(unrecovered)),
            Arc::new(BooleanArray::from(resolved)),
        ],
        None,
    )?;
    let field = Arc::new(Field::new_list_field(DataType::Struct(conversation_list_fields()), true));
    Ok(ListArray::try_new(field, OffsetBuffer::from_lengths(lengths), Arc::new(values), None)?)
}

fn conversation_fields() -> Fields {
    let mut fields: Vec<Field> =
        ["conversations", "opened_negative", "recovered", "unresolved"].map(|name| Field::new(name, DataType::UInt64, false)).to_vec();
    // The first conversation's start (the customer's first message), UTC seconds.
    fields.push(Field::new("first_start", DataType::Int64, true));
    Fields::from(fields)
}

/// The state's lists, in order: conversation id, channel, time, inbound, tone, resolved.
fn conversation_state_types() -> [DataType; 6] {
    [DataType::Utf8, DataType::Utf8, DataType::Int64, DataType::Boolean, DataType::Int8, DataType::Boolean]
}

impl AggregateUDFImpl for Conversations {
    fn name(&self) -> &str {
        CONVERSATION_LIST_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(conversation_list_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DataFusionResult<Box<dyn Accumulator>> {
        Ok(Box::new(ConversationState::default()))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> DataFusionResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ConversationGroups::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DataFusionResult<Vec<FieldRef>> {
        let names = ["conversation", "channel", "time", "inbound", "tone", "resolved"];
        Ok(names
            .iter()
            .zip(conversation_state_types())
            .map(|(part, data_type)| {
                let name = datafusion::logical_expr::utils::format_state_name(args.name, part);
                Arc::new(Field::new(name, DataType::List(Arc::new(Field::new_list_field(data_type, true))), true))
            })
            .collect())
    }
}

/// One customer's interaction rows while they are aggregated.
#[derive(Debug, Default)]
struct ConversationState {
    rows: Vec<ThreadRow>,
}

impl ConversationState {
    /// Add rows from columns in the order of [`conversation_state_types`].
    fn extend(&mut self, columns: &[ArrayRef]) -> DataFusionResult<()> {
        let rows = thread_rows(columns)?;
        self.rows.extend(rows.into_iter().flatten());
        Ok(())
    }
}

/// The rows of columns in the order of [`conversation_state_types`], one per input row
/// (`None` for a row without a time, which is left out).
fn thread_rows(columns: &[ArrayRef]) -> DataFusionResult<Vec<Option<ThreadRow>>> {
    let [conversation, channel, time, inbound, tone, resolved] = columns else {
        return exec_err!("{CONVERSATION_LIST_FUNCTION} takes 6 arguments, got {}", columns.len());
    };
    let cast = |array: &ArrayRef, data_type: &DataType| arrow::compute::cast(array, data_type);
    let (conversation, channel) = (cast(conversation, &DataType::Utf8)?, cast(channel, &DataType::Utf8)?);
    let (conversation, channel) = (conversation.as_string::<i32>(), channel.as_string::<i32>());
    let time = cast(time, &DataType::Int64)?;
    let time = time.as_primitive::<Int64Type>();
    let (inbound, resolved) = (cast(inbound, &DataType::Boolean)?, cast(resolved, &DataType::Boolean)?);
    let (inbound, resolved) = (inbound.as_boolean(), resolved.as_boolean());
    let tone = cast(tone, &DataType::Int8)?;
    let tone = tone.as_primitive::<Int8Type>();
    let mut rows = Vec::with_capacity(time.len());
    for row in 0..time.len() {
        if time.is_null(row) {
            rows.push(None);
            continue;
        }
        let message = Message {
            time: time.value(row),
            inbound: !inbound.is_null(row) && inbound.value(row),
            tone: (!tone.is_null(row)).then(|| tone_of_code(tone.value(row))),
            resolved: (!resolved.is_null(row)).then(|| resolved.value(row)),
            agent: None,
            topic: None,
        };
        rows.push(Some(ThreadRow {
            conversation: (!conversation.is_null(row)).then(|| conversation.value(row).to_string()),
            channel: if channel.is_null(row) { String::new() } else { channel.value(row).to_string() },
            message,
        }));
    }
    Ok(rows)
}

fn list_scalar(values: ArrayRef) -> ScalarValue {
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    ScalarValue::List(Arc::new(ListArray::new(field, OffsetBuffer::from_lengths([values.len()]), values, None)))
}

impl Accumulator for ConversationState {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DataFusionResult<()> {
        self.extend(values)
    }

    fn evaluate(&mut self) -> DataFusionResult<ScalarValue> {
        Ok(ScalarValue::List(Arc::new(conversation_list_array(std::iter::once(&mut self.rows))?)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.rows.capacity() * std::mem::size_of::<ThreadRow>()
            + self.rows.iter().map(|row| row.channel.capacity() + row.conversation.as_ref().map_or(0, String::capacity)).sum::<usize>()
    }

    fn state(&mut self) -> DataFusionResult<Vec<ScalarValue>> {
        Ok(row_columns(self.rows.iter()).into_iter().map(list_scalar).collect())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DataFusionResult<()> {
        let lists: Vec<&ListArray> = states.iter().map(|state| state.as_list::<i32>()).collect();
        let Some(first) = lists.first() else { return Ok(()) };
        for state in 0..first.len() {
            if first.is_null(state) {
                continue;
            }
            let columns: Vec<ArrayRef> = lists.iter().map(|list| list.value(state)).collect();
            self.extend(&columns)?;
        }
        Ok(())
    }
}

/// `rapport_rhythm(day)`: what a lapse reads of a customer's purchase days
/// (`rapport_action::lapse::Rhythm`), a struct of `last_day` and `twice_median_gap`, and
/// the gaps between the distinct days (`gaps`, a list) for the brand's rule.
pub const RHYTHM_FUNCTION: &str = "rapport_rhythm";

/// See [`RHYTHM_FUNCTION`].
#[derive(Debug, Clone)]
pub struct RhythmFunction {
    signature: Signature,
}
parameterless!(RhythmFunction);

impl RhythmFunction {
    fn new() -> RhythmFunction {
        RhythmFunction { signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable) }
    }
}

fn rhythm_fields() -> Fields {
    Fields::from(vec![
        Field::new("last_day", DataType::Int64, true),
        Field::new("twice_median_gap", DataType::Int64, true),
        Field::new("gaps", DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))), true),
    ])
}

impl AggregateUDFImpl for RhythmFunction {
    fn name(&self) -> &str {
        RHYTHM_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Struct(rhythm_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DataFusionResult<Box<dyn Accumulator>> {
        Ok(Box::<RhythmState>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DataFusionResult<Vec<FieldRef>> {
        Ok(vec![int64_list_state(args.name, "days")])
    }
}

/// One customer's purchase days while they are aggregated (deduplicated when emitted).
#[derive(Debug, Default)]
struct RhythmState {
    days: Vec<i64>,
}

impl RhythmState {
    fn extend(&mut self, days: &ArrayRef) {
        self.days.extend(days.as_primitive::<Int64Type>().iter().flatten());
    }
}

impl Accumulator for RhythmState {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DataFusionResult<()> {
        let Some(days) = values.first() else { return exec_err!("{RHYTHM_FUNCTION} takes 1 argument") };
        self.extend(days);
        Ok(())
    }

    fn evaluate(&mut self) -> DataFusionResult<ScalarValue> {
        self.days.sort_unstable();
        self.days.dedup();
        let rhythm = rapport_action::lapse::Rhythm::of(&self.days);
        let gaps: ArrayRef = Arc::new(Int64Array::from_iter_values(rapport_action::lapse::gaps(&self.days)));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![rhythm.map(|rhythm| rhythm.last_day)])),
            Arc::new(Int64Array::from(vec![rhythm.and_then(|rhythm| rhythm.twice_median_gap)])),
            Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(DataType::Int64, true)),
                OffsetBuffer::from_lengths([gaps.len()]),
                gaps,
                None,
            )),
        ];
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(rhythm_fields(), columns, None)?)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.days.capacity() * std::mem::size_of::<i64>()
    }

    fn state(&mut self) -> DataFusionResult<Vec<ScalarValue>> {
        Ok(vec![list_scalar(Arc::new(Int64Array::from_iter_values(self.days.iter().copied())))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DataFusionResult<()> {
        let Some(lists) = states.first() else { return Ok(()) };
        let lists = lists.as_list::<i32>();
        for state in 0..lists.len() {
            if !lists.is_null(state) {
                self.extend(&lists.value(state));
            }
        }
        Ok(())
    }
}

/// `rapport_followed(t, kind, as_of)`: of a customer's trigger events (`kind` 1 an
/// article view, 2 a purchase row), those at least `FOLLOW_DAYS` before `as_of` and how
/// many a conversation (`kind` 0, `t` its start) followed within that many days, as
/// `rapport_action::playbook::NeedCounts` counts them: a struct of `article_followed`,
/// `article_n`, `purchase_followed` and `purchase_n`.
pub const FOLLOWED_FUNCTION: &str = "rapport_followed";

/// See [`FOLLOWED_FUNCTION`].
#[derive(Debug, Clone)]
pub struct FollowedFunction {
    signature: Signature,
}
parameterless!(FollowedFunction);

impl FollowedFunction {
    fn new() -> FollowedFunction {
        FollowedFunction { signature: Signature::exact(vec![DataType::Int64, DataType::Int64, DataType::Int64], Volatility::Immutable) }
    }
}

fn followed_fields() -> Fields {
    Fields::from(
        ["article_followed", "article_n", "purchase_followed", "purchase_n"].map(|name| Field::new(name, DataType::UInt64, false)).to_vec(),
    )
}

impl AggregateUDFImpl for FollowedFunction {
    fn name(&self) -> &str {
        FOLLOWED_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Struct(followed_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DataFusionResult<Box<dyn Accumulator>> {
        Ok(Box::<FollowedState>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DataFusionResult<Vec<FieldRef>> {
        let list = |suffix: &str| int64_list_state(args.name, suffix);
        Ok(vec![list("times"), list("kinds"), list("as_of")])
    }
}

/// One customer's events while they are aggregated: times, kinds, and the observation end.
#[derive(Debug, Default)]
struct FollowedState {
    times: Vec<i64>,
    kinds: Vec<i64>,
    as_of: Option<i64>,
}

impl FollowedState {
    fn extend(&mut self, times: &ArrayRef, kinds: &ArrayRef, as_of: &ArrayRef) {
        let (times, kinds) = (times.as_primitive::<Int64Type>(), kinds.as_primitive::<Int64Type>());
        for row in (0..times.len()).filter(|&row| !times.is_null(row) && !kinds.is_null(row)) {
            self.times.push(times.value(row));
            self.kinds.push(kinds.value(row));
        }
        if self.as_of.is_none() {
            self.as_of = as_of.as_primitive::<Int64Type>().iter().flatten().next();
        }
    }
}

impl Accumulator for FollowedState {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DataFusionResult<()> {
        let [times, kinds, as_of] = values else { return exec_err!("{FOLLOWED_FUNCTION} takes 3 arguments") };
        self.extend(times, kinds, as_of);
        Ok(())
    }

    fn evaluate(&mut self) -> DataFusionResult<ScalarValue> {
        let of_kind =
            |kind: i64| -> Vec<i64> { self.times.iter().zip(&self.kinds).filter(|(_, k)| **k == kind).map(|(time, _)| *time).collect() };
        let mut starts = of_kind(0);
        starts.sort_unstable();
        let as_of = self.as_of.unwrap_or(i64::MIN);
        let (article, purchase) = (
            rapport_action::playbook::followed(&of_kind(1), &starts, as_of),
            rapport_action::playbook::followed(&of_kind(2), &starts, as_of),
        );
        let columns: Vec<ArrayRef> = [article.0, article.1, purchase.0, purchase.1]
            .into_iter()
            .map(|value| Arc::new(UInt64Array::from(vec![value])) as ArrayRef)
            .collect();
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(followed_fields(), columns, None)?)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + (self.times.capacity() + self.kinds.capacity()) * std::mem::size_of::<i64>()
    }

    fn state(&mut self) -> DataFusionResult<Vec<ScalarValue>> {
        let list = |values: Vec<i64>| list_scalar(Arc::new(Int64Array::from(values)));
        Ok(vec![list(self.times.clone()), list(self.kinds.clone()), list(self.as_of.into_iter().collect())])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DataFusionResult<()> {
        let [times, kinds, as_of] = states else { return exec_err!("{FOLLOWED_FUNCTION} merges 3 states") };
        let (times, kinds, as_of) = (times.as_list::<i32>(), kinds.as_list::<i32>(), as_of.as_list::<i32>());
        for state in (0..times.len()).filter(|&state| !times.is_null(state)) {
            self.extend(&times.value(state), &kinds.value(state), &as_of.value(state));
        }
        Ok(())
    }
}

/// `rapport_orders(t, since)`: what the playbook reads of a customer's orders (the
/// distinct times of their positive purchase rows, `rapport_action::playbook::PlaybookFacts`):
/// a struct of `orders` (how many), `first`, `previous` (the one before the last), `last`
/// and `recent` (those after `since`, ascending, a list). Written as an aggregate because
/// `nth_value` and `array_agg` with `ORDER BY` sort each customer's rows in a single
/// stream: 36 s of a 1M-customer analysis, measured, against a few seconds here.
pub const ORDERS_FUNCTION: &str = "rapport_orders";

/// See [`ORDERS_FUNCTION`].
#[derive(Debug, Clone)]
pub struct OrdersFunction {
    signature: Signature,
}
parameterless!(OrdersFunction);

impl OrdersFunction {
    fn new() -> OrdersFunction {
        OrdersFunction { signature: Signature::exact(vec![DataType::Int64, DataType::Int64], Volatility::Immutable) }
    }
}

fn orders_fields() -> Fields {
    Fields::from(vec![
        Field::new("orders", DataType::Int64, false),
        Field::new("first", DataType::Int64, true),
        Field::new("previous", DataType::Int64, true),
        Field::new("last", DataType::Int64, true),
        Field::new("recent", DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))), true),
    ])
}

impl AggregateUDFImpl for OrdersFunction {
    fn name(&self) -> &str {
        ORDERS_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Struct(orders_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DataFusionResult<Box<dyn Accumulator>> {
        Ok(Box::<OrdersState>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DataFusionResult<Vec<FieldRef>> {
        let list = |suffix: &str| int64_list_state(args.name, suffix);
        Ok(vec![list("times"), list("since")])
    }
}

/// One customer's order times while they are aggregated (deduplicated when emitted).
#[derive(Debug, Default)]
struct OrdersState {
    times: Vec<i64>,
    since: Option<i64>,
}

impl OrdersState {
    fn extend(&mut self, times: &ArrayRef, since: &ArrayRef) {
        self.times.extend(times.as_primitive::<Int64Type>().iter().flatten());
        if self.since.is_none() {
            self.since = since.as_primitive::<Int64Type>().iter().flatten().next();
        }
    }
}

impl Accumulator for OrdersState {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DataFusionResult<()> {
        let [times, since] = values else { return exec_err!("{ORDERS_FUNCTION} takes 2 arguments") };
        self.extend(times, since);
        Ok(())
    }

    fn evaluate(&mut self) -> DataFusionResult<ScalarValue> {
        self.times.sort_unstable();
        self.times.dedup();
        let since = self.since.unwrap_or(i64::MAX);
        let recent: ArrayRef = Arc::new(Int64Array::from_iter_values(self.times.iter().copied().filter(|&time| time > since)));
        let at = |from_end: usize| self.times.len().checked_sub(from_end).map(|index| self.times[index]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![self.times.len() as i64])),
            Arc::new(Int64Array::from(vec![self.times.first().copied()])),
            Arc::new(Int64Array::from(vec![at(2)])),
            Arc::new(Int64Array::from(vec![at(1)])),
            Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(DataType::Int64, true)),
                OffsetBuffer::from_lengths([recent.len()]),
                recent,
                None,
            )),
        ];
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(orders_fields(), columns, None)?)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.times.capacity() * std::mem::size_of::<i64>()
    }

    fn state(&mut self) -> DataFusionResult<Vec<ScalarValue>> {
        // Deduplicated on the way out: a customer's many lines of one order travel once.
        self.times.sort_unstable();
        self.times.dedup();
        let list = |values: Vec<i64>| list_scalar(Arc::new(Int64Array::from(values)));
        Ok(vec![list(self.times.clone()), list(self.since.into_iter().collect())])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DataFusionResult<()> {
        let [times, since] = states else { return exec_err!("{ORDERS_FUNCTION} merges 2 states") };
        let (times, since) = (times.as_list::<i32>(), since.as_list::<i32>());
        for state in (0..times.len()).filter(|&state| !times.is_null(state)) {
            self.extend(&times.value(state), &since.value(state));
        }
        Ok(())
    }
}

/// Rows as the state's columns, in the order of [`conversation_state_types`].
fn row_columns<'a>(rows: impl Iterator<Item = &'a ThreadRow> + Clone) -> [ArrayRef; 6] {
    [
        Arc::new(StringArray::from_iter(rows.clone().map(|row| row.conversation.as_deref()))),
        Arc::new(StringArray::from_iter_values(rows.clone().map(|row| row.channel.as_str()))),
        Arc::new(Int64Array::from_iter_values(rows.clone().map(|row| row.message.time))),
        Arc::new(BooleanArray::from_iter(rows.clone().map(|row| Some(row.message.inbound)))),
        Arc::new(Int8Array::from_iter(rows.clone().map(|row| row.message.tone.map(tone_code)))),
        Arc::new(BooleanArray::from_iter(rows.map(|row| row.message.resolved))),
    ]
}

/// Every customer group's interaction rows of a partition, for DataFusion's hash
/// aggregate (one state for all groups rather than an accumulator object per customer).
#[derive(Debug, Default)]
struct ConversationGroups {
    rows: Vec<Vec<ThreadRow>>,
    /// Rows held and the bytes of their texts (for `size`, which must not walk them).
    held: (usize, usize),
}

impl ConversationGroups {
    fn grow(&mut self, total_num_groups: usize) {
        if self.rows.len() < total_num_groups {
            self.rows.resize_with(total_num_groups, Vec::new);
        }
    }

    fn add(&mut self, group: usize, row: ThreadRow) {
        self.held.0 += 1;
        self.held.1 += row.channel.len() + row.conversation.as_ref().map_or(0, String::len);
        self.rows[group].push(row);
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<ThreadRow>> {
        let taken = emit_to.take_needed(&mut self.rows);
        for row in taken.iter().flatten() {
            self.held.0 -= 1;
            self.held.1 -= row.channel.len() + row.conversation.as_ref().map_or(0, String::len);
        }
        taken
    }
}

impl GroupsAccumulator for ConversationGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DataFusionResult<()> {
        self.grow(total_num_groups);
        for (row, (parsed, &group)) in thread_rows(values)?.into_iter().zip(group_indices).enumerate() {
            if opt_filter.is_some_and(|filter| filter.is_null(row) || !filter.value(row)) {
                continue;
            }
            if let Some(parsed) = parsed {
                self.add(group, parsed);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> DataFusionResult<ArrayRef> {
        let mut taken = self.take(emit_to);
        Ok(Arc::new(conversation_list_array(taken.iter_mut())?))
    }

    fn state(&mut self, emit_to: EmitTo) -> DataFusionResult<Vec<ArrayRef>> {
        let taken = self.take(emit_to);
        Ok(state_lists(&taken))
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> DataFusionResult<()> {
        self.grow(total_num_groups);
        let lists: Vec<&ListArray> = values.iter().map(|state| state.as_list::<i32>()).collect();
        let Some(first) = lists.first() else { return Ok(()) };
        // Every state's rows at once, then each state's slice of them to its group.
        let children: Vec<ArrayRef> = lists.iter().map(|list| Arc::clone(list.values())).collect();
        let mut parsed = thread_rows(&children)?.into_iter();
        let offsets = first.value_offsets();
        let mut at = offsets.first().copied().unwrap_or(0) as usize;
        // Skip child rows before the first state's (a sliced list).
        for _ in 0..at {
            parsed.next();
        }
        for (state, &group) in group_indices.iter().enumerate() {
            let end = offsets[state + 1] as usize;
            let null = first.is_null(state);
            while at < end {
                if let Some(Some(row)) = parsed.next()
                    && !null
                {
                    self.add(group, row);
                }
                at += 1;
            }
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> DataFusionResult<Vec<ArrayRef>> {
        let mut single = ConversationGroups::default();
        let groups: Vec<usize> = (0..values.first().map_or(0, |column| column.len())).collect();
        single.update_batch(values, &groups, opt_filter, groups.len())?;
        Ok(state_lists(&single.rows))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.rows.capacity() * std::mem::size_of::<Vec<ThreadRow>>()
            + self.held.0 * std::mem::size_of::<ThreadRow>()
            + self.held.1
    }
}

/// Groups' rows as the function's state: six lists, one entry per group.
fn state_lists(groups: &[Vec<ThreadRow>]) -> Vec<ArrayRef> {
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(Vec::len));
    // Collected first: arrow's builders from iterators need a sized one, which a
    // flattened iterator is not.
    let rows: Vec<&ThreadRow> = groups.iter().flatten().collect();
    row_columns(rows.iter().copied())
        .into_iter()
        .map(|values| {
            let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
            Arc::new(ListArray::new(field, offsets.clone(), values, None)) as ArrayRef
        })
        .collect()
}

/// What the plans aggregate: the observation end and the summary's options.
#[derive(Debug, Clone, Copy)]
pub struct FeatureSpec {
    /// The observation end, UTC seconds: later events are left out.
    pub as_of: i64,
    /// The workspace's time zone.
    pub zone: Zone,
    /// The lifetime-value summary's options (its observation end given).
    pub summary: SummaryOptions,
    /// UTC seconds the top tier's watch window begins: the watch list's signals are read
    /// from then.
    pub watch_since: i64,
    /// Whether ROR's inputs count each customer's conversations per channel (where
    /// `[costs] per_contact` prices them).
    pub conversation_channels: bool,
    /// What propensity and the response to programs read; none when they read the
    /// timelines.
    pub propensity: Option<PropensitySpec>,
}

/// The cut-offs of propensity and of the response to programs.
#[derive(Debug, Clone, Copy)]
pub struct PropensitySpec {
    /// Propensity's cut-offs (UTC seconds and their local days, earliest first).
    pub cutoffs: [(i64, i64); 3],
    /// Days its labels look ahead.
    pub horizon: i64,
    /// Days after a program contact in which a purchase counts as a response.
    pub window_days: i64,
}

/// What [`customer_events`] returns: every customer's event columns, in the roster's
/// order; the customer summary of their purchases (in natural id order); and what the
/// relationship stage reads besides ([`Planned`]).
pub type CustomerAggregation = (Vec<CustomerEvents>, Summary, Planned);

/// The customers of an analysis, each at their row of the customer table: where the
/// plans put each customer's results as they arrive.
///
/// One index for every plan, and a list per plan in the table's order: a map by id per
/// plan (about ten of them) held each id again and sized its table to the power of two
/// above 8/7 of its entries, and was most of an analysis's client memory on an engine.
#[derive(Debug, Clone, Default)]
pub struct Roster(Arc<HashMap<Box<str>, u32>>);

impl Roster {
    /// The customers `ids`, in the customer table's order.
    pub fn new<'a>(ids: impl IntoIterator<Item = &'a str>) -> Roster {
        Roster(Arc::new(ids.into_iter().enumerate().map(|(row, id)| (Box::from(id), row as u32)).collect()))
    }

    /// How many customers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The row of customer `id`.
    pub fn row(&self, id: &str) -> Option<usize> {
        self.0.get(id).map(|&row| row as usize)
    }
}

/// One value per customer of a [`Roster`], in its order (the default where a plan found
/// nothing of the customer). A customer the roster does not have is counted, and
/// [`ByCustomer::into_values`] refuses the lot.
#[derive(Debug)]
pub struct ByCustomer<T> {
    roster: Roster,
    values: Vec<T>,
    /// Where rows of customers the roster does not have go.
    scratch: T,
    /// The first such customer, and how many rows named one.
    unknown: Option<(String, u64)>,
}

impl<T: Default> Default for ByCustomer<T> {
    fn default() -> ByCustomer<T> {
        ByCustomer::new(&Roster::default())
    }
}

impl<T: Default> ByCustomer<T> {
    /// Every customer's default.
    pub fn new(roster: &Roster) -> ByCustomer<T> {
        ByCustomer {
            roster: roster.clone(),
            values: std::iter::repeat_with(T::default).take(roster.len()).collect(),
            scratch: T::default(),
            unknown: None,
        }
    }

    /// Customer `id`'s value.
    pub fn entry(&mut self, id: &str) -> &mut T {
        match self.roster.row(id) {
            Some(row) => &mut self.values[row],
            None => {
                self.unknown.get_or_insert_with(|| (id.to_string(), 0)).1 += 1;
                self.scratch = T::default();
                &mut self.scratch
            }
        }
    }

    /// Customer `id`'s value, when the roster has them.
    pub fn get(&self, id: &str) -> Option<&T> {
        self.roster.row(id).map(|row| &self.values[row])
    }

    /// Customer `id`'s value, when the roster has them.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.roster.row(id).map(|row| &mut self.values[row])
    }

    /// The values in the roster's order.
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// The values in the roster's order, mutable.
    pub fn values_mut(&mut self) -> &mut [T] {
        &mut self.values
    }

    /// The values in the roster's order; refused when a plan named a customer the roster
    /// does not have (the reading and the plans disagree on who the customers are).
    pub fn into_values(self) -> Result<Vec<T>, SqlError> {
        match self.unknown {
            None => Ok(self.values),
            Some((id, rows)) => {
                Err(SqlError::Internal(format!("the plans found customer {id:?}, whom the reading did not list ({rows} such result rows)")))
            }
        }
    }
}

/// What the relationship stage reads of each customer besides the event columns, as the
/// plans computed it.
#[derive(Debug, Default)]
pub struct Planned {
    /// The strength model's split, set by the first event of all
    /// (`rapport_action::strength::split_of`).
    pub split: i64,
    /// Every customer's strength inputs.
    pub strength: ByCustomer<StrengthInputs>,
    /// The indicator alerts' weekly counts.
    pub windows: Windows,
    /// Every customer's rhythm of purchase days, by id (none without a purchase).
    pub rhythms: ByCustomer<Option<Rhythm>>,
    /// How many gaps between consecutive purchase days of each length (in days) the
    /// brand's customers have, for the lapse rule.
    pub gap_counts: BTreeMap<i64, u64>,
    /// The watch list's signals since [`FeatureSpec::watch_since`], by customer id, in
    /// [`Signal::order`] (customers without any left out).
    pub signals: ByCustomer<Vec<Signal>>,
    /// What ROR reads of each customer's purchases, conversations, costs and programs, by
    /// customer id (a customer with none of those left out).
    pub ror: ByCustomer<RorInputs>,
    /// What the playbook's built-in rules read of each customer, by id.
    pub playbook: ByCustomer<PlaybookFacts>,
    /// The brand's trigger events and those a contact followed, for predictable needs.
    pub needs: NeedCounts,
    /// What propensity reads of each customer at its cut-offs ([`PropensitySpec::cutoffs`])
    /// and then at the second before each program's first contact ([`Planned::programs`]'
    /// order), by id: customers who had bought by one of them.
    pub cutoffs: ByCustomer<Vec<Option<rapport_action::propensity::CutoffFacts>>>,
    /// Each program (by name) with its first contact, and each customer's first contact
    /// with it whose window has closed, by id.
    pub programs: Vec<(String, i64, ByCustomer<Option<rapport_action::response::ContactFacts>>)>,
    /// The tracking plot's first and repeat purchase days
    /// (`rapport_core::summary::PurchaseHistogram`), where the summary is by day without
    /// a holdout split.
    pub tracking: Option<rapport_core::summary::PurchaseHistogram>,
}

/// Whether an interactions row (as `k`) is the customer's: by its direction, or, without
/// one, when no agent wrote it.
macro_rules! inbound {
    () => {
        "CASE WHEN NULLIF(k.direction, '') = 'outbound' THEN false
              WHEN NULLIF(k.direction, '') IS NOT NULL THEN true
              ELSE NULLIF(k.agent, '') IS NULL END"
    };
}

/// [`inbound!`] as a constant.
pub(crate) const INBOUND: &str = inbound!();

/// An interactions row's columns as the conversation aggregates read them (beside the
/// customer and `t`), `inbound` by [`INBOUND`].
pub(crate) const INTERACTION_COLUMNS: &str = concat!(
    "NULLIF(k.conversation_id, '') AS conversation, COALESCE(k.channel, '') AS channel,
     k.text AS text, k.resolved AS resolved, ",
    inbound!(),
    " AS inbound"
);

/// The arguments of `rapport_conversation_list` over
/// [`INTERACTION_COLUMNS`]: a customer's message is scored by the service model.
fn conversation_arguments() -> String {
    format!(
        "conversation, channel, t, inbound, CASE WHEN inbound AND text IS NOT NULL AND text <> '' THEN {TONE_FUNCTION}(text) END, resolved"
    )
}

/// The order links every kind's rows are placed by (`crate::links`): none without
/// purchases. A row naming no customer takes the customer of the earliest purchase
/// carrying its order (then the smallest id), linked once for every kind over only the
/// orders such rows name, as in the summary; and, for the summary, the orders refunds
/// name (a refund nets against its order's purchase, as in `rapport summary`).
pub(crate) fn placing_links(session: &Session) -> Result<Option<crate::links::Links>, SqlError> {
    let context = &session.context;
    let exists = |kind: &str| context.table_exist(format!("events.{kind}").as_str()).map_err(internal);
    if !exists("purchases")? {
        return Ok(None);
    }
    let mut named = Vec::new();
    for kind in ["purchases", "interactions", "surveys", "engagement"] {
        if exists(kind)? {
            let refunds = if kind == "purchases" { " OR amount < 0" } else { "" };
            named.push(format!(
                "SELECT NULLIF(order_id, '') AS order_id FROM events.{kind}
                 WHERE (NULLIF(customer_id, '') IS NULL{refunds}) AND NULLIF(order_id, '') IS NOT NULL"
            ));
        }
    }
    Ok(Some(crate::links::order_links(
        session,
        &format!("SELECT DISTINCT order_id FROM ({})", named.join(" UNION ALL ")),
        "rapport_order_links",
    )?))
}

/// The order links of a session (`placing_links`), found once for the plans that place
/// rows by them.
pub struct OrderLinks(pub(crate) Option<crate::links::Links>);

impl std::fmt::Debug for OrderLinks {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("OrderLinks").field("orders", &self.0.as_ref().map_or(0, |links| links.rows)).finish()
    }
}

impl OrderLinks {
    /// The links of `session`'s workspace (none without purchases).
    pub fn of(session: &Session) -> Result<OrderLinks, SqlError> {
        placing_links(session).map(OrderLinks)
    }
}

/// A kind's rows at or before the observation end with their customer resolved (by
/// `links`) as `customer`, `t` (UTC seconds) and `columns` (of the kind's table as `k`).
pub(crate) fn linked_rows(links: Option<&crate::links::Links>, kind: &str, columns: &str, as_of: i64) -> String {
    linked_rows_with(links, kind, columns, as_of, false)
}

/// [`linked_rows`], with `summary_t` also the time the customer summary counts a
/// purchase row at: a refund naming an order of the same customer's at that order's
/// purchase time.
fn linked_rows_with(links: Option<&crate::links::Links>, kind: &str, columns: &str, as_of: i64, summary_t: bool) -> String {
    match links.filter(|links| links.rows > 0) {
        Some(links) => format!(
            "SELECT * FROM (
                SELECT COALESCE(NULLIF(k.customer_id, ''), l.link_customer) AS customer, arrow_cast(k.time, 'Int64') AS t, {columns}{summary}
                FROM {table} l RIGHT JOIN events.{kind} k ON NULLIF(k.order_id, '') = l.order_id
                WHERE arrow_cast(k.time, 'Int64') <= {as_of}
             ) WHERE customer IS NOT NULL",
            table = links.table,
            summary = if summary_t {
                ", CASE WHEN k.amount < 0 AND l.link_customer = COALESCE(NULLIF(k.customer_id, ''), l.link_customer)
                        THEN arrow_cast(l.link_time, 'Int64') ELSE arrow_cast(k.time, 'Int64') END AS summary_t"
            } else {
                ""
            },
        ),
        None => format!(
            "SELECT NULLIF(k.customer_id, '') AS customer, arrow_cast(k.time, 'Int64') AS t, {columns}{summary}
             FROM events.{kind} k
             WHERE arrow_cast(k.time, 'Int64') <= {as_of} AND NULLIF(k.customer_id, '') IS NOT NULL",
            summary = if summary_t { ", arrow_cast(k.time, 'Int64') AS summary_t" } else { "" },
        ),
    }
}

/// The per-customer aggregation of `analyze`, for the customers of `roster` (every
/// customer a plan finds must be there): see [`CustomerAggregation`].
pub fn customer_events(session: &Session, links: &OrderLinks, spec: FeatureSpec, roster: &Roster) -> Result<CustomerAggregation, SqlError> {
    let context = &session.context;
    context.register_udf(ScalarUDF::from(Micros::new()));
    context.register_udf(ScalarUDF::from(OrderKey::new()));
    context.register_udf(ScalarUDF::from(ToneFunction::new()));
    context.register_udf(ScalarUDF::from(LocalDay::new()));
    context.register_udaf(AggregateUDF::from(Conversations::new()));
    context.register_udf(ScalarUDF::from(ConversationCounts::new()));
    context.register_udf(ScalarUDF::from(ConversationFactors::new()));
    context.register_udaf(AggregateUDF::from(RhythmFunction::new()));
    context.register_udaf(AggregateUDF::from(FollowedFunction::new()));
    context.register_udaf(AggregateUDF::from(OrdersFunction::new()));
    context.register_udaf(AggregateUDF::from(CutoffPurchases::new()));
    context.register_udf(ScalarUDF::from(CutoffConversations::new()));
    context.register_udaf(SummaryFunction::new(spec.summary, spec.zone).udaf());
    let exists = |kind: &str| context.table_exist(format!("events.{kind}").as_str()).map_err(internal);
    let as_of = spec.as_of;
    let linked_with = |kind: &str, columns: &str, summary_t: bool| linked_rows_with(links.0.as_ref(), kind, columns, as_of, summary_t);
    let linked = |kind: &str, columns: &str| linked_with(kind, columns, false);
    // With RAPPORT_TIMINGS=1, each plan's time and its first words.
    let run = |sql: String| {
        let started = std::time::Instant::now();
        let result = session.query(&sql).map(|(_, batches)| batches);
        let words: Vec<&str> = sql.split_whitespace().take(8).collect();
        tracing::info!(target: "rapport::timings", elapsed = ?started.elapsed(), "plan: {} …", words.join(" "));
        result
    };
    let conversation_arguments = conversation_arguments();
    // Each customer's conversations, read by the event columns, strength's factors, the alerts' windows, the
    // watch list and ROR: computed once on one machine, where each plan that read them
    // scored every customer message again.
    let lists = match exists("interactions")? {
        true => {
            let rows = linked("interactions", INTERACTION_COLUMNS);
            Some(reused(
                session,
                &format!("SELECT customer, {CONVERSATION_LIST_FUNCTION}({conversation_arguments}) AS list FROM ({rows}) GROUP BY customer"),
                "rapport_conversation_lists",
            )?)
        }
        false => None,
    };
    let mut customers: ByCustomer<CustomerEvents> = ByCustomer::new(roster);
    // ROR's inputs: purchases' sums with the event columns, the rest below.
    let mut ror: ByCustomer<RorInputs> = ByCustomer::new(roster);
    let mut summary_batches = Vec::new();

    if exists("purchases")? {
        let batches = run(format!(
            "SELECT customer,
                    COUNT(DISTINCT COALESCE({ORDER_KEY_FUNCTION}(order_id), t)) FILTER (WHERE amount >= 0) AS purchases,
                    COUNT(DISTINCT t) FILTER (WHERE amount < 0) AS refunds,
                    SUM({MICROS_FUNCTION}(amount)) AS net_micros,
                    MIN(t) FILTER (WHERE amount >= 0) AS first_purchase,
                    MAX(t) FILTER (WHERE amount >= 0) AS last_purchase,
                    {SUMMARY_FUNCTION}(summary_t, amount) AS summary,
                    MIN(t) AS first_row,
                    COUNT(DISTINCT {LOCAL_DAY_FUNCTION}(t, {zone})) FILTER (WHERE amount >= 0) AS purchase_days,
                    SUM({MICROS_FUNCTION}(margin)) AS margin_micros,
                    SUM({MICROS_FUNCTION}(amount)) FILTER (WHERE margin IS NOT NULL) AS margined_micros,
                    SUM({MICROS_FUNCTION}(amount)) FILTER (WHERE margin IS NULL) AS unmargined_micros,
                    COUNT(margin) AS rows_with_margin, COUNT(*) AS purchase_rows
             FROM ({}) GROUP BY customer",
            linked_with("purchases", "k.amount AS amount, NULLIF(k.order_id, '') AS order_id, k.margin AS margin", true),
            zone = quoted(std::iter::once(spec.zone.to_string())),
        ))?;
        for batch in &batches {
            let (ids, column) = (ids(batch)?, integers(batch));
            let (purchases, refunds, net, first, last) = (column(1)?, column(2)?, column(3)?, column(4)?, column(5)?);
            let (first_row, purchase_days) = (column(7)?, column(8)?);
            let (margin, margined, unmargined, with_margin, rows) = (column(9)?, column(10)?, column(11)?, column(12)?, column(13)?);
            let micros = |column: &Int64Array, row: usize| if column.is_null(row) { 0 } else { column.value(row) };
            for row in 0..batch.num_rows() {
                *ror.entry(ids.value(row)) = RorInputs {
                    margin_micros: micros(&margin, row),
                    margined_amount_micros: micros(&margined, row),
                    unmargined_amount_micros: micros(&unmargined, row),
                    rows_with_margin: with_margin.value(row) as u64,
                    rows: rows.value(row) as u64,
                    ..RorInputs::default()
                };
                let customer = customers.entry(ids.value(row));
                earliest(&mut customer.first_event, &first_row, row);
                customer.purchase_days = purchase_days.value(row) as u64;
                customer.purchases = purchases.value(row) as u64;
                customer.refunds = refunds.value(row) as u64;
                customer.net_micros = if net.is_null(row) { 0 } else { i128::from(net.value(row)) };
                customer.first_purchase = (!first.is_null(row)).then(|| first.value(row));
                customer.last_purchase = (!last.is_null(row)).then(|| last.value(row));
            }
        }
        summary_batches = batches;
    }

    if let Some(lists) = &lists {
        let batches = run(format!("SELECT customer, {CONVERSATION_COUNTS_FUNCTION}(list) AS c FROM {}", lists.from))?;
        for batch in &batches {
            let ids = ids(batch)?;
            let found = batch.column(1).as_struct();
            let field = |index: usize| found.column(index).as_primitive::<UInt64Type>();
            for row in 0..batch.num_rows() {
                let customer = customers.entry(ids.value(row));
                customer.conversations = field(0).value(row);
                customer.opened_negative = field(1).value(row);
                customer.recovered = field(2).value(row);
                customer.unresolved = field(3).value(row);
                earliest(&mut customer.first_event, found.column(4).as_primitive::<Int64Type>(), row);
            }
        }
    }

    if exists("surveys")? {
        let known = quoted(SurveyType::ALL.iter().map(|survey| survey.name()));
        let nps = SurveyType::Nps.name();
        let rows = linked("surveys", "lower(trim(k.survey_type)) AS survey, k.score AS score");
        let batches = run(format!(
            "SELECT customer, first_value(score ORDER BY t DESC, score DESC) FILTER (WHERE survey = '{nps}') AS last_nps, MIN(t) AS first_answer
             FROM ({rows}) WHERE survey IN ({known}) GROUP BY customer"
        ))?;
        for batch in &batches {
            let ids = ids(batch)?;
            let scores = arrow::compute::cast(batch.column(1), &DataType::Float64).map_err(internal)?;
            let scores = scores.as_primitive::<Float64Type>();
            let first_answer = integers(batch)(2)?;
            for row in 0..batch.num_rows() {
                let customer = customers.entry(ids.value(row));
                customer.last_nps = (!scores.is_null(row)).then(|| scores.value(row));
                earliest(&mut customer.first_event, &first_answer, row);
            }
        }
    }

    if exists("engagement")? {
        let known = quoted(EngagementType::NAMES.iter().copied());
        let social = quoted(EngagementType::NAMES.iter().copied().filter(|name| {
            serde_json::from_value::<EngagementType>(serde_json::Value::String(name.to_string()))
                .is_ok_and(rapport_measures::timeline::is_social)
        }));
        let (review, referral) =
            (engagement_name(EngagementType::Review).unwrap_or_default(), engagement_name(EngagementType::Referral).unwrap_or_default());
        let shared = quoted([EngagementType::Share, EngagementType::Retweet].into_iter().filter_map(engagement_name));
        let rows = linked("engagement", "k.engagement_type AS kind, NULLIF(k.referred_customer_id, '') AS referred, k.rating AS rating");
        let batches = run(format!(
            "SELECT customer, COUNT(*) FILTER (WHERE kind IN ({social})) AS social, COUNT(*) FILTER (WHERE kind = '{review}') AS reviews,
                    COUNT(*) FILTER (WHERE kind = '{referral}') AS referrals, MIN(t) AS first_engagement, COUNT(*) AS engagement,
                    COUNT(*) FILTER (WHERE kind IN ({shared})) AS shares,
                    COUNT(*) FILTER (WHERE kind = '{review}' AND rating >= 4) AS positive_reviews
             FROM ({rows}) WHERE kind IN ({known}) GROUP BY customer"
        ))?;
        for batch in &batches {
            let (ids, count) = (ids(batch)?, integers(batch));
            let (social, reviews, referrals) = (count(1)?, count(2)?, count(3)?);
            let (first_engagement, engagement, shares, positive_reviews) = (count(4)?, count(5)?, count(6)?, count(7)?);
            for row in 0..batch.num_rows() {
                let customer = customers.entry(ids.value(row));
                customer.social_engagement = social.value(row) as u64;
                customer.reviews = reviews.value(row) as u64;
                customer.referrals_made = referrals.value(row) as u64;
                earliest(&mut customer.first_event, &first_engagement, row);
                customer.engagement = engagement.value(row) as u64;
                customer.shares = shares.value(row) as u64;
                customer.positive_reviews = positive_reviews.value(row) as u64;
            }
        }
        let batches = run(format!("SELECT DISTINCT referred FROM ({rows}) WHERE kind = '{referral}' AND referred IS NOT NULL"))?;
        for batch in &batches {
            let ids = ids(batch)?;
            for row in 0..batch.num_rows() {
                customers.entry(ids.value(row)).referred = true;
            }
        }
    }

    let summary = crate::summary::summary_from_batches(&summary_batches, 6, spec.summary, None)?;
    // The tracking plot's histogram (`PurchaseHistogram::add_customer`'s rules): each
    // customer's local days with a row that is not a refund (at the summary's time), the
    // first of them counted by day, the later ones by day. Days, as the plot reads, and
    // without a holdout split, as `analyze` fits.
    let mut tracking = None;
    if exists("purchases")? && spec.summary.period == rapport_core::time::Period::Day && spec.summary.calibration_end.is_none() {
        let zone = quoted(std::iter::once(spec.zone.to_string()));
        let end = spec.summary.observation_end.map_or(String::new(), |end| format!(" AND day <= {}", end.div_euclid(86_400)));
        let batches = run(format!(
            "WITH days AS (
                SELECT customer, day FROM (
                    SELECT customer, {LOCAL_DAY_FUNCTION}(summary_t, {zone}) AS day, amount FROM ({})
                ) WHERE amount >= 0{end} GROUP BY customer, day
             ),
             numbered AS (SELECT day, day = MIN(day) OVER (PARTITION BY customer) AS first FROM days)
             SELECT first, day, COUNT(*) AS customers FROM numbered GROUP BY first, day",
            linked_with("purchases", "k.amount AS amount", true),
        ))?;
        let mut histogram = rapport_core::summary::PurchaseHistogram::default();
        for batch in &batches {
            let (first, day, count) =
                (batch.column(0).as_boolean(), batch.column(1).as_primitive::<Int64Type>(), batch.column(2).as_primitive::<Int64Type>());
            for row in 0..batch.num_rows() {
                let bucket = if first.value(row) { &mut histogram.first } else { &mut histogram.repeat };
                *bucket.entry(day.value(row)).or_default() += count.value(row) as u64;
            }
        }
        tracking = Some(histogram);
    }

    let first = customers.values().iter().filter_map(|customer| customer.first_event).min().unwrap_or(as_of);
    // Strength: what its six factors read at the split and at the end, and the spend after
    // the split (`rapport_action::strength::StrengthInputs`), by the same rules.
    let (split, _) = split_of(as_of, PERIOD_DAYS, first);
    let year = 365 * 86_400_i64;
    let (split_year, end_year) = (split - year, as_of - year);
    let mut strength: ByCustomer<StrengthInputs> = ByCustomer::new(roster);
    if exists("purchases")? {
        let zone = quoted(std::iter::once(spec.zone.to_string()));
        let batches = run(format!(
            "SELECT customer,
                    COUNT(DISTINCT {LOCAL_DAY_FUNCTION}(t, {zone})) FILTER (WHERE amount >= 0 AND t <= {split} AND t > {split_year}) AS days_split,
                    MAX(t) FILTER (WHERE amount >= 0 AND t <= {split}) AS last_split,
                    COUNT(DISTINCT {LOCAL_DAY_FUNCTION}(t, {zone})) FILTER (WHERE amount >= 0 AND t > {end_year}) AS days_end,
                    SUM({MICROS_FUNCTION}(amount)) FILTER (WHERE t > {split}) AS spend_after
             FROM ({}) GROUP BY customer",
            linked("purchases", "k.amount AS amount")
        ))?;
        for batch in &batches {
            let (ids, column) = (ids(batch)?, integers(batch));
            let (days_split, last_split, days_end, spend) = (column(1)?, column(2)?, column(3)?, column(4)?);
            for row in 0..batch.num_rows() {
                let id = ids.value(row);
                let inputs = strength.entry(id);
                inputs.at_split.purchase_days = days_split.value(row) as u32;
                inputs.at_split.last_purchase = (!last_split.is_null(row)).then(|| last_split.value(row));
                inputs.at_end.purchase_days = days_end.value(row) as u32;
                inputs.at_end.last_purchase = customers.get(id).and_then(|customer| customer.last_purchase);
                inputs.spend_after_split = if spend.is_null(row) { 0 } else { i128::from(spend.value(row)) };
            }
        }
    }
    // The lapse's inputs: each customer's rhythm of purchase days (refunds and zero
    // amounts left out, as `rapport_action::lapse::purchase_days` reads them), and how
    // many gaps of each length the brand's customers have.
    let mut rhythms: ByCustomer<Option<Rhythm>> = ByCustomer::new(roster);
    let mut gap_counts: BTreeMap<i64, u64> = BTreeMap::new();
    if exists("purchases")? {
        let zone = quoted(std::iter::once(spec.zone.to_string()));
        let rhythm = format!(
            "SELECT customer, {RHYTHM_FUNCTION}(day) AS r
             FROM (SELECT customer, {LOCAL_DAY_FUNCTION}(t, {zone}) AS day FROM ({}) WHERE amount > 0) GROUP BY customer",
            linked("purchases", "k.amount AS amount")
        );
        // Read twice: held once on one machine (as the conversations below).
        let rhythm = reused(session, &rhythm, "rapport_rhythms")?;
        let batches = run(format!(
            "SELECT customer, get_field(r, 'last_day') AS last_day, get_field(r, 'twice_median_gap') AS twice FROM {}",
            rhythm.from
        ))?;
        for batch in &batches {
            let (ids, column) = (ids(batch)?, integers(batch));
            let (last, twice) = (column(1)?, column(2)?);
            for row in (0..batch.num_rows()).filter(|&row| !last.is_null(row)) {
                let twice_median_gap = (!twice.is_null(row)).then(|| twice.value(row));
                *rhythms.entry(ids.value(row)) = Some(Rhythm { last_day: last.value(row), twice_median_gap });
            }
        }
        let batches =
            run(format!("SELECT gap, COUNT(*) AS n FROM (SELECT unnest(get_field(r, 'gaps')) AS gap FROM {}) GROUP BY gap", rhythm.from))?;
        for batch in &batches {
            let count = integers(batch);
            let (gap, n) = (count(0)?, count(1)?);
            for row in 0..batch.num_rows() {
                *gap_counts.entry(gap.value(row)).or_default() += n.value(row) as u64;
            }
        }
    }
    if let Some(lists) = &lists {
        let batches = run(format!(
            "SELECT customer, {CONVERSATION_FACTORS_FUNCTION}(list, arrow_cast({split}, 'Int64'), arrow_cast({as_of}, 'Int64')) AS f
             FROM {lists}",
            lists = lists.from
        ))?;
        for batch in &batches {
            let ids = ids(batch)?;
            let found = batch.column(1).as_struct();
            let field = |index: usize| found.column(index).as_primitive::<arrow::datatypes::UInt32Type>();
            for row in 0..batch.num_rows() {
                let inputs = strength.entry(ids.value(row));
                (inputs.at_split.channels, inputs.at_split.toned, inputs.at_split.tone_halves) =
                    (field(0).value(row), field(1).value(row), field(2).value(row));
                (inputs.at_end.channels, inputs.at_end.toned, inputs.at_end.tone_halves) =
                    (field(3).value(row), field(4).value(row), field(5).value(row));
            }
        }
    }
    if exists("surveys")? {
        let known = quoted(SurveyType::ALL.iter().map(|survey| survey.name()));
        let nps = SurveyType::Nps.name();
        // Answers at one time and score: the survey type later in `SurveyType`'s order is
        // the latest, as `FactorInputs::of` reads them.
        let rank =
            SurveyType::ALL.iter().map(|survey| format!("WHEN '{}' THEN {}", survey.name(), *survey as u8)).collect::<Vec<_>>().join(" ");
        let rows = linked(
            "surveys",
            &format!("lower(trim(k.survey_type)) AS survey, k.score AS score, CASE lower(trim(k.survey_type)) {rank} END AS survey_rank"),
        );
        let batches = run(format!(
            "SELECT customer,
                    COUNT(*) FILTER (WHERE t <= {split} AND t > {split_year}) AS surveyed_split,
                    COUNT(*) FILTER (WHERE t > {end_year}) AS surveyed_end,
                    first_value(score ORDER BY t DESC, score DESC, survey_rank DESC) FILTER (WHERE t <= {split}) AS score_split,
                    first_value(survey ORDER BY t DESC, score DESC, survey_rank DESC) FILTER (WHERE t <= {split}) AS survey_split,
                    first_value(score ORDER BY t DESC, score DESC, survey_rank DESC) AS score_end,
                    first_value(survey ORDER BY t DESC, score DESC, survey_rank DESC) AS survey_end,
                    first_value(score ORDER BY t DESC, score DESC) FILTER (WHERE survey = '{nps}' AND t <= {split}) AS nps_split
             FROM ({rows}) WHERE survey IN ({known}) GROUP BY customer"
        ))?;
        for batch in &batches {
            let (ids, count) = (ids(batch)?, integers(batch));
            let (surveyed_split, surveyed_end) = (count(1)?, count(2)?);
            let float = |index: usize| -> Result<arrow::array::Float64Array, SqlError> {
                let column = arrow::compute::cast(batch.column(index), &DataType::Float64).map_err(internal)?;
                Ok(column.as_primitive::<Float64Type>().clone())
            };
            let text = |index: usize| -> Result<StringArray, SqlError> {
                let column = arrow::compute::cast(batch.column(index), &DataType::Utf8).map_err(internal)?;
                Ok(column.as_string::<i32>().clone())
            };
            let (score_split, survey_split, score_end, survey_end, nps_split) = (float(3)?, text(4)?, float(5)?, text(6)?, float(7)?);
            let answer = |scores: &arrow::array::Float64Array, surveys: &StringArray, row: usize| {
                (!scores.is_null(row) && !surveys.is_null(row))
                    .then(|| surveys.value(row).parse::<SurveyType>().ok().map(|survey| satisfaction(survey, scores.value(row))))
                    .flatten()
            };
            for row in 0..batch.num_rows() {
                let id = ids.value(row);
                let inputs = strength.entry(id);
                inputs.at_split.surveyed = surveyed_split.value(row) > 0;
                inputs.at_end.surveyed = surveyed_end.value(row) > 0;
                inputs.at_split.satisfaction = answer(&score_split, &survey_split, row);
                inputs.at_end.satisfaction = answer(&score_end, &survey_end, row);
                inputs.at_split.advocacy.promoter = !nps_split.is_null(row) && nps_split.value(row) >= 9.0;
            }
        }
    }
    if exists("engagement")? {
        let known = quoted(EngagementType::NAMES.iter().copied());
        let (review, referral) =
            (engagement_name(EngagementType::Review).unwrap_or_default(), engagement_name(EngagementType::Referral).unwrap_or_default());
        let shared = quoted([EngagementType::Share, EngagementType::Retweet].into_iter().filter_map(engagement_name));
        // The distinct kinds as bits, OR-ed: `COUNT(DISTINCT kind)` keeps a hash set of
        // strings per customer, which a cluster's final aggregation over 100,000 customers
        // could not fit in 48 MiB a task; `bit_or` keeps one integer.
        let bits = EngagementType::NAMES
            .iter()
            .enumerate()
            .map(|(bit, name)| format!("WHEN '{name}' THEN {}", 1_i64 << bit))
            .collect::<Vec<_>>()
            .join(" ");
        let rows =
            linked("engagement", &format!("k.engagement_type AS kind, k.rating AS rating, CASE k.engagement_type {bits} END AS kind_bit"));
        let batches = run(format!(
            "SELECT customer,
                    bit_or(kind_bit) FILTER (WHERE t <= {split} AND t > {split_year}) AS kinds_split,
                    bit_or(kind_bit) FILTER (WHERE t > {end_year}) AS kinds_end,
                    COUNT(*) FILTER (WHERE kind IN ({shared}) AND t <= {split}) AS shares_split,
                    COUNT(*) FILTER (WHERE kind = '{review}' AND rating >= 4 AND t <= {split}) AS positive_split,
                    COUNT(*) FILTER (WHERE kind = '{referral}' AND t <= {split}) AS referrals_split
             FROM ({rows}) WHERE kind IN ({known}) GROUP BY customer"
        ))?;
        for batch in &batches {
            let (ids, count) = (ids(batch)?, integers(batch));
            let (kinds_split, kinds_end, shares, positive, referrals) = (count(1)?, count(2)?, count(3)?, count(4)?, count(5)?);
            for row in 0..batch.num_rows() {
                let inputs = strength.entry(ids.value(row));
                let kinds = |bits: &Int64Array| if bits.is_null(row) { 0 } else { bits.value(row).count_ones() };
                inputs.at_split.engagement_kinds = kinds(&kinds_split);
                inputs.at_end.engagement_kinds = kinds(&kinds_end);
                let count = |value: i64| u32::try_from(value).unwrap_or(u32::MAX);
                inputs.at_split.advocacy.shares = count(shares.value(row));
                inputs.at_split.advocacy.positive_reviews = count(positive.value(row));
                inputs.at_split.advocacy.referrals = count(referrals.value(row));
            }
        }
    }
    // The indicator alerts' windows: conversations (by start), engagement and NPS answers
    // counted per week (and conversations per day) back from the observation end.
    let mut windows = Windows::new(first, as_of);
    let (weeks, days) = (windows.contacts.len(), windows.contacts_daily.len());
    let week = 7 * 86_400_i64;
    if let Some(lists) = lists.as_ref().filter(|_| weeks + days > 0) {
        let conversations = format!(
            "SELECT get_field(c, 'start') AS start, get_field(c, 'opening') AS opening, get_field(c, 'first_response_seconds') AS response
             FROM (SELECT unnest(list) AS c FROM {lists})",
            lists = lists.from
        );
        // A week's upper median first response (the (⌊n/2⌋ + 1)-th smallest) is taken here
        // from the week's counts of each response time: Ballista's executors register no
        // list functions (`array_sort`, `array_element`), and `array_agg`'s states count
        // whole shuffled batches against an executor's memory limit.
        let batches = run(format!(
            "SELECT ({as_of} - start) / {week} AS w, COUNT(*) AS contacts, COUNT(opening) AS toned,
                    COUNT(*) FILTER (WHERE opening < 0) AS negative
             FROM ({conversations}) WHERE start <= {as_of} AND ({as_of} - start) / {week} < {weeks} GROUP BY ({as_of} - start) / {week}"
        ))?;
        for batch in &batches {
            let count = integers(batch);
            let (w, contacts, toned, negative) = (count(0)?, count(1)?, count(2)?, count(3)?);
            for row in 0..batch.num_rows() {
                let w = w.value(row) as usize;
                windows.contacts[w] = contacts.value(row) as f64;
                windows.toned[w] = (negative.value(row) as f64, toned.value(row) as f64);
            }
        }
        let batches = run(format!(
            "SELECT ({as_of} - start) / {week} AS w, response, COUNT(*) AS n
             FROM ({conversations}) WHERE response IS NOT NULL AND start <= {as_of} AND ({as_of} - start) / {week} < {weeks}
             GROUP BY ({as_of} - start) / {week}, response"
        ))?;
        let mut responses: Vec<Vec<(i64, i64)>> = vec![Vec::new(); weeks];
        for batch in &batches {
            let count = integers(batch);
            let (w, response, n) = (count(0)?, count(1)?, count(2)?);
            for row in 0..batch.num_rows() {
                responses[w.value(row) as usize].push((response.value(row), n.value(row)));
            }
        }
        for (w, mut counts) in responses.into_iter().enumerate() {
            counts.sort_unstable();
            let total: i64 = counts.iter().map(|(_, n)| n).sum();
            let mut seen = 0;
            let median = counts.iter().find(|(_, n)| {
                seen += n;
                seen > total / 2
            });
            windows.responses[w] = (total as f64, median.map(|(seconds, _)| *seconds));
        }
        let batches = run(format!(
            "SELECT ({as_of} - start) / 86400 AS d, COUNT(*) AS contacts FROM ({conversations})
             WHERE start <= {as_of} AND ({as_of} - start) / 86400 < {days} GROUP BY ({as_of} - start) / 86400"
        ))?;
        for batch in &batches {
            let count = integers(batch);
            let (d, contacts) = (count(0)?, count(1)?);
            for row in 0..batch.num_rows() {
                windows.contacts_daily[d.value(row) as usize] = contacts.value(row) as f64;
            }
        }
    }
    if exists("engagement")? && weeks > 0 {
        let known = quoted(EngagementType::NAMES.iter().copied());
        let rows = linked("engagement", "k.engagement_type AS kind");
        let batches = run(format!(
            "SELECT ({as_of} - t) / {week} AS w, COUNT(*) AS n FROM ({rows})
             WHERE kind IN ({known}) AND ({as_of} - t) / {week} < {weeks} GROUP BY ({as_of} - t) / {week}"
        ))?;
        for batch in &batches {
            let count = integers(batch);
            let (w, n) = (count(0)?, count(1)?);
            for row in 0..batch.num_rows() {
                windows.engagement[w.value(row) as usize] = n.value(row) as f64;
            }
        }
    }
    if exists("surveys")? && weeks > 0 {
        let nps = SurveyType::Nps.name();
        let rows = linked("surveys", "lower(trim(k.survey_type)) AS survey, k.score AS score");
        let batches = run(format!(
            "SELECT ({as_of} - t) / {week} AS w, COUNT(*) FILTER (WHERE score >= 9) AS promoters,
                    COUNT(*) FILTER (WHERE score <= 6) AS detractors, COUNT(*) AS answers
             FROM ({rows}) WHERE survey = '{nps}' AND ({as_of} - t) / {week} < {weeks} GROUP BY ({as_of} - t) / {week}"
        ))?;
        for batch in &batches {
            let count = integers(batch);
            let (w, promoters, detractors, answers) = (count(0)?, count(1)?, count(2)?, count(3)?);
            for row in 0..batch.num_rows() {
                windows.nps[w.value(row) as usize] = (promoters.value(row) as f64, detractors.value(row) as f64, answers.value(row) as f64);
            }
        }
    }

    // The watch list's signals: conversations and detractor answers since its window began.
    let mut signals: ByCustomer<Vec<Signal>> = ByCustomer::new(roster);
    let since = spec.watch_since;
    if let Some(lists) = &lists {
        let batches = run(format!(
            "SELECT customer, get_field(c, 'start') AS start, get_field(c, 'channel') AS channel, get_field(c, 'watch') AS watch
             FROM (SELECT customer, unnest(list) AS c FROM {lists})
             WHERE get_field(c, 'start') >= {since} AND get_field(c, 'watch') IS NOT NULL",
            lists = lists.from
        ))?;
        for batch in &batches {
            let (ids, count) = (ids(batch)?, integers(batch));
            let (start, watch) = (count(1)?, count(3)?);
            let channel = arrow::compute::cast(batch.column(2), &DataType::Utf8).map_err(internal)?;
            let channel = channel.as_string::<i32>();
            for row in 0..batch.num_rows() {
                signals.entry(ids.value(row)).push(Signal::Conversation {
                    start: start.value(row),
                    channel: channel.value(row).to_string(),
                    complaint: watch.value(row) == 1,
                });
            }
        }
    }
    if exists("surveys")? {
        let nps = SurveyType::Nps.name();
        let rows = linked("surveys", "lower(trim(k.survey_type)) AS survey, arrow_cast(k.score, 'Float64') AS score");
        let batches = run(format!("SELECT customer, t, score FROM ({rows}) WHERE survey = '{nps}' AND t >= {since} AND score <= 6"))?;
        for batch in &batches {
            let (ids, count) = (ids(batch)?, integers(batch));
            let time = count(1)?;
            let score = arrow::compute::cast(batch.column(2), &DataType::Float64).map_err(internal)?;
            let score = score.as_primitive::<Float64Type>();
            for row in 0..batch.num_rows() {
                signals.entry(ids.value(row)).push(Signal::Detractor { time: time.value(row), score: score.value(row) });
            }
        }
    }
    signals.values_mut().iter_mut().for_each(|signals| Signal::order(signals));

    // The rest of ROR's inputs: conversations per channel (where they are priced), costs
    // by kind and channel, and program contacts' costs by program and channel, each with
    // the rewards that name the program (paid for the contact `reward_contact` picks).
    if let Some(lists) = lists.as_ref().filter(|_| spec.conversation_channels) {
        let batches = run(format!(
            "SELECT customer, get_field(c, 'channel') AS channel, COUNT(*) AS n
             FROM (SELECT customer, unnest(list) AS c FROM {lists})
             GROUP BY customer, get_field(c, 'channel')",
            lists = lists.from
        ))?;
        for batch in &batches {
            let (ids, n) = (ids(batch)?, integers(batch)(2)?);
            let channel = arrow::compute::cast(batch.column(1), &DataType::Utf8).map_err(internal)?;
            let channel = channel.as_string::<i32>();
            for row in 0..batch.num_rows() {
                let inputs = ror.entry(ids.value(row));
                *inputs.conversations.entry(channel.value(row).to_string()).or_default() += n.value(row) as u64;
            }
        }
    }
    let (playbook, needs) = playbook_facts(&spec, roster, lists.as_ref(), &linked, &run, &exists)?;
    let (cutoffs, programs) = match spec.propensity {
        Some(PropensitySpec { cutoffs, horizon, window_days }) => {
            // Propensity's three cut-offs, then the second before each program's first
            // contact (the response's), in one plan.
            let firsts = propensity::program_firsts(as_of, &run, &exists)?;
            let mut all = cutoffs.to_vec();
            all.extend(firsts.iter().map(|(_, first)| (first - 1, spec.zone.local_day(first - 1))));
            let facts = propensity::cutoff_facts(&spec, roster, &all, horizon, lists.as_ref(), &linked, &run, &exists)?;
            let mut contacts = propensity::program_contacts(&spec, roster, window_days, &linked, &run, &exists)?;
            let programs = firsts
                .into_iter()
                .map(|(program, first)| {
                    let of_program = contacts.remove(&program).unwrap_or_else(|| ByCustomer::new(roster));
                    (program, first, of_program)
                })
                .collect();
            (facts, programs)
        }
        None => (ByCustomer::new(roster), Vec::new()),
    };
    drop(lists);
    let text = |column: &StringArray, row: usize| (!column.is_null(row)).then(|| column.value(row).to_string());
    let strings = |batch: &RecordBatch, index: usize| -> Result<StringArray, SqlError> {
        let column = arrow::compute::cast(batch.column(index), &DataType::Utf8).map_err(internal)?;
        Ok(column.as_string::<i32>().clone())
    };
    let program_rows = format!(
        "SELECT NULLIF(customer_id, '') AS customer, arrow_cast(time, 'Int64') AS t, program, NULLIF(channel, '') AS channel,
                {MICROS_FUNCTION}(cost) AS micros
         FROM events.programs WHERE arrow_cast(time, 'Int64') <= {as_of} AND NULLIF(customer_id, '') IS NOT NULL"
    );
    if exists("programs")? {
        let batches = run(format!(
            "SELECT customer, program, channel, SUM(micros) AS micros FROM ({program_rows}) GROUP BY customer, program, channel"
        ))?;
        for batch in &batches {
            let (ids, program, channel, micros) = (ids(batch)?, strings(batch, 1)?, strings(batch, 2)?, integers(batch)(3)?);
            for row in 0..batch.num_rows() {
                let inputs = ror.entry(ids.value(row));
                let key = (program.value(row).to_string(), text(&channel, row));
                *inputs.program_costs.entry(key).or_default() += if micros.is_null(row) { 0 } else { micros.value(row) };
            }
        }
    }
    if exists("costs")? {
        let costs = format!(
            "SELECT NULLIF(customer_id, '') AS customer, arrow_cast(time, 'Int64') AS t, cost_type = 'reward' AS reward,
                    NULLIF(channel, '') AS channel, {MICROS_FUNCTION}(amount) AS micros, NULLIF(program, '') AS program
             FROM events.costs WHERE arrow_cast(time, 'Int64') <= {as_of} AND NULLIF(customer_id, '') IS NOT NULL"
        );
        let batches = run(format!(
            "SELECT customer, reward, channel, SUM(micros) AS micros FROM ({costs})
             WHERE NOT (reward AND program IS NOT NULL) GROUP BY customer, reward, channel"
        ))?;
        for batch in &batches {
            let (ids, channel, micros) = (ids(batch)?, strings(batch, 2)?, integers(batch)(3)?);
            let reward = batch.column(1).as_boolean();
            for row in 0..batch.num_rows() {
                // Costs of no customer of the analysis are its unlinked events.
                let Some(inputs) = ror.get_mut(ids.value(row)) else { continue };
                let by_channel = if reward.value(row) { &mut inputs.reward_costs } else { &mut inputs.contact_costs };
                *by_channel.entry(text(&channel, row)).or_default() += if micros.is_null(row) { 0 } else { micros.value(row) };
            }
        }
        // Rewards naming a program, and the contacts of that program with the same customer.
        let named = format!("SELECT customer, t, program, channel, micros FROM ({costs}) WHERE reward AND program IS NOT NULL");
        let rewards = run(named.clone())?;
        let mut contacts: HashMap<(String, String), Vec<Contact>> = HashMap::new();
        if exists("programs")? && rewards.iter().any(|batch| batch.num_rows() > 0) {
            let batches = run(format!(
                "SELECT p.customer, p.program, p.t, p.channel FROM ({program_rows}) p
                 JOIN (SELECT DISTINCT customer, program FROM ({named})) r ON p.customer = r.customer AND p.program = r.program"
            ))?;
            for batch in &batches {
                let (ids, program, time, channel) = (ids(batch)?, strings(batch, 1)?, integers(batch)(2)?, strings(batch, 3)?);
                for row in 0..batch.num_rows() {
                    let key = (ids.value(row).to_string(), program.value(row).to_string());
                    contacts.entry(key).or_default().push((time.value(row), text(&channel, row)));
                }
            }
        }
        for batch in &rewards {
            let (ids, time, program, channel, micros) =
                (ids(batch)?, integers(batch)(1)?, strings(batch, 2)?, strings(batch, 3)?, integers(batch)(4)?);
            for row in 0..batch.num_rows() {
                let (customer, program) = (ids.value(row).to_string(), program.value(row).to_string());
                let amount = if micros.is_null(row) { 0 } else { micros.value(row) };
                let of_program = contacts.get(&(customer.clone(), program.clone()));
                let contact = of_program.and_then(|of_program| {
                    let candidates = of_program.iter().enumerate().map(|(index, (at, channel))| (index, *at, channel.as_deref()));
                    reward_contact(candidates, time.value(row)).map(|index| of_program[index].1.clone())
                });
                let Some(inputs) = ror.get_mut(&customer) else { continue };
                match contact {
                    Some(channel) => *inputs.program_costs.entry((program, channel)).or_default() += amount,
                    None => *inputs.reward_costs.entry(text(&channel, row)).or_default() += amount,
                }
            }
        }
    }

    // Advocacy at the end is the event columns'.
    for (customer, inputs) in customers.values().iter().zip(strength.values_mut()) {
        let advocacy = customer.advocacy();
        if advocacy != rapport_measures::Advocacy::default() {
            inputs.at_end.advocacy = advocacy;
        }
    }
    Ok((
        customers.into_values()?,
        summary,
        Planned { split, strength, windows, rhythms, gap_counts, signals, ror, playbook, needs, cutoffs, programs, tracking },
    ))
}

/// What the playbook's built-in rules read of each customer (`PlaybookFacts::of`, by the
/// same rules), and the brand's predictable-needs counts (`NeedCounts::of`, summed).
fn playbook_facts(
    spec: &FeatureSpec,
    roster: &Roster,
    lists: Option<&Reused>,
    linked: &dyn Fn(&str, &str) -> String,
    run: &dyn Fn(String) -> Result<Vec<RecordBatch>, SqlError>,
    exists: &dyn Fn(&str) -> Result<bool, SqlError>,
) -> Result<(ByCustomer<PlaybookFacts>, NeedCounts), SqlError> {
    use rapport_action::playbook::{FOLLOW_DAYS, MILESTONE_DAYS, RECENT_DAYS};
    const DAY: i64 = 86_400;
    let as_of = spec.as_of;
    let mut facts: ByCustomer<PlaybookFacts> = ByCustomer::new(roster);
    let optional = |column: &Int64Array, row: usize| (!column.is_null(row)).then(|| column.value(row));
    // The needs' events, for one plan below: conversation starts (0), article views (1)
    // and positive purchase rows (2).
    let mut events = Vec::new();
    let view = engagement_name(EngagementType::ArticleView).unwrap_or_default().replace('\'', "''");

    if let Some(lists) = lists {
        let unnested = format!("(SELECT customer, unnest(list) AS c FROM {})", lists.from);
        // One pass over the lists (on a cluster each pass computes them again): the latest
        // start, and the latest recent complaint with, at one start, the greatest channel.
        let recent = as_of - RECENT_DAYS * DAY;
        let complaint = format!("get_field(c, 'start') >= {recent} AND get_field(c, 'watch') = 1");
        let batches = run(format!(
            "SELECT customer, MAX(get_field(c, 'start')) AS last_contact,
                    MAX(get_field(c, 'start')) FILTER (WHERE {complaint}) AS complaint_start,
                    first_value(get_field(c, 'channel') ORDER BY get_field(c, 'start') DESC, get_field(c, 'channel') DESC)
                        FILTER (WHERE {complaint}) AS complaint_channel
             FROM {unnested} GROUP BY customer"
        ))?;
        for batch in &batches {
            let (ids, column) = (ids(batch)?, integers(batch));
            let (last, start) = (column(1)?, column(2)?);
            let channel = arrow::compute::cast(batch.column(3), &DataType::Utf8).map_err(internal)?;
            let channel = channel.as_string::<i32>();
            for row in 0..batch.num_rows() {
                let customer = facts.entry(ids.value(row));
                customer.last_contact = optional(&last, row);
                customer.complaint = optional(&start, row).map(|start| (start, channel.value(row).to_string()));
            }
        }
        events.push(format!("SELECT customer, get_field(c, 'start') AS t, arrow_cast(0, 'Int64') AS kind FROM {unnested}"));
    }
    if exists("engagement")? {
        let (review, referral) =
            (engagement_name(EngagementType::Review).unwrap_or_default(), engagement_name(EngagementType::Referral).unwrap_or_default());
        let rows = linked("engagement", "k.engagement_type AS kind");
        let batches = run(format!(
            "SELECT customer, MAX(t) FILTER (WHERE kind = '{view}') AS view, MAX(t) FILTER (WHERE kind = '{review}') AS review,
                    MAX(t) FILTER (WHERE kind = '{referral}') AS referral
             FROM ({rows}) WHERE kind IN ('{view}', '{review}', '{referral}') GROUP BY customer"
        ))?;
        for batch in &batches {
            let (ids, column) = (ids(batch)?, integers(batch));
            let (view, review, referral) = (column(1)?, column(2)?, column(3)?);
            for row in 0..batch.num_rows() {
                let customer = facts.entry(ids.value(row));
                (customer.last_article_view, customer.last_review, customer.last_referral) =
                    (optional(&view, row), optional(&review, row), optional(&referral, row));
            }
        }
        events.push(format!("SELECT customer, t, arrow_cast(1, 'Int64') AS kind FROM ({rows}) WHERE kind = '{view}'"));
    }
    if exists("surveys")? {
        let nps = SurveyType::Nps.name();
        let rows = linked("surveys", "lower(trim(k.survey_type)) AS survey, arrow_cast(k.score, 'Float64') AS score");
        let batches = run(format!(
            "SELECT customer, MAX(t) AS t, first_value(score ORDER BY t DESC, score DESC) AS score
             FROM ({rows}) WHERE survey = '{nps}' GROUP BY customer"
        ))?;
        for batch in &batches {
            let (ids, time) = (ids(batch)?, integers(batch)(1)?);
            let score = arrow::compute::cast(batch.column(2), &DataType::Float64).map_err(internal)?;
            let score = score.as_primitive::<Float64Type>();
            for row in (0..batch.num_rows()).filter(|&row| !time.is_null(row) && !score.is_null(row)) {
                facts.entry(ids.value(row)).last_nps = Some((time.value(row), score.value(row)));
            }
        }
    }
    if exists("purchases")? {
        let rows = linked("purchases", "k.amount AS amount");
        let week = as_of - MILESTONE_DAYS * DAY;
        // Orders: the distinct times of the positive rows.
        let batches = run(format!(
            "SELECT customer, get_field(o, 'orders') AS orders, get_field(o, 'first') AS first_order,
                    get_field(o, 'last') AS last_order, get_field(o, 'previous') AS previous_order, get_field(o, 'recent') AS week_orders
             FROM (SELECT customer, {ORDERS_FUNCTION}(t, arrow_cast({week}, 'Int64')) AS o FROM ({rows}) WHERE amount > 0 GROUP BY customer)"
        ))?;
        for batch in &batches {
            let (ids, column) = (ids(batch)?, integers(batch));
            let (orders, first, last, previous) = (column(1)?, column(2)?, column(3)?, column(4)?);
            let week_orders = batch.column(5).as_list::<i32>();
            for row in 0..batch.num_rows() {
                let customer = facts.entry(ids.value(row));
                customer.orders = u32::try_from(orders.value(row)).unwrap_or(u32::MAX);
                customer.first_order = optional(&first, row);
                customer.last_orders = (optional(&previous, row), optional(&last, row));
                if !week_orders.is_null(row) {
                    let times = arrow::compute::cast(&week_orders.value(row), &DataType::Int64).map_err(internal)?;
                    customer.week_orders = times.as_primitive::<Int64Type>().iter().flatten().collect();
                }
            }
        }
        events.push(format!("SELECT customer, t, arrow_cast(2, 'Int64') AS kind FROM ({rows}) WHERE amount > 0"));
    }
    // The needs: each customer's triggers against their conversations, then summed.
    let mut needs = NeedCounts::default();
    if !events.is_empty() {
        let follow = FOLLOW_DAYS * DAY;
        let batches = run(format!(
            "SELECT SUM(get_field(f, 'article_followed')), SUM(get_field(f, 'article_n')),
                    SUM(get_field(f, 'purchase_followed')), SUM(get_field(f, 'purchase_n'))
             FROM (SELECT customer, {FOLLOWED_FUNCTION}(t, kind, arrow_cast({as_of}, 'Int64')) AS f
                   FROM ({}) WHERE kind = 0 OR t + {follow} <= {as_of} GROUP BY customer)",
            events.join(" UNION ALL ")
        ))?;
        for batch in batches.iter().filter(|batch| batch.num_rows() > 0) {
            let column = integers(batch);
            let value = |index: usize| -> Result<u64, SqlError> {
                let column = column(index)?;
                Ok(if column.is_null(0) { 0 } else { column.value(0) as u64 })
            };
            needs.0 = [(value(0)?, value(1)?), (value(2)?, value(3)?)];
        }
    }
    Ok((facts, needs))
}

/// A relation several plans read: what follows their `FROM`.
struct Reused {
    /// `name`, or the query in parentheses.
    from: String,
    /// The session holding the table, on one machine.
    context: Option<datafusion::prelude::SessionContext>,
    name: String,
}

impl Drop for Reused {
    fn drop(&mut self) {
        if let Some(context) = &self.context {
            // Nothing to report on the way out: the table is this aggregation's only.
            let _ = context.deregister_table(self.name.as_str());
        }
    }
}

/// `sql` as a relation to read several times. On one machine it is computed once and held
/// in memory as the table `name`, in as many partitions as the session runs at once, for
/// as long as the result lives. On a cluster it stays a query that each plan computes
/// where the events are: holding it would bring every row to the client.
fn reused(session: &Session, sql: &str, name: &str) -> Result<Reused, SqlError> {
    if session.cluster().is_some() {
        return Ok(Reused { from: format!("({sql})"), context: None, name: name.to_string() });
    }
    let started = std::time::Instant::now();
    let (schema, batches) = session.query(sql)?;
    tracing::info!(target: "rapport::timings", elapsed = ?started.elapsed(), "plan: {name}, held");
    let context = session.context().clone();
    let count = context.state().config().target_partitions().max(1);
    let mut partitions = vec![Vec::new(); count];
    for (index, batch) in batches.into_iter().enumerate() {
        partitions[index % count].push(batch);
    }
    if context.table_exist(name).map_err(internal)? {
        context.deregister_table(name).map_err(internal)?;
    }
    let table = datafusion::datasource::MemTable::try_new(schema, partitions).map_err(internal)?;
    context.register_table(name, Arc::new(table)).map_err(internal)?;
    Ok(Reused { from: name.to_string(), context: Some(context), name: name.to_string() })
}

/// A program contact's time (UTC seconds) and channel, as a reward naming its program is
/// matched to it (`rapport_action::ror::reward_contact`).
type Contact = (i64, Option<String>);

/// Keep the earlier of `first` and the (nullable) time at `row` of `times`.
fn earliest(first: &mut Option<i64>, times: &Int64Array, row: usize) {
    if !times.is_null(row) {
        let time = times.value(row);
        *first = Some(first.map_or(time, |first| first.min(time)));
    }
}

/// An engagement kind as its events name it (`article-view`, `review`, …).
fn engagement_name(kind: EngagementType) -> Option<String> {
    serde_json::to_value(kind).ok().and_then(|value| value.as_str().map(str::to_string))
}

/// An aggregate's state field named `suffix`: a list of 64-bit integers.
fn int64_list_state(aggregate: &str, suffix: &str) -> FieldRef {
    let name = datafusion::logical_expr::utils::format_state_name(aggregate, suffix);
    Arc::new(Field::new(name, DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))), true))
}

/// SQL string literals, comma-separated.
fn quoted<'a>(names: impl Iterator<Item = impl AsRef<str> + 'a>) -> String {
    names.map(|name| format!("'{}'", name.as_ref().replace('\'', "''"))).collect::<Vec<_>>().join(", ")
}

fn ids(batch: &RecordBatch) -> Result<StringArray, SqlError> {
    let ids = arrow::compute::cast(batch.column(0), &DataType::Utf8).map_err(internal)?;
    Ok(ids.as_string::<i32>().clone())
}

fn integers(batch: &RecordBatch) -> impl Fn(usize) -> Result<Int64Array, SqlError> + '_ {
    move |index| {
        let column = arrow::compute::cast(batch.column(index), &DataType::Int64).map_err(internal)?;
        Ok(column.as_primitive::<Int64Type>().clone())
    }
}
