//! Errors of model fitting and prediction.

use thiserror::Error;

/// What can go wrong with a model.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ModelError {
    /// A customer's data are not valid for the model.
    #[error("customer {customer}: {reason}")]
    InvalidCustomer {
        /// The customer's id.
        customer: String,
        /// What is wrong.
        reason: String,
    },
    /// A parameter is outside its domain.
    #[error("parameter {name} = {value}: {reason}")]
    InvalidParameter {
        /// Its name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// Its domain.
        reason: &'static str,
    },
    /// There is nothing to fit.
    #[error("no customers to fit{0}")]
    NoData(String),
    /// The optimiser failed.
    #[error(transparent)]
    Numerical(#[from] rapport_stats::StatsError),
    /// A saved model could not be read.
    #[error("saved model: {0}")]
    Persist(String),
}
