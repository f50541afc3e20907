//! Plain result tables and their writers: CSV, JSON, Parquet and a terminal table.
//!
//! Every result Rapport prints is a [`Table`] so that all commands share one set of
//! output formats (`--format table|csv|json|parquet`).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value as Json};

use rayon::prelude::*;

use crate::EngineError;

const CSV_CHUNK_ROWS: usize = 16_384;

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Text.
    Text(Vec<String>),
    /// Whole numbers.
    Count(Vec<u64>),
    /// Real numbers.
    Float(Vec<f64>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Text(values) => values.len(),
            Column::Count(values) => values.len(),
            Column::Float(values) => values.len(),
        }
    }

    fn text(&self, row: usize) -> String {
        match self {
            Column::Text(values) => values[row].clone(),
            Column::Count(values) => values[row].to_string(),
            Column::Float(values) => format_float(values[row]),
        }
    }

    fn json(&self, row: usize) -> Json {
        match self {
            Column::Text(values) => Json::String(values[row].clone()),
            Column::Count(values) => Json::from(values[row]),
            Column::Float(values) => serde_json::Number::from_f64(values[row]).map_or(Json::Null, Json::Number),
        }
    }
}

/// Shortest text that reads back as the same float; integers without a fraction.
pub fn format_float(value: f64) -> String {
    if value.is_finite() { format!("{value}") } else { String::new() }
}

/// A named set of equally long columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// (name, values) in display order.
    pub columns: Vec<(String, Column)>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for a terminal.
    Table,
    /// RFC 4180 CSV with a header.
    Csv,
    /// A JSON array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (needs a file).
    Parquet,
}

impl Table {
    /// Add a column.
    pub fn push(&mut self, name: &str, column: Column) {
        self.columns.push((name.to_string(), column));
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, column)| column.len())
    }

    /// The rows as JSON objects.
    pub fn to_json_rows(&self) -> Vec<Json> {
        (0..self.rows())
            .map(|row| Json::Object(self.columns.iter().map(|(name, column)| (name.clone(), column.json(row))).collect::<Map<_, _>>()))
            .collect()
    }

    /// Write in `format` to `out` (Parquet needs [`Table::write_parquet`]).
    pub fn write(&self, format: OutputFormat, out: &mut dyn Write) -> std::io::Result<()> {
        match format {
            OutputFormat::Csv => {
                let mut writer = csv::Writer::from_writer(&mut *out);
                writer.write_record(self.columns.iter().map(|(name, _)| name))?;
                writer.flush()?;
                drop(writer);
                // Rows are formatted in parallel chunks and written in order: formatting
                // floats is most of the cost of a million-row summary.
                let chunks: Vec<std::io::Result<Vec<u8>>> = (0..self.rows())
                    .step_by(CSV_CHUNK_ROWS)
                    .collect::<Vec<_>>()
                    .into_par_iter()
                    .map(|start| {
                        let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::with_capacity(CSV_CHUNK_ROWS * 48));
                        for row in start..(start + CSV_CHUNK_ROWS).min(self.rows()) {
                            writer.write_record(self.columns.iter().map(|(_, column)| column.text(row)))?;
                        }
                        writer.into_inner().map_err(|error| error.into_error())
                    })
                    .collect();
                for chunk in chunks {
                    out.write_all(&chunk?)?;
                }
                Ok(())
            }
            OutputFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, &self.to_json_rows())?;
                writeln!(out)
            }
            OutputFormat::Jsonl => {
                for row in self.to_json_rows() {
                    serde_json::to_writer(&mut *out, &row)?;
                    writeln!(out)?;
                }
                Ok(())
            }
            OutputFormat::Table => self.write_aligned(out, 40),
            OutputFormat::Parquet => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "Parquet output needs --output FILE")),
        }
    }

    /// Aligned text, at most `limit` rows, floats to 4 decimals.
    pub fn write_aligned(&self, out: &mut dyn Write, limit: usize) -> std::io::Result<()> {
        let shown = self.rows().min(limit);
        let cells: Vec<Vec<String>> = self
            .columns
            .iter()
            .map(|(name, column)| {
                std::iter::once(name.clone())
                    .chain((0..shown).map(|row| match column {
                        Column::Float(values) => format!("{:.4}", values[row]),
                        other => other.text(row),
                    }))
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = cells.iter().map(|column| column.iter().map(|cell| cell.chars().count()).max().unwrap_or(0)).collect();
        for row in 0..=shown {
            let line: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(
                    |(index, (column, width))| {
                        if index == 0 { format!("{:<width$}", column[row]) } else { format!("{:>width$}", column[row]) }
                    },
                )
                .collect();
            writeln!(out, "{}", line.join("  ").trim_end())?;
        }
        if self.rows() > shown {
            writeln!(out, "… {} more rows (use --format csv or --output FILE for all)", self.rows() - shown)?;
        }
        Ok(())
    }

    /// Write as Parquet to `path`.
    pub fn write_parquet(&self, path: &Path) -> Result<(), EngineError> {
        let internal = |error: &dyn std::fmt::Display| EngineError::Internal(format!("writing Parquet: {error}"));
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|(name, column)| {
                let data_type = match column {
                    Column::Text(_) => DataType::Utf8,
                    Column::Count(_) => DataType::UInt64,
                    Column::Float(_) => DataType::Float64,
                };
                Field::new(name, data_type, false)
            })
            .collect();
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|(_, column)| -> ArrayRef {
                match column {
                    Column::Text(values) => Arc::new(StringArray::from_iter_values(values)),
                    Column::Count(values) => Arc::new(UInt64Array::from(values.clone())),
                    Column::Float(values) => Arc::new(Float64Array::from(values.clone())),
                }
            })
            .collect();
        let schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|error| internal(&error))?;
        let file = File::create(path).map_err(|source| EngineError::Output { target: path.display().to_string(), source })?;
        let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let mut writer = ArrowWriter::try_new(file, schema, Some(properties)).map_err(|error| internal(&error))?;
        writer.write(&batch).map_err(|error| internal(&error))?;
        writer.close().map_err(|error| internal(&error))?;
        Ok(())
    }
}
