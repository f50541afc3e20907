//! PostgreSQL for the data engineer: events read from a table or query, and a results
//! run's customer table written back (upserted by customer id) for the CRM.
//!
//! Events from PostgreSQL take the same road as a CSV file: the rows are copied out as
//! CSV into a temporary file (in the system's temporary directory, removed afterwards)
//! and ingested with the same mapping, validation, quarantine and de-duplication; the
//! batch and its rejects are recorded under the server and table (never the password),
//! and a rejected row's line is its line in that CSV copy (the header is line 1; a text
//! with line breaks spans several).

use std::path::PathBuf;

use arrow::record_batch::RecordBatch;
use rapport_postgres::Connection;
use rapport_store::input::{Delimiter, InputFormat};
use rapport_store::workspace::{IngestReport, Workspace};

use crate::EngineError;
use crate::workspace::IngestRequest;

pub use rapport_postgres::{Relation, UpsertReport, redacted};

/// Where events come from in PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSource {
    /// Connection string: `postgres://user:password@host:port/database` or
    /// `host=… user=… dbname=…`.
    pub connection: String,
    /// The table or query.
    pub relation: Relation,
}

impl PostgresSource {
    /// How the source is named in reports, the manifest and the quarantine.
    pub fn label(&self) -> String {
        let server = rapport_postgres::redacted(&self.connection);
        match &self.relation {
            Relation::Table(name) => format!("{server} table {name}"),
            Relation::Query(_) => format!("{server} query"),
        }
    }
}

/// Ingest the rows of `source` as `request` says (its `input.path` is not read; its
/// time format and number format are).
pub fn ingest_postgres(request: &IngestRequest, source: &PostgresSource) -> Result<IngestReport, EngineError> {
    // Refuse a wrong workspace before connecting.
    Workspace::open(&request.workspace)?;
    let mut connection = Connection::open(&source.connection)?;
    let copy = tempfile::Builder::new()
        .prefix("rapport-postgres-")
        .suffix(".csv")
        .tempfile()
        .map_err(|source| EngineError::Write { target: std::env::temp_dir().display().to_string(), source })?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, copy.as_file());
        connection.copy_out(&source.relation, &mut out)?;
        std::io::Write::flush(&mut out).map_err(|error| EngineError::Write { target: copy.path().display().to_string(), source: error })?;
    }
    let mut request = request.clone();
    request.input.path = PathBuf::from(copy.path());
    request.input.format = InputFormat::Delimited;
    request.input.delimiter = Delimiter::Byte(b',');
    request.input.columns = None;
    crate::workspace::ingest_labelled(&request, Some(source.label()))
}

/// Write a results run's customer table into a PostgreSQL table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    /// The workspace.
    pub workspace: PathBuf,
    /// The run (default: the latest).
    pub run: Option<String>,
    /// Connection string.
    pub connection: String,
    /// The table to write (created when missing; `schema.table` allowed).
    pub table: String,
    /// Columns to write (default: all); the key is always written.
    pub columns: Option<Vec<String>>,
}

/// The key the customer table is upserted by.
pub const KEY: &str = "customer_id";

/// Upsert the run's customer table into the PostgreSQL table: rows of customers already
/// there are updated, new ones inserted, in one transaction.
pub fn export_postgres(request: &ExportRequest) -> Result<UpsertReport, EngineError> {
    let workspace = Workspace::open(&request.workspace)?;
    let run = workspace.run(request.run.as_deref())?;
    let path = workspace.run_directory(&run.id).join("customers.parquet");
    let table = rapport_store::input::read_parquet_file(&path)?;
    let table = select_columns(table, request.columns.as_deref())?;
    let mut connection = Connection::open(&request.connection)?;
    Ok(connection.upsert(&request.table, KEY, &table)?)
}

fn select_columns(table: RecordBatch, columns: Option<&[String]>) -> Result<RecordBatch, EngineError> {
    let Some(columns) = columns else { return Ok(table) };
    let schema = table.schema();
    let mut indexes = vec![schema.index_of(KEY).map_err(|_| EngineError::Request(format!("the customer table has no {KEY} column")))?];
    for column in columns {
        let index = schema.index_of(column).map_err(|_| {
            let names: Vec<&str> = schema.fields().iter().map(|field| field.name().as_str()).collect();
            EngineError::Request(format!("the customer table has no column {column:?}; it has {}", names.join(", ")))
        })?;
        if !indexes.contains(&index) {
            indexes.push(index);
        }
    }
    table.project(&indexes).map_err(|error| EngineError::Internal(error.to_string()))
}
