//! `rapport sql`: SQL over the workspace's published event tables and its results runs
//! (see `rapport_sql` for the tables offered and their names).
//!
//! Built only with the `sql` feature (Apache DataFusion); without it both requests answer
//! [`EngineError::NotBuiltIn`], so front ends need no feature switches of their own.

use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;

use crate::EngineError;

/// A query over a workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlRequest {
    /// The workspace.
    pub workspace: PathBuf,
    /// One SQL statement.
    pub query: String,
    /// Bytes the query's operators may hold before they spill to the system's temporary
    /// directory (`None`: [`crate::summary::default_memory_limit`]); see
    /// [`crate::summary::Engine::with_memory_limit`].
    pub memory_limit: Option<u64>,
}

/// A table a query can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Its name in SQL.
    pub name: String,
    /// Where it comes from: `events` or `results <run id>`.
    pub origin: String,
    /// The Parquet files it reads.
    pub files: usize,
}

/// Whether this build answers SQL.
pub const AVAILABLE: bool = cfg!(feature = "sql");

/// Run the query and return its rows as one record batch.
pub fn sql(request: &SqlRequest) -> Result<RecordBatch, EngineError> {
    #[cfg(feature = "sql")]
    {
        let engine = crate::summary::Engine::DATAFUSION.with_memory_limit(request.memory_limit)?;
        let session = engine.session(&request.workspace)?;
        let (schema, batches) = session.query(&request.query)?;
        arrow::compute::concat_batches(&schema, &batches).map_err(|error| EngineError::Internal(error.to_string()))
    }
    #[cfg(not(feature = "sql"))]
    {
        let _ = request;
        Err(not_built_in())
    }
}

/// The tables a query over the workspace can name.
pub fn tables(workspace: &Path) -> Result<Vec<TableInfo>, EngineError> {
    #[cfg(feature = "sql")]
    {
        let session = rapport_sql::Session::open(workspace)?;
        Ok(session
            .tables()
            .iter()
            .map(|table| TableInfo { name: table.name.clone(), origin: table.origin.clone(), files: table.files })
            .collect())
    }
    #[cfg(not(feature = "sql"))]
    {
        let _ = workspace;
        Err(not_built_in())
    }
}

pub use rapport_store::runs::sql_table_name as run_table_name;

#[cfg(not(feature = "sql"))]
fn not_built_in() -> EngineError {
    EngineError::NotBuiltIn { feature: "sql", what: "`rapport sql`" }
}
