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

    /// Append the cell as a CSV field (RFC 4180: quoted only when it holds a delimiter,
    /// a quote or a line end), with no allocation per cell.
    fn write_csv(&self, row: usize, out: &mut Vec<u8>) {
        match self {
            Column::Text(values) => {
                let text = values[row].as_bytes();
                if text.iter().any(|byte| matches!(byte, b',' | b'"' | b'\n' | b'\r')) {
                    out.push(b'"');
                    for &byte in text {
                        if byte == b'"' {
                            out.push(b'"');
                        }
                        out.push(byte);
                    }
                    out.push(b'"');
                } else {
                    out.extend_from_slice(text);
                }
            }
            Column::Count(values) => out.extend_from_slice(itoa_u64(values[row], &mut [0u8; 20])),
            Column::Float(values) => push_float(values[row], out),
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

/// Append [`format_float`]'s text without allocating. Written by hand for speed: a
/// million-row summary has three million floats. Integral values print as integers and
/// the rest through `ryu` (the same shortest round-trip digits as `Display`) in the range
/// where `ryu` uses plain decimal notation; anything else goes through `Display`. A
/// property test checks the result against `format_float`.
fn push_float(value: f64, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let magnitude = value.abs();
    if value.fract() == 0.0 && magnitude < 1e15 && !(value == 0.0 && value.is_sign_negative()) {
        if value < 0.0 {
            out.push(b'-');
        }
        out.extend_from_slice(itoa_u64(magnitude as u64, &mut [0u8; 20]));
    } else if (1e-5..1e15).contains(&magnitude) {
        out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
    } else if value.is_finite() {
        let _ = write!(out, "{value}");
    }
}

/// Decimal digits of `value`, written into the end of `buffer`.
fn itoa_u64(mut value: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &buffer[start..]
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
                let chunks: Vec<Vec<u8>> = (0..self.rows())
                    .step_by(CSV_CHUNK_ROWS)
                    .collect::<Vec<_>>()
                    .into_par_iter()
                    .map(|start| {
                        let mut chunk = Vec::with_capacity(CSV_CHUNK_ROWS * 48);
                        for row in start..(start + CSV_CHUNK_ROWS).min(self.rows()) {
                            for (index, (_, column)) in self.columns.iter().enumerate() {
                                if index > 0 {
                                    chunk.push(b',');
                                }
                                column.write_csv(row, &mut chunk);
                            }
                            if self.columns.len() == 1 && chunk.last().is_none_or(|&byte| byte == b'\n') {
                                chunk.extend_from_slice(b"\"\""); // a lone empty field, as the csv crate writes it
                            }
                            chunk.push(b'\n');
                        }
                        chunk
                    })
                    .collect();
                for chunk in chunks {
                    out.write_all(&chunk)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn csv_crate(table: &Table) -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(table.columns.iter().map(|(name, _)| name)).expect("header");
        for row in 0..table.rows() {
            writer.write_record(table.columns.iter().map(|(_, column)| column.text(row))).expect("row");
        }
        writer.into_inner().expect("flush")
    }

    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            (-1_000_000i64..1_000_000, 1i64..1000).prop_map(|(a, b)| a as f64 / b as f64),
            (-1e20f64..1e20),
            Just(-0.0),
            Just(1e15),
            Just(1e-5),
            Just(0.1 + 0.2),
        ]
    }

    proptest! {
        /// The hand-written float text equals `Display` (what `format_float` returns).
        #[test]
        fn push_float_matches_display(value in float()) {
            let mut out = Vec::new();
            push_float(value, &mut out);
            prop_assert_eq!(String::from_utf8(out).expect("utf8"), format_float(value));
        }

        /// The hand-written CSV writer equals the csv crate's, quoting included.
        #[test]
        fn csv_matches_the_csv_crate(
            texts in prop::collection::vec("[a-z,\" \n\r0-9]{0,6}", 0..20),
            columns in 1usize..4,
            seed in any::<u64>(),
        ) {
            let rows = texts.len();
            let mut table = Table::default();
            table.push("id", Column::Text(texts));
            if columns > 1 {
                table.push("count", Column::Count((0..rows as u64).map(|row| row.wrapping_mul(seed) >> 20).collect()));
            }
            if columns > 2 {
                table.push("value", Column::Float((0..rows).map(|row| (row as f64 - 7.5) * (seed % 1000) as f64 / 64.0).collect()));
            }
            let mut mine = Vec::new();
            table.write(OutputFormat::Csv, &mut mine).expect("write");
            let theirs = csv_crate(&table);
            prop_assert_eq!(String::from_utf8_lossy(&mine), String::from_utf8_lossy(&theirs));
        }
    }
}
