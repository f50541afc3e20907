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

/// The name among `known` nearest to `name` (case aside), if it is within three edits:
/// what a "did you mean" hint offers for a misspelt column or table.
pub fn nearest_name<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_lowercase();
    known
        .into_iter()
        .map(|known| (strsim::levenshtein(&name, &known.to_lowercase()), known))
        .min()
        .filter(|(distance, _)| *distance <= 3)
        .map(|(_, known)| known)
}
