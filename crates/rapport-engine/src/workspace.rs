//! Workspaces: create, ingest, list results runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rapport_core::CoreError;
use rapport_core::config::WorkspaceConfig;
use rapport_core::event::EventKind;
use rapport_core::mapping::MappingOverrides;
use rapport_core::money::Currency;
use rapport_core::time::Zone;
use rapport_store::quarantine::QuarantinedRow;
use rapport_store::runs::RunInfo;
pub use rapport_store::workspace::IngestReport;
use rapport_store::workspace::{IngestOptions, Workspace};

use crate::EngineError;
use crate::input::FileInput;

/// Create a workspace in `directory` (which must not exist, or be empty).
pub fn init(directory: &Path, timezone: &str, currency: &str) -> Result<(), EngineError> {
    let zone: Zone = timezone.parse()?;
    let currency: Currency = currency.parse()?;
    let config = WorkspaceConfig { timezone: zone.to_string(), currency: currency.to_string(), ..WorkspaceConfig::default() };
    Workspace::init(directory, config)?;
    Ok(())
}

/// What to ingest.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestRequest {
    /// The workspace.
    pub workspace: PathBuf,
    /// Kind of events.
    pub kind: EventKind,
    /// The file. Its time format, when not the default, overrides the workspace's.
    pub input: FileInput,
    /// Rapport field → input column, on top of the workspace's `[mapping]`, as
    /// `FIELD=COLUMN` texts, or `FIELD==EXPRESSION` for a computed field.
    pub mappings: Vec<String>,
    /// Constant fields, as `FIELD=VALUE` texts (on top of the workspace's `[set]`).
    pub sets: Vec<String>,
    /// A row filter in SQL syntax, applied with the workspace's `[filter]`.
    pub filter: Option<String>,
    /// Rejected rows allowed; beyond this nothing is written.
    pub max_rejects: u64,
    /// Replace this earlier batch with this ingest (a file re-ingested with a corrected
    /// mapping).
    pub replace: Option<u64>,
    /// A mapping profile (TOML with rapport.toml's mapping tables) used instead of the
    /// workspace's for this ingest.
    pub profile: Option<PathBuf>,
}

/// Parse and check `FIELD=COLUMN` mappings (or `FIELD==EXPRESSION`) against the fields
/// of `kind`.
pub fn parse_mappings(kind: EventKind, mappings: &[String]) -> Result<BTreeMap<String, String>, EngineError> {
    parse_assignments(
        kind,
        mappings,
        "a mapping FIELD=COLUMN, e.g. customer_id=client, or FIELD==EXPRESSION, e.g. amount==Quantity*UnitPrice",
    )
}

/// Parse and check `FIELD=VALUE` constants against the fields of `kind`.
pub fn parse_sets(kind: EventKind, sets: &[String]) -> Result<BTreeMap<String, String>, EngineError> {
    parse_assignments(kind, sets, "a constant FIELD=VALUE, e.g. survey_type=csat")
}

fn parse_assignments(kind: EventKind, mappings: &[String], expected: &str) -> Result<BTreeMap<String, String>, EngineError> {
    let mut parsed = BTreeMap::new();
    for mapping in mappings {
        let Some((field, column)) = mapping.split_once('=') else {
            return Err(CoreError::invalid(mapping, expected).into());
        };
        let (field, column) = (field.trim(), column.trim());
        if !kind.fields().iter().any(|spec| spec.name == field) {
            let names: Vec<_> = kind.fields().iter().map(|spec| spec.name).collect();
            return Err(CoreError::invalid(mapping, format!("a field of {kind}: {}", names.join(", "))).into());
        }
        if column.is_empty() {
            return Err(CoreError::invalid(mapping, "a column name or value after the =").into());
        }
        parsed.insert(field.to_string(), column.to_string());
    }
    Ok(parsed)
}

/// Append the events of a file to a workspace, atomically.
pub fn ingest(request: &IngestRequest) -> Result<IngestReport, EngineError> {
    ingest_labelled(request, None)
}

/// [`ingest`], with rows and rejects reported under `label` instead of the file's path.
pub(crate) fn ingest_labelled(request: &IngestRequest, label: Option<String>) -> Result<IngestReport, EngineError> {
    request.input.columns_needed()?;
    let mapping = MappingOverrides {
        map: parse_mappings(request.kind, &request.mappings)?,
        set: parse_sets(request.kind, &request.sets)?,
        filter: request.filter.clone(),
        decimal_comma: request.input.numbers.decimal_comma,
    };
    let mut workspace = Workspace::open(&request.workspace)?;
    let options = IngestOptions {
        input: rapport_store::input::InputSpec { label, ..request.input.spec() },
        mapping,
        time_format: (request.input.time_format != rapport_core::time::TimeFormat::Auto).then(|| request.input.time_format.clone()),
        max_rejects: request.max_rejects,
        replace: request.replace,
        profile: request.profile.as_deref().map(rapport_store::workspace::read_profile).transpose()?,
        fail_at: None,
    };
    Ok(workspace.ingest(request.kind, &options)?)
}

pub use rapport_store::forget::ForgetReport;

/// Forget a customer: remove them from every event, quarantined row and results run of
/// the workspace in one step, clear references to them in others' events, and record the
/// request (without the id) in `audit.jsonl`. A customer the workspace does not know is a
/// request error, and nothing is written.
pub fn forget(workspace: &Path, customer: &str) -> Result<ForgetReport, EngineError> {
    if customer.trim().is_empty() {
        return Err(EngineError::Request("give the id of the customer to forget".into()));
    }
    let mut opened = Workspace::open(workspace)?;
    let report = opened.forget(customer)?;
    if !report.found() {
        return Err(EngineError::Request(format!(
            "customer {customer:?} is not in this workspace (no event, quarantined row or result names them): nothing was forgotten"
        )));
    }
    Ok(report)
}

/// Where the quarantine file of an ingest is, as a path a user can open.
pub fn quarantine_path(workspace: &Path, report: &IngestReport) -> Option<PathBuf> {
    report
        .batch
        .as_ref()
        .and_then(|batch| batch.quarantine_file.as_ref())
        .or(report.already_quarantined.as_ref())
        .map(|file| workspace.join(file))
}

/// Which quarantined rows: all, one batch's, or one kind's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRequest {
    /// The workspace.
    pub workspace: PathBuf,
    /// Only this batch.
    pub batch: Option<u64>,
    /// Only this kind.
    pub kind: Option<EventKind>,
}

/// The quarantined rows of a workspace, with where and why.
pub fn quarantine_list(request: &QuarantineRequest) -> Result<Vec<QuarantinedRow>, EngineError> {
    Ok(Workspace::open(&request.workspace)?.quarantined(request.batch, request.kind)?)
}

/// Write the quarantined rows in their input's own layout (header, then each row as
/// written), to be corrected and ingested again; returns the rows written.
pub fn quarantine_export(request: &QuarantineRequest, out: &mut dyn std::io::Write) -> Result<u64, EngineError> {
    Ok(Workspace::open(&request.workspace)?.export_quarantine(request.batch, request.kind, out)?)
}

/// The results runs of a workspace, oldest first.
pub fn runs(workspace: &Path) -> Result<Vec<RunInfo>, EngineError> {
    Ok(Workspace::open(workspace)?.runs()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_are_checked_against_the_kind() {
        let parsed = parse_mappings(EventKind::Purchases, &["customer_id=client".into(), "time = order_date".into()]).expect("valid");
        assert_eq!(parsed["time"], "order_date");
        let error = parse_mappings(EventKind::Purchases, &["score=x".into()]).expect_err("not a purchase field");
        assert!(error.to_string().contains("amount"), "{error}");
        assert_eq!(parse_mappings(EventKind::Purchases, &["customer_id".into()]).expect_err("no =").code(), "invalid_value");
    }
}
