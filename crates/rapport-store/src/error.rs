//! Errors of the store: user and data errors apart from internal ones.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong reading inputs or touching a workspace.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file could not be opened or read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A file or directory could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A results run that does not exist.
    #[error("{}: no results run {run:?}{hint}", workspace.display())]
    NoSuchRun {
        /// The workspace.
        workspace: PathBuf,
        /// The run asked for.
        run: String,
        /// The runs there are.
        hint: String,
    },
    /// The input has no header and no rows.
    #[error("{}: the file is empty (expected {expected})", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// What should have been there.
        expected: String,
    },
    /// A requested column is not in the input.
    #[error("{}{}: no column {}; found {found}{hint}", path.display(), at_line(*line), missing(columns))]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The line of the header (1), or 0 for Parquet and for given column names (no
        /// line is named then).
        line: u64,
        /// The columns asked for that are not there (all are said at once; never empty).
        columns: Vec<String>,
        /// The columns that are there, listed.
        found: String,
        /// A suggestion, e.g. about the delimiter.
        hint: String,
    },
    /// An option or a configuration value is invalid.
    #[error(transparent)]
    Invalid(#[from] rapport_core::CoreError),
    /// The input format could not be read (bad Parquet, unknown extension).
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// More rows were rejected than `--max-rejects` allows; nothing was written.
    #[error("{rejected} row(s) rejected, more than the {max} allowed; nothing was written (first: {first})")]
    TooManyRejects {
        /// Rows rejected.
        rejected: u64,
        /// The limit.
        max: u64,
        /// The first rejected row, described.
        first: String,
    },
    /// The directory is not a Rapport workspace.
    #[error("{}: not a Rapport workspace (no rapport.toml); create one with `rapport init {}`", path.display(), path.display())]
    NotAWorkspace {
        /// The directory.
        path: PathBuf,
    },
    /// `rapport init` on a directory that already holds something.
    #[error("{}: already exists and is not empty", path.display())]
    AlreadyExists {
        /// The directory.
        path: PathBuf,
    },
    /// The file was ingested before, as the same kind, with other options: ingesting it
    /// again would add its rows again wherever they map differently.
    #[error(
        "{} was ingested before as batch {batch} with another mapping, filter or time format; ingesting it again would add its rows a second time wherever they map differently",
        path.display()
    )]
    IngestedWithOtherOptions {
        /// The input.
        path: PathBuf,
        /// The earlier batch.
        batch: u64,
    },
    /// The workspace configuration is invalid.
    #[error("{}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A failure injected by a test between two steps of an ingest.
    #[error("injected failure at {0:?}")]
    Injected(crate::workspace::FailPoint),
    /// A bug: an invariant of the store does not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether this is Rapport's fault rather than the user's or the data's.
    pub fn is_internal(&self) -> bool {
        matches!(self, StoreError::Internal(_))
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Read { .. } => "read_failed",
            StoreError::Write { .. } => "write_failed",
            StoreError::NoSuchRun { .. } => "no_such_run",
            StoreError::Empty { .. } => "empty_input",
            StoreError::MissingColumn { .. } => "missing_column",
            StoreError::Invalid(error) => error.code(),
            StoreError::Format { .. } => "bad_format",
            StoreError::TooManyRejects { .. } => "too_many_rejects",
            StoreError::NotAWorkspace { .. } => "not_a_workspace",
            StoreError::AlreadyExists { .. } => "already_exists",
            StoreError::Config { .. } => "bad_config",
            StoreError::IngestedWithOtherOptions { .. } => "ingested_with_other_options",
            StoreError::Injected(_) => "injected_failure",
            StoreError::Internal(_) => "internal",
        }
    }

    pub(crate) fn read(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Read { path, source }
    }

    pub(crate) fn write(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Write { path, source }
    }
}

impl From<parquet::errors::ParquetError> for StoreError {
    fn from(error: parquet::errors::ParquetError) -> Self {
        StoreError::Internal(format!("parquet: {error}"))
    }
}

impl From<arrow::error::ArrowError> for StoreError {
    fn from(error: arrow::error::ArrowError) -> Self {
        StoreError::Internal(format!("arrow: {error}"))
    }
}

/// `:line` after a file's name, or nothing for line 0 (no line to name: a Parquet file, or
/// column names given on the command line).
fn at_line(line: u64) -> String {
    if line == 0 { String::new() } else { format!(":{line}") }
}

/// `"a"`, or `"a" (nor "b", "c")`.
fn missing(columns: &[String]) -> String {
    let names: Vec<String> = columns.iter().map(|name| format!("{name:?}")).collect();
    match names.split_first() {
        None => "(none)".to_string(),
        Some((first, [])) => first.clone(),
        Some((first, others)) => format!("{first} (nor {})", others.join(", ")),
    }
}
