//! Rapport's domain types, without I/O.
//!
//! Events and their fields ([`event`]), periods and time units ([`time`]), the
//! mergeable per-customer summary that every lifetime-value model consumes
//! ([`summary`]), the workspace configuration schema ([`config`]) and the errors
//! of all of these ([`error`]).

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod config;
pub mod error;
pub mod event;
pub mod expression;
pub mod mapping;
pub mod money;
pub mod schedule;
pub mod summary;
pub mod survey;
pub mod table;
pub mod time;

pub use error::CoreError;
