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

/// The rows of a batch of the aggregate's twelve arguments, each with its index; rows the
/// embedded path would not read (an unknown survey or engagement type, a missing time or
/// amount) are left out.
fn rows_of(values: &[ArrayRef]) -> DataFusionResult<Vec<(usize, Row)>> {
    let [kind, t, x, y, code, code2, s1, s2, s3, s4, f1, f2] = values else {
        return exec_err!("{CUSTOMER_MEASURES_FUNCTION} takes 12 arguments");
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
            other => return exec_err!("{CUSTOMER_MEASURES_FUNCTION}: no kind of row {other}"),
        };
        if let Some(parsed) = parsed {
            rows.push((row, parsed));
        }
    }
    Ok(rows)
}

/// A customer's timeline from their rows, as the embedded path builds it; `None` when no
/// row makes them a customer (rewards alone do not).
fn timeline_of(rows: Vec<Row>, prepared: &Prepared) -> Option<Timeline> {
    let mut timeline = Timeline::default();
    let (mut placed, mut threads, mut rewards) = (false, Vec::new(), Vec::new());
    let day = |time: i64| day_number(prepared.zone.local_seconds(ParsedTime::Instant(time)).div_euclid(DAY));
    for row in rows {
        placed |= !matches!(row, Row::Reward { .. });
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
                threads.push(ThreadRow { conversation, channel, message: Message { time, inbound, tone, resolved, agent, topic } });
            }
            Row::Answer { survey, score, time, touchpoint, stage, channel } => {
                timeline.answers.push(Answer { survey, score, time, touchpoint, stage, channel });
            }
            Row::Engagement { kind, time, rating } => {
                timeline.referrals_made += u32::from(kind == EngagementType::Referral);
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
            Row::Reward { program, time, amount } => rewards.push((program, time, amount)),
            // A customer's file rows: the greatest region and home of them (one row each,
            // as ingest keeps them).
            Row::Customer { region, home } => {
                timeline.region = timeline.region.take().max(region);
                if let Some((latitude, longitude)) = home {
                    timeline.store_distance_km = prepared.nearest(latitude, longitude).or(timeline.store_distance_km);
                }
            }
            Row::Referred => timeline.referred = true,
        }
    }
    if !placed {
        return None;
    }
    timeline.conversations = rapport_measures::conversations(&mut threads);
    // A reward naming a program is part of that program's contact with the customer, by
    // the rule of the embedded path (`rapport_action::ror::reward_contact`).
    for (program, time, amount) in rewards {
        rapport_action::ror::pay_reward(&mut timeline.programs, &program, time, amount);
    }
    timeline.sort();
    Some(timeline)
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
        Ok(DataType::Binary)
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
        for (_, row) in rows_of(values)? {
            append(&mut self.bytes, &row);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> DataFusionResult<ScalarValue> {
        let mut measures = Measures::default();
        if let Some(timeline) = timeline_of(decode(&self.bytes)?, &self.prepared) {
            measures.update(&timeline, &self.prepared.settings);
        }
        Ok(ScalarValue::Binary(Some(measures.to_bytes())))
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
        for (row, parsed) in rows_of(values)? {
            if opt_filter.is_some_and(|filter| filter.is_null(row) || !filter.value(row)) {
                continue;
            }
            let bytes = &mut self.bytes[group_indices[row]];
            self.held -= bytes.capacity();
            append(bytes, &parsed);
            self.held += bytes.capacity();
        }
        Ok(())
    }

    /// The emitted customers' measures folded into one partial, on the first group's row
    /// (the others null): the client merges the partials, so one per emission is enough.
    fn evaluate(&mut self, emit_to: EmitTo) -> DataFusionResult<ArrayRef> {
        let taken = self.take(emit_to);
        let groups = taken.len();
        if groups == 0 {
            return Ok(Arc::new(BinaryArray::from(Vec::<Option<&[u8]>>::new())));
        }
        // A customer decoded at a time.
        let mut measures = Measures::default();
        for bytes in taken {
            if let Some(timeline) = timeline_of(decode(&bytes)?, &self.prepared) {
                measures.update(&timeline, &self.prepared.settings);
            }
        }
        let bytes = measures.to_bytes();
        let values: Vec<Option<&[u8]>> = std::iter::once(Some(bytes.as_slice())).chain(std::iter::repeat_n(None, groups - 1)).collect();
        Ok(Arc::new(BinaryArray::from(values)))
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
        for (row, parsed) in rows_of(values)? {
            if opt_filter.is_some_and(|filter| filter.is_null(row) || !filter.value(row)) {
                continue;
            }
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

/// The brand's measures at `spec`, from one plan over every event kind (see the module's
/// documentation): the partials merged in a fixed order (their bytes), so one plan on the
/// same partitions gives the same bits.
pub fn measures(session: &Session, spec: MeasuresSpec, inputs: MeasuresInputs) -> Result<Measures, SqlError> {
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

    let links = crate::features::placing_links(session)?;
    let linked = |kind: &str, columns: &str| crate::features::linked_rows(links.as_ref(), kind, columns, as_of);
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
            null(&["t AS t", "rating AS x", "engagement_type AS s1"])
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
        parts.push(format!(
            "SELECT customer_id AS customer, CAST({REWARD} AS TINYINT) AS kind, {} FROM events.costs
             WHERE arrow_cast(time, 'Int64') <= {as_of} AND cost_type = 'reward' AND NULLIF(program, '') IS NOT NULL",
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
        return Ok(Measures::default());
    }
    let sql = format!(
        "SELECT m FROM (
            SELECT {CUSTOMER_MEASURES_FUNCTION}(kind, t, x, y, code, code2, s1, s2, s3, s4, f1, f2) AS m
            FROM ({}) GROUP BY customer
         ) WHERE m IS NOT NULL",
        parts.join(" UNION ALL ")
    );
    let started = std::time::Instant::now();
    let (_, batches) = session.query(&sql)?;
    tracing::info!(target: "rapport::timings", elapsed = ?started.elapsed(), "plan: the measures");
    let mut partials: Vec<&[u8]> = batches.iter().flat_map(|batch| batch.column(0).as_binary::<i32>().iter().flatten()).collect();
    partials.sort_unstable();
    let mut measures = Measures::default();
    for bytes in partials {
        measures.merge(Measures::from_bytes(bytes).map_err(SqlError::Internal)?);
    }
    Ok(measures)
}
