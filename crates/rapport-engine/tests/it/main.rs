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

/// Write `content` to `name` in `directory`.
pub fn write(directory: &Path, name: &str, content: &str) -> PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, content).expect("write");
    path
}
mod analyze;
mod relationship;
