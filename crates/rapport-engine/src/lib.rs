//! The pipeline that turns inputs and workspaces into results: the one facade the
//! front ends (CLI, server, report) call.
//!
//! Each capability is a validated request type and a function: [`summary::summarize`],
//! [`clv::fit`], [`clv::predict`], [`clv::track`], [`workspace::ingest`],
//! [`sentiment::score_stream`], [`topics::complaint_topics`], [`demo::run_demo`]. Results
//! are Arrow record batches (the customer table among them) written by [`output`]. The
//! domain types a front end needs to build a request are re-exported here, so a front
//! end depends on this crate alone.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod analyze;
pub mod cluster;
pub mod clv;
pub mod customers;
pub mod demo;
pub mod error;
pub mod input;
pub mod output;
pub mod postgres;
mod propensity;
pub mod relationship;
pub mod remote;
pub mod results;
mod ror;
pub mod sentiment;
pub mod sql;
pub mod summary;
pub mod topics;
pub mod webhook;
pub mod workspace;

pub use error::EngineError;

pub use rapport_core::event::EventKind;
pub use rapport_core::event::NumberFormat;
pub use rapport_core::summary::{Summary, SummaryCounts};
pub use rapport_core::table::{CustomerTable, Window};
pub use rapport_core::time::{MonthDefinition, Period, TimeFormat, TimeUnit, Zone};
pub use rapport_models::{FitOptions, FitReport, HoldoutEvaluation, ModelKind, SavedModel, TrackingPoint};
pub use rapport_store::input::{Delimiter, InputFormat, Rejected};
pub use rapport_store::runs::RunInfo;
pub use rapport_text::SentimentModel;
