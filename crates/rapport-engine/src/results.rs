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

/// An `analyze` run, whole.
#[derive(Debug)]
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
    // The analysis before this one (by id, which is the start time), for migration.
    let before = analyses.iter().rev().find(|earlier| earlier.id < run.id).map(|earlier| earlier.id.clone());
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
