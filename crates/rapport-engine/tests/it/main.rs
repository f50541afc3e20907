//! Integration tests of the engine's requests: what the CLI, the server and the report
//! call. Each module covers one request type.

mod clv;
mod output;
mod postgres;
#[cfg(feature = "sql")]
mod sql;
mod summary;
mod text;
mod workspace;

use std::path::{Path, PathBuf};

/// A file of the repository (reference data).
pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative)
}

/// The CDNOW sample embedded for the demo (no header: original id, customer, date, CDs, dollars).
pub fn cdnow_sample() -> rapport_engine::input::FileInput {
    rapport_engine::input::FileInput {
        path: Path::new(env!("CARGO_MANIFEST_DIR")).join("data/CDNOW_sample.txt"),
        delimiter: rapport_engine::Delimiter::Whitespace,
        columns: Some(["original", "customer_id", "date", "cds", "dollars"].map(String::from).to_vec()),
        ..rapport_engine::input::FileInput::default()
    }
}

/// Whether two floats agree to `relative` (both NaN, or within `relative` of the larger
/// magnitude; exactly at zero).
pub fn close(found: f64, expected: f64, relative: f64) -> bool {
    (found.is_nan() && expected.is_nan()) || found == expected || (found - expected).abs() <= relative * found.abs().max(expected.abs())
}

/// Two record batches with one schema and the same rows: equal values in every column but
/// the 64-bit float ones, whose values agree to `relative` ([`close`]).
#[cfg(feature = "sql")]
pub fn assert_close_batches(found: &arrow::array::RecordBatch, expected: &arrow::array::RecordBatch, relative: f64, name: &str) {
    use arrow::array::{Array, AsArray};
    assert_eq!(found.schema(), expected.schema(), "{name}");
    assert_eq!(found.num_rows(), expected.num_rows(), "{name}");
    for (index, field) in expected.schema().fields().iter().enumerate() {
        let (found, expected) = (found.column(index), expected.column(index));
        if *field.data_type() == arrow::datatypes::DataType::Float64 {
            let (found, expected) =
                (found.as_primitive::<arrow::datatypes::Float64Type>(), expected.as_primitive::<arrow::datatypes::Float64Type>());
            for row in 0..expected.len() {
                assert_eq!(found.is_null(row), expected.is_null(row), "{name}.{} row {row}", field.name());
                let (a, b) = (found.value(row), expected.value(row));
                assert!(expected.is_null(row) || close(a, b, relative), "{name}.{} row {row}: {a} against {b}", field.name());
            }
        } else {
            assert_eq!(found, expected, "{name}.{}", field.name());
        }
    }
}

/// Write `content` to `name` in `directory`.
pub fn write(directory: &Path, name: &str, content: &str) -> PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, content).expect("write");
    path
}
mod analyze;
mod relationship;
