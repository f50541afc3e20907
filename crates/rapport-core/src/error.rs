//! Errors of the domain layer: every variant is a user or data error.

use thiserror::Error;

/// A value or an option that the domain rules reject.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum CoreError {
    /// A value could not be read as the expected type.
    #[error("invalid value {value:?}: expected {expected}")]
    InvalidValue {
        /// The offending text (truncated to 80 characters).
        value: String,
        /// What was expected, in words.
        expected: String,
    },
    /// An option given by the user is not valid.
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The option's name as the user writes it.
        option: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A computed field or row filter is not an expression Rapport can evaluate.
    #[error("invalid expression {expression:?}: {message}")]
    InvalidExpression {
        /// The expression as written.
        expression: String,
        /// What is wrong with it.
        message: String,
    },
    /// A required field was empty or absent.
    #[error("missing required field {field}")]
    MissingField {
        /// The field's name.
        field: String,
    },
}

impl CoreError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::InvalidValue { .. } => "invalid_value",
            CoreError::InvalidOption { .. } => "invalid_option",
            CoreError::MissingField { .. } => "missing_field",
            CoreError::InvalidExpression { .. } => "invalid_expression",
        }
    }

    /// Build an [`CoreError::InvalidValue`], truncating very long values so that an
    /// error message stays readable even for a 10 MB field.
    pub fn invalid(value: &str, expected: impl Into<String>) -> Self {
        CoreError::InvalidValue { value: truncate(value, 80), expected: expected.into() }
    }
}

/// Truncate `text` to at most `max` characters, marking the cut with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
    }
}
