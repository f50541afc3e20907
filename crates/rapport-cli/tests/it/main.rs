//! Integration tests of the `rapport` binary: reference values, bad input, the workspace.

mod actions;
mod alerts;
mod bad_input;
mod browser;
mod cluster;
mod clv;
mod forget;
mod object_store;
mod postgres;
mod report;
mod ror;
mod segments;
mod sentiment;
mod serve;
mod snapshots;
mod sql;
mod summary_reference;
mod topics;
mod workspace;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (for the shipped data).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Run `rapport` with `args`.
pub fn rapport(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rapport")).args(args).env("NO_COLOR", "1").output().expect("run rapport")
}

/// Run and require success; return stdout.
pub fn ok(args: &[&str]) -> String {
    let output = rapport(args);
    assert!(output.status.success(), "rapport {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8 stdout")
}

/// Run and require exit code 1; return stderr.
pub fn user_error(args: &[&str]) -> String {
    let output = rapport(args);
    assert_eq!(output.status.code(), Some(1), "rapport {args:?}: stdout {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parse CSV text into header + rows.
pub fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new().comment(Some(b'#')).from_reader(text.as_bytes());
    let header = reader.headers().expect("header").iter().map(str::to_string).collect();
    let rows = reader.records().map(|record| record.expect("record").iter().map(str::to_string).collect()).collect();
    (header, rows)
}
