//! The workspace: a directory that is Rapport's embedded default store.
//!
//! ```text
//! DIR/rapport.toml                   configuration (mapping, time zone, currency)
//! DIR/manifest.json                  the published batches: the single source of truth
//! DIR/events/<kind>/<batch>.parquet  accepted events, one file per ingest
//! DIR/quarantine/<batch>-<kind>.csv  rejected rows: file, line, column, value, expected
//! DIR/results/                       results of runs, kept as snapshots
//! DIR/.staging/                      files being written (never read)
//! ```
//!
//! An ingest writes its files into `.staging`, fsyncs them, moves them into place and
//! then publishes them by atomically replacing `manifest.json` (write aside, fsync,
//! rename, fsync the directory). Readers see only what the manifest lists, so a crash,
//! a `kill -9` or a full disk at any step leaves the workspace exactly as before the
//! ingest (files not yet in the manifest are removed when the workspace is next
//! opened) or exactly as after it. A file lock keeps two ingests from interleaving.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, RecordBatch, StringBuilder, TimestampSecondBuilder, UInt64Builder};
use arrow::array::{AsArray, Float64Array, TimestampSecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit as ArrowTimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use rapport_core::config::WorkspaceConfig;
use rapport_core::event::{EventKind, FieldType, NumberFormat, Value};
use rapport_core::time::{TimeFormat, Zone};

use crate::StoreError;
use crate::input::{InputSpec, Rejected, RowSink, WantedColumn, scan};

const CONFIG_FILE: &str = "rapport.toml";
const MANIFEST_FILE: &str = "manifest.json";
const MANIFEST_VERSION: u32 = 1;

/// Steps of an ingest after which a test can inject a failure, to check that the
/// workspace is left exactly as before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailPoint {
    /// After the events file is written to staging.
    AfterStagingEvents,
    /// After the quarantine file is written to staging.
    AfterStagingQuarantine,
    /// After the files are moved into place, before the manifest is published.
    AfterMovingFiles,
    /// After the new manifest is written aside, before it replaces the old one.
    AfterWritingManifest,
    /// After a results run's files are written aside, before the run is published.
    BeforePublishingRun,
}

/// One published ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// Sequence number, from 1.
    pub id: u64,
    /// Kind of events.
    pub kind: EventKind,
    /// The input file as given.
    pub source: String,
    /// BLAKE3 of the input file's bytes.
    pub source_blake3: String,
    /// When it was ingested (UTC, RFC 3339).
    pub ingested_at: String,
    /// Events accepted and stored.
    pub accepted: u64,
    /// Rows rejected and quarantined.
    pub rejected: u64,
    /// Rows skipped because their event id was already stored (or repeated in the file).
    pub duplicates: u64,
    /// Events file, relative to the workspace (absent when nothing was accepted).
    pub events_file: Option<String>,
    /// Quarantine file, relative to the workspace (absent when nothing was rejected).
    pub quarantine_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Manifest {
    version: u32,
    batches: Vec<Batch>,
}

/// An open workspace.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    config: WorkspaceConfig,
    zone: Zone,
    manifest: Manifest,
}

/// How to ingest one file.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// The input and how to read it.
    pub input: InputSpec,
    /// Field name → input column, on top of the workspace's `[mapping]`.
    pub mapping: BTreeMap<String, String>,
    /// Time format; default: the workspace's for this kind, else auto.
    pub time_format: Option<TimeFormat>,
    /// Rejected rows allowed before the ingest is refused (default 0).
    pub max_rejects: u64,
    /// How amounts are written (decimal comma or point).
    pub numbers: NumberFormat,
    /// Test hook: fail after this step.
    pub fail_at: Option<FailPoint>,
}

/// What an ingest did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestReport {
    /// The batch, as published (`None` if every row was a duplicate: nothing to publish).
    pub batch: Option<Batch>,
    /// Rows accepted.
    pub accepted: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Rows skipped as duplicates.
    pub duplicates: u64,
    /// The first rejected rows (up to 20), for display.
    pub first_rejects: Vec<Rejected>,
    /// When the file was ingested before with the same rejects and nothing new was
    /// accepted: the quarantine file that already holds them (nothing is published).
    pub already_quarantined: Option<String>,
}

impl Workspace {
    /// Create a workspace in `root` (which must not exist or be empty).
    pub fn init(root: &Path, config: WorkspaceConfig) -> Result<Workspace, StoreError> {
        if root.exists() && fs::read_dir(root).map_err(StoreError::read(root))?.next().is_some() {
            return Err(StoreError::AlreadyExists { path: root.to_path_buf() });
        }
        let zone: Zone = config.timezone.parse()?;
        for directory in ["events", "quarantine", "results"] {
            fs::create_dir_all(root.join(directory)).map_err(StoreError::write(root.join(directory)))?;
        }
        let text = toml::to_string_pretty(&config).map_err(|error| StoreError::Internal(error.to_string()))?;
        write_atomically(&root.join(CONFIG_FILE), text.as_bytes())?;
        let manifest = Manifest { version: MANIFEST_VERSION, batches: Vec::new() };
        write_atomically(
            &root.join(MANIFEST_FILE),
            &serde_json::to_vec_pretty(&manifest).map_err(|error| StoreError::Internal(error.to_string()))?,
        )?;
        Ok(Workspace { root: root.to_path_buf(), config, zone, manifest })
    }

    /// Open an existing workspace, removing leftovers of interrupted ingests.
    pub fn open(root: &Path) -> Result<Workspace, StoreError> {
        let config_path = root.join(CONFIG_FILE);
        if !config_path.is_file() {
            return Err(StoreError::NotAWorkspace { path: root.to_path_buf() });
        }
        let text = fs::read_to_string(&config_path).map_err(StoreError::read(&config_path))?;
        let config: WorkspaceConfig =
            toml::from_str(&text).map_err(|error| StoreError::Config { path: config_path.clone(), message: error.to_string() })?;
        let zone: Zone = config
            .timezone
            .parse()
            .map_err(|error: rapport_core::CoreError| StoreError::Config { path: config_path.clone(), message: error.to_string() })?;
        let manifest_path = root.join(MANIFEST_FILE);
        let manifest: Manifest = serde_json::from_slice(&fs::read(&manifest_path).map_err(StoreError::read(&manifest_path))?)
            .map_err(|error| StoreError::Config { path: manifest_path.clone(), message: format!("unreadable manifest: {error}") })?;
        let workspace = Workspace { root: root.to_path_buf(), config, zone, manifest };
        Ok(workspace)
    }

    /// The workspace directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The configuration.
    pub fn config(&self) -> &WorkspaceConfig {
        &self.config
    }

    /// The time zone of the workspace.
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// The published batches, oldest first.
    pub fn batches(&self) -> &[Batch] {
        &self.manifest.batches
    }

    /// Remove what interrupted ingests left behind: staging files and event or
    /// quarantine files that no published batch lists. Needs the ingest lock.
    fn clean_leftovers(&self) -> Result<(), StoreError> {
        let staging = self.root.join(".staging");
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(StoreError::write(&staging))?;
        }
        let listed: HashSet<&str> = self
            .manifest
            .batches
            .iter()
            .flat_map(|batch| [batch.events_file.as_deref(), batch.quarantine_file.as_deref()])
            .flatten()
            .collect();
        for directory in EventKind::ALL.iter().map(|kind| format!("events/{}", kind.name())).chain(["quarantine".to_string()]) {
            let Ok(entries) = fs::read_dir(self.root.join(&directory)) else {
                continue;
            };
            for entry in entries.flatten() {
                let relative = format!("{directory}/{}", entry.file_name().to_string_lossy());
                if !listed.contains(relative.as_str()) {
                    fs::remove_file(entry.path()).map_err(StoreError::write(entry.path()))?;
                }
            }
        }
        Ok(())
    }

    /// Ingest one file of `kind` events. See the module documentation for the
    /// guarantees.
    pub fn ingest(&mut self, kind: EventKind, options: &IngestOptions) -> Result<IngestReport, StoreError> {
        let lock_path = self.root.join(".lock");
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(StoreError::write(&lock_path))?;
        lock.lock().map_err(StoreError::write(&lock_path))?;
        // Another process may have published since this one opened the workspace.
        *self = Workspace::open(&self.root)?;
        self.clean_leftovers()?;

        let source_bytes_hash = hash_file(&options.input.path)?;
        let fields = kind.fields();
        let configured = self.config.mapping.get(kind.name());
        let wanted: Vec<WantedColumn> = fields
            .iter()
            .map(|field| {
                let name = options
                    .mapping
                    .get(field.name)
                    .or_else(|| configured.and_then(|mapping| mapping.get(field.name)))
                    .cloned()
                    .unwrap_or_else(|| field.name.to_string());
                WantedColumn { name, required: field.required }
            })
            .collect();
        let time_format = match &options.time_format {
            Some(format) => format.clone(),
            None => self.config.time_format.get(kind.name()).map(|text| text.parse()).transpose()?.unwrap_or_default(),
        };
        let file = options.input.path.display().to_string();
        let sink = scan(&options.input, &wanted, || IngestSink::new(kind, &wanted, &time_format, self.zone, &file, options.numbers))?;
        let IngestSink { mut rows, mut rejected, .. } = sink;
        rows.sort_unstable_by_key(|row| row.line);
        rejected.sort_by_key(|rejected| rejected.line);

        if rejected.len() as u64 > options.max_rejects {
            return Err(StoreError::TooManyRejects {
                rejected: rejected.len() as u64,
                max: options.max_rejects,
                first: rejected[0].to_string(),
            });
        }

        // Deduplicate: ids already stored, then repeats within the file (first wins).
        let mut seen = self.stored_event_ids(kind)?;
        let mut occurrences: std::collections::HashMap<[u8; 16], u32> = std::collections::HashMap::new();
        let mut accepted = Vec::with_capacity(rows.len());
        let mut duplicates = 0u64;
        for mut row in rows {
            let id = match &row.values[0] {
                Value::Text(id) => id.clone(),
                _ => {
                    // No event id in the source: derive one from the content and its
                    // occurrence in this file, so re-sending the file adds nothing while two
                    // identical rows in one file are both kept.
                    let occurrence = occurrences.entry(row.content_hash).or_insert(0);
                    *occurrence += 1;
                    let mut hasher = blake3::Hasher::new();
                    hasher.update(&row.content_hash);
                    hasher.update(&occurrence.to_le_bytes());
                    let id = format!("h:{}", &hasher.finalize().to_hex()[..32]);
                    row.values[0] = Value::Text(id.clone());
                    id
                }
            };
            if seen.insert(id) {
                accepted.push(row);
            } else {
                duplicates += 1;
            }
        }

        let report_counts = (accepted.len() as u64, rejected.len() as u64, duplicates);
        let first_rejects: Vec<Rejected> = rejected.iter().take(20).cloned().collect();
        if accepted.is_empty() && rejected.is_empty() {
            return Ok(IngestReport { batch: None, accepted: 0, rejected: 0, duplicates, first_rejects, already_quarantined: None });
        }
        // The same file again, with nothing new to accept and the same rejects as a
        // batch already published from it: those rows are already in quarantine, and a
        // second copy would only grow the workspace (a re-run script re-ingesting its
        // export every night). Nothing is published.
        if accepted.is_empty() {
            let earlier =
                self.manifest.batches.iter().find(|batch| {
                    batch.kind == kind && batch.source_blake3 == source_bytes_hash && batch.rejected == rejected.len() as u64
                });
            if let Some(quarantine_file) = earlier.and_then(|batch| batch.quarantine_file.clone()) {
                return Ok(IngestReport {
                    batch: None,
                    accepted: 0,
                    rejected: rejected.len() as u64,
                    duplicates,
                    first_rejects,
                    already_quarantined: Some(quarantine_file),
                });
            }
        }

        let id = self.manifest.batches.iter().map(|batch| batch.id).max().unwrap_or(0) + 1;
        let staging = self.root.join(".staging").join(format!("{id:06}"));
        fs::create_dir_all(&staging).map_err(StoreError::write(&staging))?;
        let events_file = (!accepted.is_empty()).then(|| format!("events/{}/{id:06}.parquet", kind.name()));
        let quarantine_file = (!rejected.is_empty()).then(|| format!("quarantine/{id:06}-{}.csv", kind.name()));
        if events_file.is_some() {
            write_events(&staging.join("events.parquet"), kind, &accepted)?;
        }
        fail(options, FailPoint::AfterStagingEvents)?;
        if quarantine_file.is_some() {
            write_quarantine(&staging.join("quarantine.csv"), &rejected)?;
        }
        fail(options, FailPoint::AfterStagingQuarantine)?;
        for (staged, target) in [("events.parquet", &events_file), ("quarantine.csv", &quarantine_file)] {
            if let Some(target) = target {
                let target = self.root.join(target);
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(StoreError::write(parent))?;
                }
                fs::rename(staging.join(staged), &target).map_err(StoreError::write(&target))?;
                sync_parent(&target)?;
            }
        }
        fail(options, FailPoint::AfterMovingFiles)?;

        let batch = Batch {
            id,
            kind,
            source: options.input.path.display().to_string(),
            source_blake3: source_bytes_hash,
            ingested_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            accepted: report_counts.0,
            rejected: report_counts.1,
            duplicates,
            events_file,
            quarantine_file,
        };
        let mut manifest = self.manifest.clone();
        manifest.batches.push(batch.clone());
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).map_err(|error| StoreError::Internal(error.to_string()))?;
        let manifest_path = self.root.join(MANIFEST_FILE);
        let aside = self.root.join(".staging").join(MANIFEST_FILE);
        write_synced(&aside, &manifest_bytes)?;
        fail(options, FailPoint::AfterWritingManifest)?;
        fs::rename(&aside, &manifest_path).map_err(StoreError::write(&manifest_path))?;
        sync_parent(&manifest_path)?;
        self.manifest = manifest;
        let _ = fs::remove_dir_all(self.root.join(".staging"));
        drop(lock);
        Ok(IngestReport {
            batch: Some(batch),
            accepted: report_counts.0,
            rejected: report_counts.1,
            duplicates,
            first_rejects,
            already_quarantined: None,
        })
    }

    /// Event files of `kind` listed in the manifest.
    pub fn event_files(&self, kind: EventKind) -> Vec<PathBuf> {
        self.manifest
            .batches
            .iter()
            .filter(|batch| batch.kind == kind)
            .filter_map(|batch| batch.events_file.as_ref())
            .map(|file| self.root.join(file))
            .collect()
    }

    fn stored_event_ids(&self, kind: EventKind) -> Result<HashSet<String>, StoreError> {
        let mut ids = HashSet::new();
        for path in self.event_files(kind) {
            for batch in read_columns(&path, &["event_id"], None)? {
                let column = batch.column(0).as_string::<i32>();
                ids.extend(column.iter().flatten().map(str::to_string));
            }
        }
        Ok(ids)
    }

    /// Scan the stored events of `kind` on all cores: the named columns of every
    /// published batch, a Parquet row group at a time, each worker folding record
    /// batches (columns in the order named) into its own state from `make`, the states
    /// merged with `merge`. With a [`crate::aggregate::Grouper`] as the state this is a
    /// parallel per-customer aggregation of any event kind.
    pub fn scan_events<S: Send>(
        &self,
        kind: EventKind,
        columns: &[&str],
        make: impl Fn() -> S + Sync + Send,
        visit: impl Fn(&mut S, &RecordBatch) -> Result<(), StoreError> + Sync + Send,
        merge: impl Fn(S, S) -> S + Sync + Send,
    ) -> Result<S, StoreError> {
        use rayon::prelude::*;
        let mut units = Vec::new();
        for path in self.event_files(kind) {
            let file = File::open(&path).map_err(StoreError::read(&path))?;
            let groups = ParquetRecordBatchReaderBuilder::try_new(file)?.metadata().num_row_groups();
            units.extend((0..groups).map(|group| (path.clone(), group)));
        }
        units
            .into_par_iter()
            .try_fold(&make, |mut state, (path, group)| {
                for batch in read_columns(&path, columns, Some(group))? {
                    visit(&mut state, &batch)?;
                }
                Ok(state)
            })
            .try_reduce(&make, |left, right| Ok(merge(left, right)))
    }

    /// Stream the stored purchases as (customer id, UTC seconds, amount), in stored order.
    pub fn for_each_purchase(&self, mut visit: impl FnMut(&str, i64, f64)) -> Result<u64, StoreError> {
        let mut count = 0;
        for path in self.event_files(EventKind::Purchases) {
            for batch in read_columns(&path, &["customer_id", "time", "amount"], None)? {
                let (customers, times, amounts) = purchase_columns(&batch)?;
                for row in 0..batch.num_rows() {
                    visit(customers.value(row), times.value(row), amounts.value(row));
                    count += 1;
                }
            }
        }
        Ok(count)
    }
}

/// The columns of a purchases batch read as `customer_id, time, amount`.
pub fn purchase_columns(batch: &RecordBatch) -> Result<(&arrow::array::StringArray, &TimestampSecondArray, &Float64Array), StoreError> {
    let customers = batch.column(0).as_string_opt::<i32>().ok_or_else(|| StoreError::Internal("customer_id column is not text".into()))?;
    let times = batch
        .column(1)
        .as_any()
        .downcast_ref::<TimestampSecondArray>()
        .ok_or_else(|| StoreError::Internal("time column is not a timestamp".into()))?;
    let amounts = batch
        .column(2)
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| StoreError::Internal("amount column is not a float".into()))?;
    Ok((customers, times, amounts))
}

fn fail(options: &IngestOptions, point: FailPoint) -> Result<(), StoreError> {
    if options.fail_at == Some(point) { Err(StoreError::Injected(point)) } else { Ok(()) }
}

/// The named columns of one event file (or of one of its row groups), in the order named.
fn read_columns(path: &Path, names: &[&str], row_group: Option<usize>) -> Result<Vec<RecordBatch>, StoreError> {
    let file = File::open(path).map_err(StoreError::read(path))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    if let Some(group) = row_group {
        builder = builder.with_row_groups(vec![group]);
    }
    let schema = builder.schema().clone();
    let mut indexes = Vec::new();
    for name in names {
        indexes.push(schema.index_of(name).map_err(|_| StoreError::Internal(format!("{}: no column {name}", path.display())))?);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), indexes.clone());
    let reader = builder.with_projection(mask).with_batch_size(64 * 1024).build()?;
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch?;
        // Put the columns in the order asked for.
        let mut sorted = indexes.clone();
        sorted.sort_unstable();
        let columns: Vec<ArrayRef> = indexes.iter().map(|index| batch.column(sorted.binary_search(index).unwrap_or(0)).clone()).collect();
        let fields: Vec<Field> =
            names.iter().zip(&columns).map(|(name, column)| Field::new(*name, column.data_type().clone(), true)).collect();
        batches.push(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?);
    }
    Ok(batches)
}

fn hash_file(path: &Path) -> Result<String, StoreError> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(File::open(path).map_err(StoreError::read(path))?).map_err(StoreError::read(path))?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Write `bytes` to `path` and fsync it.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(StoreError::write(parent))?;
    }
    let mut file = File::create(path).map_err(StoreError::write(path))?;
    file.write_all(bytes).map_err(StoreError::write(path))?;
    file.sync_all().map_err(StoreError::write(path))
}

/// Replace `path` with `bytes` atomically: write aside, fsync, rename, fsync directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let aside = path.with_extension("tmp");
    write_synced(&aside, bytes)?;
    fs::rename(&aside, path).map_err(StoreError::write(path))?;
    sync_parent(path)
}

pub(crate) fn sync_parent(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent() {
        File::open(parent).and_then(|directory| directory.sync_all()).map_err(StoreError::write(parent))?;
    }
    Ok(())
}

struct ParsedRow {
    line: u64,
    values: Vec<Value>,
    content_hash: [u8; 16],
}

struct IngestSink<'a> {
    kind: EventKind,
    columns: &'a [WantedColumn],
    time_format: &'a TimeFormat,
    zone: Zone,
    file: &'a str,
    numbers: NumberFormat,
    rows: Vec<ParsedRow>,
    rejected: Vec<Rejected>,
}

impl<'a> IngestSink<'a> {
    fn new(
        kind: EventKind,
        columns: &'a [WantedColumn],
        time_format: &'a TimeFormat,
        zone: Zone,
        file: &'a str,
        numbers: NumberFormat,
    ) -> Self {
        IngestSink { kind, columns, time_format, zone, file, numbers, rows: Vec::new(), rejected: Vec::new() }
    }

    fn reject_at(&mut self, line: u64, index: usize, value: &str, expected: String) {
        self.rejected.push(Rejected {
            file: self.file.to_string(),
            line,
            column: self.columns[index].name.clone(),
            value: rapport_core::error::truncate(value, 80),
            expected,
        });
    }
}

impl RowSink for IngestSink<'_> {
    fn row(&mut self, line: u64, fields: &[Option<&str>]) {
        let specs = self.kind.fields();
        let mut values = Vec::with_capacity(specs.len());
        let mut hasher = blake3::Hasher::new();
        hasher.update(self.kind.name().as_bytes());
        for (index, (spec, field)) in specs.iter().zip(fields).enumerate() {
            let value = match field {
                None if spec.required => {
                    self.reject_at(line, index, "", format!("a value ({} is required)", spec.name));
                    return;
                }
                None => Value::Missing,
                Some(text) if spec.field_type == FieldType::Time => match self.time_format.parse(text) {
                    Ok(time) => Value::Time(self.zone.utc_seconds(time)),
                    Err(_) => {
                        self.reject_at(line, index, text, self.time_format.expected());
                        return;
                    }
                },
                Some(text) => match spec.field_type.parse_with(text, self.numbers) {
                    Ok(value) => value,
                    Err(_) => {
                        self.reject_at(line, index, text, spec.field_type.expected());
                        return;
                    }
                },
            };
            if index > 0 {
                hasher.update(format!("{value:?}\u{1f}").as_bytes());
            }
            values.push(value);
        }
        if let Err((index, error)) = self.kind.validate_row(&values) {
            let value = fields[index].unwrap_or_default().to_string();
            let expected = match error {
                rapport_core::CoreError::InvalidValue { expected, .. } => expected,
                other => other.to_string(),
            };
            self.reject_at(line, index, &value, expected);
            return;
        }
        let mut content_hash = [0u8; 16];
        content_hash.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        self.rows.push(ParsedRow { line, values, content_hash });
    }

    fn reject(&mut self, rejected: Rejected) {
        self.rejected.push(rejected);
    }

    fn merge(&mut self, other: Self) {
        self.rows.extend(other.rows);
        self.rejected.extend(other.rejected);
    }
}

/// The Arrow schema of stored events of `kind`: one column per field, plus the source
/// line for provenance.
pub fn event_schema(kind: EventKind) -> Schema {
    let mut fields: Vec<Field> = kind
        .fields()
        .iter()
        .map(|spec| {
            let data_type = match spec.field_type {
                FieldType::Time => DataType::Timestamp(ArrowTimeUnit::Second, Some("UTC".into())),
                FieldType::Decimal => DataType::Float64,
                FieldType::Count => DataType::UInt64,
                FieldType::Flag => DataType::Boolean,
                _ => DataType::Utf8,
            };
            Field::new(spec.name, data_type, !spec.required && spec.name != "event_id")
        })
        .collect();
    fields.push(Field::new("source_line", DataType::UInt64, false));
    Schema::new(fields)
}

fn write_events(path: &Path, kind: EventKind, rows: &[ParsedRow]) -> Result<(), StoreError> {
    let schema = Arc::new(event_schema(kind));
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (index, spec) in kind.fields().iter().enumerate() {
        let column: ArrayRef = match spec.field_type {
            FieldType::Time => {
                let mut builder = TimestampSecondBuilder::with_capacity(rows.len());
                for row in rows {
                    builder.append_option(match row.values[index] {
                        Value::Time(seconds) => Some(seconds),
                        _ => None,
                    });
                }
                Arc::new(builder.finish().with_timezone("UTC"))
            }
            FieldType::Decimal => {
                let mut builder = Float64Builder::with_capacity(rows.len());
                for row in rows {
                    builder.append_option(match row.values[index] {
                        Value::Decimal(value) => Some(value),
                        _ => None,
                    });
                }
                Arc::new(builder.finish())
            }
            FieldType::Count => {
                let mut builder = UInt64Builder::with_capacity(rows.len());
                for row in rows {
                    builder.append_option(match row.values[index] {
                        Value::Count(value) => Some(value),
                        _ => None,
                    });
                }
                Arc::new(builder.finish())
            }
            FieldType::Flag => {
                let mut builder = BooleanBuilder::with_capacity(rows.len());
                for row in rows {
                    builder.append_option(match row.values[index] {
                        Value::Flag(value) => Some(value),
                        _ => None,
                    });
                }
                Arc::new(builder.finish())
            }
            _ => {
                let mut builder = StringBuilder::new();
                for row in rows {
                    builder.append_option(match &row.values[index] {
                        Value::Text(text) => Some(text.as_str()),
                        _ => None,
                    });
                }
                Arc::new(builder.finish())
            }
        };
        columns.push(column);
    }
    let mut lines = UInt64Builder::with_capacity(rows.len());
    for row in rows {
        lines.append_value(row.line);
    }
    columns.push(Arc::new(lines.finish()));
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let file = File::create(path).map_err(StoreError::write(path))?;
    let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties))?;
    writer.write(&batch)?;
    let file = writer.into_inner()?;
    file.sync_all().map_err(StoreError::write(path))
}

fn write_quarantine(path: &Path, rejected: &[Rejected]) -> Result<(), StoreError> {
    let mut out = Vec::new();
    crate::output::write(&rejects_table(rejected)?, crate::output::OutputFormat::Csv, &mut out).map_err(StoreError::write(path))?;
    write_synced(path, &out)
}

/// Rejected rows as a table: `file, line, column, value, expected`.
pub fn rejects_table(rejected: &[Rejected]) -> Result<RecordBatch, StoreError> {
    crate::output::TableBuilder::default()
        .text("file", rejected.iter().map(|row| row.file.as_str()))
        .count("line", rejected.iter().map(|row| row.line))
        .text("column", rejected.iter().map(|row| row.column.as_str()))
        .text("value", rejected.iter().map(|row| row.value.as_str()))
        .text("expected", rejected.iter().map(|row| row.expected.as_str()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let directory = tempfile::tempdir().expect("tempdir");
        let workspace = Workspace::init(&directory.path().join("ws"), WorkspaceConfig::default()).expect("init");
        (directory, workspace)
    }

    fn purchases_file(directory: &Path, name: &str, content: &str) -> IngestOptions {
        let path = directory.join(name);
        fs::write(&path, content).expect("write");
        IngestOptions { input: InputSpec { path, ..InputSpec::default() }, ..IngestOptions::default() }
    }

    fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(directory) = stack.pop() {
            for entry in fs::read_dir(&directory).expect("dir").flatten() {
                let path = entry.path();
                let name = path.strip_prefix(root).expect("prefix").display().to_string();
                if name == ".lock" || name.starts_with(".staging") {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.insert(name, fs::read(&path).expect("read"));
                }
            }
        }
        files
    }

    const GOOD: &str = "customer_id,time,amount\na,2020-01-01,10\na,2020-01-05,-2.5\nb,2020-01-02,7\n";

    #[test]
    fn ingest_then_reingest_adds_nothing() {
        let (directory, mut workspace) = workspace();
        let options = purchases_file(directory.path(), "p.csv", GOOD);
        let report = workspace.ingest(EventKind::Purchases, &options).expect("ingest");
        assert_eq!((report.accepted, report.rejected, report.duplicates), (3, 0, 0));
        let again = workspace.ingest(EventKind::Purchases, &options).expect("ingest");
        assert_eq!((again.accepted, again.duplicates), (0, 3));
        assert!(again.batch.is_none());
        let mut seen = Vec::new();
        workspace.for_each_purchase(|customer, time, amount| seen.push((customer.to_string(), time, amount))).expect("read");
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[1], ("a".to_string(), 1_578_182_400, -2.5));
    }

    /// A customer master file has no time: profiles are accepted without one, events are not.
    #[test]
    fn customer_profiles_need_no_time() {
        let (directory, mut workspace) = workspace();
        let profiles = purchases_file(directory.path(), "c.csv", "customer_id,country,email_consent\n1,UK,yes\n2,FR,no\n");
        let report = workspace.ingest(EventKind::Customers, &profiles).expect("profiles");
        assert_eq!((report.accepted, report.rejected), (2, 0));
        let stored = read_columns(&workspace.event_files(EventKind::Customers)[0], &["time", "country"], None).expect("read");
        assert_eq!(stored[0].column(0).null_count(), 2);
        let purchases = purchases_file(directory.path(), "p.csv", "customer_id,amount\n1,3\n");
        assert!(workspace.ingest(EventKind::Purchases, &purchases).is_err(), "a purchase needs its time");
    }

    #[test]
    fn duplicate_event_ids_count_once() {
        let (directory, mut workspace) = workspace();
        let first = purchases_file(
            directory.path(),
            "1.csv",
            "event_id,customer_id,time,amount\ne1,a,2020-01-01,1\ne2,a,2020-01-02,1\ne1,a,2020-01-01,1\n",
        );
        let report = workspace.ingest(EventKind::Purchases, &first).expect("ingest");
        assert_eq!((report.accepted, report.duplicates), (2, 1));
        let second = purchases_file(directory.path(), "2.csv", "event_id,customer_id,time,amount\ne2,a,2020-01-02,1\ne3,b,2020-01-03,4\n");
        let report = workspace.ingest(EventKind::Purchases, &second).expect("ingest");
        assert_eq!((report.accepted, report.duplicates), (1, 1));
    }

    #[test]
    fn identical_rows_without_ids_in_one_file_are_both_kept() {
        let (directory, mut workspace) = workspace();
        let options = purchases_file(directory.path(), "p.csv", "customer_id,time,amount\na,2020-01-01,1\na,2020-01-01,1\n");
        assert_eq!(workspace.ingest(EventKind::Purchases, &options).expect("ingest").accepted, 2);
        assert_eq!(workspace.ingest(EventKind::Purchases, &options).expect("ingest").duplicates, 2);
    }

    #[test]
    fn bad_rows_are_quarantined_with_position() {
        let (directory, mut workspace) = workspace();
        let mut options = purchases_file(
            directory.path(),
            "p.csv",
            "customer_id,time,amount\na,2020-01-01,ten\nb,2020-13-01,1\nc,2020-01-01,3\n,2020-01-01,3\n",
        );
        let error = workspace.ingest(EventKind::Purchases, &options).expect_err("rejects");
        assert!(matches!(error, StoreError::TooManyRejects { rejected: 3, .. }), "{error}");
        assert!(error.to_string().contains("p.csv:2: column \"amount\": found \"ten\""), "{error}");
        assert!(workspace.batches().is_empty(), "nothing published");
        options.max_rejects = 3;
        let report = workspace.ingest(EventKind::Purchases, &options).expect("ingest");
        assert_eq!((report.accepted, report.rejected), (1, 3));
        let quarantine =
            fs::read_to_string(workspace.root().join(report.batch.expect("batch").quarantine_file.expect("file"))).expect("read");
        assert!(quarantine.contains(",3,time,2020-13-01,"), "{quarantine}");
        assert!(quarantine.contains(",5,customer_id,,"), "{quarantine}");
        // The same file again adds nothing at all: no batch, no second quarantine copy.
        let before = snapshot(workspace.root());
        let again = workspace.ingest(EventKind::Purchases, &options).expect("again");
        assert!(again.batch.is_none());
        assert_eq!((again.accepted, again.rejected, again.duplicates), (0, 3, 1));
        assert!(again.already_quarantined.is_some());
        assert_eq!(snapshot(workspace.root()), before, "the workspace is unchanged");
    }

    #[test]
    fn interrupted_ingest_leaves_the_workspace_as_before() {
        for point in
            [FailPoint::AfterStagingEvents, FailPoint::AfterStagingQuarantine, FailPoint::AfterMovingFiles, FailPoint::AfterWritingManifest]
        {
            let (directory, mut workspace) = workspace();
            let first = purchases_file(directory.path(), "1.csv", GOOD);
            workspace.ingest(EventKind::Purchases, &first).expect("ingest");
            let before = snapshot(workspace.root());
            let mut second = purchases_file(directory.path(), "2.csv", "customer_id,time,amount\nc,2020-02-01,1\nd,2020-02-01,x\n");
            second.max_rejects = 5;
            second.fail_at = Some(point);
            assert!(matches!(workspace.ingest(EventKind::Purchases, &second), Err(StoreError::Injected(_))));
            // A reader opening the workspace now sees exactly the old events.
            let reopened = Workspace::open(workspace.root()).expect("open");
            assert_eq!(reopened.batches().len(), 1, "{point:?}");
            let mut count = 0;
            reopened.for_each_purchase(|_, _, _| count += 1).expect("read");
            assert_eq!(count, 3, "{point:?}");
            // The next ingest cleans the leftovers, and the retry publishes everything once.
            second.fail_at = None;
            let mut reopened = reopened;
            let report = reopened.ingest(EventKind::Purchases, &second).expect("retry");
            assert_eq!((report.accepted, report.rejected), (1, 1), "{point:?}");
            let after = snapshot(reopened.root());
            for (name, bytes) in &before {
                if name != MANIFEST_FILE {
                    assert_eq!(after.get(name), Some(bytes), "{point:?}: {name}");
                }
            }
            assert_eq!(after.len(), before.len() + 2, "{point:?}: {:?}", after.keys().collect::<Vec<_>>());
        }
    }

    #[test]
    fn surveys_and_interactions_validate_their_fields() {
        let (directory, mut workspace) = workspace();
        let mut options = purchases_file(
            directory.path(),
            "s.csv",
            "customer_id,time,survey_type,score\na,2020-01-01,NPS,9\nb,2020-01-01,nps,11\nc,2020-01-01,csat,4\n",
        );
        options.max_rejects = 10;
        let report = workspace.ingest(EventKind::Surveys, &options).expect("ingest");
        assert_eq!((report.accepted, report.rejected), (2, 1));
        assert_eq!(report.first_rejects[0].column, "score");
        let mut options = purchases_file(
            directory.path(),
            "i.csv",
            "customer_id,time,channel,text\na,2020-01-01,Email,hi\nb,2020-01-01,carrier pigeon,hi\n",
        );
        options.max_rejects = 10;
        let report = workspace.ingest(EventKind::Interactions, &options).expect("ingest");
        assert_eq!((report.accepted, report.rejected), (1, 1));
    }

    #[test]
    fn mapping_from_config_and_options() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut config = WorkspaceConfig::default();
        config.mapping.insert("purchases".into(), BTreeMap::from([("customer_id".to_string(), "client".to_string())]));
        let mut workspace = Workspace::init(&directory.path().join("ws"), config).expect("init");
        let mut options = purchases_file(directory.path(), "p.csv", "client;when;total\nz;19970101;3\n");
        options.mapping.insert("time".into(), "when".into());
        options.mapping.insert("amount".into(), "total".into());
        assert_eq!(workspace.ingest(EventKind::Purchases, &options).expect("ingest").accepted, 1);
    }

    #[test]
    fn init_refuses_a_non_empty_directory_and_open_needs_a_workspace() {
        let directory = tempfile::tempdir().expect("tempdir");
        fs::write(directory.path().join("x"), "x").expect("write");
        assert!(matches!(Workspace::init(directory.path(), WorkspaceConfig::default()), Err(StoreError::AlreadyExists { .. })));
        assert!(matches!(Workspace::open(directory.path()), Err(StoreError::NotAWorkspace { .. })));
    }
}
