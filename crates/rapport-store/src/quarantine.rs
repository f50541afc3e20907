//! The quarantine: rows an ingest rejected, kept whole with where and why, so that they
//! can be listed, corrected and ingested again.
//!
//! Each published batch with rejected rows has `quarantine/<batch>-<kind>.csv` with the
//! columns `file, line, column, value, expected, row`: `row` is the row exactly as it
//! was in the input (a quoted record over several lines included; for Parquet input,
//! its mapped columns as a JSON object). The input's header line is in the manifest, so
//! [`Workspace::export_quarantine`] writes a file in the input's own layout: correct it
//! and ingest it with the same command.

use std::io::Write;

use rapport_core::event::EventKind;
use serde::Serialize;

use crate::StoreError;
use crate::input::Rejected;
use crate::workspace::{Batch, Workspace};

/// One quarantined row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedRow {
    /// The batch that rejected it.
    pub batch: u64,
    /// Its kind.
    pub kind: EventKind,
    /// Where and why.
    pub rejected: Rejected,
    /// The row as written in the input (`None` in files quarantined before whole rows
    /// were kept).
    pub row: Option<String>,
}

/// A quarantined row and its bytes as written (`None` in files quarantined before whole
/// rows were kept).
type RowWithBytes = (QuarantinedRow, Option<Vec<u8>>);

impl Workspace {
    /// The batches that quarantined rows, optionally only one batch or one kind.
    pub fn quarantine_batches(&self, batch: Option<u64>, kind: Option<EventKind>) -> Result<Vec<&Batch>, StoreError> {
        if let Some(id) = batch
            && !self.batches().iter().any(|candidate| candidate.id == id)
        {
            return Err(StoreError::Invalid(rapport_core::CoreError::InvalidOption {
                option: "batch",
                reason: format!("there is no batch {id} in this workspace; rapport quarantine list shows the batches with rejected rows"),
            }));
        }
        Ok(self
            .batches()
            .iter()
            .filter(|candidate| candidate.quarantine_file.is_some())
            .filter(|candidate| batch.is_none_or(|id| candidate.id == id))
            .filter(|candidate| kind.is_none_or(|kind| candidate.kind == kind))
            .collect())
    }

    /// The quarantined rows of the selected batches, in batch and line order.
    pub fn quarantined(&self, batch: Option<u64>, kind: Option<EventKind>) -> Result<Vec<QuarantinedRow>, StoreError> {
        Ok(self.quarantined_bytes(batch, kind)?.into_iter().map(|(row, _)| row).collect())
    }

    /// [`Workspace::quarantined`], each row with its bytes as written (the row shown is
    /// read as UTF-8, a byte that is not shown as �).
    fn quarantined_bytes(&self, batch: Option<u64>, kind: Option<EventKind>) -> Result<Vec<RowWithBytes>, StoreError> {
        let mut rows = Vec::new();
        for batch in self.quarantine_batches(batch, kind)? {
            let Some(file) = &batch.quarantine_file else { continue };
            let path = self.root().join(file);
            let mut reader = csv::ReaderBuilder::new().from_path(&path).map_err(|error| csv_error(&path, error))?;
            let headers = reader.headers().map_err(|error| csv_error(&path, error))?.clone();
            let position = |name: &str| headers.iter().position(|header| header == name);
            let columns = ["file", "line", "column", "value", "expected"].map(position);
            let row_column = position("row");
            for record in reader.byte_records() {
                let record = record.map_err(|error| csv_error(&path, error))?;
                let field = |index: Option<usize>| {
                    String::from_utf8_lossy(index.and_then(|index| record.get(index)).unwrap_or_default()).into_owned()
                };
                let bytes = row_column.map(|index| record.get(index).unwrap_or_default().to_vec());
                rows.push((
                    QuarantinedRow {
                        batch: batch.id,
                        kind: batch.kind,
                        rejected: Rejected {
                            file: field(columns[0]),
                            line: field(columns[1]).parse().unwrap_or(0),
                            column: field(columns[2]),
                            value: field(columns[3]),
                            expected: field(columns[4]),
                        },
                        row: bytes.as_deref().map(|bytes| String::from_utf8_lossy(bytes).into_owned()),
                    },
                    bytes,
                ));
            }
        }
        Ok(rows)
    }

    /// Write the quarantined rows of the selected batches in their input's own layout:
    /// the header line, then each row as it was written (JSON Lines and Parquet input:
    /// one JSON object per line). Returns the rows written. The batches must share a
    /// layout and header (one export per source layout).
    pub fn export_quarantine(&self, batch: Option<u64>, kind: Option<EventKind>, out: &mut dyn Write) -> Result<u64, StoreError> {
        let batches = self.quarantine_batches(batch, kind)?;
        let Some(first) = batches.first() else { return Ok(0) };
        let layout = |batch: &Batch| (batch.source_format.clone(), batch.header.clone());
        if let Some(other) = batches.iter().find(|other| layout(other) != layout(first)) {
            return Err(StoreError::Invalid(rapport_core::CoreError::InvalidOption {
                option: "batch",
                reason: format!(
                    "batches {} and {} came from files with different columns; export one at a time with --batch",
                    first.id, other.id
                ),
            }));
        }
        let rows = self.quarantined_bytes(batch, kind)?;
        if let Some((missing, _)) = rows.iter().find(|(_, bytes)| bytes.is_none()) {
            return Err(StoreError::Invalid(rapport_core::CoreError::InvalidOption {
                option: "batch",
                reason: format!(
                    "batch {} was quarantined by an older Rapport that kept only the rejected value, not the row; re-ingest its source {:?} instead",
                    missing.batch, missing.rejected.file
                ),
            }));
        }
        let write_error = |error: std::io::Error| StoreError::Internal(format!("writing the export: {error}"));
        if let Some(header) = &first.header {
            writeln!(out, "{header}").map_err(write_error)?;
        }
        for (_, bytes) in &rows {
            out.write_all(bytes.as_deref().unwrap_or_default()).map_err(write_error)?;
            out.write_all(b"\n").map_err(write_error)?;
        }
        Ok(rows.len() as u64)
    }
}

fn csv_error(path: &std::path::Path, error: csv::Error) -> StoreError {
    StoreError::Format { path: path.to_path_buf(), message: format!("reading the quarantine file: {error}") }
}
