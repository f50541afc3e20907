//! The workspace — Rapport's embedded default store — and the readers of real exports.
//!
//! [`input`] reads CSV / JSON Lines / Parquet in parallel into mergeable sinks;
//! [`aggregate`] groups rows by customer on all cores and folds each customer's rows;
//! [`workspace`] keeps events as Parquet, ingests atomically, deduplicates by event id
//! and quarantines bad rows with their file, line and column.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod aggregate;
pub mod compact;
pub mod error;
pub mod fingerprint;
pub mod forget;
pub mod input;
pub mod output;
pub mod quarantine;
pub mod runs;
pub mod scratch;
pub mod tokens;
pub mod workspace;

pub use error::StoreError;
