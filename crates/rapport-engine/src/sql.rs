//! `rapport sql`: SQL over the workspace's published event tables and its results runs
//! (see [`rapport_sql`] for the tables offered and their names).

use std::path::PathBuf;

use arrow::record_batch::RecordBatch;

use crate::EngineError;

pub use rapport_sql::{TableInfo, run_table_name};

/// A query over a workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlRequest {
    /// The workspace.
    pub workspace: PathBuf,
    /// One SQL statement.
    pub query: String,
}

/// Run the query and return its rows as one record batch.
pub fn sql(request: &SqlRequest) -> Result<RecordBatch, EngineError> {
    let session = rapport_sql::Session::open(&request.workspace)?;
    let (schema, batches) = session.query(&request.query)?;
    arrow::compute::concat_batches(&schema, &batches).map_err(|error| EngineError::Internal(error.to_string()))
}

/// The tables a query over the workspace can name.
pub fn tables(workspace: &std::path::Path) -> Result<Vec<TableInfo>, EngineError> {
    Ok(rapport_sql::Session::open(workspace)?.tables().to_vec())
}
