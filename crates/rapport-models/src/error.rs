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
    /// The customer table lacks a column the model needs.
    #[error("the customer table has no {column} column")]
    MissingColumn {
        /// The column.
        column: String,
    },
    /// A model fitted in one time unit applied to data in another that it cannot be
    /// converted to.
    #[error("the model was fitted on data in {fitted} and the data are in {data}: {reason}")]
    UnitMismatch {
        /// The model's unit.
        fitted: String,
        /// The data's unit.
        data: String,
        /// Why it cannot be converted.
        reason: String,
    },
    /// A request the model cannot answer (e.g. tracking with a spend model).
    #[error("{0}")]
    NotApplicable(String),
    /// A prediction came out infinite or undefined.
    #[error("{column} of customer {customer} is {value} ({count} customer(s) affected){cause}")]
    NonFinitePrediction {
        /// The first customer affected.
        customer: String,
        /// The predicted quantity.
        column: &'static str,
        /// What it came out as.
        value: f64,
        /// Customers affected.
        count: usize,
        /// Why, when the model knows (parameters it could not identify).
        cause: String,
    },
}

impl ModelError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::InvalidCustomer { .. } => "invalid_customer",
            ModelError::InvalidParameter { .. } => "invalid_parameter",
            ModelError::NoData(_) => "no_data",
            ModelError::Numerical(_) => "numerical_failure",
            ModelError::Persist(_) => "invalid_saved_model",
            ModelError::MissingColumn { .. } => "missing_column",
            ModelError::UnitMismatch { .. } => "time_unit_mismatch",
            ModelError::NotApplicable(_) => "not_applicable",
            ModelError::NonFinitePrediction { .. } => "non_finite_prediction",
        }
    }

    /// Whether this is Rapport's fault rather than the data's.
    pub fn is_internal(&self) -> bool {
        matches!(self, ModelError::Numerical(_))
    }
}
