//! Validated descriptions of inputs: files and how to read them, which columns hold
//! what, and the summary window. Front ends build these from their own options; every
//! rule about them lives here.

use std::path::PathBuf;

use rapport_core::CoreError;
use rapport_core::summary::SummaryOptions;
use rapport_core::time::{Period, TimeFormat, TimeUnit, Zone, parse_end_of};
use rapport_store::input::{Delimiter, InputFormat, InputSpec};
pub use rapport_store::input::{TextEncoding, text_encoding};

use crate::EngineError;

/// The files an ingest of `path` reads: `path` itself when it is a file; for a directory
/// (a data lake's folder of Parquet parts, a day's exports), every data file under it,
/// subdirectories included (Hive-style `year=2024/month=01/` partitions), in path order.
/// Hidden files and those a writer leaves beside its data (`_SUCCESS`, `_metadata`,
/// `.crc`, anything starting with `.` or `_`) are skipped, as Spark and DataFusion skip
/// them; so are files with an extension no reader knows. Partition values in directory
/// names are not read as columns.
pub fn input_files(path: &std::path::Path) -> Result<Vec<PathBuf>, EngineError> {
    let read = |path: &std::path::Path, source| EngineError::Read { source_name: path.display().to_string(), source };
    let metadata = std::fs::metadata(path).map_err(|source| read(path, source))?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).map_err(|source| read(&directory, source))? {
            let entry = entry.map_err(|source| read(&directory, source))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if is_hidden(&name) {
                continue;
            }
            let entry_path = entry.path();
            if entry_path.is_dir() {
                pending.push(entry_path);
            } else if is_data_file(&name) {
                files.push(entry_path);
            }
        }
    }
    if files.is_empty() {
        return Err(EngineError::Request(format!(
            "{} holds no data file to ingest (.parquet, .csv, .tsv, .txt, .jsonl, .ndjson or .json, in it or its subdirectories)",
            path.display()
        )));
    }
    files.sort();
    Ok(files)
}

/// A name data readers skip: hidden (`.`) or left by a writer beside its data (`_`).
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// A name with an extension the readers know.
pub(crate) fn is_data_file(name: &str) -> bool {
    let extension = name.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase());
    matches!(extension.as_deref(), Some("parquet" | "pq" | "csv" | "tsv" | "txt" | "dat" | "jsonl" | "ndjson" | "json"))
}

/// A file and how to read it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileInput {
    /// The file.
    pub path: PathBuf,
    /// Layout; default: from the extension.
    pub format: InputFormat,
    /// Field separator of delimited text; default: detected from the first line.
    pub delimiter: Delimiter,
    /// Column names of a headerless file; `None`: the first line is the header.
    pub columns: Option<Vec<String>>,
    /// How times are written; default: ISO-8601, `YYYYMMDD` or epoch seconds.
    pub time_format: TimeFormat,
    /// How amounts are written: decimal point (default) or comma; currency symbols and
    /// thousands separators are read either way.
    pub numbers: rapport_core::event::NumberFormat,
    /// The text's encoding when not UTF-8 ([`rapport_store::input::text_encoding`]).
    pub encoding: Option<&'static rapport_store::input::TextEncoding>,
}

impl FileInput {
    /// A file read with the defaults.
    pub fn new(path: impl Into<PathBuf>) -> FileInput {
        FileInput { path: path.into(), ..FileInput::default() }
    }

    /// Refuse the one-text-per-line format where rows have columns.
    pub(crate) fn columns_needed(&self) -> Result<(), EngineError> {
        if self.format == InputFormat::Lines {
            return Err(EngineError::Request(format!(
                "{}: one text per line is for sentiment and topics; this needs a file with columns (CSV, TSV, JSON Lines, Parquet)",
                self.path.display()
            )));
        }
        Ok(())
    }

    pub(crate) fn spec(&self) -> InputSpec {
        InputSpec {
            path: self.path.clone(),
            format: self.format,
            delimiter: self.delimiter,
            columns: self.columns.clone(),
            label: None,
            encoding: self.encoding,
        }
    }
}

/// Which columns of a transactions file hold what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionColumns {
    /// Customer id column (default `customer_id`).
    pub customer: String,
    /// Time column (default `date`, or `time` where a file has that and no `date`:
    /// [`TransactionColumns::for_file`]).
    pub time: String,
    /// Amount column; without it there is no monetary value (nor spend, nor CLV).
    pub amount: Option<String>,
}

impl Default for TransactionColumns {
    fn default() -> Self {
        TransactionColumns { customer: "customer_id".into(), time: Self::DEFAULT_TIME.into(), amount: None }
    }
}

impl TransactionColumns {
    /// The default time column, lifetimes' name.
    pub const DEFAULT_TIME: &str = "date";

    /// These columns for `input`: the default time column `date` becomes `time` when the
    /// file has no `date` column but a `time` one (what `rapport generate` and the
    /// workspace's events call it). Any other name stays as given.
    pub fn for_file(&self, input: &FileInput) -> Result<TransactionColumns, EngineError> {
        let mut columns = self.clone();
        if columns.time == Self::DEFAULT_TIME
            && let Some(names) = rapport_store::input::input_columns(&input.spec())?
        {
            let has = |wanted: &str| names.iter().any(|name| name.eq_ignore_ascii_case(wanted));
            if !has(Self::DEFAULT_TIME) && has("time") {
                columns.time = "time".into();
            }
        }
        Ok(columns)
    }
}

/// Periods, units and windows of a summary, as the user gives them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WindowSpec {
    /// Bucket for grouping purchases (lifetimes' `freq`; default day).
    pub period: Period,
    /// Unit of recency, T and durations (default: the period's).
    pub time_unit: Option<TimeUnit>,
    /// Last day observed (`YYYY-MM-DD`, inclusive, or a date-time); default: the last event.
    pub observation_end: Option<String>,
    /// Last day of the calibration window; adds the holdout columns.
    pub calibration_end: Option<String>,
    /// Time zone of naive times and period boundaries; default: UTC for a file, the
    /// workspace's own for a workspace.
    pub zone: Option<Zone>,
}

impl WindowSpec {
    /// The unit of the summary's ages.
    pub fn unit(&self) -> TimeUnit {
        self.time_unit.unwrap_or_else(|| self.period.natural_unit())
    }

    /// Validated summary options.
    pub fn options(&self, monetary: bool) -> Result<SummaryOptions, EngineError> {
        let observation_end = self.observation_end.as_deref().map(|text| parse_end_of(text, "observation end")).transpose()?;
        let calibration_end = self.calibration_end.as_deref().map(|text| parse_end_of(text, "calibration end")).transpose()?;
        if let (Some(calibration), Some(observation)) = (calibration_end, observation_end)
            && calibration >= observation
        {
            return Err(CoreError::InvalidOption { option: "calibration end", reason: "must be before the observation end".into() }.into());
        }
        Ok(SummaryOptions { period: self.period, time_unit: self.unit(), observation_end, calibration_end, monetary })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_validated() {
        let window = WindowSpec {
            period: Period::Day,
            calibration_end: Some("1997-09-30".into()),
            observation_end: Some("1997-09-01".into()),
            ..WindowSpec::default()
        };
        let error = window.options(true).expect_err("calibration after observation");
        assert_eq!(error.code(), "invalid_option");
        assert!(!error.to_string().contains("--"), "library errors name no flags: {error}");
        let window = WindowSpec { period: Period::Week, ..WindowSpec::default() };
        assert_eq!(window.options(false).expect("valid").time_unit, TimeUnit::Weeks);
        let bad = WindowSpec { observation_end: Some("30/09/1997".into()), ..WindowSpec::default() };
        assert!(bad.options(true).expect_err("not a date").to_string().contains("observation end"));
    }

    /// A Spark-style folder: parts in partition directories, markers and checksums beside
    /// them, a hidden file; only the parts are read, in path order.
    #[test]
    fn a_directory_is_its_data_files_in_path_order() {
        let directory = tempfile::tempdir().expect("tempdir");
        let root = directory.path();
        for file in [
            "month=02/part-00000.parquet",
            "month=01/part-00001.parquet",
            "month=01/part-00000.parquet",
            "month=01/.part-00000.parquet.crc",
            "month=01/_SUCCESS",
            "_metadata",
            ".hidden.csv",
            "notes.md",
            "extra.csv",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, "x").expect("write");
        }
        let files: Vec<String> = input_files(root)
            .expect("files")
            .iter()
            .map(|file| file.strip_prefix(root).expect("under").to_string_lossy().replace('\\', "/"))
            .collect();
        assert_eq!(files, ["extra.csv", "month=01/part-00000.parquet", "month=01/part-00001.parquet", "month=02/part-00000.parquet"]);
        let file = root.join("extra.csv");
        assert_eq!(input_files(&file).expect("file"), vec![file]);
        let empty = root.join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        let error = input_files(&empty).expect_err("empty");
        assert!(error.to_string().contains("holds no data file"), "{error}");
        assert!(input_files(&root.join("missing")).is_err());
    }
}
