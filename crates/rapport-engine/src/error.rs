//! Errors of the engine.

use thiserror::Error;

/// Anything the engine reports: user and data errors, and internal ones.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EngineError {
    /// From reading inputs or the workspace.
    #[error(transparent)]
    Store(#[from] rapport_store::StoreError),
    /// An invalid option or value.
    #[error(transparent)]
    Invalid(#[from] rapport_core::CoreError),
    /// Writing output failed.
    #[error("writing {target}: {source}")]
    Output {
        /// Where to.
        target: String,
        /// Why.
        source: std::io::Error,
    },
    /// Rows were rejected beyond `--max-rejects`.
    #[error("{rejected} row(s) rejected, more than --max-rejects {max} allows (first: {first})")]
    TooManyRejects {
        /// How many.
        rejected: u64,
        /// The limit.
        max: u64,
        /// The first, described.
        first: String,
    },
    /// A value in an input file is not what was expected.
    #[error("{file}:{line}: column {column:?}: expected {expected}")]
    BadValue {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// The column.
        column: String,
        /// What was expected (and found).
        expected: String,
    },
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// Whether this is Rapport's fault (exit code 2) rather than the user's (exit 1).
    pub fn is_internal(&self) -> bool {
        match self {
            EngineError::Store(error) => error.is_internal(),
            EngineError::Internal(_) => true,
            _ => false,
        }
    }
}
