//! What `analyze` reads of the events besides the per-customer aggregation, as plans:
//! the span of the events (for the observation end), the rows it leaves out (after the
//! observation end, or naming no customer), and the customers' texts (sentiment by
//! channel and day, and the complaints the topics are found on).
//!
//! Each follows the rule of the embedded path's reading (`rapport-engine`'s
//! `load_timelines`), so that an engine's run says the same of its inputs.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use rapport_core::event::EngagementType;
use rapport_core::survey::SurveyType;
use rapport_core::time::Zone;
use rapport_measures::Tone;

use crate::features::{COMPOUND_FUNCTION, INBOUND, LOCAL_DAY_FUNCTION, OrderLinks};
use crate::{Session, SqlError, internal};

/// The kinds whose rows set the observation end and are placed with customers, with the
/// column whose value must be known for a row to be read.
const PLACED_KINDS: [(&str, Option<&str>); 5] = [
    ("purchases", None),
    ("interactions", None),
    ("surveys", Some("survey_type")),
    ("engagement", Some("engagement_type")),
    ("programs", None),
];

/// Whether a row of `kind` with `type_value` in its type column is read (an unknown
/// survey or engagement type is not).
fn known(kind: &str, type_value: Option<&str>) -> bool {
    match kind {
        "surveys" => type_value.is_some_and(|value| value.parse::<SurveyType>().is_ok()),
        "engagement" => type_value.is_some_and(|value| value.parse::<EngagementType>().is_ok()),
        _ => true,
    }
}

fn exists(session: &Session, kind: &str) -> Result<bool, SqlError> {
    session.context.table_exist(format!("events.{kind}").as_str()).map_err(internal)
}

/// A batch's column as text (null where null).
fn texts(batch: &RecordBatch, index: usize) -> Result<arrow::array::StringArray, SqlError> {
    let column = arrow::compute::cast(batch.column(index), &DataType::Utf8).map_err(internal)?;
    Ok(column.as_string::<i32>().clone())
}

/// A batch's column as 64-bit integers.
fn integers(batch: &RecordBatch, index: usize) -> Result<arrow::array::Int64Array, SqlError> {
    let column = arrow::compute::cast(batch.column(index), &DataType::Int64).map_err(internal)?;
    Ok(column.as_primitive::<Int64Type>().clone())
}

/// The type column of `kind` as a select expression (null for kinds without one).
fn type_expression(column: Option<&str>) -> String {
    column.map_or("CAST(NULL AS VARCHAR)".to_string(), |column| format!("CAST(k.{column} AS VARCHAR)"))
}

/// The first and last event time (UTC seconds) over the kinds that set the observation
/// end (rows of an unknown survey or engagement type left out); `None` without events.
pub fn event_bounds(session: &Session) -> Result<Option<(i64, i64)>, SqlError> {
    let mut bounds: Option<(i64, i64)> = None;
    for (kind, column) in PLACED_KINDS {
        if !exists(session, kind)? {
            continue;
        }
        let (_, batches) = session.query(&format!(
            "SELECT {} AS type, MIN(arrow_cast(k.time, 'Int64')), MAX(arrow_cast(k.time, 'Int64')) FROM events.{kind} k GROUP BY 1",
            type_expression(column)
        ))?;
        for batch in &batches {
            let (types, low, high) = (texts(batch, 0)?, integers(batch, 1)?, integers(batch, 2)?);
            for row in 0..batch.num_rows() {
                if low.is_null(row) || !known(kind, types.is_valid(row).then(|| types.value(row))) {
                    continue;
                }
                let (low, high) = (low.value(row), high.value(row));
                bounds = Some(bounds.map_or((low, high), |(first, last)| (first.min(low), last.max(high))));
            }
        }
    }
    Ok(bounds)
}

/// The rows an analysis at an observation end leaves out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeftOut {
    /// Rows after the observation end (costs included).
    pub after_as_of: u64,
    /// Rows up to it naming no customer, neither directly nor by an order a purchase
    /// carries, by kind (costs are counted where the measures are: `Observed`).
    pub unlinked: BTreeMap<String, u64>,
}

/// The rows left out at `as_of`, rows placed by `links`.
pub fn left_out(session: &Session, links: &OrderLinks, as_of: i64) -> Result<LeftOut, SqlError> {
    let mut left_out = LeftOut::default();
    for (kind, column) in PLACED_KINDS.into_iter().chain([("costs", None)]) {
        if !exists(session, kind)? {
            continue;
        }
        // Programs and costs name their customer; the other kinds may name an order.
        let by_order = !matches!(kind, "programs" | "costs");
        let (customer, join) = match links.0.as_ref().filter(|links| links.rows > 0 && by_order) {
            Some(links) => (
                "COALESCE(NULLIF(k.customer_id, ''), l.link_customer)".to_string(),
                format!("LEFT JOIN {} l ON NULLIF(k.order_id, '') = l.order_id", links.table),
            ),
            None if by_order => ("NULLIF(k.customer_id, '')".to_string(), String::new()),
            None => ("'placed'".to_string(), String::new()),
        };
        let (_, batches) = session.query(&format!(
            "SELECT type, COUNT(*) FILTER (WHERE t > {as_of}), COUNT(*) FILTER (WHERE t <= {as_of} AND customer IS NULL) FROM (
                SELECT {} AS type, arrow_cast(k.time, 'Int64') AS t, {customer} AS customer FROM events.{kind} k {join}
             ) GROUP BY type",
            type_expression(column)
        ))?;
        for batch in &batches {
            let (types, after, unlinked) = (texts(batch, 0)?, integers(batch, 1)?, integers(batch, 2)?);
            for row in 0..batch.num_rows() {
                if !known(kind, types.is_valid(row).then(|| types.value(row))) {
                    continue;
                }
                left_out.after_as_of += after.value(row) as u64;
                if unlinked.value(row) > 0 {
                    *left_out.unlinked.entry(kind.to_string()).or_default() += unlinked.value(row) as u64;
                }
            }
        }
    }
    Ok(left_out)
}

/// The service model's scores of customers' messages on one channel and local day.
#[derive(Debug, Clone, PartialEq)]
pub struct SentimentDay {
    /// The channel (empty when the row named none).
    pub channel: String,
    /// The local day (days since 1970-01-01 on the workspace's calendar).
    pub day: i64,
    /// Messages scored.
    pub n: u64,
    /// Their mean compound score.
    pub mean: f64,
    /// Their sample variance (0 for one message).
    pub variance: f64,
}

/// A negative customer message (a complaint), with its customer as the row names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Complaint {
    /// The customer the row names (none when it names only an order, or no one).
    pub customer: Option<String>,
    /// When, UTC seconds.
    pub time: i64,
    /// The channel (empty when the row named none).
    pub channel: String,
    /// What it says.
    pub text: String,
}

/// Every customer message up to the observation end, scored once: the sentiment of each
/// channel and day, and the complaints (every negative one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerTexts {
    /// By channel, then day.
    pub days: Vec<SentimentDay>,
    /// In no fixed order.
    pub complaints: Vec<Complaint>,
}

/// The customers' messages at `as_of`: every interaction row with a text that the
/// customer wrote (by its direction, or, without one, when no agent wrote it), whether
/// or not it names a customer.
pub fn customer_texts(session: &Session, as_of: i64, zone: Zone) -> Result<CustomerTexts, SqlError> {
    if !exists(session, "interactions")? {
        return Ok(CustomerTexts::default());
    }
    session.context.register_udf(datafusion::logical_expr::ScalarUDF::from(crate::features::ToneFunction::compound()));
    session.context.register_udf(datafusion::logical_expr::ScalarUDF::from(crate::features::LocalDay::new()));
    let zone = format!("'{}'", zone.to_string().replace('\'', "''"));
    let negative = Tone::NEGATIVE_AT_MOST;
    let (_, batches) = session.query(&format!(
        "SELECT channel, day, COUNT(c), AVG(c), VAR_SAMP(c),
                ARRAY_AGG(named_struct('customer', customer, 't', t, 'text', text)) FILTER (WHERE c <= {negative:?})
         FROM (
            SELECT COALESCE(CAST(k.channel AS VARCHAR), '') AS channel, arrow_cast(k.time, 'Int64') AS t,
                   {LOCAL_DAY_FUNCTION}(arrow_cast(k.time, 'Int64'), {zone}) AS day,
                   CAST(NULLIF(k.customer_id, '') AS VARCHAR) AS customer, CAST(k.text AS VARCHAR) AS text,
                   {COMPOUND_FUNCTION}(k.text) AS c
            FROM events.interactions k
            WHERE arrow_cast(k.time, 'Int64') <= {as_of} AND k.text IS NOT NULL AND k.text <> '' AND {INBOUND}
         ) GROUP BY channel, day"
    ))?;
    let mut found = CustomerTexts::default();
    for batch in &batches {
        let (channels, days, counts) = (texts(batch, 0)?, integers(batch, 1)?, integers(batch, 2)?);
        let (means, variances) = (batch.column(3).as_primitive::<Float64Type>(), batch.column(4).as_primitive::<Float64Type>());
        let complaints = batch.column(5).as_list::<i32>();
        for row in 0..batch.num_rows() {
            let channel = channels.value(row).to_string();
            found.days.push(SentimentDay {
                channel: channel.clone(),
                day: days.value(row),
                n: counts.value(row) as u64,
                mean: means.value(row),
                variance: if variances.is_valid(row) { variances.value(row) } else { 0.0 },
            });
            if complaints.is_null(row) {
                continue;
            }
            let list = complaints.value(row);
            let list = list.as_struct();
            let (customers, times, words) = (
                arrow::compute::cast(list.column(0), &DataType::Utf8).map_err(internal)?,
                arrow::compute::cast(list.column(1), &DataType::Int64).map_err(internal)?,
                arrow::compute::cast(list.column(2), &DataType::Utf8).map_err(internal)?,
            );
            let (customers, times, words) = (customers.as_string::<i32>(), times.as_primitive::<Int64Type>(), words.as_string::<i32>());
            for item in 0..list.len() {
                found.complaints.push(Complaint {
                    customer: customers.is_valid(item).then(|| customers.value(item).to_string()),
                    time: times.value(item),
                    channel: channel.clone(),
                    text: words.value(item).to_string(),
                });
            }
        }
    }
    found.days.sort_by(|a, b| (&a.channel, a.day).cmp(&(&b.channel, b.day)));
    Ok(found)
}
