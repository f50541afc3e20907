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
    init_from(directory, None, Some(timezone), Some(currency)).map(|_| ())
}

/// Create a workspace whose settings start as a copy of `config` (a rapport.toml, such
/// as the one `rapport generate` writes beside its brand: time zone, currency, service
/// hours, mappings), or as the defaults (UTC, USD) without one; `timezone` and
/// `currency`, when given, override it. Returns the settings written.
pub fn init_from(
    directory: &Path,
    config: Option<&Path>,
    timezone: Option<&str>,
    currency: Option<&str>,
) -> Result<WorkspaceConfig, EngineError> {
    let mut settings = match config {
        Some(path) => rapport_store::workspace::read_config(path)?.0,
        None => WorkspaceConfig { timezone: "UTC".into(), currency: "USD".into(), ..WorkspaceConfig::default() },
    };
    if let Some(timezone) = timezone {
        settings.timezone = timezone.parse::<Zone>()?.to_string();
    }
    if let Some(currency) = currency {
        settings.currency = currency.parse::<Currency>()?.to_string();
    }
    Workspace::init(directory, settings.clone())?;
    Ok(settings)
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

/// How an ingest's flags read a file, as [`unsaved_mapping`] compares them with
/// `rapport.toml`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestFlags<'a> {
    /// `--map FIELD=COLUMN` (or `FIELD==EXPRESSION`).
    pub mappings: &'a [String],
    /// `--set FIELD=VALUE`.
    pub sets: &'a [String],
    /// `--where CONDITION`.
    pub filter: Option<&'a str>,
    /// `--time-format PATTERN`.
    pub time_format: Option<&'a str>,
    /// `--decimal-comma`.
    pub decimal_comma: bool,
}

/// The `rapport.toml` lines that would make an ingest's flags (`--map`, `--set`,
/// `--where`, `--time-format`, `--decimal-comma`) the workspace's own for `kind`, so that
/// the next export of the same layout needs none, leaving out what `rapport.toml` already
/// says; `None` when it says it all. A `--where` applies together with the file's filter,
/// so the filter given is both. The flags map only the ingest they are given to: a
/// workspace's settings change only when its owner edits them.
pub fn unsaved_mapping(workspace: &Path, kind: EventKind, flags: &IngestFlags<'_>) -> Result<Option<String>, EngineError> {
    let config = Workspace::open(workspace)?.config().clone();
    let name = kind.to_string();
    let missing = |given: BTreeMap<String, String>, saved: Option<&BTreeMap<String, String>>| -> toml::Table {
        given
            .into_iter()
            .filter(|(field, value)| saved.and_then(|saved| saved.get(field)) != Some(value))
            .map(|(field, value)| (field, toml::Value::String(value)))
            .collect()
    };
    let mut out = String::new();
    let mut section = |title: String, table: toml::Table| {
        if !table.is_empty() {
            out.push_str(&format!("[{title}]\n{}", toml::to_string(&table).unwrap_or_default()));
        }
    };
    section(format!("mapping.{name}"), missing(parse_mappings(kind, flags.mappings)?, config.mapping.get(&name)));
    section(format!("set.{name}"), missing(parse_sets(kind, flags.sets)?, config.set.get(&name)));
    let saved = config.filter.get(&name).map(String::as_str);
    // (Nothing to add where the saved filter is the flag's, or holds it as one of its terms.)
    let holds = |filter: &str| saved.is_some_and(|saved| saved == filter || saved.contains(&format!("({filter})")));
    if let Some(filter) = flags.filter.filter(|filter| !holds(filter)) {
        let both = match saved {
            Some(saved) => format!("({saved}) AND ({filter})"),
            None => filter.to_string(),
        };
        section("filter".into(), toml::Table::from_iter([(name.clone(), toml::Value::String(both))]));
    }
    if let Some(pattern) = flags.time_format.filter(|pattern| config.time_format.get(&name).map(String::as_str) != Some(*pattern)) {
        section("time_format".into(), toml::Table::from_iter([(name.clone(), toml::Value::String(pattern.to_string()))]));
    }
    if flags.decimal_comma && config.decimal_comma.get(&name) != Some(&true) {
        section("decimal_comma".into(), toml::Table::from_iter([(name.clone(), toml::Value::Boolean(true))]));
    }
    Ok((!out.is_empty()).then_some(out))
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
    forget_by(workspace, customer, "rapport forget")
}

/// [`forget`], recording in the audit log who asked (`by`, e.g. the server's token id and
/// name).
pub fn forget_by(workspace: &Path, customer: &str, by: &str) -> Result<ForgetReport, EngineError> {
    if customer.trim().is_empty() {
        return Err(EngineError::Request("give the id of the customer to forget".into()));
    }
    let mut opened = Workspace::open(workspace)?;
    let report = opened.forget_by(customer, by)?;
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

pub use rapport_store::tokens::{Role, TOKEN_PREFIX, TokenRecord, token_hash};
pub use rapport_store::workspace::IdCache;

/// Create an access token for the server; returns its record and its text, which is
/// shown once and stored only hashed.
pub fn create_token(workspace: &Path, role: Role, name: &str) -> Result<(TokenRecord, String), EngineError> {
    Ok(Workspace::open(workspace)?.create_token(role, name)?)
}

/// Every token of the workspace (revoked ones too), oldest first.
pub fn list_tokens(workspace: &Path) -> Result<Vec<TokenRecord>, EngineError> {
    Workspace::open(workspace)?;
    Ok(rapport_store::tokens::list(workspace)?)
}

/// When the token list last changed, to reload it only then.
pub fn tokens_modified(workspace: &Path) -> Option<std::time::SystemTime> {
    rapport_store::tokens::modified(workspace)
}

/// Revoke a token by id (or by its name when only one token has it); the flag is false
/// when it was revoked before.
pub fn revoke_token(workspace: &Path, id_or_name: &str) -> Result<(TokenRecord, bool), EngineError> {
    Ok(Workspace::open(workspace)?.revoke_token(id_or_name)?)
}

/// Events sent as JSON (the server's ingest endpoint): one object per event, keyed by
/// Rapport's field names for the kind.
#[derive(Debug, Clone, Copy)]
pub struct PostedEvents<'a> {
    /// The workspace.
    pub workspace: &'a Path,
    /// Kind of events.
    pub kind: EventKind,
    /// The events.
    pub events: &'a [serde_json::Value],
    /// What the rejects and the batch name as their source (e.g. the request).
    pub source: &'a str,
    /// Invalid events allowed (quarantined, the rest stored); beyond this nothing is
    /// stored.
    pub max_rejects: u64,
}

/// Store posted events with the validation, duplicate detection (by event id, else by
/// content) and quarantine of a file ingest; published atomically before this returns.
/// The workspace's column mapping does not apply: the events name Rapport's fields.
/// Times without an offset are in the workspace's time zone.
pub fn ingest_posted(request: &PostedEvents<'_>, cache: &mut IdCache) -> Result<IngestReport, EngineError> {
    let kind = request.kind;
    let names: Vec<&str> = kind.fields().iter().map(|field| field.name).collect();
    let mut lines = Vec::with_capacity(request.events.len() * 128);
    for (index, event) in request.events.iter().enumerate() {
        let serde_json::Value::Object(fields) = event else {
            return Err(EngineError::Request(format!(
                "event {}: expected a JSON object of {kind} fields ({}), found {}",
                index + 1,
                names.join(", "),
                json_type(event)
            )));
        };
        for (name, value) in fields {
            if !names.contains(&name.as_str()) {
                let hint = rapport_core::nearest_name(name, names.iter().copied())
                    .map(|near| format!(" (did you mean {near:?}?)"))
                    .unwrap_or_default();
                return Err(EngineError::Request(format!(
                    "event {}: {name:?} is not a field of {kind}{hint}; the fields are {}",
                    index + 1,
                    names.join(", ")
                )));
            }
            if matches!(value, serde_json::Value::Array(_) | serde_json::Value::Object(_)) {
                return Err(EngineError::Request(format!(
                    "event {}: field {name:?} is {}; expected a string, number, true/false or null",
                    index + 1,
                    json_type(value)
                )));
            }
        }
        // A whole number sent for a text field (an id as a JSON number, `12347` or
        // `12347.0`) is that number's digits: the same customer either way.
        let mut event = fields.clone();
        for spec in kind.fields().iter().filter(|spec| spec.field_type == rapport_core::event::FieldType::Text) {
            let Some(serde_json::Value::Number(number)) = event.get(spec.name) else { continue };
            let digits = match (number.as_i64(), number.as_u64(), number.as_f64()) {
                (Some(whole), _, _) => whole.to_string(),
                (_, Some(whole), _) => whole.to_string(),
                (_, _, Some(float)) if float.fract() == 0.0 && float.abs() < 9.0e15 => format!("{float:.0}"),
                _ => continue,
            };
            event.insert(spec.name.to_string(), serde_json::Value::String(digits));
        }
        serde_json::to_writer(&mut lines, &event).map_err(|error| EngineError::Request(error.to_string()))?;
        lines.push(b'\n');
    }
    if request.events.is_empty() {
        return Err(EngineError::Request(format!("no events: send one {kind} object or an array of them")));
    }
    let mut workspace = Workspace::open(request.workspace)?;
    // The events go through the file ingest as a JSON Lines file inside the workspace
    // (same file system, so nothing is copied across devices); it is removed afterwards
    // and leftovers of a crash are removed when the server starts.
    let inbox = request.workspace.join(INBOX);
    std::fs::create_dir_all(&inbox).map_err(|source| EngineError::Write { target: inbox.display().to_string(), source })?;
    let path = inbox.join(format!("{}-{}.jsonl", std::process::id(), INBOX_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    std::fs::write(&path, &lines).map_err(|source| EngineError::Write { target: path.display().to_string(), source })?;
    let options = IngestOptions {
        input: rapport_store::input::InputSpec {
            path: path.clone(),
            format: rapport_store::input::InputFormat::JsonLines,
            label: Some(request.source.to_string()),
            ..rapport_store::input::InputSpec::default()
        },
        mapping: MappingOverrides::default(),
        time_format: Some(rapport_core::time::TimeFormat::Auto),
        max_rejects: request.max_rejects,
        replace: None,
        profile: Some(rapport_core::config::MappingProfile::default()),
        fail_at: None,
    };
    let report = workspace.ingest_cached(kind, &options, cache);
    let _ = std::fs::remove_file(&path);
    let mut report = report?;
    // The same request sent again: its rejects are those of the batch that took it.
    if let Some(batch) = report.already_ingested
        && report.rejected > 0
        && report.first_rejects.is_empty()
    {
        report.first_rejects = workspace.quarantined(Some(batch), Some(kind))?.into_iter().take(20).map(|row| row.rejected).collect();
    }
    Ok(report)
}

/// Read the stored event ids of every kind with events into `caches` (what
/// [`ingest_posted`] would read on its first call for each kind).
pub fn warm_id_caches(workspace: &Path, caches: &mut std::collections::HashMap<EventKind, IdCache>) -> Result<(), EngineError> {
    let opened = Workspace::open(workspace)?;
    for kind in EventKind::ALL {
        if !opened.event_files(kind).is_empty() {
            opened.fill_id_cache(kind, caches.entry(kind).or_default())?;
        }
    }
    Ok(())
}

/// Remove what a crashed server left in the inbox (events never acknowledged).
pub fn clear_inbox(workspace: &Path) {
    let _ = std::fs::remove_dir_all(workspace.join(INBOX));
}

const INBOX: &str = ".inbox";
static INBOX_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "true/false",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

pub use rapport_store::compact::CompactReport;

/// Merge the batches of `kind` smaller than `small` events (and without quarantined rows)
/// into one when there are at least `at_least` of them, atomically; `None` when there is
/// nothing to do. `cache` (a long-running ingester's ids) is kept valid.
pub fn compact(
    workspace: &Path,
    kind: EventKind,
    small: u64,
    at_least: usize,
    cache: Option<&mut IdCache>,
) -> Result<Option<CompactReport>, EngineError> {
    Ok(Workspace::open(workspace)?.compact(kind, small, at_least, cache)?)
}
