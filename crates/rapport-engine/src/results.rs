//! One `analyze` run, read whole for the front ends that show it (the HTML report, the
//! dashboard): its summary, every breakdown table, the customer table, the Customer
//! Matrix with its migration from the analysis before, the alerts, and where customers
//! and stores are. Nothing here computes a measure; it reads what `analyze` wrote.

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use serde_json::Value as Json;

use rapport_core::event::EventKind;
use rapport_store::runs::RunInfo;
use rapport_store::workspace::Workspace;

use crate::EngineError;
use crate::relationship::{AlertsReport, MatrixReport, MatrixRequest};

/// Which run to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// The workspace.
    pub workspace: PathBuf,
    /// The run (default: the latest `analyze` run).
    pub run: Option<String>,
}

/// A place on the map: a customer's home or a store.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// The customer's or store's id.
    pub id: String,
    /// The store's name (empty for a customer).
    pub name: String,
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
}

/// An `analyze` run, whole. Cloning it is cheap (Arrow arrays are shared).
#[derive(Debug, Clone)]
pub struct RunView {
    /// The run.
    pub run: RunInfo,
    /// `summary.json`: headlines with intervals, what was skipped, warnings, counts.
    pub summary: Json,
    /// `aggregates.json`: the models' fits and the relationship settings.
    pub aggregates: Json,
    /// Every breakdown table by name (`matrix`, `voice_of_customer`, `programs`, …).
    pub tables: BTreeMap<String, RecordBatch>,
    /// The customer table.
    pub customers: RecordBatch,
    /// The Customer Matrix, with migration from the `analyze` run before this one when
    /// there is one.
    pub matrix: MatrixReport,
    /// The alerts.
    pub alerts: Option<AlertsReport>,
    /// Customers' homes (from the customers file's latitude and longitude), in the
    /// customer table's ids.
    pub homes: Vec<Place>,
    /// Stores.
    pub stores: Vec<Place>,
}

/// Read an `analyze` run whole.
pub fn run_view(request: &RunRequest) -> Result<RunView, EngineError> {
    let workspace = Workspace::open(&request.workspace)?;
    let runs = workspace.runs()?;
    let analyses: Vec<&RunInfo> = runs.iter().filter(|run| run.command == "analyze").collect();
    let run = match &request.run {
        Some(id) => workspace.run(Some(id))?,
        None => (*analyses.last().ok_or_else(|| {
            EngineError::Request(format!(
                "the workspace has no analysis to show: run `rapport analyze --workspace {}` first",
                request.workspace.display()
            ))
        })?)
        .clone(),
    };
    if run.command != "analyze" {
        return Err(EngineError::Request(format!(
            "run {} was written by `rapport {}`, not `rapport analyze`: the report shows an analysis",
            run.id, run.command
        )));
    }
    let directory = workspace.run_directory(&run.id);
    let json = |name: &str| -> Result<Json, EngineError> {
        let path = directory.join(name);
        let bytes = std::fs::read(&path).map_err(|source| EngineError::Read { source_name: path.display().to_string(), source })?;
        serde_json::from_slice(&bytes).map_err(|error| EngineError::Request(format!("{}: not valid JSON: {error}", path.display())))
    };
    let summary = json("summary.json")?;
    let aggregates = json("aggregates.json")?;
    let mut tables = BTreeMap::new();
    let mut customers = None;
    let entries =
        std::fs::read_dir(&directory).map_err(|source| EngineError::Read { source_name: directory.display().to_string(), source })?;
    for entry in entries {
        let path = entry.map_err(|source| EngineError::Read { source_name: directory.display().to_string(), source })?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()).and_then(|name| name.strip_suffix(".parquet")) else { continue };
        let batch = rapport_store::input::read_parquet_file(&path)?;
        if name == "customers" {
            customers = Some(batch);
        } else {
            tables.insert(name.to_string(), batch);
        }
    }
    let customers = customers.ok_or_else(|| EngineError::Request(format!("run {} has no customers.parquet", run.id)))?;
    // The analysis before this one, for migration: the latest made with an earlier
    // observation end, as `analyze` reads it for the actions (a rerun at the same as-of is
    // not "before": everyone would have stayed).
    let as_of = run.options["as_of"].as_str().unwrap_or_default();
    let before = analyses
        .iter()
        .rev()
        .find(|earlier| earlier.options["as_of"].as_str().is_some_and(|earlier| earlier < as_of))
        .map(|earlier| earlier.id.clone());
    let matrix_request = MatrixRequest { workspace: request.workspace.clone(), run: Some(run.id.clone()), compare: before };
    let matrix = match crate::relationship::matrix(&matrix_request) {
        Ok(matrix) => matrix,
        // An earlier run from an older version may lack what migration needs.
        Err(_) if matrix_request.compare.is_some() => {
            crate::relationship::matrix(&MatrixRequest { compare: None, ..matrix_request.clone() })?
        }
        Err(error) => return Err(error),
    };
    let alerts = crate::relationship::alerts(&MatrixRequest { compare: None, ..matrix_request }).ok();
    let homes = places(&workspace, EventKind::Customers, &["customer_id", "latitude", "longitude"])?;
    let stores = places(&workspace, EventKind::Stores, &["store_id", "latitude", "longitude", "name"])?;
    Ok(RunView { run, summary, aggregates, tables, customers, matrix, alerts, homes, stores })
}

/// The located rows of an event kind: id, latitude, longitude (and a name).
fn places(workspace: &Workspace, kind: EventKind, columns: &[&str]) -> Result<Vec<Place>, EngineError> {
    if workspace.event_files(kind).is_empty() {
        return Ok(Vec::new());
    }
    let mut places: Vec<Place> = workspace.scan_events(
        kind,
        columns,
        Vec::new,
        |places: &mut Vec<Place>, batch| {
            let ids = batch.column(0).as_string::<i32>();
            let (latitude, longitude) = (batch.column(1).as_primitive::<Float64Type>(), batch.column(2).as_primitive::<Float64Type>());
            let names = batch.columns().get(3).map(|column| column.as_string::<i32>());
            for row in 0..batch.num_rows() {
                if ids.is_null(row) || latitude.is_null(row) || longitude.is_null(row) {
                    continue;
                }
                places.push(Place {
                    id: ids.value(row).to_string(),
                    name: names.filter(|names| !names.is_null(row)).map(|names| names.value(row).to_string()).unwrap_or_default(),
                    latitude: latitude.value(row),
                    longitude: longitude.value(row),
                });
            }
            Ok(())
        },
        |mut left, right| {
            left.extend(right);
            left
        },
    )?;
    // One place per id (a customer listed in two customers files is one point).
    let mut seen = std::collections::HashSet::new();
    places.retain(|place| seen.insert(place.id.clone()));
    places.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(places)
}

/// One stored event of a customer, its fields as JSON (missing fields left out; times as
/// RFC 3339 in UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerEvent {
    /// Its kind.
    pub kind: EventKind,
    /// Its fields.
    pub fields: serde_json::Map<String, Json>,
}

/// Every stored event of one customer, oldest first: those that name them, and those
/// that name one of their orders only (a review or refund export). Every event file is
/// read, all of them at once, but only its id columns in full: Parquet decodes the other
/// columns for the matching rows alone (a row filter), which is what makes a customer's
/// timeline affordable on a large workspace.
pub fn customer_events(workspace: &std::path::Path, customer: &str) -> Result<Vec<CustomerEvent>, EngineError> {
    let workspace = Workspace::open(workspace)?;
    let mut orders: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut events = Vec::new();
    // Purchases first: they give the customer's orders.
    let kinds = std::iter::once(EventKind::Purchases).chain(EventKind::ALL.into_iter().filter(|kind| *kind != EventKind::Purchases));
    for kind in kinds {
        if kind == EventKind::Stores {
            continue;
        }
        let found: Vec<serde_json::Map<String, Json>> = workspace
            .customer_rows(kind, customer, &orders)?
            .iter()
            .flat_map(|batch| (0..batch.num_rows()).map(|row| row_json(batch, row)))
            .collect();
        if kind == EventKind::Purchases {
            orders.extend(found.iter().filter_map(|fields| fields.get("order_id").and_then(Json::as_str).map(str::to_string)));
        }
        events.extend(found.into_iter().map(|fields| CustomerEvent { kind, fields }));
    }
    let time = |event: &CustomerEvent| event.fields.get("time").and_then(Json::as_str).map(str::to_string).unwrap_or_default();
    events.sort_by_key(time);
    Ok(events)
}

/// One row of a record batch as a JSON object (nulls left out).
pub fn row_json(batch: &RecordBatch, row: usize) -> serde_json::Map<String, Json> {
    use arrow::datatypes::{DataType, TimestampSecondType, UInt64Type};
    let mut fields = serde_json::Map::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if column.is_null(row) {
            continue;
        }
        let value = match column.data_type() {
            DataType::Utf8 => Json::from(column.as_string::<i32>().value(row)),
            DataType::LargeUtf8 => Json::from(column.as_string::<i64>().value(row)),
            DataType::Float64 => {
                let value = column.as_primitive::<Float64Type>().value(row);
                if value.is_finite() { Json::from(value) } else { continue }
            }
            DataType::UInt64 => Json::from(column.as_primitive::<UInt64Type>().value(row)),
            DataType::Int64 => Json::from(column.as_primitive::<arrow::datatypes::Int64Type>().value(row)),
            DataType::UInt32 => Json::from(column.as_primitive::<arrow::datatypes::UInt32Type>().value(row)),
            DataType::Int32 => Json::from(column.as_primitive::<arrow::datatypes::Int32Type>().value(row)),
            DataType::Boolean => Json::from(column.as_boolean().value(row)),
            DataType::Timestamp(arrow::datatypes::TimeUnit::Second, _) => {
                let seconds = column.as_primitive::<TimestampSecondType>().value(row);
                match chrono::DateTime::from_timestamp(seconds, 0) {
                    Some(time) => Json::from(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    None => continue,
                }
            }
            _ => match arrow::util::display::array_value_to_string(column, row) {
                Ok(text) => Json::from(text),
                Err(_) => continue,
            },
        };
        fields.insert(field.name().clone(), value);
    }
    fields
}

/// A column of a results table as numbers, whatever its stored type (counts are
/// unsigned integers, measures floats); `None` when absent or not numeric.
pub fn number_column(batch: &RecordBatch, name: &str) -> Option<arrow::array::Float64Array> {
    let column = batch.column_by_name(name)?;
    if !column.data_type().is_numeric() {
        return None;
    }
    let cast = arrow::compute::cast(column, &arrow::datatypes::DataType::Float64).ok()?;
    Some(cast.as_primitive::<Float64Type>().clone())
}

/// A column of a results table as text (ids are stored as large strings); `None` when
/// absent.
pub fn text_column(batch: &RecordBatch, name: &str) -> Option<arrow::array::StringArray> {
    let column = batch.column_by_name(name)?;
    let cast = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8).ok()?;
    Some(cast.as_string::<i32>().clone())
}

/// The rows of the customer table in one cell of the Customer Matrix.
pub fn cell_members(customers: &RecordBatch, longevity: u32, strength: u32) -> Vec<usize> {
    let column = |name: &str| number_column(customers, name);
    let (Some(longevity_band), Some(strength_band)) = (column("longevity_band"), column("strength_band")) else { return Vec::new() };
    (0..customers.num_rows())
        .filter(|&row| {
            longevity_band.is_valid(row)
                && strength_band.is_valid(row)
                && longevity_band.value(row) == f64::from(longevity)
                && strength_band.value(row) == f64::from(strength)
        })
        .collect()
}

/// The rows of the customer table in a segment, as the run's `segments` table names it:
/// kind `rfm` (the `segment` column), `cluster` (`cluster N`: the `cluster` column) or
/// `user` (the segment's own true/false column). `None` when there is no such segment.
pub fn segment_members(customers: &RecordBatch, kind: &str, name: &str) -> Option<Vec<usize>> {
    let rows = 0..customers.num_rows();
    match kind {
        "rfm" => {
            let segment = text_column(customers, "segment")?;
            let members: Vec<usize> = rows.filter(|&row| segment.is_valid(row) && segment.value(row) == name).collect();
            Some(members)
        }
        "cluster" => {
            let number: f64 = name.strip_prefix("cluster ")?.parse().ok()?;
            let cluster = number_column(customers, "cluster")?;
            Some(rows.filter(|&row| cluster.is_valid(row) && cluster.value(row) == number).collect())
        }
        "user" => {
            let flags = customers.column_by_name(name)?.as_boolean_opt()?;
            Some(rows.filter(|&row| flags.is_valid(row) && flags.value(row)).collect())
        }
        _ => None,
    }
}

/// The run as someone who may not see personal data sees it: agents' names in the
/// `service` table replaced by `agent 1`, `agent 2`, … (in the table's order; `(no
/// reply)` kept), and the
/// complaint messages (customers' own texts) left out. Everything else in a run is
/// aggregates, scores and ids.
pub fn without_personal_data(view: &RunView) -> RunView {
    let mut redacted = view.clone();
    redacted.tables.remove("complaint_messages");
    // Left out unless it can be rewritten.
    redacted.tables.remove("service");
    if let Some(service) = view.tables.get("service")
        && let (Some(dimension), Some(value), Ok(index)) =
            (text_column(service, "dimension"), text_column(service, "value"), service.schema().index_of("value"))
    {
        let mut agents = 0;
        let values: arrow::array::StringArray = (0..service.num_rows())
            .map(|row| {
                // `(no reply)` names nobody: conversations no agent answered.
                if dimension.is_valid(row) && dimension.value(row) == "agent" && value.is_valid(row) && value.value(row) != "(no reply)" {
                    agents += 1;
                    Some(format!("agent {agents}"))
                } else {
                    value.is_valid(row).then(|| value.value(row).to_string())
                }
            })
            .collect();
        let mut columns = service.columns().to_vec();
        if let Ok(cast) = arrow::compute::cast(&values, service.column(index).data_type()) {
            columns[index] = cast;
            if let Ok(batch) = RecordBatch::try_new(service.schema(), columns) {
                redacted.tables.insert("service".into(), batch);
            }
        }
    }
    redacted
}
