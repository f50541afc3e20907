//! Rapport's domain types, without I/O.
//!
//! Events and their fields ([`event`]), periods and time units ([`time`]), the
//! mergeable per-customer summary that every lifetime-value model consumes
//! ([`summary`]), the workspace configuration schema ([`config`]) and the errors
//! of all of these ([`error`]).

pub mod config;
pub mod error;
pub mod event;
pub mod summary;
pub mod time;

pub use error::CoreError;
