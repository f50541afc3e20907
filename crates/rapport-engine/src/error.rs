//! Errors of the engine: what the front ends show, with a stable code for each.

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
    /// From fitting or applying a model.
    #[error(transparent)]
    Model(#[from] rapport_models::ModelError),
    /// Reading an input failed.
    #[error("reading {source_name}: {source}")]
    Read {
        /// The input (a path, or `stdin`).
        source_name: String,
        /// Why.
        source: std::io::Error,
    },
    /// Writing output failed.
    #[error("writing {target}: {source}")]
    Write {
        /// Where to (a path, or `standard output`).
        target: String,
        /// Why.
        source: std::io::Error,
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
    /// A request that does not make sense as given.
    #[error("{0}")]
    Request(String),
    /// CLV or a saved model needs the unit of a summary file's times.
    #[error("the time unit of the summary's recency and T is needed {purpose}")]
    TimeUnitNeeded {
        /// What for.
        purpose: &'static str,
    },
    /// A model fitted here needs a calibration window to fit on.
    #[error("{what} fits the model on the calibration window: give its end, or a saved model")]
    CalibrationEndNeeded {
        /// What needs it.
        what: &'static str,
    },
    /// Parquet output without a file to write to.
    #[error("Parquet output needs an output file")]
    OutputFileNeeded,
    /// More rows were unreadable than allowed while output was being streamed: the rows
    /// before the one that passed the limit were already written.
    #[error(
        "{rejected} row(s) rejected, more than the {max} allowed; output stopped there, and the rows before it were already written (first: {first})"
    )]
    TooManyRejectsStreaming {
        /// Rows rejected.
        rejected: u64,
        /// The limit.
        max: u64,
        /// The first rejected row, described.
        first: String,
    },
    /// The workspace holds no events to analyse.
    #[error("the workspace holds no events yet: ingest some first")]
    NothingToAnalyze,
    /// The synthetic brand could not be generated.
    #[error(transparent)]
    Synth(#[from] rapport_synth::SynthError),
    /// From a SQL query over the workspace.
    #[cfg(feature = "sql")]
    #[error(transparent)]
    Sql(rapport_sql::SqlError),
    /// Reading from or writing to PostgreSQL.
    #[error(transparent)]
    Postgres(#[from] rapport_postgres::PostgresError),
    /// The command needs a cargo feature this binary was built without.
    #[error(
        "this rapport was built without `{feature}`, which {what} needs: build it with `cargo build --release --features {feature}` (docs/building.md)"
    )]
    NotBuiltIn {
        /// The cargo feature.
        feature: &'static str,
        /// What needs it.
        what: &'static str,
    },
    /// An object store (S3, Google Cloud Storage, Azure) refused or failed a request.
    #[error("{url}: {reason}")]
    ObjectStore {
        /// The object or prefix.
        url: String,
        /// What went wrong, with the store's own words.
        reason: String,
    },
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

#[cfg(feature = "sql")]
impl From<rapport_sql::SqlError> for EngineError {
    fn from(error: rapport_sql::SqlError) -> EngineError {
        match error {
            rapport_sql::SqlError::NotBuiltIn { feature, what } => EngineError::NotBuiltIn { feature, what },
            other => EngineError::Sql(other),
        }
    }
}

impl EngineError {
    /// Whether this is Rapport's fault (exit code 2) rather than the user's (exit 1).
    pub fn is_internal(&self) -> bool {
        match self {
            EngineError::Store(error) => error.is_internal(),
            EngineError::Model(error) => error.is_internal(),
            EngineError::Internal(_) => true,
            #[cfg(feature = "sql")]
            EngineError::Sql(rapport_sql::SqlError::Internal(_)) => true,
            _ => false,
        }
    }

    /// A stable machine-readable code, the same the HTTP API returns.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Store(error) => error.code(),
            EngineError::Invalid(error) => error.code(),
            EngineError::Model(error) => error.code(),
            EngineError::Read { .. } => "read_failed",
            EngineError::Write { .. } => "write_failed",
            EngineError::BadValue { .. } => "bad_value",
            EngineError::Request(_) => "invalid_request",
            EngineError::TimeUnitNeeded { .. } => "time_unit_needed",
            EngineError::CalibrationEndNeeded { .. } => "calibration_end_needed",
            EngineError::OutputFileNeeded => "output_file_needed",
            EngineError::TooManyRejectsStreaming { .. } => "too_many_rejects",
            EngineError::NothingToAnalyze => "nothing_to_analyze",
            EngineError::Synth(error) => error.code(),
            #[cfg(feature = "sql")]
            EngineError::Sql(error) => error.code(),
            EngineError::NotBuiltIn { .. } => "not_built_in",
            EngineError::Postgres(error) => error.code(),
            EngineError::ObjectStore { .. } => "object_store",
            EngineError::Internal(_) => "internal",
        }
    }

    /// The option an invalid-option error is about (`"calibration end"`, `"time zone"`, …),
    /// for front ends that name it their own way.
    pub fn option(&self) -> Option<&'static str> {
        match self {
            EngineError::Invalid(rapport_core::CoreError::InvalidOption { option, .. })
            | EngineError::Store(rapport_store::StoreError::Invalid(rapport_core::CoreError::InvalidOption { option, .. })) => Some(option),
            _ => None,
        }
    }

    /// Whether the error is the reader of our output going away (`rapport … | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, EngineError::Write { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub(crate) fn write(target: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> EngineError {
        move |source| EngineError::Write { target: target.to_string(), source }
    }

    pub(crate) fn read(source_name: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> EngineError {
        move |source| EngineError::Read { source_name: source_name.to_string(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let missing = EngineError::Store(rapport_store::StoreError::NotAWorkspace { path: "x".into() });
        assert_eq!(missing.code(), "not_a_workspace");
        assert!(!missing.is_internal());
        assert_eq!(EngineError::Internal("bug".into()).code(), "internal");
        assert!(EngineError::Internal("bug".into()).is_internal());
        let model = EngineError::Model(rapport_models::ModelError::MissingColumn { column: "T".into() });
        assert_eq!(model.code(), "missing_column");
        let missing = EngineError::NotBuiltIn { feature: "sql", what: "`rapport sql`" };
        assert_eq!(missing.code(), "not_built_in");
        assert!(missing.to_string().contains("--features sql"), "{missing}");
    }
}
