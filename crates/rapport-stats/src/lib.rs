//! Numerics without domain: special functions, ₂F₁, the optimiser and standard errors.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod intervals;
pub mod optimize;
pub mod quadrature;
pub mod regression;
pub mod special;

use thiserror::Error;

/// Numerical failures.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum StatsError {
    /// The optimiser could not run or found no finite point.
    #[error("optimiser: {0}")]
    Optimizer(String),
}
