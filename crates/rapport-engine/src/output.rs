//! Writing results: every table a front end prints or saves goes through here, in one
//! set of formats.

use std::io::Write;
use std::path::Path;

pub use arrow::array::{Array, AsArray, RecordBatch};
pub use arrow::datatypes::{Float64Type, UInt64Type};
pub use rapport_store::output::{OutputFormat, TableBuilder, format_float, json_rows, write_aligned};

use crate::EngineError;

/// Write `batch` in `format` to the file `path`, or to `standard_output` when there is
/// none (Parquet needs a file).
pub fn write(batch: &RecordBatch, format: OutputFormat, path: Option<&Path>, standard_output: &mut dyn Write) -> Result<(), EngineError> {
    match (format, path) {
        (OutputFormat::Parquet, Some(path)) => Ok(rapport_store::output::write_parquet(batch, path)?),
        (OutputFormat::Parquet, None) => Err(EngineError::OutputFileNeeded),
        (format, Some(path)) => {
            let file = std::fs::File::create(path).map_err(EngineError::write(path.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            rapport_store::output::write(batch, format, &mut writer)
                .and_then(|()| writer.flush())
                .map_err(EngineError::write(path.display()))
        }
        (format, None) => {
            let mut writer = std::io::BufWriter::with_capacity(1 << 20, standard_output);
            rapport_store::output::write(batch, format, &mut writer)
                .and_then(|()| writer.flush())
                .map_err(EngineError::write("standard output"))
        }
    }
}

/// Rejected rows as a table: `file, line, column, value, expected`.
pub fn rejects_table(rejected: &[rapport_store::input::Rejected]) -> Result<RecordBatch, EngineError> {
    Ok(rapport_store::workspace::rejects_table(rejected)?)
}
