//! Results runs: every analysis writes `results/<run-id>/` — `customers.parquet` (the
//! customer table), `aggregates.json` (brand-level results) and `run.json` (inputs,
//! options, Rapport version, start and end) — written aside and published atomically by
//! renaming the finished directory into place, so a run is either complete or absent.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use arrow::array::RecordBatch;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::StoreError;
use crate::output::write_parquet;
use crate::workspace::{FailPoint, Workspace, sync_parent, write_synced};

const RESULTS: &str = "results";
/// Prefix of a run being written; never listed, removed by the next publish.
const STAGING_PREFIX: &str = ".staging-";

/// What a run records about itself (`run.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run's id: its start time (UTC), sortable.
    pub id: String,
    /// What made it, e.g. `clv predict`.
    pub command: String,
    /// Rapport's version.
    pub rapport_version: String,
    /// Start and end (UTC, RFC 3339).
    pub started_at: String,
    /// End of the run.
    pub finished_at: String,
    /// Customers in `customers.parquet`.
    pub customers: u64,
    /// The inputs (the workspace's batches read, files).
    pub inputs: Json,
    /// The options of the analysis.
    pub options: Json,
}

/// A run to publish.
#[derive(Debug)]
pub struct NewRun<'a> {
    /// What made it.
    pub command: &'a str,
    /// When it started.
    pub started: SystemTime,
    /// The customer table.
    pub customers: &'a RecordBatch,
    /// Brand-level results.
    pub aggregates: &'a Json,
    /// Inputs.
    pub inputs: Json,
    /// Options.
    pub options: Json,
    /// Breakdown tables, each written as `<name>.parquet`.
    pub tables: Vec<(String, RecordBatch)>,
    /// `summary.json`: the headlines with their intervals, when the run has them.
    pub summary: Option<Json>,
    /// Test hook: fail after this step.
    pub fail_at: Option<FailPoint>,
}

fn rfc3339(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The name of a run's table in SQL: `run_<id>_<name>`, the id lowercased with anything
/// but letters and digits as `_`.
pub fn sql_table_name(run: &str, name: &str) -> String {
    let id: String =
        run.chars().map(|character| if character.is_ascii_alphanumeric() { character.to_ascii_lowercase() } else { '_' }).collect();
    format!("run_{id}_{name}")
}

impl Workspace {
    /// The directory of run `id`.
    pub fn run_directory(&self, id: &str) -> PathBuf {
        self.root().join(RESULTS).join(id)
    }

    /// Write a run aside and publish it atomically; returns what `run.json` says.
    pub fn publish_run(&self, run: NewRun<'_>) -> Result<RunInfo, StoreError> {
        let results = self.root().join(RESULTS);
        fs::create_dir_all(&results).map_err(StoreError::write(&results))?;
        remove_staging(&results)?;
        let base = DateTime::<Utc>::from(run.started).format("%Y%m%dT%H%M%S%.3fZ").to_string();
        let mut id = base.clone();
        let mut attempt = 1;
        while results.join(&id).exists() {
            attempt += 1;
            id = format!("{base}-{attempt}");
        }
        let staging = results.join(format!("{STAGING_PREFIX}{id}"));
        fs::create_dir_all(&staging).map_err(StoreError::write(&staging))?;
        write_parquet(run.customers, &staging.join("customers.parquet"))?;
        let aggregates = serde_json::to_vec_pretty(run.aggregates).map_err(|error| StoreError::Internal(error.to_string()))?;
        write_synced(&staging.join("aggregates.json"), &aggregates)?;
        for (name, table) in &run.tables {
            write_parquet(table, &staging.join(format!("{name}.parquet")))?;
        }
        if let Some(summary) = &run.summary {
            let mut summary = summary.clone();
            if let Some(object) = summary.as_object_mut() {
                object.insert("run".into(), Json::String(id.clone()));
            }
            let text = serde_json::to_vec_pretty(&summary).map_err(|error| StoreError::Internal(error.to_string()))?;
            write_synced(&staging.join("summary.json"), &text)?;
        }
        let info = RunInfo {
            id: id.clone(),
            command: run.command.to_string(),
            rapport_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: rfc3339(run.started),
            finished_at: rfc3339(SystemTime::now()),
            customers: run.customers.num_rows() as u64,
            inputs: run.inputs,
            options: run.options,
        };
        let text = serde_json::to_vec_pretty(&info).map_err(|error| StoreError::Internal(error.to_string()))?;
        write_synced(&staging.join("run.json"), &text)?;
        fs::File::open(&staging).and_then(|directory| directory.sync_all()).map_err(StoreError::write(&staging))?;
        if run.fail_at == Some(FailPoint::BeforePublishingRun) {
            return Err(StoreError::Injected(FailPoint::BeforePublishingRun));
        }
        let target = results.join(&id);
        fs::rename(&staging, &target).map_err(StoreError::write(&target))?;
        sync_parent(&target)?;
        Ok(info)
    }

    /// The published runs, oldest first.
    pub fn runs(&self) -> Result<Vec<RunInfo>, StoreError> {
        let results = self.root().join(RESULTS);
        if !results.is_dir() {
            return Ok(Vec::new());
        }
        let mut runs = Vec::new();
        for entry in fs::read_dir(&results).map_err(StoreError::read(&results))? {
            let entry = entry.map_err(StoreError::read(&results))?;
            if entry.file_name().to_string_lossy().starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            let path = entry.path().join("run.json");
            let text = fs::read(&path).map_err(StoreError::read(&path))?;
            let info: RunInfo = serde_json::from_slice(&text)
                .map_err(|error| StoreError::Format { path: path.clone(), message: format!("not a run description: {error}") })?;
            runs.push(info);
        }
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(runs)
    }

    /// The run with this id, or the latest with `None`.
    pub fn run(&self, id: Option<&str>) -> Result<RunInfo, StoreError> {
        let runs = self.runs()?;
        let found = match id {
            Some(id) => runs.iter().find(|run| run.id == id),
            None => runs.last(),
        };
        found.cloned().ok_or_else(|| StoreError::NoSuchRun {
            workspace: self.root().to_path_buf(),
            run: id.unwrap_or("(latest)").to_string(),
            hint: if runs.is_empty() {
                "; there are no runs yet".into()
            } else {
                format!("; runs are {}", runs.iter().map(|run| run.id.as_str()).collect::<Vec<_>>().join(", "))
            },
        })
    }
}

/// Remove runs left half-written by an interrupted publish.
fn remove_staging(results: &Path) -> Result<(), StoreError> {
    for entry in fs::read_dir(results).map_err(StoreError::read(results))? {
        let entry = entry.map_err(StoreError::read(results))?;
        if entry.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            fs::remove_dir_all(entry.path()).map_err(StoreError::write(entry.path()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::TableBuilder;
    use rapport_core::config::WorkspaceConfig;

    fn new_run<'a>(customers: &'a RecordBatch, aggregates: &'a Json, fail_at: Option<FailPoint>) -> NewRun<'a> {
        NewRun {
            command: "test",
            started: SystemTime::now(),
            customers,
            aggregates,
            inputs: Json::Null,
            options: Json::Null,
            tables: Vec::new(),
            summary: None,
            fail_at,
        }
    }

    #[test]
    fn a_run_is_published_whole_or_not_at_all() {
        let directory = tempfile::tempdir().expect("tempdir");
        let workspace = Workspace::init(&directory.path().join("ws"), WorkspaceConfig::default()).expect("init");
        let customers = TableBuilder::default().text("customer_id", ["a", "b"]).float("clv", [1.0, 2.0]).build().expect("batch");
        let aggregates = serde_json::json!({"customers": 2});
        let failed = workspace.publish_run(new_run(&customers, &aggregates, Some(FailPoint::BeforePublishingRun)));
        assert!(matches!(failed, Err(StoreError::Injected(_))));
        assert_eq!(workspace.runs().expect("runs"), []);
        let info = workspace.publish_run(new_run(&customers, &aggregates, None)).expect("publish");
        let runs = workspace.runs().expect("runs");
        assert_eq!(runs, std::slice::from_ref(&info));
        assert_eq!(runs[0].customers, 2);
        let names: Vec<String> = fs::read_dir(directory.path().join("ws/results"))
            .expect("list")
            .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, std::slice::from_ref(&info.id), "the half-written run was removed");
        for file in ["customers.parquet", "aggregates.json", "run.json"] {
            assert!(workspace.run_directory(&info.id).join(file).is_file(), "{file}");
        }
        assert_eq!(workspace.run(None).expect("latest").id, info.id);
        let missing = workspace.run(Some("nope")).expect_err("no such run");
        assert_eq!(missing.code(), "no_such_run");
        assert!(missing.to_string().contains(&info.id), "{missing}");
    }
}
