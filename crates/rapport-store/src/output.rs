//! Writers of result tables: CSV, JSON, JSON Lines, Parquet and aligned text, over Arrow
//! record batches — the one set of writers every command, the reports and the
//! workspace's quarantine use.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema, UInt32Type, UInt64Type};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;
use serde_json::{Map, Value as Json};

use crate::StoreError;

/// Rows formatted per parallel task when writing CSV.
const CSV_CHUNK_ROWS: usize = 16_384;

/// Output formats of result tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned columns for a terminal (the first rows only).
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

/// A small table built column by column, for results that are not customer tables
/// (counts, fitted parameters, tracking points).
#[derive(Debug, Default)]
pub struct TableBuilder {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl TableBuilder {
    /// A text column.
    pub fn text<S: AsRef<str>>(mut self, name: &str, values: impl IntoIterator<Item = S>) -> Self {
        self.fields.push(Field::new(name, DataType::Utf8, false));
        self.columns.push(Arc::new(StringArray::from_iter_values(values)));
        self
    }

    /// A whole-number column.
    pub fn count(mut self, name: &str, values: impl IntoIterator<Item = u64>) -> Self {
        self.fields.push(Field::new(name, DataType::UInt64, false));
        self.columns.push(Arc::new(UInt64Array::from_iter_values(values)));
        self
    }

    /// A real-number column.
    pub fn float(mut self, name: &str, values: impl IntoIterator<Item = f64>) -> Self {
        self.fields.push(Field::new(name, DataType::Float64, false));
        self.columns.push(Arc::new(Float64Array::from_iter_values(values)));
        self
    }

    /// The record batch.
    pub fn build(self) -> Result<RecordBatch, StoreError> {
        Ok(RecordBatch::try_new(Arc::new(Schema::new(self.fields)), self.columns)?)
    }
}

/// One column, read cell by cell in the types Rapport writes.
enum Cells<'a> {
    Text32(&'a arrow::array::StringArray),
    Text64(&'a arrow::array::LargeStringArray),
    Float(&'a [f64]),
    Unsigned(Vec<u64>),
    Signed(Vec<i64>),
    Boolean(&'a arrow::array::BooleanArray),
    /// Anything else, through Arrow's display.
    Other(Vec<String>),
    /// A column with nulls: empty in text, `null` in JSON.
    Masked(Box<Cells<'a>>, arrow::buffer::NullBuffer),
}

impl<'a> Cells<'a> {
    fn of(array: &'a ArrayRef) -> Cells<'a> {
        let cells = Cells::unmasked_of(array);
        match array.logical_nulls() {
            Some(nulls) if nulls.null_count() > 0 => Cells::Masked(Box::new(cells), nulls),
            _ => cells,
        }
    }

    /// The values, nulls aside.
    fn values(&self) -> &Cells<'a> {
        match self {
            Cells::Masked(cells, _) => cells,
            cells => cells,
        }
    }

    fn is_null(&self, row: usize) -> bool {
        matches!(self, Cells::Masked(_, nulls) if nulls.is_null(row))
    }

    fn unmasked_of(array: &'a ArrayRef) -> Cells<'a> {
        match array.data_type() {
            DataType::Utf8 => Cells::Text32(array.as_string::<i32>()),
            DataType::LargeUtf8 => Cells::Text64(array.as_string::<i64>()),
            DataType::Float64 => Cells::Float(array.as_primitive::<Float64Type>().values()),
            DataType::UInt64 => Cells::Unsigned(array.as_primitive::<UInt64Type>().values().to_vec()),
            DataType::UInt32 => {
                Cells::Unsigned(array.as_primitive::<UInt32Type>().values().iter().map(|&value| u64::from(value)).collect())
            }
            DataType::Int64 => Cells::Signed(array.as_primitive::<Int64Type>().values().to_vec()),
            DataType::Int32 => Cells::Signed(array.as_primitive::<Int32Type>().values().iter().map(|&value| i64::from(value)).collect()),
            DataType::Boolean => Cells::Boolean(array.as_boolean()),
            _ => {
                let options = arrow::util::display::FormatOptions::default();
                match arrow::util::display::ArrayFormatter::try_new(array.as_ref(), &options) {
                    Ok(formatter) => Cells::Other((0..array.len()).map(|row| formatter.value(row).to_string()).collect()),
                    Err(_) => Cells::Other(vec![String::new(); array.len()]),
                }
            }
        }
    }

    fn text(&self, row: usize) -> Option<&str> {
        match self {
            Cells::Masked(_, nulls) if nulls.is_null(row) => Some(""),
            Cells::Masked(cells, _) => cells.text(row),
            Cells::Text32(values) => Some(values.value(row)),
            Cells::Text64(values) => Some(values.value(row)),
            Cells::Other(values) => Some(&values[row]),
            _ => None,
        }
    }

    /// The cell as display text (floats: shortest round-trip digits, nothing if not finite).
    fn display(&self, row: usize) -> String {
        match self {
            Cells::Masked(_, nulls) if nulls.is_null(row) => String::new(),
            Cells::Masked(cells, _) => cells.display(row),
            Cells::Float(values) => format_float(values[row]),
            Cells::Unsigned(values) => values[row].to_string(),
            Cells::Signed(values) => values[row].to_string(),
            Cells::Boolean(values) => values.value(row).to_string(),
            other => other.text(row).unwrap_or_default().to_string(),
        }
    }

    /// Append the cell as a CSV field (RFC 4180: quoted only when it holds a delimiter,
    /// a quote or a line end), with no allocation for numbers.
    fn write_csv(&self, row: usize, out: &mut Vec<u8>) {
        match self {
            Cells::Masked(_, nulls) if nulls.is_null(row) => {}
            Cells::Masked(cells, _) => cells.write_csv(row, out),
            Cells::Float(values) => push_float(values[row], out),
            Cells::Unsigned(values) => out.extend_from_slice(itoa_u64(values[row], &mut [0u8; 20])),
            Cells::Signed(values) => {
                if values[row] < 0 {
                    out.push(b'-');
                }
                out.extend_from_slice(itoa_u64(values[row].unsigned_abs(), &mut [0u8; 20]));
            }
            Cells::Boolean(values) => out.extend_from_slice(if values.value(row) { b"true" } else { b"false" }),
            text => {
                let text = text.text(row).unwrap_or_default().as_bytes();
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
        }
    }

    fn json(&self, row: usize) -> Json {
        match self {
            Cells::Masked(_, nulls) if nulls.is_null(row) => Json::Null,
            Cells::Masked(cells, _) => cells.json(row),
            // Whole numbers print as integers, as in CSV (`2`, not `2.0`; exact below 2^53).
            Cells::Float(values) if values[row].fract() == 0.0 && values[row].abs() < 9.007_199_254_740_992e15 => {
                Json::from(values[row] as i64)
            }
            Cells::Float(values) => serde_json::Number::from_f64(values[row]).map_or(Json::Null, Json::Number),
            Cells::Unsigned(values) => Json::from(values[row]),
            Cells::Signed(values) => Json::from(values[row]),
            Cells::Boolean(values) => Json::Bool(values.value(row)),
            text => Json::String(text.text(row).unwrap_or_default().to_string()),
        }
    }
}

/// Shortest text that reads back as the same float; integers without a fraction; nothing
/// for NaN and infinities.
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

/// Write the rows of `batch` as CSV (no header); rows are formatted in parallel chunks and
/// written in order (formatting floats is most of the cost of a million-row summary).
pub fn write_csv_rows(batch: &RecordBatch, out: &mut dyn Write) -> std::io::Result<()> {
    let cells: Vec<Cells> = batch.columns().iter().map(Cells::of).collect();
    let rows = batch.num_rows();
    let chunks: Vec<Vec<u8>> = (0..rows)
        .step_by(CSV_CHUNK_ROWS)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|start| {
            let mut chunk = Vec::with_capacity(CSV_CHUNK_ROWS * 48);
            for row in start..(start + CSV_CHUNK_ROWS).min(rows) {
                let line_start = chunk.len();
                for (index, column) in cells.iter().enumerate() {
                    if index > 0 {
                        chunk.push(b',');
                    }
                    column.write_csv(row, &mut chunk);
                }
                if cells.len() == 1 && chunk.len() == line_start {
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

/// Write the header line of `batch` as CSV.
pub fn write_csv_header(batch: &RecordBatch, out: &mut dyn Write) -> std::io::Result<()> {
    let names = TableBuilder::default().text("name", batch.schema().fields().iter().map(|field| field.name().clone())).build();
    let Ok(names) = names else { return Ok(()) };
    let cells = Cells::of(names.column(0));
    let mut line = Vec::new();
    for row in 0..names.num_rows() {
        if row > 0 {
            line.push(b',');
        }
        cells.write_csv(row, &mut line);
    }
    line.push(b'\n');
    out.write_all(&line)
}

/// The rows as JSON objects.
pub fn json_rows(batch: &RecordBatch) -> Vec<Json> {
    let schema = batch.schema();
    let cells: Vec<Cells> = batch.columns().iter().map(Cells::of).collect();
    (0..batch.num_rows())
        .map(|row| {
            Json::Object(
                schema.fields().iter().zip(&cells).map(|(field, column)| (field.name().clone(), column.json(row))).collect::<Map<_, _>>(),
            )
        })
        .collect()
}

/// Write `batch` in a text `format` to `out` (Parquet needs [`write_parquet`]).
pub fn write(batch: &RecordBatch, format: OutputFormat, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        OutputFormat::Csv => {
            write_csv_header(batch, out)?;
            write_csv_rows(batch, out)
        }
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &json_rows(batch))?;
            writeln!(out)
        }
        OutputFormat::Jsonl => {
            for row in json_rows(batch) {
                serde_json::to_writer(&mut *out, &row)?;
                writeln!(out)?;
            }
            Ok(())
        }
        OutputFormat::Table => write_aligned(batch, out, 40),
        OutputFormat::Parquet => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "Parquet output needs a file")),
    }
}

/// Aligned text, at most `limit` rows, floats to 4 decimals.
pub fn write_aligned(batch: &RecordBatch, out: &mut dyn Write, limit: usize) -> std::io::Result<()> {
    let rows = batch.num_rows();
    let shown = rows.min(limit);
    let schema = batch.schema();
    let cells: Vec<Vec<String>> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, array)| {
            let cells = Cells::of(array);
            let column = cells.values();
            // A float column of whole numbers (frequencies) shows as whole numbers.
            let whole = matches!(column, Cells::Float(values) if values[..shown].iter().all(|value| value.fract() == 0.0));
            std::iter::once(field.name().clone())
                .chain((0..shown).map(|row| match column {
                    _ if cells.is_null(row) => String::new(),
                    Cells::Float(values) if !values[row].is_finite() => String::new(),
                    Cells::Float(values) if whole => format!("{}", values[row]),
                    // A value that rounds to nothing is 0.0000, not -0.0000 (a cell's tiny
                    // negative share of value).
                    Cells::Float(values) => format!("{:.4}", if values[row].abs() < 0.000_05 { 0.0 } else { values[row] }),
                    other => other.display(row),
                }))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = cells.iter().map(|column| column.iter().map(|cell| cell.chars().count()).max().unwrap_or(0)).collect();
    // Numbers align right, so that their digits line up; text aligns left, as it is read
    // (a long description right-aligned pushed every shorter one far from its number).
    let text: Vec<bool> = batch
        .columns()
        .iter()
        .map(|array| matches!(array.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View))
        .collect();
    for row in 0..=shown {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(
                |(index, (column, width))| {
                    if index == 0 || text[index] { format!("{:<width$}", column[row]) } else { format!("{:>width$}", column[row]) }
                },
            )
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    if rows > shown {
        writeln!(out, "… {} more rows (use --format csv or --output FILE for all)", rows - shown)?;
    }
    Ok(())
}

/// Write `batch` as a Parquet file at `path` (Snappy), flushed to disk. A float that is
/// NaN (Rapport's "none": no P(alive) for a customer with no purchase) is written as
/// null, so SQL over the file skips it (`avg(p_alive)`) as it skips an empty CSV cell;
/// [`crate::input::read_parquet_file`] reads it back as NaN.
pub fn write_parquet(batch: &RecordBatch, path: &Path) -> Result<(), StoreError> {
    let batch = &nan_as_null(batch)?;
    let file = File::create(path).map_err(StoreError::write(path))?;
    let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))?;
    writer.write(batch)?;
    let file = writer.into_inner()?;
    file.sync_all().map_err(StoreError::write(path))
}

/// `batch` with every NaN of its float columns marked null (the values stay NaN), and
/// those columns' fields nullable. Columns without NaN are shared, not copied.
pub fn nan_as_null(batch: &RecordBatch) -> Result<RecordBatch, StoreError> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let floats = column.as_primitive_opt::<arrow::datatypes::Float64Type>();
        match floats.filter(|floats| floats.values().iter().any(|value| value.is_nan())) {
            Some(floats) => {
                let valid = arrow::buffer::NullBuffer::from_iter(floats.iter().map(|value| value.is_some_and(|value| !value.is_nan())));
                columns.push(Arc::new(Float64Array::new(floats.values().clone(), Some(valid))) as ArrayRef);
                fields.push(Arc::new(field.as_ref().clone().with_nullable(true)));
            }
            None => {
                columns.push(column.clone());
                fields.push(field.clone());
            }
        }
    }
    let schema = Schema::new(fields).with_metadata(schema.metadata().clone());
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn aligned_floats_that_round_to_nothing_have_no_sign() {
        let batch = TableBuilder::default().text("cell", ["a", "b"]).float("share", [-0.000_01, 0.5]).build().expect("batch");
        let mut out = Vec::new();
        write_aligned(&batch, &mut out, 10).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("0.0000") && !text.contains("-0.0000"), "{text}");
    }

    #[test]
    fn nan_is_written_as_null_and_read_back_as_nan() {
        let batch = TableBuilder::default().text("id", ["a", "b", "c"]).float("p_alive", [0.5, f64::NAN, 1.0]).build().expect("batch");
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("t.parquet");
        write_parquet(&batch, &path).expect("write");
        let file = File::open(&path).expect("open");
        let raw = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).expect("reader").build().expect("build");
        let raw = raw.collect::<Result<Vec<_>, _>>().expect("batches");
        assert_eq!(raw[0].column(1).null_count(), 1, "null in the file");
        let back = crate::input::read_parquet_file(&path).expect("read");
        let values = back.column(1).as_primitive::<arrow::datatypes::Float64Type>().values().to_vec();
        assert_eq!(values[0], 0.5);
        assert!(values[1].is_nan(), "NaN again: {values:?}");
        assert_eq!(values[2], 1.0);
    }

    fn csv_crate(batch: &RecordBatch) -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(batch.schema().fields().iter().map(|field| field.name())).expect("header");
        let cells: Vec<Cells> = batch.columns().iter().map(Cells::of).collect();
        for row in 0..batch.num_rows() {
            writer.write_record(cells.iter().map(|column| column.display(row))).expect("row");
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
            let mut table = TableBuilder::default().text("id", texts);
            if columns > 1 {
                table = table.count("count", (0..rows as u64).map(|row| row.wrapping_mul(seed) >> 20));
            }
            if columns > 2 {
                table = table.float("value", (0..rows).map(|row| (row as f64 - 7.5) * (seed % 1000) as f64 / 64.0));
            }
            let batch = table.build().expect("batch");
            let mut mine = Vec::new();
            write(&batch, OutputFormat::Csv, &mut mine).expect("write");
            let theirs = csv_crate(&batch);
            prop_assert_eq!(String::from_utf8_lossy(&mine), String::from_utf8_lossy(&theirs));
        }
    }
}
