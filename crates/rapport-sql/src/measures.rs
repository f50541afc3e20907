//! The brand's measures (`rapport_measures::Measures`: voice of the customer, service,
//! the effects of engagement and bad experiences, advocacy, programs, regions) as a
//! plan.
//!
//! Every measure reads several kinds of one customer's events together (a detractor
//! answer and the conversations before it, a program contact and the purchases after
//! it), so the plan brings each customer's events of every kind together in one
//! `GROUP BY customer` over their union, builds the customer's timeline there (on the
//! executor that holds the customer after the shuffle) and folds it into a partial
//! `Measures` with the embedded path's own `Measures::update`. A partition's partial
//! comes back as one value (the first of the groups it emits; the rest are null), and the
//! client merges the few partials: what crosses the network at the end is a handful of
//! accumulators, not a row per customer.
//!
//! `rapport_topic(text)` carries the complaint topics' model (found on the client from
//! the complaints) and places a negative customer message in its topic where the message
//! is read, as the embedded path places it.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int8Type, Int64Type};
use datafusion::common::{Result as DataFusionResult, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, EmitTo, GroupsAccumulator, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use rapport_core::event::EngagementType;
use rapport_core::survey::SurveyType;
use rapport_core::time::{ParsedTime, Zone};
use rapport_measures::timeline::day_number;
use rapport_measures::{Answer, Engagement, Measures, Message, ProgramContact, Purchase, Settings, ThreadRow, Timeline, Tone};
use rapport_text::topics::TopicModel;
use serde::{Deserialize, Serialize};

use crate::features::TONE_FUNCTION;
use crate::{Session, SqlError, internal};

const DAY: i64 = 86_400;

/// The name the per-customer measures aggregate is registered under:
/// `rapport_customer_measures(kind, t, x, y, code, code2, s1, s2, s3, s4, f1, f2)` over the
/// union of a customer's rows (see [`measures`] for what each kind puts where).
pub const CUSTOMER_MEASURES_FUNCTION: &str = "rapport_customer_measures";
/// The name the complaint topic function is registered under: `rapport_topic(text)`, the
/// index of the topic a text is nearest to (null when it has no word of the model's
/// vocabulary).
pub const TOPIC_FUNCTION: &str = "rapport_topic";

/// What the measures are computed at: the observation end, the zone, the service's
/// opening hours and the stores (for each customer's distance to the nearest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuresSpec {
    /// The observation end, UTC seconds.
    pub as_of: i64,
    /// The workspace's time zone, as `rapport_core::time::Zone` writes it.
    pub zone: String,
    /// `[service]`'s opening hours and closed dates, when the workspace has them.
    pub service: Option<(String, Vec<String>)>,
    /// The stores' (latitude, longitude): [`measures`] reads them from the workspace's
    /// stores table and adds them here (leave it empty), so that they travel with the
    /// function to the executors.
    pub stores: Vec<(f64, f64)>,
}

/// A [`MeasuresSpec`] made ready: the settings of `Measures::update` and the stores' index.
#[derive(Debug)]
struct Prepared {
    settings: Settings,
    zone: Zone,
    stores: rstar::RTree<[f64; 3]>,
}

impl Prepared {
    fn of(spec: &MeasuresSpec) -> Result<Prepared, String> {
        let zone = spec.zone.parse::<Zone>().map_err(|error| error.to_string())?;
        let mut settings = Settings::new(spec.as_of, zone);
        if let Some((hours, holidays)) = &spec.service {
            settings.schedule = Some(rapport_core::schedule::Schedule::parse(hours, holidays)?);
        }
        let stores = spec.stores.iter().map(|&(latitude, longitude)| rapport_measures::geo::unit_vector(latitude, longitude)).collect();
        Ok(Prepared { settings, zone, stores: rstar::RTree::bulk_load(stores) })
    }

    /// The distance from a home to the nearest store, km (as the embedded path finds it).
    fn nearest(&self, latitude: f64, longitude: f64) -> Option<f64> {
        let point = rapport_measures::geo::unit_vector(latitude, longitude);
        self.stores.nearest_neighbor(&point).map(|store| rapport_measures::geo::chord_to_km(point, *store))
    }
}

/// One row of a customer's union of events, as the aggregate holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Row {
    Purchase {
        time: i64,
        amount: f64,
    },
    Thread {
        conversation: Option<String>,
        channel: String,
        time: i64,
        inbound: bool,
        tone: Option<i8>,
        resolved: Option<bool>,
        agent: Option<String>,
        topic: Option<u16>,
    },
    Answer {
        survey: SurveyType,
        score: f64,
        time: i64,
        touchpoint: Option<String>,
        stage: Option<String>,
        channel: Option<String>,
    },
    Engagement {
        kind: EngagementType,
        time: i64,
        rating: Option<f64>,
        /// The referred customer of a referral.
        referred: Option<String>,
    },
    Program {
        program: String,
        time: i64,
        control: bool,
        cost: Option<f64>,
        channel: Option<String>,
    },
    Reward {
        program: String,
        time: i64,
        amount: f64,
    },
    Customer {
        region: Option<String>,
        home: Option<(f64, f64)>,
    },
    Referred,
    /// The customer's id: the first row of each state.
    Id(String),
    /// A cost row the measures do not read (counted where it names no customer).
    Cost,
}

/// Kinds of rows in the union (the aggregate's first argument).
const PURCHASE: i8 = 0;
const THREAD: i8 = 1;
const ANSWER: i8 = 2;
const ENGAGEMENT: i8 = 3;
const PROGRAM: i8 = 4;
const REWARD: i8 = 5;
const CUSTOMER: i8 = 6;
const REFERRED: i8 = 7;
const COST: i8 = 8;

/// The customer column and the rows of a batch of the aggregate's thirteen arguments,
/// each row with its index; rows the embedded path would not read (an unknown survey or
/// engagement type, a missing time or amount) are left out.
fn rows_of(values: &[ArrayRef]) -> DataFusionResult<(&StringArray, Vec<(usize, Row)>)> {
    let [customer, kind, t, x, y, code, code2, s1, s2, s3, s4, f1, f2] = values else {
        return exec_err!("{CUSTOMER_MEASURES_FUNCTION} takes 13 arguments");
    };
    let (kind, t, x, y) =
        (kind.as_primitive::<Int8Type>(), t.as_primitive::<Int64Type>(), x.as_primitive::<Float64Type>(), y.as_primitive::<Float64Type>());
    let (code, code2) = (code.as_primitive::<Int64Type>(), code2.as_primitive::<Int64Type>());
    let texts: [&StringArray; 4] = [s1.as_string::<i32>(), s2.as_string::<i32>(), s3.as_string::<i32>(), s4.as_string::<i32>()];
    let (f1, f2) = (f1.as_boolean(), f2.as_boolean());
    let text = |column: usize, row: usize| {
        let column = texts[column];
        (!column.is_null(row)).then(|| column.value(row).to_string()).filter(|text| !text.is_empty())
    };
    // A text as stored, empty for null (as the embedded path reads a channel or program).
    let raw = |column: usize, row: usize| {
        let column = texts[column];
        if column.is_valid(row) { column.value(row).to_string() } else { String::new() }
    };
    let number = |column: &arrow::array::Float64Array, row: usize| (!column.is_null(row)).then(|| column.value(row));
    let integer = |column: &Int64Array, row: usize| (!column.is_null(row)).then(|| column.value(row));
    let flag = |column: &BooleanArray, row: usize| (!column.is_null(row)).then(|| column.value(row));
    let mut rows = Vec::with_capacity(kind.len());
    for row in 0..kind.len() {
        if kind.is_null(row) || t.is_null(row) {
            continue;
        }
        let time = t.value(row);
        let parsed = match kind.value(row) {
            PURCHASE => number(x, row).map(|amount| Row::Purchase { time, amount }),
            THREAD => Some(Row::Thread {
                conversation: text(0, row),
                channel: raw(1, row),
                time,
                inbound: flag(f1, row).unwrap_or(false),
                tone: integer(code, row).map(|code| code.clamp(-1, 1) as i8),
                resolved: flag(f2, row),
                agent: text(2, row),
                topic: integer(code2, row).and_then(|topic| u16::try_from(topic).ok()),
            }),
            ANSWER => match (text(0, row).and_then(|survey| survey.parse::<SurveyType>().ok()), number(x, row)) {
                (Some(survey), Some(score)) => {
                    Some(Row::Answer { survey, score, time, touchpoint: text(1, row), stage: text(2, row), channel: text(3, row) })
                }
                _ => None,
            },
            ENGAGEMENT => text(0, row).and_then(|kind| kind.parse::<EngagementType>().ok()).map(|kind| Row::Engagement {
                kind,
                time,
                rating: number(x, row),
                referred: text(1, row),
            }),
            PROGRAM => Some(Row::Program {
                program: raw(0, row),
                time,
                control: flag(f1, row).unwrap_or(false),
                cost: number(x, row),
                channel: text(1, row),
            }),
            REWARD => match (text(0, row), number(x, row)) {
                (Some(program), Some(amount)) => Some(Row::Reward { program, time, amount }),
                _ => None,
            },
            CUSTOMER => Some(Row::Customer { region: text(0, row), home: number(x, row).zip(number(y, row)) }),
            REFERRED => text(0, row)
                .and_then(|kind| kind.parse::<EngagementType>().ok())
                .filter(|kind| *kind == EngagementType::Referral)
                .map(|_| Row::Referred),
            COST => Some(Row::Cost),
            other => return exec_err!("{CUSTOMER_MEASURES_FUNCTION}: no kind of row {other}"),
        };
        if let Some(parsed) = parsed {
            rows.push((row, parsed));
        }
    }
    Ok((customer.as_string::<i32>(), rows))
}

/// The customer's id row, first in each state.
fn id_row(customers: &StringArray, row: usize) -> Row {
    Row::Id(if customers.is_valid(row) { customers.value(row).to_string() } else { String::new() })
}

/// What one customer's rows give besides their timeline.
#[derive(Debug, Default)]
struct Folded {
    /// Their id.
    customer: String,
    /// Their timeline, as the embedded path builds it; none when no row makes them a
    /// customer (cost rows alone do not).
    timeline: Option<Timeline>,
    /// Their interaction rows, and of them the outbound ones.
    thread_rows: u64,
    outbound: u64,
    /// The customers their referrals name.
    referred: Vec<String>,
    /// Their cost rows, rewards included.
    costs: u64,
}

/// A customer's timeline from their rows, as the embedded path builds it, with what
/// [`Observed`] reads of the rows.
fn timeline_of(rows: Vec<Row>, prepared: &Prepared) -> Folded {
    let mut timeline = Timeline::default();
    let mut folded = Folded::default();
    let (mut placed, mut threads, mut rewards) = (false, Vec::new(), Vec::new());
    let day = |time: i64| day_number(prepared.zone.local_seconds(ParsedTime::Instant(time)).div_euclid(DAY));
    for row in rows {
        placed |= !matches!(row, Row::Reward { .. } | Row::Cost | Row::Id(_));
        match row {
            Row::Purchase { time, amount } => {
                timeline.purchases.push(Purchase { time, amount, margin: None, order_time: None, day: day(time), order: 0 });
            }
            Row::Thread { conversation, channel, time, inbound, tone, resolved, agent, topic } => {
                let tone = tone.map(|code| match code {
                    ..0 => Tone::Negative,
                    0 => Tone::Neutral,
                    _ => Tone::Positive,
                });
                folded.thread_rows += 1;
                folded.outbound += u64::from(!inbound);
                threads.push(ThreadRow { conversation, channel, message: Message { time, inbound, tone, resolved, agent, topic } });
            }
            Row::Answer { survey, score, time, touchpoint, stage, channel } => {
                timeline.answers.push(Answer { survey, score, time, touchpoint, stage, channel });
            }
            Row::Engagement { kind, time, rating, referred } => {
                if kind == EngagementType::Referral {
                    timeline.referrals_made += 1;
                    folded.referred.extend(referred);
                }
                timeline.engagement.push(Engagement { kind, time, rating });
            }
            Row::Program { program, time, control, cost, channel } => timeline.programs.push(ProgramContact {
                program,
                time,
                control,
                cost: cost.unwrap_or(0.0),
                cost_micros: cost.map_or(0, rapport_core::summary::to_micros),
                channel,
            }),
            Row::Reward { program, time, amount } => {
                folded.costs += 1;
                rewards.push((program, time, amount));
            }
            Row::Cost => folded.costs += 1,
            // A customer's file rows: the greatest region and home of them (one row each,
            // as ingest keeps them).
            Row::Customer { region, home } => {
                timeline.region = timeline.region.take().max(region);
                if let Some((latitude, longitude)) = home {
                    timeline.store_distance_km = prepared.nearest(latitude, longitude).or(timeline.store_distance_km);
                }
            }
            Row::Referred => timeline.referred = true,
            Row::Id(id) => {
                if folded.customer.is_empty() {
                    folded.customer = id;
                }
            }
        }
    }
    if !placed {
        return folded;
    }
    timeline.conversations = rapport_measures::conversations(&mut threads);
    // A reward naming a program is part of that program's contact with the customer, by
    // the rule of the embedded path (`rapport_action::ror::reward_contact`).
    for (program, time, amount) in rewards {
        rapport_action::ror::pay_reward(&mut timeline.programs, &program, time, amount);
    }
    timeline.sort();
    folded.timeline = Some(timeline);
    folded
}

/// What `analyze` says about its inputs (in its warnings and counts), read where each
/// customer's rows meet, by the rules the embedded path reads them from its timelines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// The first and last purchase that is not a refund, UTC seconds.
    pub purchases: Option<(i64, i64)>,
    /// Rows timestamped before the first customer message of their conversation.
    pub replies_before_message: u64,
    /// Social engagement (`rapport_measures::timeline::is_social`) by local day.
    pub social_by_day: std::collections::BTreeMap<i64, u64>,
    /// Interaction rows placed with a customer that are outbound.
    pub outbound: u64,
    /// Customers all of whose interaction rows are outbound.
    pub silent_writers: u64,
    /// Their rows.
    pub silent_rows: u64,
    /// The rows of those of them with [`rapport_measures::BRAND_LIKE_ROWS`] rows or more.
    pub heavy_silent_rows: u64,
    /// The three of them with the most rows: (rows, id), most first, then by id.
    pub most_silent: Vec<(u64, String)>,
    /// Referrals naming the referred customer: (referrer, referred), in no fixed order.
    pub referrals: Vec<(String, String)>,
    /// Cost rows naming no customer of the analysis.
    pub unlinked_costs: u64,
}

impl Observed {
    /// Add one customer.
    fn update(&mut self, folded: &Folded, prepared: &Prepared) {
        let customer = folded.customer.as_str();
        let Some(timeline) = &folded.timeline else {
            self.unlinked_costs += folded.costs;
            return;
        };
        for purchase in timeline.purchases.iter().filter(|purchase| purchase.amount >= 0.0) {
            self.purchases = Some(
                self.purchases.map_or((purchase.time, purchase.time), |(first, last)| (first.min(purchase.time), last.max(purchase.time))),
            );
        }
        self.replies_before_message +=
            timeline.conversations.iter().map(|conversation| u64::from(conversation.replies_before_start)).sum::<u64>();
        for event in timeline.engagement.iter().filter(|event| rapport_measures::timeline::is_social(event.kind)) {
            *self.social_by_day.entry(prepared.zone.local_seconds(ParsedTime::Instant(event.time)).div_euclid(DAY)).or_default() += 1;
        }
        self.outbound += folded.outbound;
        if folded.thread_rows > 0 && folded.outbound == folded.thread_rows {
            self.silent_writers += 1;
            self.silent_rows += folded.outbound;
            if folded.outbound >= rapport_measures::BRAND_LIKE_ROWS {
                self.heavy_silent_rows += folded.outbound;
            }
            self.most_silent.push((folded.outbound, customer.to_string()));
            self.keep_most_silent();
        }
        self.referrals.extend(folded.referred.iter().map(|referred| (customer.to_string(), referred.clone())));
    }

    fn keep_most_silent(&mut self) {
        self.most_silent.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        self.most_silent.truncate(3);
    }

    /// Add another partition's.
    pub fn merge(&mut self, other: Observed) {
        self.purchases = match (self.purchases, other.purchases) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (left, right) => left.or(right),
        };
        self.replies_before_message += other.replies_before_message;
        for (day, count) in other.social_by_day {
            *self.social_by_day.entry(day).or_default() += count;
        }
        self.outbound += other.outbound;
        self.silent_writers += other.silent_writers;
        self.silent_rows += other.silent_rows;
        self.heavy_silent_rows += other.heavy_silent_rows;
        self.most_silent.extend(other.most_silent);
        self.keep_most_silent();
        self.referrals.extend(other.referrals);
        self.unlinked_costs += other.unlinked_costs;
    }
}

/// What one emission of the aggregate folds its customers into.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Partial {
    measures: Measures,
    observed: Observed,
}

impl Partial {
    /// Add one customer from their encoded rows; whether they are a customer of the
    /// analysis.
    fn add(&mut self, bytes: &[u8], prepared: &Prepared) -> DataFusionResult<bool> {
        let folded = timeline_of(decode(bytes)?, prepared);
        if let Some(timeline) = &folded.timeline {
            self.measures.update(timeline, &prepared.settings);
        }
        self.observed.update(&folded, prepared);
        Ok(folded.timeline.is_some())
    }

    fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("measures encode to bytes")
    }
}

/// Append `row` to a customer's bytes: a customer's rows are held encoded, about a
/// fifth of their size as values (the final aggregation, which does not spill, holds
/// every row of its customers), and two states merge by appending.
fn append(bytes: &mut Vec<u8>, row: &Row) {
    *bytes = postcard::to_extend(row, std::mem::take(bytes)).expect("a row encodes to bytes");
}

/// The rows of a customer's bytes.
fn decode(mut bytes: &[u8]) -> DataFusionResult<Vec<Row>> {
    let mut rows = Vec::new();
    while !bytes.is_empty() {
        let (row, rest) = postcard::take_from_bytes(bytes).or_else(|error| exec_err!("{CUSTOMER_MEASURES_FUNCTION}'s state: {error}"))?;
        rows.push(row);
        bytes = rest;
    }
    Ok(rows)
}

/// See [`CUSTOMER_MEASURES_FUNCTION`]. It carries its [`MeasuresSpec`] (as JSON when it
/// travels to cluster executors).
#[derive(Debug, Clone)]
pub struct MeasuresFunction {
    signature: Signature,
    spec: MeasuresSpec,
    prepared: Arc<Prepared>,
}

impl PartialEq for MeasuresFunction {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Eq for MeasuresFunction {}

impl Hash for MeasuresFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.to_json().hash(state);
    }
}

impl MeasuresFunction {
    /// The aggregate at `spec`; refused when its zone or opening hours do not read.
    pub fn new(spec: MeasuresSpec) -> Result<MeasuresFunction, SqlError> {
        let prepared = Prepared::of(&spec).map_err(|error| SqlError::Internal(format!("the measures function: {error}")))?;
        let (int, float, text, flag) = (DataType::Int64, DataType::Float64, DataType::Utf8, DataType::Boolean);
        let arguments = vec![
            text.clone(),
            DataType::Int8,
            int.clone(),
            float.clone(),
            float,
            int.clone(),
            int,
            text.clone(),
            text.clone(),
            text.clone(),
            text,
            flag.clone(),
            flag,
        ];
        Ok(MeasuresFunction { signature: Signature::exact(arguments, Volatility::Immutable), spec, prepared: Arc::new(prepared) })
    }

    /// The aggregate as a DataFusion function.
    pub fn udaf(self) -> AggregateUDF {
        AggregateUDF::from(self)
    }

    /// What travels to cluster executors.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.spec).expect("a measures spec is JSON")
    }

    /// The function from what [`MeasuresFunction::to_json`] wrote.
    pub fn from_json(text: &str) -> Result<MeasuresFunction, SqlError> {
        let spec: MeasuresSpec =
            serde_json::from_str(text).map_err(|error| SqlError::Internal(format!("the measures function: {error}")))?;
        MeasuresFunction::new(spec)
    }
}

impl AggregateUDFImpl for MeasuresFunction {
    fn name(&self) -> &str {
        CUSTOMER_MEASURES_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DataFusionResult<Box<dyn Accumulator>> {
        Ok(Box::new(MeasureRows { bytes: Vec::new(), prepared: Arc::clone(&self.prepared) }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> DataFusionResult<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(MeasureGroups { bytes: Vec::new(), held: 0, prepared: Arc::clone(&self.prepared) }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DataFusionResult<Vec<FieldRef>> {
        let name = datafusion::logical_expr::utils::format_state_name(args.name, "rows");
        Ok(vec![Arc::new(Field::new(name, DataType::Binary, true))])
    }
}

/// One customer's rows (the aggregate without `GROUP BY`, or DataFusion's fallback).
#[derive(Debug)]
struct MeasureRows {
    bytes: Vec<u8>,
    prepared: Arc<Prepared>,
}

impl Accumulator for MeasureRows {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DataFusionResult<()> {
        let (customers, rows) = rows_of(values)?;
        for (row, parsed) in rows {
            if self.bytes.is_empty() {
                append(&mut self.bytes, &id_row(customers, row));
            }
            append(&mut self.bytes, &parsed);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> DataFusionResult<ScalarValue> {
        let mut partial = Partial::default();
        let present = partial.add(&self.bytes, &self.prepared)?;
        let bytes = partial.to_bytes();
        let result = result_array(vec![present], vec![Some(bytes.as_slice())]);
        Ok(ScalarValue::Struct(Arc::new(result)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.bytes.capacity()
    }

    fn state(&mut self) -> DataFusionResult<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.bytes.clone()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DataFusionResult<()> {
        let Some(states) = states.first() else { return Ok(()) };
        for bytes in states.as_binary::<i32>().iter().flatten() {
            self.bytes.extend_from_slice(bytes);
        }
        Ok(())
    }
}

/// The aggregate's result: `present` (whether the group is a customer of the analysis) and
/// `partial` (a partition's measures and [`Observed`], on one row of each emission).
fn result_fields() -> arrow::datatypes::Fields {
    arrow::datatypes::Fields::from(vec![Field::new("present", DataType::Boolean, false), Field::new("partial", DataType::Binary, true)])
}

fn result_array(present: Vec<bool>, partials: Vec<Option<&[u8]>>) -> arrow::array::StructArray {
    arrow::array::StructArray::new(
        result_fields(),
        vec![Arc::new(BooleanArray::from(present)), Arc::new(BinaryArray::from(partials))],
        None,
    )
}

/// Every customer group's rows of a partition, encoded (one state for all groups, as the
/// other per-customer aggregates of this crate).
#[derive(Debug)]
struct MeasureGroups {
    bytes: Vec<Vec<u8>>,
    /// Bytes held, for `size`.
    held: usize,
    prepared: Arc<Prepared>,
}

impl MeasureGroups {
    fn grow(&mut self, total_num_groups: usize) {
        if self.bytes.len() < total_num_groups {
            self.bytes.resize_with(total_num_groups, Vec::new);
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<u8>> {
        let taken = emit_to.take_needed(&mut self.bytes);
        self.held -= taken.iter().map(Vec::capacity).sum::<usize>();
        taken
    }
}

impl GroupsAccumulator for MeasureGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> DataFusionResult<()> {
        self.grow(total_num_groups);
        let (customers, rows) = rows_of(values)?;
        for (row, parsed) in rows {
            if opt_filter.is_some_and(|filter| filter.is_null(row) || !filter.value(row)) {
                continue;
            }
            let bytes = &mut self.bytes[group_indices[row]];
            self.held -= bytes.capacity();
            if bytes.is_empty() {
                append(bytes, &id_row(customers, row));
            }
            append(bytes, &parsed);
            self.held += bytes.capacity();
        }
        Ok(())
    }

    /// Whether each emitted group is a customer of the analysis, and their measures (and
    /// [`Observed`]) folded into one partial, on the first group's row (the others null):
    /// the client merges the partials, so one per emission is enough.
    fn evaluate(&mut self, emit_to: EmitTo) -> DataFusionResult<ArrayRef> {
        let taken = self.take(emit_to);
        let groups = taken.len();
        // A customer decoded at a time.
        let mut partial = Partial::default();
        let mut present = Vec::with_capacity(groups);
        for bytes in taken {
            present.push(partial.add(&bytes, &self.prepared)?);
        }
        let bytes = partial.to_bytes();
        let partials: Vec<Option<&[u8]>> = if groups == 0 {
            Vec::new()
        } else {
            std::iter::once(Some(bytes.as_slice())).chain(std::iter::repeat_n(None, groups - 1)).collect()
        };
        Ok(Arc::new(result_array(present, partials)))
    }

    fn state(&mut self, emit_to: EmitTo) -> DataFusionResult<Vec<ArrayRef>> {
        let taken = self.take(emit_to);
        Ok(vec![Arc::new(BinaryArray::from_iter_values(taken.iter()))])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> DataFusionResult<()> {
        let Some(states) = values.first() else { return exec_err!("{CUSTOMER_MEASURES_FUNCTION} merges 1 state") };
        self.grow(total_num_groups);
        let states = states.as_binary::<i32>();
        for (state, &group) in group_indices.iter().enumerate() {
            if states.is_null(state) {
                continue;
            }
            let bytes = &mut self.bytes[group];
            self.held -= bytes.capacity();
            bytes.extend_from_slice(states.value(state));
            self.held += bytes.capacity();
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> DataFusionResult<Vec<ArrayRef>> {
        let len = values.first().map_or(0, |column| column.len());
        let mut per_row: Vec<Vec<u8>> = vec![Vec::new(); len];
        let (customers, rows) = rows_of(values)?;
        for (row, parsed) in rows {
            if opt_filter.is_some_and(|filter| filter.is_null(row) || !filter.value(row)) {
                continue;
            }
            append(&mut per_row[row], &id_row(customers, row));
            append(&mut per_row[row], &parsed);
        }
        Ok(vec![Arc::new(BinaryArray::from_iter_values(per_row.iter()))])
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.bytes.capacity() * std::mem::size_of::<Vec<u8>>() + self.held
    }
}

/// See [`TOPIC_FUNCTION`]. It carries the topics' model (as JSON when it travels).
#[derive(Debug, Clone)]
pub struct TopicFunction {
    signature: Signature,
    json: String,
    model: Arc<TopicModel>,
}

impl PartialEq for TopicFunction {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl Eq for TopicFunction {}

impl Hash for TopicFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.json.hash(state);
    }
}

impl TopicFunction {
    /// The function placing texts by `model`.
    pub fn new(model: TopicModel) -> TopicFunction {
        TopicFunction {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
            json: model.to_json(),
            model: Arc::new(model),
        }
    }

    /// The function as DataFusion's.
    pub fn udf(self) -> ScalarUDF {
        ScalarUDF::from(self)
    }

    /// What travels to cluster executors.
    pub fn to_json(&self) -> String {
        self.json.clone()
    }

    /// The function from what [`TopicFunction::to_json`] wrote.
    pub fn from_json(text: &str) -> Result<TopicFunction, SqlError> {
        TopicModel::from_json(text).map(TopicFunction::new).map_err(SqlError::Internal)
    }
}

impl ScalarUDFImpl for TopicFunction {
    fn name(&self) -> &str {
        TOPIC_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DataFusionResult<ColumnarValue> {
        let Some(texts) = args.args.first() else { return exec_err!("{TOPIC_FUNCTION} takes 1 argument") };
        let texts = texts.to_array(args.number_rows)?;
        let texts = texts.as_string::<i32>();
        let assigner = self.model.assigner();
        let topics: Int64Array = texts.iter().map(|text| text.and_then(|text| assigner.assign(text)).map(|topic| topic as i64)).collect();
        Ok(ColumnarValue::Array(Arc::new(topics)))
    }
}

/// What the plan needs besides the spec: the complaint topics' model, when topics were
/// found.
#[derive(Debug, Clone, Default)]
pub struct MeasuresInputs {
    /// The model that places negative customer messages in the complaint topics.
    pub topics: Option<TopicModel>,
}

/// What the measures' plan gives.
#[derive(Debug, Default)]
pub struct MeasuresOutcome {
    /// The brand's measures.
    pub measures: Measures,
    /// What the analysis says about its inputs.
    pub observed: Observed,
    /// The customers of the analysis (each with a row of the customers file or of an event
    /// kind up to the observation end, or named by a referral), in no fixed order.
    pub customers: Vec<String>,
}

/// The brand's measures at `spec`, from one plan over every event kind (see the module's
/// documentation), rows placed by `links`: the partials merged in a fixed order (their
/// bytes), so one plan on the same partitions gives the same bits.
pub fn measures(
    session: &Session,
    links: &crate::features::OrderLinks,
    spec: MeasuresSpec,
    inputs: MeasuresInputs,
) -> Result<MeasuresOutcome, SqlError> {
    let context = &session.context;
    context.register_udf(ScalarUDF::from(crate::features::ToneFunction::new()));
    let with_topics = inputs.topics.is_some();
    if let Some(model) = inputs.topics {
        context.register_udf(TopicFunction::new(model).udf());
    }
    let exists = |kind: &str| context.table_exist(format!("events.{kind}").as_str()).map_err(internal);
    let as_of = spec.as_of;
    let mut spec = spec;
    if exists("stores")? {
        let (_, batches) = session.query(
            "SELECT CAST(latitude AS DOUBLE), CAST(longitude AS DOUBLE) FROM events.stores WHERE latitude IS NOT NULL AND longitude IS NOT NULL",
        )?;
        for batch in &batches {
            let (latitude, longitude) = (batch.column(0).as_primitive::<Float64Type>(), batch.column(1).as_primitive::<Float64Type>());
            spec.stores.extend(latitude.values().iter().copied().zip(longitude.values().iter().copied()));
        }
    }
    context.register_udaf(MeasuresFunction::new(spec)?.udaf());

    let linked = |kind: &str, columns: &str| crate::features::linked_rows(links.0.as_ref(), kind, columns, as_of);
    // The union's columns, each kind filling its own and null for the rest.
    let null = |columns: &[&str]| -> String {
        let types = ["BIGINT", "DOUBLE", "DOUBLE", "BIGINT", "BIGINT", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "BOOLEAN", "BOOLEAN"];
        let names = ["t", "x", "y", "code", "code2", "s1", "s2", "s3", "s4", "f1", "f2"];
        names
            .iter()
            .zip(types)
            .map(|(name, kind)| match columns.iter().find_map(|column| column.strip_suffix(&format!(" AS {name}"))) {
                Some(expression) => format!("CAST({expression} AS {kind}) AS {name}"),
                None => format!("CAST(NULL AS {kind}) AS {name}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if exists("purchases")? {
        parts.push(format!(
            "SELECT customer, CAST({PURCHASE} AS TINYINT) AS kind, {} FROM ({})",
            null(&["t AS t", "amount AS x"]),
            linked("purchases", "k.amount AS amount")
        ));
    }
    if exists("interactions")? {
        let topic = if with_topics { format!("CASE WHEN tone = -1 THEN {TOPIC_FUNCTION}(text) END") } else { "NULL".to_string() };
        parts.push(format!(
            "SELECT customer, CAST({THREAD} AS TINYINT) AS kind, {} FROM (
                SELECT *, {topic} AS topic FROM (
                    SELECT *, CASE WHEN inbound AND text IS NOT NULL AND text <> '' THEN {TONE_FUNCTION}(text) END AS tone FROM ({})))",
            null(&[
                "t AS t",
                "tone AS code",
                "topic AS code2",
                "conversation AS s1",
                "channel AS s2",
                "agent AS s3",
                "inbound AS f1",
                "resolved AS f2"
            ]),
            linked("interactions", &format!("{}, NULLIF(k.agent, '') AS agent", crate::features::INTERACTION_COLUMNS)),
        ));
    }
    if exists("surveys")? {
        parts.push(format!(
            "SELECT customer, CAST({ANSWER} AS TINYINT) AS kind, {} FROM ({})",
            null(&["t AS t", "score AS x", "survey_type AS s1", "touchpoint AS s2", "stage AS s3", "channel AS s4"]),
            linked(
                "surveys",
                "k.survey_type AS survey_type, k.score AS score, k.touchpoint AS touchpoint, k.stage AS stage, k.channel AS channel"
            )
        ));
    }
    if exists("engagement")? {
        let engagement = linked(
            "engagement",
            "k.engagement_type AS engagement_type, k.rating AS rating, NULLIF(k.referred_customer_id, '') AS referred",
        );
        parts.push(format!(
            "SELECT customer, CAST({ENGAGEMENT} AS TINYINT) AS kind, {} FROM ({engagement})",
            null(&["t AS t", "rating AS x", "engagement_type AS s1", "referred AS s2"])
        ));
        parts.push(format!(
            "SELECT referred AS customer, CAST({REFERRED} AS TINYINT) AS kind, {} FROM ({engagement}) WHERE referred IS NOT NULL",
            null(&["t AS t", "engagement_type AS s1"])
        ));
    }
    if exists("programs")? {
        parts.push(format!(
            "SELECT customer_id AS customer, CAST({PROGRAM} AS TINYINT) AS kind, {} FROM events.programs WHERE arrow_cast(time, 'Int64') <= {as_of}",
            null(&["arrow_cast(time, 'Int64') AS t", "cost AS x", "program AS s1", "NULLIF(channel, '') AS s2", "control_group AS f1"])
        ));
    }
    if exists("costs")? {
        // Every cost row: a reward naming a program is paid to its contact; the others are
        // only counted where they name no customer of the analysis.
        parts.push(format!(
            "SELECT customer_id AS customer,
                    CAST(CASE WHEN cost_type = 'reward' AND NULLIF(program, '') IS NOT NULL THEN {REWARD} ELSE {COST} END AS TINYINT) AS kind, {}
             FROM events.costs WHERE arrow_cast(time, 'Int64') <= {as_of}",
            null(&["arrow_cast(time, 'Int64') AS t", "amount AS x", "program AS s1"])
        ));
    }
    if exists("customers")? {
        parts.push(format!(
            "SELECT customer_id AS customer, CAST({CUSTOMER} AS TINYINT) AS kind, {} FROM events.customers",
            null(&["0 AS t", "latitude AS x", "longitude AS y", "region AS s1"])
        ));
    }
    if parts.is_empty() {
        return Ok(MeasuresOutcome::default());
    }
    let sql = format!(
        "SELECT customer, m['present'] AS present, m['partial'] AS partial FROM (
            SELECT customer, {CUSTOMER_MEASURES_FUNCTION}(CAST(customer AS VARCHAR), kind, t, x, y, code, code2, s1, s2, s3, s4, f1, f2) AS m
            FROM ({}) GROUP BY customer
         ) WHERE m['present'] OR m['partial'] IS NOT NULL",
        parts.join(" UNION ALL ")
    );
    let started = std::time::Instant::now();
    let (_, batches) = session.query(&sql)?;
    tracing::info!(target: "rapport::timings", elapsed = ?started.elapsed(), "plan: the measures");
    let mut outcome = MeasuresOutcome::default();
    let mut partials: Vec<&[u8]> = Vec::new();
    for batch in &batches {
        let customers = arrow::compute::cast(batch.column(0), &DataType::Utf8).map_err(internal)?;
        let (customers, present, partial) =
            (customers.as_string::<i32>(), batch.column(1).as_boolean(), batch.column(2).as_binary::<i32>());
        for row in 0..batch.num_rows() {
            if present.is_valid(row) && present.value(row) {
                outcome.customers.push(customers.value(row).to_string());
            }
            if partial.is_valid(row) {
                partials.push(partial.value(row));
            }
        }
    }
    partials.sort_unstable();
    for bytes in partials {
        let partial: Partial =
            postcard::from_bytes(bytes).map_err(|error| SqlError::Internal(format!("a partial of the measures: {error}")))?;
        outcome.measures.merge(partial.measures);
        outcome.observed.merge(partial.observed);
    }
    outcome.observed.referrals.sort_unstable();
    Ok(outcome)
}
