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

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, TimestampSecondArray};
use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, RecordBatch, StringBuilder, TimestampSecondBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit as ArrowTimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use rapport_core::config::WorkspaceConfig;
use rapport_core::event::{EventKind, FieldSpec, FieldType, Value};
use rapport_core::mapping::{FieldValue, Mapping, MappingOverrides};
use rapport_core::time::{TimeFormat, Zone};

use crate::StoreError;
use crate::fingerprint::{Fingerprint, FingerprintSet};
use crate::input::{InputFormat, InputSpec, Rejected, RowSink, WantedColumn, input_columns, scan_blocks};

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
    /// Rows the mapping's filter skipped.
    #[serde(default)]
    pub filtered: u64,
    /// BLAKE3 of what shaped the events besides the file (mapping, filters, time format,
    /// time zone, layout): the same file with the same options adds nothing and is not
    /// read again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options_blake3: Option<String>,
    /// The input's header line as written, so quarantined rows export as they came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The input's layout: `delimited`, `jsonl`, `lines` or `parquet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_format: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    version: u32,
    pub(crate) batches: Vec<Batch>,
}

/// An open workspace.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    config: WorkspaceConfig,
    zone: Zone,
    manifest: Manifest,
}

/// The event ids stored for one kind, kept between ingests by a long-running process
/// (see [`Workspace::ingest_cached`]).
#[derive(Debug, Default)]
pub struct IdCache {
    kind: Option<EventKind>,
    /// The batches whose ids the set holds, sorted.
    batches: Vec<u64>,
    ids: Option<FingerprintSet>,
}

impl IdCache {
    fn clear(&mut self) {
        *self = IdCache::default();
    }

    /// After a compaction: the ids of `merged` batches now live in batch `into`.
    pub(crate) fn replace_batches(&mut self, kind: EventKind, merged: &[u64], into: u64) {
        if self.kind != Some(kind) || self.ids.is_none() {
            return;
        }
        if merged.iter().all(|id| self.batches.binary_search(id).is_ok()) {
            self.batches.retain(|id| !merged.contains(id));
            self.batches.push(into);
            self.batches.sort_unstable();
        } else {
            self.clear();
        }
    }
}

/// How to ingest one file.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// The input and how to read it.
    pub input: InputSpec,
    /// What the command line adds to the workspace's mapping: `--map`, `--set`,
    /// `--where`, `--decimal-comma`.
    pub mapping: MappingOverrides,
    /// Time format; default: the workspace's for this kind, else auto.
    pub time_format: Option<TimeFormat>,
    /// Rejected rows allowed before the ingest is refused (default 0).
    pub max_rejects: u64,
    /// A mapping profile used instead of the workspace's mapping tables (another export
    /// layout of the same kind, such as a refund file).
    pub profile: Option<rapport_core::config::MappingProfile>,
    /// Replace this earlier batch (of the same kind) with this ingest, atomically: to
    /// re-ingest a file with a corrected mapping without counting its rows twice.
    pub replace: Option<u64>,
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
    /// Of them, rows without an event id that repeat a stored row in every column (the
    /// same line sent again, or a second identical line item that only an event id would
    /// tell apart).
    #[serde(skip_serializing_if = "is_zero")]
    pub content_duplicates: u64,
    /// Rows read whose customer id is a whole number written as a float (`17850.0`,
    /// a pandas export of an id column with blanks): another file's `17850` is another
    /// customer.
    #[serde(skip_serializing_if = "is_zero")]
    pub float_customer_ids: u64,
    /// Rows read that name no customer, only an order (guest checkouts in a retail
    /// export): the analysis gives each to the customer whose purchase carries its order,
    /// and leaves it out where none does.
    #[serde(skip_serializing_if = "is_zero")]
    pub without_customer: u64,
    /// Rows the mapping's filter skipped.
    pub filtered: u64,
    /// Rows of customers forgotten in this workspace (`rapport forget`), skipped.
    pub forgotten: u64,
    /// The first rejected rows (up to 20), for display.
    pub first_rejects: Vec<Rejected>,
    /// When the file was ingested before with the same rejects and nothing new was
    /// accepted: the quarantine file that already holds them (nothing is published).
    pub already_quarantined: Option<String>,
    /// When this file was ingested before with the same options: that batch (the file
    /// was not read again and nothing is published).
    pub already_ingested: Option<u64>,
    /// The file's columns that no field maps, in the file's order: not stored (they only
    /// tell apart rows without an event id).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmapped: Vec<String>,
    /// The time field's column, when a column holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_column: Option<String>,
    /// Rows rejected for a time in that column that did not parse (not for a blank one):
    /// many of them beside accepted rows point to a wrong time format.
    #[serde(skip_serializing_if = "is_zero")]
    pub time_rejects: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
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
        let (config, zone) = read_config(&config_path)?;
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

    /// Take the workspace's write lock (held until the file is dropped), read the manifest
    /// again (another process may have published since this one opened the workspace),
    /// and finish or undo what an interrupted write left behind.
    pub(crate) fn lock(&mut self) -> Result<File, StoreError> {
        let lock_path = self.root.join(".lock");
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(StoreError::write(&lock_path))?;
        lock.lock().map_err(StoreError::write(&lock_path))?;
        crate::forget::recover(&self.root)?;
        *self = Workspace::open(&self.root)?;
        self.clean_leftovers()?;
        Ok(lock)
    }

    /// The manifest as published.
    pub(crate) fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Publish `manifest` (serialised as `bytes`) in one atomic step. Needs the lock.
    pub(crate) fn publish_manifest(&mut self, manifest: Manifest, bytes: &[u8]) -> Result<(), StoreError> {
        let staging = self.root.join(".staging");
        fs::create_dir_all(&staging).map_err(StoreError::write(&staging))?;
        let aside = staging.join(MANIFEST_FILE);
        write_synced(&aside, bytes)?;
        let manifest_path = self.root.join(MANIFEST_FILE);
        fs::rename(&aside, &manifest_path).map_err(StoreError::write(&manifest_path))?;
        sync_parent(&manifest_path)?;
        self.manifest = manifest;
        Ok(())
    }

    /// Remove event and quarantine files no batch lists (after a publish). Needs the lock.
    pub(crate) fn remove_unlisted(&self) -> Result<(), StoreError> {
        self.clean_leftovers()
    }

    /// Remove what interrupted ingests left behind: staging files and event or
    /// quarantine files that no published batch lists; and the scratch directories of
    /// interrupted commands (crate::scratch). Needs the ingest lock.
    fn clean_leftovers(&self) -> Result<(), StoreError> {
        crate::scratch::remove_stale(&self.root)?;
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
    ///
    /// The file streams through: blocks of rows are parsed on all cores and written, in
    /// input order, to a staged Parquet file as they come, rejected rows (whole, with
    /// their reasons) to a staged quarantine file. Memory holds a few blocks, the
    /// Parquet writer's current row group, and the fingerprints of the kind's event ids
    /// (about 8.5 bytes per stored or new event; see [`crate::fingerprint`]).
    pub fn ingest(&mut self, kind: EventKind, options: &IngestOptions) -> Result<IngestReport, StoreError> {
        self.ingest_with(kind, options, None)
    }

    /// [`Workspace::ingest`], keeping the event ids stored for `kind` in `cache` between
    /// calls: a long-running process (the server's ingest endpoints) reads only the
    /// batches published since its last ingest instead of every stored id each time. The
    /// cache follows the manifest, so ingests by other processes in between are picked up;
    /// a failed ingest empties it.
    pub fn ingest_cached(&mut self, kind: EventKind, options: &IngestOptions, cache: &mut IdCache) -> Result<IngestReport, StoreError> {
        self.ingest_with(kind, options, Some(cache))
    }

    fn ingest_with(&mut self, kind: EventKind, options: &IngestOptions, cache: Option<&mut IdCache>) -> Result<IngestReport, StoreError> {
        let keep = cache.is_some();
        let mut scratch = IdCache::default();
        let cache = cache.unwrap_or(&mut scratch);
        let lock = self.lock()?;

        let config = match &options.profile {
            Some(profile) => {
                let config = self.config.with_profile(profile);
                config.validate().map_err(|problem| {
                    StoreError::Invalid(rapport_core::CoreError::InvalidOption { option: "mapping", reason: problem.message })
                })?;
                config
            }
            None => self.config.clone(),
        };
        let mapping = Mapping::resolve(kind, &config, &options.mapping)?;
        let time_format = match &options.time_format {
            Some(format) => format.clone(),
            None => config.time_format.get(kind.name()).map(|text| text.parse()).transpose()?.unwrap_or_default(),
        };
        let input = &options.input;
        let format = input.format.resolve(&input.path);
        let source_bytes_hash = hash_file(&input.path)?;
        // (The encoding is added only when one is given, so that the files ingested before
        // it existed are still recognised.)
        let encoding = input.encoding.map(|encoding| format!("|{}", encoding.name())).unwrap_or_default();
        let options_hash = blake3::hash(
            format!("{kind}|{mapping:?}|{time_format:?}|{}|{format:?}|{:?}|{:?}{encoding}", self.zone, input.delimiter, input.columns)
                .as_bytes(),
        )
        .to_hex()
        .to_string();
        if let Some(replaced) = options.replace
            && !self.manifest.batches.iter().any(|batch| batch.id == replaced && batch.kind == kind)
        {
            return Err(StoreError::Invalid(rapport_core::CoreError::InvalidOption {
                option: "replace",
                reason: format!(
                    "there is no batch {replaced} of {kind} in this workspace (rapport quarantine list and manifest.json list the batches)"
                ),
            }));
        }
        if let Some(earlier) = self.manifest.batches.iter().find(|batch| {
            options.replace.is_none()
                && batch.kind == kind
                && batch.source_blake3 == source_bytes_hash
                && batch.options_blake3.as_deref() == Some(options_hash.as_str())
        }) {
            return Ok(IngestReport {
                batch: None,
                accepted: 0,
                rejected: earlier.rejected,
                duplicates: earlier.accepted + earlier.duplicates,
                content_duplicates: 0,
                float_customer_ids: 0,
                without_customer: 0,
                filtered: earlier.filtered,
                forgotten: 0,
                first_rejects: Vec::new(),
                already_quarantined: earlier.quarantine_file.clone(),
                already_ingested: Some(earlier.id),
                unmapped: Vec::new(),
                time_column: None,
                time_rejects: 0,
            });
        }

        let mut wanted: Vec<WantedColumn> = mapping
            .columns()
            .iter()
            .map(|column| WantedColumn { name: column.name.clone(), required: column.required, identity_only: false })
            .collect();
        require_customer_column(kind, &mapping, &mut wanted, input)?;
        // A mapping that names columns the file lacks is the problem to report, every such
        // column at once, and (for a file ingested before) before whether the options differ.
        check_columns(&wanted, input)?;
        if let Some(earlier) = self.manifest.batches.iter().find(|batch| {
            batch.kind == kind
                && batch.source_blake3 == source_bytes_hash
                && batch.options_blake3.is_some()
                && batch.options_blake3.as_deref() != Some(options_hash.as_str())
                && Some(batch.id) != options.replace
        }) {
            return Err(StoreError::IngestedWithOtherOptions { path: input.path.clone(), batch: earlier.id });
        }
        let stored = match options.replace {
            Some(except) => {
                cache.clear();
                self.stored_fingerprints(kind, Some(except))?
            }
            None => self.cached_fingerprints(kind, cache)?,
        };
        let id = self.manifest.batches.iter().map(|batch| batch.id).max().unwrap_or(0) + 1;
        let staging = self.root.join(".staging").join(format!("{id:06}"));
        fs::create_dir_all(&staging).map_err(StoreError::write(&staging))?;
        // A row without an event id is identified by its whole record, not only the mapped
        // fields: two lines of one invoice (same customer, time and amount, different
        // products) split across two files are two events, not a duplicate. The columns
        // no field maps are read for that, after the mapped ones.
        let mapped = wanted.len();
        let header = crate::input::text_columns(input)?;
        // The input column a row's order id is read from, where the input has it (a
        // file's header says; other inputs are taken at the mapping's word).
        let order_column = kind
            .fields()
            .iter()
            .position(|field| field.name == "order_id")
            .and_then(|index| mapping.column_of(index))
            .filter(|column| header.as_ref().is_none_or(|names| names.iter().any(|name| name.eq_ignore_ascii_case(column))))
            .map(str::to_string);
        if let Some(columns) = header {
            for name in columns {
                if !name.is_empty() && !wanted.iter().any(|column| column.name.eq_ignore_ascii_case(&name)) {
                    wanted.push(WantedColumn::identity(name));
                }
            }
        }
        let unmapped: Vec<String> = wanted[mapped..].iter().map(|column| column.name.clone()).collect();
        let file = input.name();
        let forgotten = crate::forget::Forgotten::load(&self.root)?;
        let customer_index = kind.fields().iter().position(|field| field.name == "customer_id");
        let context = RowContext {
            kind,
            mapping: &mapping,
            time_format: &time_format,
            zone: self.zone,
            file: &file,
            mapped,
            named_identity: (input.format.resolve(&input.path) == crate::input::InputFormat::JsonLines)
                .then(|| unmapped.iter().map(|name| name.to_lowercase()).collect()),
            forgotten: forgotten.as_ref().zip(customer_index),
            customer: customer_index,
            order_column,
        };
        let time_column =
            kind.fields().iter().position(|field| field.name == "time").and_then(|index| mapping.column_of(index)).map(str::to_string);
        let mut state = IngestState::new(kind, &staging, stored, options.max_rejects);
        state.time_column = time_column.clone();
        state.remember_accepted = keep && options.replace.is_none();
        let mut header = None;
        scan_blocks(
            input,
            &wanted,
            || IngestBlock::new(&context),
            |start| {
                header = start.header.clone();
                Ok::<(), StoreError>(())
            },
            |block| state.take(block),
        )?;
        let IngestState {
            events,
            quarantine,
            accepted,
            rejected,
            duplicates,
            content_duplicates,
            float_ids,
            without_customer,
            filtered,
            first_rejects,
            by_column,
            forgotten,
            stored,
            time_rejects,
            ..
        } = state;

        if rejected > options.max_rejects {
            let _ = fs::remove_dir_all(&staging);
            return Err(StoreError::TooManyRejects { rejected, max: options.max_rejects, first: describe_rejects(&by_column) });
        }
        events.finish()?;
        fail(options, FailPoint::AfterStagingEvents)?;
        if let Some(quarantine) = quarantine {
            let file = quarantine.into_inner().map_err(|error| StoreError::write(staging.join("quarantine.csv"))(error.into_error()))?;
            file.sync_all().map_err(StoreError::write(staging.join("quarantine.csv")))?;
        }
        fail(options, FailPoint::AfterStagingQuarantine)?;

        if accepted == 0 && rejected == 0 && options.replace.is_none() {
            // Nothing accepted, so the set holds exactly the stored ids still.
            let mut batches = self.manifest.batches.iter().filter(|batch| batch.kind == kind).map(|batch| batch.id).collect::<Vec<_>>();
            batches.sort_unstable();
            *cache = IdCache { kind: Some(kind), batches, ids: Some(stored) };
            let _ = fs::remove_dir_all(self.root.join(".staging"));
            return Ok(IngestReport {
                batch: None,
                accepted: 0,
                rejected: 0,
                duplicates,
                content_duplicates,
                float_customer_ids: float_ids,
                without_customer,
                filtered,
                forgotten,
                first_rejects,
                already_quarantined: None,
                already_ingested: None,
                unmapped,
                time_column,
                time_rejects,
            });
        }
        // The same file again (ingested before this workspace recorded options), with
        // nothing new to accept and the same rejects as a batch already published from
        // it: those rows are already in quarantine. Nothing is published.
        if accepted == 0 && options.replace.is_none() {
            let earlier = self
                .manifest
                .batches
                .iter()
                .find(|batch| batch.kind == kind && batch.source_blake3 == source_bytes_hash && batch.rejected == rejected);
            if let Some(quarantine_file) = earlier.and_then(|batch| batch.quarantine_file.clone()) {
                let _ = fs::remove_dir_all(self.root.join(".staging"));
                return Ok(IngestReport {
                    batch: None,
                    accepted: 0,
                    rejected,
                    duplicates,
                    content_duplicates,
                    float_customer_ids: float_ids,
                    without_customer,
                    filtered,
                    forgotten,
                    first_rejects,
                    already_quarantined: Some(quarantine_file),
                    already_ingested: None,
                    unmapped,
                    time_column,
                    time_rejects,
                });
            }
        }

        let events_file = (accepted > 0).then(|| format!("events/{}/{id:06}.parquet", kind.name()));
        let quarantine_file = (rejected > 0).then(|| format!("quarantine/{id:06}-{}.csv", kind.name()));
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
            source: input.name(),
            source_blake3: source_bytes_hash,
            ingested_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            accepted,
            rejected,
            duplicates,
            events_file,
            quarantine_file,
            filtered,
            options_blake3: Some(options_hash),
            header,
            source_format: Some(format_name(format).to_string()),
        };
        let mut manifest = self.manifest.clone();
        // A replaced batch leaves the manifest in the same atomic step; its files are
        // removed as leftovers when the workspace is next opened for an ingest.
        manifest.batches.retain(|earlier| Some(earlier.id) != options.replace);
        manifest.batches.push(batch.clone());
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).map_err(|error| StoreError::Internal(error.to_string()))?;
        let manifest_path = self.root.join(MANIFEST_FILE);
        let aside = self.root.join(".staging").join(MANIFEST_FILE);
        write_synced(&aside, &manifest_bytes)?;
        fail(options, FailPoint::AfterWritingManifest)?;
        fs::rename(&aside, &manifest_path).map_err(StoreError::write(&manifest_path))?;
        sync_parent(&manifest_path)?;
        self.manifest = manifest;
        if options.replace.is_none() {
            let mut batches = self.manifest.batches.iter().filter(|batch| batch.kind == kind).map(|batch| batch.id).collect::<Vec<_>>();
            batches.sort_unstable();
            *cache = IdCache { kind: Some(kind), batches, ids: Some(stored) };
        }
        if options.replace.is_some() {
            // The replaced batch's files are no longer listed: remove them now.
            self.clean_leftovers()?;
        }
        let _ = fs::remove_dir_all(self.root.join(".staging"));
        drop(lock);
        Ok(IngestReport {
            batch: Some(batch),
            accepted,
            rejected,
            duplicates,
            content_duplicates,
            float_customer_ids: float_ids,
            without_customer,
            filtered,
            forgotten,
            first_rejects,
            already_quarantined: None,
            already_ingested: None,
            unmapped,
            time_column,
            time_rejects,
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

    /// The fingerprints of the stored event ids of `kind` (but those of batch `except`),
    /// read a record batch at a time.
    fn stored_fingerprints(&self, kind: EventKind, except: Option<u64>) -> Result<FingerprintSet, StoreError> {
        let mut set = FingerprintSet::new();
        let batches: Vec<&Batch> = self.manifest.batches.iter().filter(|batch| batch.kind == kind && Some(batch.id) != except).collect();
        self.add_fingerprints(&mut set, &batches)?;
        Ok(set)
    }

    /// Read the stored ids of `kind` into `cache` now (a server warms its caches at start,
    /// so that its first ingest does not pay for reading every stored id).
    pub fn fill_id_cache(&self, kind: EventKind, cache: &mut IdCache) -> Result<(), StoreError> {
        let ids = self.cached_fingerprints(kind, cache)?;
        let mut batches = self.manifest.batches.iter().filter(|batch| batch.kind == kind).map(|batch| batch.id).collect::<Vec<_>>();
        batches.sort_unstable();
        *cache = IdCache { kind: Some(kind), batches, ids: Some(ids) };
        Ok(())
    }

    /// The stored ids of `kind`, from `cache` when it covers a subset of the batches the
    /// manifest lists now (the rest are read), else read whole. The cache is left empty:
    /// the ingest hands the set back when it publishes.
    fn cached_fingerprints(&self, kind: EventKind, cache: &mut IdCache) -> Result<FingerprintSet, StoreError> {
        let listed: Vec<&Batch> = self.manifest.batches.iter().filter(|batch| batch.kind == kind).collect();
        let cached = std::mem::take(cache);
        if let (Some(cached_kind), Some(mut set)) = (cached.kind, cached.ids)
            && cached_kind == kind
            && cached.batches.iter().all(|id| listed.iter().any(|batch| batch.id == *id))
        {
            let new: Vec<&Batch> = listed.into_iter().filter(|batch| cached.batches.binary_search(&batch.id).is_err()).collect();
            self.add_fingerprints(&mut set, &new)?;
            return Ok(set);
        }
        self.stored_fingerprints(kind, None)
    }

    fn add_fingerprints(&self, set: &mut FingerprintSet, batches: &[&Batch]) -> Result<(), StoreError> {
        let files = batches.iter().filter_map(|batch| batch.events_file.as_ref()).map(|file| self.root.join(file));
        for path in files {
            let file = File::open(&path).map_err(StoreError::read(&path))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
            let index = builder
                .schema()
                .index_of("event_id")
                .map_err(|_| StoreError::Internal(format!("{}: no column event_id", path.display())))?;
            let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
            for batch in builder.with_projection(mask).with_batch_size(64 * 1024).build()? {
                let batch = batch?;
                for id in batch.column(0).as_string::<i32>().iter().flatten() {
                    set.insert(Fingerprint::of(id.as_bytes()));
                }
            }
        }
        Ok(())
    }

    /// The stored events of `kind` that name `customer`, or name no customer and one of
    /// `orders`: the kind's fields, every event file read at once. Only the id columns are
    /// decoded in full; Parquet decodes the other columns for the matching rows alone (a
    /// row filter), so one customer's timeline costs a scan of two columns.
    pub fn customer_rows(&self, kind: EventKind, customer: &str, orders: &HashSet<String>) -> Result<Vec<RecordBatch>, StoreError> {
        use parquet::arrow::arrow_reader::{ArrowPredicateFn, RowFilter};
        use rayon::prelude::*;
        let files = self.event_files(kind);
        let found: Vec<Vec<RecordBatch>> = files
            .par_iter()
            .map(|path| -> Result<Vec<RecordBatch>, StoreError> {
                let file = File::open(path).map_err(StoreError::read(path))?;
                let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
                let schema = builder.schema().clone();
                let Ok(id_index) = schema.index_of("customer_id") else { return Ok(Vec::new()) };
                let mut keys = vec![id_index];
                keys.extend(schema.index_of("order_id").ok());
                let key_mask = ProjectionMask::roots(builder.parquet_schema(), keys);
                // The kind's fields the file has (not its provenance column).
                let wanted: Vec<usize> = kind.fields().iter().filter_map(|field| schema.index_of(field.name).ok()).collect();
                let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
                let (customer, orders) = (customer.to_string(), orders.clone());
                let predicate = ArrowPredicateFn::new(key_mask, move |batch: RecordBatch| {
                    let ids = batch.column_by_name("customer_id").and_then(|column| column.as_string_opt::<i32>().cloned());
                    let order_ids = batch.column_by_name("order_id").and_then(|column| column.as_string_opt::<i32>().cloned());
                    Ok((0..batch.num_rows())
                        .map(|row| {
                            Some(match &ids {
                                Some(ids) if ids.is_valid(row) => ids.value(row) == customer,
                                _ => order_ids
                                    .as_ref()
                                    .is_some_and(|order_ids| order_ids.is_valid(row) && orders.contains(order_ids.value(row))),
                            })
                        })
                        .collect::<arrow::array::BooleanArray>())
                });
                let reader = builder.with_projection(mask).with_row_filter(RowFilter::new(vec![Box::new(predicate)])).build()?;
                Ok(reader.collect::<Result<Vec<_>, _>>()?)
            })
            .collect::<Result<_, _>>()?;
        Ok(found.into_iter().flatten().filter(|batch| batch.num_rows() > 0).collect())
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
        self.row_groups(kind)?
            .into_par_iter()
            .try_fold(&make, |mut state, (path, group)| {
                for batch in read_columns(&path, columns, Some(group))? {
                    visit(&mut state, &batch)?;
                }
                Ok(state)
            })
            .try_reduce(&make, |left, right| Ok(merge(left, right)))
    }

    /// Every row group of the stored events of `kind`: (file, group), in storage order.
    fn row_groups(&self, kind: EventKind) -> Result<Vec<(PathBuf, usize)>, StoreError> {
        let mut units = Vec::new();
        for path in self.event_files(kind) {
            let file = File::open(&path).map_err(StoreError::read(&path))?;
            let groups = ParquetRecordBatchReaderBuilder::try_new(file)?.metadata().num_row_groups();
            units.extend((0..groups).map(|group| (path.clone(), group)));
        }
        Ok(units)
    }

    /// Stream the stored events of `kind` in storage order with bounded memory: the
    /// named columns of a row group per core are read and passed through `map` on all
    /// cores, then each record batch's result is handed to `each` on this thread, in
    /// storage order, before the next row groups are read. Memory holds one row group
    /// per core, not the kind (a fold whose result depends on order, such as placing
    /// rows in customer timelines, cannot use [`Self::scan_events`]).
    pub fn scan_events_in_order<T: Send, E: From<StoreError>>(
        &self,
        kind: EventKind,
        columns: &[&str],
        map: impl Fn(RecordBatch) -> T + Sync + Send,
        mut each: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        use rayon::prelude::*;
        let units = self.row_groups(kind)?;
        for window in units.chunks(rayon::current_num_threads().max(1)) {
            let mapped = window
                .par_iter()
                .map(|(path, group)| Ok(read_columns(path, columns, Some(*group))?.into_iter().map(&map).collect::<Vec<T>>()))
                .collect::<Result<Vec<Vec<T>>, StoreError>>()?;
            for result in mapped.into_iter().flatten() {
                each(result)?;
            }
        }
        Ok(())
    }

    /// Whether some stored events of `kind` name no customer (only an order), from the
    /// Parquet statistics, without reading the events.
    pub fn has_events_without_customer(&self, kind: EventKind) -> Result<bool, StoreError> {
        for path in self.event_files(kind) {
            let file = File::open(&path).map_err(StoreError::read(&path))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
            let Ok(index) = builder.schema().index_of("customer_id") else { continue };
            for group in builder.metadata().row_groups() {
                match group.column(index).statistics().and_then(|statistics| statistics.null_count_opt()) {
                    Some(0) => {}
                    _ => return Ok(true),
                }
            }
        }
        Ok(false)
    }

    /// Whether some stored purchases need their order to be read: rows naming no
    /// customer, or refunds naming an order (which net against that order's purchase).
    /// From the Parquet statistics, without reading the events.
    pub fn purchases_need_orders(&self) -> Result<bool, StoreError> {
        use parquet::file::statistics::Statistics;
        for path in self.event_files(EventKind::Purchases) {
            let file = File::open(&path).map_err(StoreError::read(&path))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
            let schema = builder.schema().clone();
            let (Ok(customer), Ok(amount), Ok(order)) =
                (schema.index_of("customer_id"), schema.index_of("amount"), schema.index_of("order_id"))
            else {
                continue;
            };
            for group in builder.metadata().row_groups() {
                let nulls = |index: usize| group.column(index).statistics().and_then(|statistics| statistics.null_count_opt());
                if nulls(customer) != Some(0) {
                    return Ok(true);
                }
                let refunds = match group.column(amount).statistics() {
                    Some(Statistics::Double(statistics)) => statistics.min_opt().is_none_or(|min| *min < 0.0),
                    _ => true,
                };
                if refunds && nulls(order).is_none_or(|nulls| nulls < group.num_rows() as u64) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Order id → (customer id, UTC seconds) of the purchase (amount ≥ 0) that carries
    /// the order with its customer: how a refund or another purchase row that names an
    /// order finds its customer and the purchase it belongs to. When several purchases
    /// carry one order, the earliest (then the smallest customer id): a rule that does not
    /// depend on the order rows were stored in, so that a distributed plan gives the same
    /// links. Holds the orders a refund or a row without a customer names, not every
    /// order: a first pass finds those (usually a small share), a second links them, each
    /// a row group per core.
    pub fn order_links(&self) -> Result<HashMap<String, (String, i64)>, StoreError> {
        self.link_orders(&self.orders_to_link(EventKind::Purchases)?)
    }

    /// The orders stored events of `kind` need linked ([`Self::link_orders`]): those rows
    /// without a customer name and, among purchases, those refunds name (a refund nets
    /// against the purchase of its order). Read only where the Parquet statistics say some
    /// row may need it.
    pub fn orders_to_link(&self, kind: EventKind) -> Result<HashSet<String>, StoreError> {
        let refunds = kind == EventKind::Purchases;
        let maybe = if refunds { self.purchases_need_orders()? } else { self.has_events_without_customer(kind)? };
        if !maybe {
            return Ok(HashSet::new());
        }
        let columns: &[&str] = if refunds { &["order_id", "customer_id", "amount"] } else { &["order_id", "customer_id"] };
        self.scan_events(
            kind,
            columns,
            HashSet::new,
            |needed: &mut HashSet<String>, batch| {
                let (order_ids, customers) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
                let amounts = refunds.then(|| batch.column(2).as_primitive::<arrow::datatypes::Float64Type>());
                for row in 0..batch.num_rows() {
                    let refund = amounts.is_some_and(|amounts| amounts.value(row) < 0.0);
                    if !order_ids.is_null(row) && (customers.is_null(row) || refund) && !needed.contains(order_ids.value(row)) {
                        needed.insert(order_ids.value(row).to_string());
                    }
                }
                Ok(())
            },
            |mut left, right| {
                left.extend(right);
                left
            },
        )
    }

    /// Order id → (customer id, UTC seconds) of the purchase that carries each of
    /// `needed` (the rule of [`Self::order_links`]), a row group per core. Orders no
    /// purchase with a customer carries are absent.
    pub fn link_orders(&self, needed: &HashSet<String>) -> Result<HashMap<String, (String, i64)>, StoreError> {
        if needed.is_empty() {
            return Ok(HashMap::new());
        }
        // The earlier (time, customer) of two links wins.
        let keep = |orders: &mut HashMap<String, (String, i64)>, order: &str, customer: &str, time: i64| match orders.get_mut(order) {
            None => {
                orders.insert(order.to_string(), (customer.to_string(), time));
            }
            Some(link) if (time, customer) < (link.1, link.0.as_str()) => *link = (customer.to_string(), time),
            Some(_) => {}
        };
        self.scan_events(
            EventKind::Purchases,
            &["order_id", "customer_id", "time", "amount"],
            HashMap::new,
            |orders: &mut HashMap<String, (String, i64)>, batch| {
                let projected = batch.project(&[1, 2, 3])?;
                let (customers, times, amounts) = purchase_columns(&projected)?;
                let order_ids = batch.column(0).as_string::<i32>();
                for row in 0..batch.num_rows() {
                    if order_ids.is_null(row)
                        || customers.is_null(row)
                        || amounts.value(row) < 0.0
                        || !needed.contains(order_ids.value(row))
                    {
                        continue;
                    }
                    keep(orders, order_ids.value(row), customers.value(row), times.value(row));
                }
                Ok(())
            },
            |mut left, right| {
                for (order, (customer, time)) in right {
                    keep(&mut left, &order, &customer, time);
                }
                left
            },
        )
    }

    /// Stream the stored purchases as (customer id, UTC seconds, amount), in stored order.
    pub fn for_each_purchase(&self, mut visit: impl FnMut(&str, i64, f64)) -> Result<u64, StoreError> {
        let mut count = 0;
        for path in self.event_files(EventKind::Purchases) {
            for batch in row_group_batches(&path, &["customer_id", "time", "amount"])? {
                let batch = batch?;
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

/// Read and check a workspace configuration file (a rapport.toml): its settings and time
/// zone, or an error naming the file and the line at fault.
pub fn read_config(config_path: &Path) -> Result<(WorkspaceConfig, Zone), StoreError> {
    let text = fs::read_to_string(config_path).map_err(StoreError::read(config_path))?;
    let config: WorkspaceConfig =
        toml::from_str(&text).map_err(|error| StoreError::Config { path: config_path.to_path_buf(), message: error.to_string() })?;
    config.validate().map_err(|problem| {
        // Name the line of the value at fault (toml's own errors already do).
        let message = match problem.span {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: {}", problem.message)
            }
            None => problem.message,
        };
        StoreError::Config { path: config_path.to_path_buf(), message }
    })?;
    let zone: Zone = config
        .timezone
        .parse()
        .map_err(|error: rapport_core::CoreError| StoreError::Config { path: config_path.to_path_buf(), message: error.to_string() })?;
    Ok((config, zone))
}

/// Read a mapping profile (`rapport ingest --mapping FILE`): rapport.toml's mapping
/// tables, nothing else.
pub fn read_profile(path: &Path) -> Result<rapport_core::config::MappingProfile, StoreError> {
    let text = fs::read_to_string(path).map_err(StoreError::read(path))?;
    toml::from_str(&text).map_err(|error| StoreError::Config { path: path.to_path_buf(), message: error.to_string().trim().to_string() })
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

/// The named columns of one event file, a row group at a time (memory holds one row
/// group, whatever the file's size).
fn row_group_batches<'a>(
    path: &'a Path,
    names: &'a [&'a str],
) -> Result<impl Iterator<Item = Result<RecordBatch, StoreError>> + 'a, StoreError> {
    let file = File::open(path).map_err(StoreError::read(path))?;
    let groups = ParquetRecordBatchReaderBuilder::try_new(file)?.metadata().num_row_groups();
    Ok((0..groups).flat_map(move |group| match read_columns(path, names, Some(group)) {
        Ok(batches) => batches.into_iter().map(Ok).collect::<Vec<_>>(),
        Err(error) => vec![Err(error)],
    }))
}

/// The named columns of one event file (or of one of its row groups), in the order named.
pub(crate) fn read_columns(path: &Path, names: &[&str], row_group: Option<usize>) -> Result<Vec<RecordBatch>, StoreError> {
    let file = File::open(path).map_err(StoreError::read(path))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    if let Some(group) = row_group {
        builder = builder.with_row_groups(vec![group]);
    }
    let schema = builder.schema().clone();
    // A field added to a kind after a batch was stored reads as missing in that batch.
    let mut indexes = Vec::new();
    let mut absent: Vec<(usize, DataType)> = Vec::new();
    for (position, name) in names.iter().enumerate() {
        match schema.index_of(name) {
            Ok(index) => indexes.push(index),
            Err(_) => {
                let data_type = EventKind::ALL
                    .iter()
                    .find_map(|kind| event_schema(*kind).field_with_name(name).ok().map(|field| field.data_type().clone()))
                    .ok_or_else(|| StoreError::Internal(format!("{}: no column {name}", path.display())))?;
                absent.push((position, data_type));
            }
        }
    }
    if indexes.is_empty() {
        return Err(StoreError::Internal(format!("{}: none of the columns {names:?}", path.display())));
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), indexes.clone());
    let reader = builder.with_projection(mask).with_batch_size(64 * 1024).build()?;
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch?;
        // Put the columns in the order asked for.
        let mut sorted = indexes.clone();
        sorted.sort_unstable();
        let mut present = indexes.iter().map(|index| batch.column(sorted.binary_search(index).unwrap_or(0)).clone());
        let columns: Vec<ArrayRef> = (0..names.len())
            .map(|position| match absent.iter().find(|(at, _)| *at == position) {
                Some((_, data_type)) => arrow::array::new_null_array(data_type, batch.num_rows()),
                None => present.next().unwrap_or_else(|| arrow::array::new_null_array(&DataType::Utf8, batch.num_rows())),
            })
            .collect();
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

/// What every block of one ingest shares.
struct RowContext<'a> {
    kind: EventKind,
    mapping: &'a Mapping,
    time_format: &'a TimeFormat,
    zone: Zone,
    file: &'a str,
    /// Input columns the mapping reads; those after them are read only for the identity
    /// of rows without an event id.
    mapped: usize,
    /// For JSON Lines, the names of those columns (lower case): each line carries only
    /// some keys, in any order, so a key and its value are hashed where the line has it,
    /// and a missing key not at all. (A CSV file's columns are the same on every row and
    /// hashed by position, as the workspace's stored fingerprints were.)
    named_identity: Option<Vec<String>>,
    /// The customers forgotten in this workspace, and where a row's customer id is.
    forgotten: Option<(&'a crate::forget::Forgotten, usize)>,
    /// Where a row's customer id is, for a kind that has one.
    customer: Option<usize>,
    /// The input column a row's order id is read from, when the input has one.
    order_column: Option<String>,
}

struct ParsedRow {
    line: u64,
    values: Vec<Value>,
    /// Hash of the row's values (all but the event id), for ids derived from content.
    content_hash: [u8; 16],
    /// The fingerprint of the row's own event id, when it has one.
    fingerprint: Option<Fingerprint>,
}

/// A rejected row with the row itself, as written in the input: its bytes, so that a
/// row that is not UTF-8 (a Latin-1 export read without `--encoding`) is exported as it
/// was and reads right once the encoding is given.
struct QuarantinedRow {
    rejected: Rejected,
    row: Vec<u8>,
}

/// One block's rows, parsed and checked on a worker thread.
struct IngestBlock<'a> {
    context: &'a RowContext<'a>,
    rows: Vec<ParsedRow>,
    rejected: Vec<QuarantinedRow>,
    filtered: u64,
    /// Rows of forgotten customers, skipped.
    forgotten: u64,
    /// Rows whose customer id is a whole number written as a float.
    float_ids: u64,
    /// Rows that name no customer.
    without_customer: u64,
    raw: Vec<u8>,
    has_raw: bool,
    /// Reused for the values' text while hashing a row.
    buffer: String,
}

impl<'a> IngestBlock<'a> {
    fn new(context: &'a RowContext<'a>) -> Self {
        IngestBlock {
            context,
            rows: Vec::new(),
            rejected: Vec::new(),
            filtered: 0,
            forgotten: 0,
            float_ids: 0,
            without_customer: 0,
            raw: Vec::new(),
            has_raw: false,
            buffer: String::new(),
        }
    }

    /// The row as written; for Parquet, which has no text, the mapped columns as a JSON
    /// object.
    fn row_text(&mut self, fields: &[Option<&str>]) -> Vec<u8> {
        if std::mem::take(&mut self.has_raw) {
            return self.raw.clone();
        }
        let object: serde_json::Map<String, serde_json::Value> = self
            .context
            .mapping
            .columns()
            .iter()
            .zip(fields)
            .filter_map(|(column, field)| field.map(|text| (column.name.clone(), serde_json::Value::String(text.to_string()))))
            .collect();
        serde_json::Value::Object(object).to_string().into_bytes()
    }

    fn reject_row(&mut self, line: u64, fields: &[Option<&str>], column: String, value: &str, expected: String) {
        let row = self.row_text(fields);
        self.rejected.push(QuarantinedRow {
            rejected: Rejected {
                file: self.context.file.to_string(),
                line,
                column,
                value: rapport_core::error::truncate(value, 80),
                expected,
            },
            row,
        });
    }

    fn value(&self, spec: &FieldSpec, input: FieldValue<'_>) -> Result<Value, (String, String)> {
        let numbers = self.context.mapping.numbers();
        let text_value = |text: &str| -> Result<Value, (String, String)> {
            if spec.field_type == FieldType::Time {
                return match self.context.time_format.parse(text) {
                    Ok(time) => Ok(Value::Time(self.context.zone.utc_seconds(time))),
                    Err(_) => Err((text.to_string(), self.context.time_format.expected())),
                };
            }
            spec.field_type.parse_with(text, numbers).map_err(|_| (text.to_string(), spec.field_type.expected()))
        };
        match input {
            FieldValue::Missing if spec.required => Err((String::new(), format!("a value ({} is required)", spec.name))),
            FieldValue::Missing => Ok(Value::Missing),
            FieldValue::Text(text) => text_value(&text),
            FieldValue::Number(number) => match spec.field_type {
                FieldType::Decimal => Ok(Value::Decimal(number)),
                FieldType::Count if number >= 0.0 && number.fract() == 0.0 && number < 2f64.powi(53) => Ok(Value::Count(number as u64)),
                _ => text_value(&number.to_string()),
            },
            FieldValue::Flag(flag) if spec.field_type == FieldType::Flag => Ok(Value::Flag(flag)),
            FieldValue::Flag(flag) => text_value(&flag.to_string()),
        }
    }
}

impl RowSink for IngestBlock<'_> {
    const WANTS_RAW: bool = true;

    fn raw(&mut self, raw: &[u8]) {
        self.raw.clear();
        self.raw.extend_from_slice(raw);
        self.has_raw = true;
    }

    fn row(&mut self, line: u64, fields: &[Option<&str>]) {
        let context = self.context;
        let mapping = context.mapping;
        match mapping.keeps(fields) {
            Ok(true) => {}
            Ok(false) => {
                self.filtered += 1;
                self.has_raw = false;
                return;
            }
            Err(fault) => return self.reject_row(line, fields, fault.column, &fault.value, fault.expected),
        }
        let specs = context.kind.fields();
        let mut values = Vec::with_capacity(specs.len());
        let mut hasher = blake3::Hasher::new();
        hasher.update(context.kind.name().as_bytes());
        let mut buffer = std::mem::take(&mut self.buffer);
        for (index, spec) in specs.iter().enumerate() {
            let value = match mapping.value(index, fields) {
                Ok(input) => match self.value(spec, input) {
                    Ok(value) => value,
                    Err((value, expected)) => {
                        // A required field computed to nothing: the empty input column is
                        // what to correct.
                        let column = match mapping.empty_input(index, fields) {
                            Some(empty) if value.is_empty() => format!("{empty} (read by {})", mapping.describe(index)),
                            _ => mapping.describe(index),
                        };
                        return self.reject_row(line, fields, column, &value, expected);
                    }
                },
                Err(fault) => return self.reject_row(line, fields, fault.column, &fault.value, fault.expected),
            };
            if index > 0 {
                // The values' debug form, as ids derived by earlier versions were: a
                // re-sent file must still find its rows already stored.
                buffer.clear();
                let _ = write!(buffer, "{value:?}\u{1f}");
                hasher.update(buffer.as_bytes());
            }
            values.push(value);
        }
        if let Err((index, error)) = context.kind.validate_row(&values) {
            let value = match mapping.value(index, fields) {
                Ok(FieldValue::Text(text)) => text.into_owned(),
                Ok(FieldValue::Number(number)) => number.to_string(),
                _ => String::new(),
            };
            let mut expected = match error {
                rapport_core::CoreError::InvalidValue { expected, .. } => expected,
                other => other.to_string(),
            };
            // A row naming neither a customer nor an order: which input column the order
            // id is read from (what a `--where` keeping the rows that name one tests), or
            // that the file has none.
            if let Some(order) = context.kind.fields().iter().position(|field| field.name == "order_id")
                && index == 1
                && values[order] == Value::Missing
            {
                expected = match &context.order_column {
                    Some(column) => format!("a customer id, or an order id in column {column:?}"),
                    None => "a customer id (the file maps no order id to link the row through)".to_string(),
                };
            }
            return self.reject_row(line, fields, mapping.describe(index), &value, expected);
        }
        self.has_raw = false;
        if let Some((forgotten, index)) = context.forgotten
            && let Value::Text(customer) = &values[index]
            && forgotten.contains(customer)
        {
            self.forgotten += 1;
            self.buffer = buffer;
            return;
        }
        if let Some(index) = context.customer
            && let Value::Text(customer) = &values[index]
            && float_spelled(customer)
        {
            self.float_ids += 1;
        }
        if let Some(index) = context.customer
            && !matches!(values[index], Value::Text(_))
        {
            self.without_customer += 1;
        }
        if !matches!(values[0], Value::Text(_)) {
            match &context.named_identity {
                Some(names) => {
                    for (name, field) in names.iter().zip(&fields[context.mapped.min(fields.len())..]) {
                        if let Some(value) = field {
                            buffer.clear();
                            let _ = write!(buffer, "{name}\u{1e}{value}\u{1f}");
                            hasher.update(buffer.as_bytes());
                        }
                    }
                }
                None => {
                    for field in fields.iter().skip(context.mapped) {
                        buffer.clear();
                        let _ = write!(buffer, "{field:?}\u{1f}");
                        hasher.update(buffer.as_bytes());
                    }
                }
            }
        }
        let mut content_hash = [0u8; 16];
        content_hash.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        let fingerprint = match &values[0] {
            Value::Text(id) => Some(Fingerprint::of(id.as_bytes())),
            _ => None,
        };
        self.rows.push(ParsedRow { line, values, content_hash, fingerprint });
        self.buffer = buffer;
    }

    fn reject(&mut self, rejected: Rejected) {
        let row = if std::mem::take(&mut self.has_raw) { self.raw.clone() } else { Vec::new() };
        self.rejected.push(QuarantinedRow { rejected, row });
    }

    fn merge(&mut self, other: Self) {
        self.rows.extend(other.rows);
        self.rejected.extend(other.rejected);
        self.filtered += other.filtered;
        self.float_ids += other.float_ids;
        self.without_customer += other.without_customer;
    }
}

/// A whole number written as a float: digits, a point, zeros (`17850.0`).
fn float_spelled(id: &str) -> bool {
    let Some((whole, fraction)) = id.split_once('.') else { return false };
    !whole.is_empty()
        && whole.bytes().all(|byte| byte.is_ascii_digit())
        && !fraction.is_empty()
        && fraction.bytes().all(|byte| byte == b'0')
}

/// Every required column is in the input's header (files with a header or given column
/// names, and Parquet; JSON Lines rows carry their own names). The scan checks this too;
/// checking first puts a wrong mapping ahead of every other message.
fn check_columns(wanted: &[WantedColumn], input: &InputSpec) -> Result<(), StoreError> {
    let Some(columns) = input_columns(input)? else {
        return Ok(());
    };
    if columns.len() == 1 && input.columns.is_none() {
        // One column: most likely the wrong delimiter, which the scan's message names.
        return Ok(());
    }
    // Every missing column at once: one round trip to fix a mapping, not one per field.
    let missing: Vec<String> = wanted
        .iter()
        .filter(|column| column.required)
        .filter(|column| !columns.iter().any(|name| *name == column.name || name.eq_ignore_ascii_case(&column.name)))
        .map(|column| column.name.clone())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(crate::input::missing_column(input, &columns, missing, String::new()))
}

/// The rejects of an ingest for its error: the first, and the first of each other column
/// that failed, with counts.
fn describe_rejects(by_column: &[(String, u64, Rejected)]) -> String {
    let Some((_, count, first)) = by_column.first() else { return String::new() };
    let mut text = first.to_string();
    if by_column.len() > 1 {
        text.push_str(&format!(", {count} in this column"));
        for (column, count, first) in &by_column[1..] {
            text.push_str(&format!(
                "; {count} in column {column:?}, first {}:{}: found {:?}, expected {}",
                first.file, first.line, first.value, first.expected
            ));
        }
    }
    text
}

/// An event may name its customer or an order (see [`EventKind::fields`]): when the
/// input has no order column, the customer column is required, so that a file with
/// neither is refused up front with the usual hint rather than row by row.
fn require_customer_column(kind: EventKind, mapping: &Mapping, wanted: &mut [WantedColumn], input: &InputSpec) -> Result<(), StoreError> {
    let field = |name: &str| kind.fields().iter().position(|spec| spec.name == name);
    let (Some(customer), Some(order)) = (field("customer_id"), field("order_id")) else {
        return Ok(());
    };
    let (Some(customer), Some(order)) = (mapping.column_of(customer), mapping.column_of(order)) else {
        return Ok(());
    };
    let Some(columns) = input_columns(input)? else {
        return Ok(());
    };
    if !columns.iter().any(|column| column == order || column.eq_ignore_ascii_case(order)) {
        for column in wanted.iter_mut().filter(|column| column.name == customer) {
            column.required = true;
        }
    }
    Ok(())
}

fn format_name(format: InputFormat) -> &'static str {
    match format {
        InputFormat::JsonLines => "jsonl",
        InputFormat::Parquet => "parquet",
        InputFormat::Lines => "lines",
        _ => "delimited",
    }
}

/// The serial half of an ingest: duplicates, ids, and the staged files, block by block
/// in input order.
struct IngestState {
    events: EventWriter,
    quarantine: Option<csv::Writer<File>>,
    quarantine_path: PathBuf,
    stored: FingerprintSet,
    /// Ids produced by this file so far (stored or not).
    this_file: FingerprintSet,
    /// Content hash → the last occurrence number used, for contents seen more than once.
    repeats: HashMap<u128, u32>,
    max_rejects: u64,
    accepted: u64,
    rejected: u64,
    duplicates: u64,
    content_duplicates: u64,
    float_ids: u64,
    without_customer: u64,
    filtered: u64,
    first_rejects: Vec<Rejected>,
    /// Rows of forgotten customers skipped.
    forgotten: u64,
    /// Add the ids of accepted rows to `stored`, so that after a publish it holds every
    /// stored id (for [`IdCache`]); it changes no decision, as `this_file` holds them too.
    remember_accepted: bool,
    /// Rejects per column, in the order columns first failed: the column, its count, and
    /// its first reject (a wrong time format must not hide behind a first reject elsewhere).
    by_column: Vec<(String, u64, Rejected)>,
    /// The time field's column, and its rejects with a value in it.
    time_column: Option<String>,
    time_rejects: u64,
}

impl IngestState {
    fn new(kind: EventKind, staging: &Path, stored: FingerprintSet, max_rejects: u64) -> Self {
        IngestState {
            events: EventWriter::new(kind, staging.join("events.parquet")),
            quarantine: None,
            quarantine_path: staging.join("quarantine.csv"),
            stored,
            this_file: FingerprintSet::new(),
            repeats: HashMap::new(),
            max_rejects,
            accepted: 0,
            rejected: 0,
            duplicates: 0,
            content_duplicates: 0,
            float_ids: 0,
            without_customer: 0,
            filtered: 0,
            first_rejects: Vec::new(),
            by_column: Vec::new(),
            forgotten: 0,
            remember_accepted: false,
            time_column: None,
            time_rejects: 0,
        }
    }

    fn take(&mut self, block: IngestBlock<'_>) -> Result<(), StoreError> {
        self.filtered += block.filtered;
        self.forgotten += block.forgotten;
        self.float_ids += block.float_ids;
        self.without_customer += block.without_customer;
        for QuarantinedRow { rejected, row } in block.rejected {
            self.rejected += 1;
            if self.time_column.as_deref().is_some_and(|column| column.eq_ignore_ascii_case(&rejected.column)) && !rejected.value.is_empty()
            {
                self.time_rejects += 1;
            }
            match self.by_column.iter_mut().find(|(column, _, _)| *column == rejected.column) {
                Some(entry) => entry.1 += 1,
                None => self.by_column.push((rejected.column.clone(), 1, rejected.clone())),
            }
            if self.first_rejects.len() < 20 {
                self.first_rejects.push(rejected.clone());
            }
            // Past the limit nothing will be published: keep counting, stop writing.
            if self.rejected > self.max_rejects {
                continue;
            }
            let path = &self.quarantine_path;
            if self.quarantine.is_none() {
                let mut writer = csv::Writer::from_path(path).map_err(|error| StoreError::write(path)(error.into()))?;
                writer.write_record(QUARANTINE_COLUMNS).map_err(|error| StoreError::write(path)(error.into()))?;
                self.quarantine = Some(writer);
            }
            if let Some(writer) = &mut self.quarantine {
                let line = rejected.line.to_string();
                writer
                    .write_record([
                        rejected.file.as_bytes(),
                        line.as_bytes(),
                        rejected.column.as_bytes(),
                        rejected.value.as_bytes(),
                        rejected.expected.as_bytes(),
                        &row,
                    ])
                    .map_err(|error| StoreError::write(path)(error.into()))?;
            }
        }
        if self.rejected > self.max_rejects {
            return Ok(());
        }
        for mut row in block.rows {
            match row.fingerprint {
                Some(fingerprint) => {
                    if self.stored.contains(fingerprint) || !self.this_file.insert(fingerprint) {
                        self.duplicates += 1;
                        continue;
                    }
                }
                None => {
                    // No event id in the source: derive one from the content and its
                    // occurrence in this file, so re-sending the file adds nothing while two
                    // identical rows in one file are both kept. The occurrence is the first
                    // one this file has not produced yet; only contents seen more than once
                    // are remembered, so memory does not grow with distinct rows.
                    let key = u128::from_le_bytes(row.content_hash);
                    let mut occurrence = self.repeats.get(&key).map_or(1, |last| last + 1);
                    let (id, fingerprint) = loop {
                        let mut hasher = blake3::Hasher::new();
                        hasher.update(&row.content_hash);
                        hasher.update(&occurrence.to_le_bytes());
                        let id = format!("h:{}", &hasher.finalize().to_hex()[..32]);
                        let fingerprint = Fingerprint::of(id.as_bytes());
                        if self.this_file.insert(fingerprint) {
                            break (id, fingerprint);
                        }
                        occurrence += 1;
                    };
                    if occurrence > 1 {
                        self.repeats.insert(key, occurrence);
                    }
                    row.values[0] = Value::Text(id);
                    if self.stored.contains(fingerprint) {
                        self.duplicates += 1;
                        self.content_duplicates += 1;
                        continue;
                    }
                }
            }
            self.events.push(&row)?;
            self.accepted += 1;
            if self.remember_accepted
                && let Value::Text(id) = &row.values[0]
            {
                self.stored.insert(Fingerprint::of(id.as_bytes()));
            }
        }
        Ok(())
    }
}

/// The columns of a quarantine file: where and why, then the row as written.
pub const QUARANTINE_COLUMNS: [&str; 6] = ["file", "line", "column", "value", "expected", "row"];

enum ColumnBuilder {
    Time(TimestampSecondBuilder),
    Decimal(Float64Builder),
    Count(UInt64Builder),
    Flag(BooleanBuilder),
    Text(StringBuilder),
}

impl ColumnBuilder {
    fn new(field_type: FieldType) -> Self {
        match field_type {
            FieldType::Time => ColumnBuilder::Time(TimestampSecondBuilder::new()),
            FieldType::Decimal => ColumnBuilder::Decimal(Float64Builder::new()),
            FieldType::Count => ColumnBuilder::Count(UInt64Builder::new()),
            FieldType::Flag => ColumnBuilder::Flag(BooleanBuilder::new()),
            _ => ColumnBuilder::Text(StringBuilder::new()),
        }
    }

    fn push(&mut self, value: &Value) {
        match (self, value) {
            (ColumnBuilder::Time(builder), Value::Time(seconds)) => builder.append_value(*seconds),
            (ColumnBuilder::Decimal(builder), Value::Decimal(number)) => builder.append_value(*number),
            (ColumnBuilder::Count(builder), Value::Count(count)) => builder.append_value(*count),
            (ColumnBuilder::Flag(builder), Value::Flag(flag)) => builder.append_value(*flag),
            (ColumnBuilder::Text(builder), Value::Text(text)) => builder.append_value(text),
            (ColumnBuilder::Time(builder), _) => builder.append_null(),
            (ColumnBuilder::Decimal(builder), _) => builder.append_null(),
            (ColumnBuilder::Count(builder), _) => builder.append_null(),
            (ColumnBuilder::Flag(builder), _) => builder.append_null(),
            (ColumnBuilder::Text(builder), _) => builder.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Time(builder) => Arc::new(builder.finish().with_timezone("UTC")),
            ColumnBuilder::Decimal(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Count(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Flag(builder) => Arc::new(builder.finish()),
            ColumnBuilder::Text(builder) => Arc::new(builder.finish()),
        }
    }
}

/// Accepted events, appended to a staged Parquet file a record batch at a time.
struct EventWriter {
    path: PathBuf,
    schema: Arc<Schema>,
    columns: Vec<ColumnBuilder>,
    lines: UInt64Builder,
    buffered: usize,
    writer: Option<ArrowWriter<File>>,
}

/// Rows buffered before they are handed to the Parquet writer.
const EVENT_BATCH_ROWS: usize = 64 * 1024;

impl EventWriter {
    fn new(kind: EventKind, path: PathBuf) -> Self {
        EventWriter {
            path,
            schema: Arc::new(event_schema(kind)),
            columns: kind.fields().iter().map(|spec| ColumnBuilder::new(spec.field_type)).collect(),
            lines: UInt64Builder::new(),
            buffered: 0,
            writer: None,
        }
    }

    fn push(&mut self, row: &ParsedRow) -> Result<(), StoreError> {
        for (column, value) in self.columns.iter_mut().zip(&row.values) {
            column.push(value);
        }
        self.lines.append_value(row.line);
        self.buffered += 1;
        if self.buffered >= EVENT_BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let mut arrays: Vec<ArrayRef> = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        arrays.push(Arc::new(self.lines.finish()));
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        if self.writer.is_none() {
            let file = File::create(&self.path).map_err(StoreError::write(&self.path))?;
            let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
            self.writer = Some(ArrowWriter::try_new(file, self.schema.clone(), Some(properties))?);
        }
        if let Some(writer) = &mut self.writer {
            writer.write(&batch)?;
        }
        self.buffered = 0;
        Ok(())
    }

    /// Write what is buffered, close the file and fsync it (nothing if no row came).
    fn finish(mut self) -> Result<(), StoreError> {
        self.flush()?;
        if let Some(writer) = self.writer.take() {
            let file = writer.into_inner()?;
            file.sync_all().map_err(StoreError::write(&self.path))?;
        }
        Ok(())
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
    use std::collections::BTreeMap;

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
        // Each other column that failed is named with its count and first value.
        assert!(error.to_string().contains("1 in column \"time\", first "), "{error}");
        assert!(error.to_string().contains("p.csv:3: found \"2020-13-01\""), "{error}");
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

    /// Issue 10, item 5: the quarantine keeps each rejected row whole, as written (a
    /// quoted comment over two lines included), and exports them under the input's own
    /// header so that the corrected file ingests with the same command.
    #[test]
    fn quarantined_rows_are_kept_whole_and_reingest_after_correction() {
        let (directory, mut workspace) = workspace();
        let content = "order,customer_id,time,amount,note\r\n\
                       1,a,2020-01-01,10,fine\r\n\
                       2,b,2020-01-02,twelve,\"said \"\"twelve\"\",\r\nover two lines\"\r\n\
                       3,c,01/02/2020,5,\r\n";
        let mut options = purchases_file(directory.path(), "export.csv", content);
        options.max_rejects = 2;
        let report = workspace.ingest(EventKind::Purchases, &options).expect("ingest");
        assert_eq!((report.accepted, report.rejected), (1, 2));
        let batch = report.batch.expect("batch");
        assert_eq!(batch.header.as_deref(), Some("order,customer_id,time,amount,note"));
        let rows = workspace.quarantined(None, None).expect("list");
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].rejected.line, rows[0].rejected.column.as_str(), rows[0].rejected.value.as_str()), (3, "amount", "twelve"));
        assert_eq!(rows[0].row.as_deref(), Some("2,b,2020-01-02,twelve,\"said \"\"twelve\"\",\r\nover two lines\""));
        assert_eq!((rows[1].rejected.line, rows[1].rejected.column.as_str()), (5, "time"));

        let mut exported = Vec::new();
        assert_eq!(workspace.export_quarantine(Some(batch.id), None, &mut exported).expect("export"), 2);
        let fixed = String::from_utf8(exported).expect("utf-8").replace("twelve,", "12,").replace("01/02/2020", "2020-02-01");
        let mut options = purchases_file(directory.path(), "fixed.csv", &fixed);
        options.max_rejects = 0;
        let report = workspace.ingest(EventKind::Purchases, &options).expect("the corrected rows ingest");
        assert_eq!((report.accepted, report.rejected), (2, 0));
        let mut total = 0.0;
        workspace.for_each_purchase(|_, _, amount| total += amount).expect("scan");
        assert_eq!(total, 27.0);
    }

    /// Issue 10, item 6: computed fields, constants, filters and decimal commas from
    /// `rapport.toml`, with the command line on top.
    #[test]
    fn mapping_computes_sets_and_filters() {
        let directory = tempfile::tempdir().expect("tempdir");
        let config: WorkspaceConfig = toml::from_str(
            r#"
            version = 1
            [mapping.purchases]
            customer_id = "CustomerID"
            time = "InvoiceDate"
            amount = "= Quantity * \"Unit Price\""
            order_id = "InvoiceNo"
            [set.purchases]
            currency = "GBP"
            [filter]
            purchases = "InvoiceNo NOT LIKE 'C%'"
            [decimal_comma]
            purchases = true
            "#,
        )
        .expect("config");
        let mut workspace = Workspace::init(&directory.path().join("ws"), config).expect("init");
        let content = "InvoiceNo;CustomerID;InvoiceDate;Quantity;Unit Price;Country\n\
                       536365;17850;2010-12-01 08:26;6;2,55;United Kingdom\n\
                       C536379;17850;2010-12-01 09:41;-1;27,50;United Kingdom\n\
                       536370;12583;2010-12-01 08:45;24;3,75;France\n\
                       536371;12583;2010-12-01 08:45;two;3,75;France\n\
                       536372;12583;2010-12-01 08:46;;3,75;France\n";
        let mut options = purchases_file(directory.path(), "retail.csv", content);
        options.max_rejects = 2;
        options.mapping.filter = Some("Country = 'France'".into());
        let report = workspace.ingest(EventKind::Purchases, &options).expect("ingest");
        assert_eq!((report.accepted, report.rejected, report.filtered), (1, 2, 2));
        assert_eq!(report.first_rejects[0].column, "Quantity");
        assert!(report.first_rejects[0].expected.contains("a number (in Quantity * \"Unit Price\")"), "{:?}", report.first_rejects[0]);
        // An empty input of a required computed field is named as the column to correct.
        assert_eq!(report.first_rejects[1].line, 6);
        assert_eq!(report.first_rejects[1].column, "Quantity (read by amount (= Quantity * \"Unit Price\"))");
        assert_eq!(report.first_rejects[1].expected, "a value (amount is required)");
        let batch = read_columns(&workspace.event_files(EventKind::Purchases)[0], &["amount", "currency", "order_id"], None).expect("read");
        assert_eq!(batch[0].column(0).as_primitive::<arrow::datatypes::Float64Type>().value(0), 90.0);
        assert_eq!(batch[0].column(1).as_string::<i32>().value(0), "GBP");
        assert_eq!(batch[0].column(2).as_string::<i32>().value(0), "536370");
    }

    /// The same file with the same options is not read again; with other options it is
    /// refused (see the next test).
    #[test]
    fn the_same_file_with_the_same_options_is_not_read_again() {
        let (directory, mut workspace) = workspace();
        let mut options = purchases_file(directory.path(), "p.csv", GOOD);
        let first = workspace.ingest(EventKind::Purchases, &options).expect("ingest");
        let again = workspace.ingest(EventKind::Purchases, &options).expect("again");
        assert_eq!(again.already_ingested, Some(first.batch.expect("batch").id));
        assert_eq!((again.accepted, again.duplicates), (0, 3));
        options.mapping.set.insert("currency".into(), "EUR".into());
        assert!(matches!(workspace.ingest(EventKind::Purchases, &options), Err(StoreError::IngestedWithOtherOptions { .. })));
    }

    /// A file already ingested with other options is refused (its rows would be added a
    /// second time wherever they map differently) unless it replaces that batch.
    #[test]
    fn a_file_reingested_with_another_mapping_replaces_its_batch_or_is_refused() {
        let (directory, mut workspace) = workspace();
        let mut options = purchases_file(directory.path(), "p.csv", GOOD);
        options.mapping.map.insert("amount".into(), "=amount * 2".into());
        let first = workspace.ingest(EventKind::Purchases, &options).expect("ingest").batch.expect("batch");
        options.mapping.map.clear();
        let error = workspace.ingest(EventKind::Purchases, &options).expect_err("other options");
        assert!(matches!(error, StoreError::IngestedWithOtherOptions { batch, .. } if batch == first.id), "{error}");
        options.mapping.map.insert("margin".into(), "Margin".into());
        let error = workspace.ingest(EventKind::Purchases, &options).expect_err("no column Margin");
        assert!(
            matches!(&error, StoreError::MissingColumn { columns, .. } if columns[0] == "Margin"),
            "the mapping is the problem: {error}"
        );
        options.mapping.map.clear();
        options.replace = Some(first.id);
        let report = workspace.ingest(EventKind::Purchases, &options).expect("replace");
        let replaced = workspace.root().join(first.events_file.as_deref().expect("events"));
        assert!(!replaced.exists(), "the replaced batch's file is removed");
        assert_eq!((report.accepted, report.duplicates), (3, 0), "the replaced batch's ids do not count as stored");
        assert_eq!(workspace.batches().len(), 1);
        let mut total = 0.0;
        workspace.for_each_purchase(|_, _, amount| total += amount).expect("scan");
        assert_eq!(total, 14.5, "the corrected amounts only");
        options.replace = Some(99);
        assert!(workspace.ingest(EventKind::Purchases, &options).is_err(), "no such batch");
    }

    /// A column the user maps must exist, even for an optional field; a config table
    /// naming no kind is refused.
    #[test]
    fn named_columns_must_exist_and_config_tables_name_kinds() {
        let (directory, mut workspace) = workspace();
        let mut options = purchases_file(directory.path(), "p.csv", GOOD);
        options.mapping.map.insert("order_id".into(), "Invoice".into());
        let error = workspace.ingest(EventKind::Purchases, &options).expect_err("no column Invoice");
        assert!(matches!(&error, StoreError::MissingColumn { columns, .. } if columns[0] == "Invoice"), "{error}");
        let root = workspace.root().to_path_buf();
        fs::write(root.join("rapport.toml"), "version = 1\n[mapping.purchase]\ncustomer_id = \"client\"\n").expect("write");
        let error = Workspace::open(&root).expect_err("no kind purchase");
        assert!(error.to_string().contains("\"purchase\", which is not a kind"), "{error}");
    }

    /// Issue 10, item 6: a review or refund export that names the order, not the
    /// customer, is accepted; a file with neither column is refused up front.
    #[test]
    fn events_may_name_their_order_instead_of_their_customer() {
        let (directory, mut workspace) = workspace();
        let path = directory.path().join("reviews.csv");
        fs::write(&path, "order_id,answered,score\no-1,2020-01-03,4\no-2,2020-01-04,5\n").expect("write");
        let mut options = IngestOptions { input: InputSpec { path, ..InputSpec::default() }, ..IngestOptions::default() };
        options.mapping.map.insert("time".into(), "answered".into());
        options.mapping.set.insert("survey_type".into(), "csat".into());
        let report = workspace.ingest(EventKind::Surveys, &options).expect("ingest");
        assert_eq!(report.accepted, 2);
        let path = directory.path().join("anonymous.csv");
        fs::write(&path, "answered,score\n2020-01-03,4\n").expect("write");
        options.input.path = path;
        let error = workspace.ingest(EventKind::Surveys, &options).expect_err("no customer, no order");
        assert!(matches!(&error, StoreError::MissingColumn { columns, .. } if columns[0] == "customer_id"), "{error}");
        assert!(workspace.has_events_without_customer(EventKind::Surveys).expect("stats"));
    }

    /// Duplicates are found across batches and inside one file, with ids given or
    /// derived from content, across more rows than one block or record batch holds.
    /// Without event ids a row is its whole record: two lines of one invoice (same
    /// customer, time and amount, different products) in two parts of an export are two
    /// events, whichever way the export was split; the same record sent again in another
    /// file is a duplicate.
    #[test]
    fn rows_without_ids_are_identified_by_their_whole_record() {
        let (directory, mut workspace) = workspace();
        let header = "InvoiceNo,StockCode,customer_id,time,amount\n";
        let first = purchases_file(directory.path(), "part-0.csv", &format!("{header}536365,85123A,a,2020-01-01 08:26,15.30\n"));
        let second = purchases_file(
            directory.path(),
            "part-1.csv",
            &format!("{header}536365,71053,a,2020-01-01 08:26,15.30\n536365,85123A,a,2020-01-01 08:26,15.30\n"),
        );
        assert_eq!(workspace.ingest(EventKind::Purchases, &first).expect("first").accepted, 1);
        let report = workspace.ingest(EventKind::Purchases, &second).expect("second");
        assert_eq!((report.accepted, report.duplicates), (1, 1), "the other product is new; the same line again is not");
        assert_eq!(workspace.for_each_purchase(|_, _, _| {}).expect("scan"), 2);
    }

    /// The same in JSON Lines, whose lines carry their own keys: a key no field maps tells
    /// rows apart whichever line it first appears on and whatever its value (a list
    /// included); a line is the same record in another file whatever keys the other
    /// lines of either file carry; and the keys are named as not stored.
    #[test]
    fn json_lines_rows_without_ids_are_identified_by_every_key() {
        let (directory, mut workspace) = workspace();
        let line = |extra: &str| format!("{{\"customer_id\":\"a\",\"time\":\"2020-01-01 08:26\",\"amount\":15.3{extra}}}\n");
        let first = purchases_file(directory.path(), "part-0.jsonl", &line(",\"sku\":\"85123A\""));
        let report = workspace.ingest(EventKind::Purchases, &first).expect("first");
        assert_eq!((report.accepted, report.unmapped.as_slice()), (1, ["sku".to_string()].as_slice()));
        let second = purchases_file(
            directory.path(),
            "part-1.jsonl",
            &[line(""), line(",\"sku\":\"71053\",\"Tags\":[\"gift\"]"), line(",\"SKU\":\"85123A\"")].concat(),
        );
        let report = workspace.ingest(EventKind::Purchases, &second).expect("second");
        assert_eq!(
            (report.accepted, report.duplicates, report.rejected),
            (2, 1, 0),
            "two new lines (no sku; another sku with a list), and part-0's line again"
        );
        assert_eq!(report.unmapped, ["sku", "Tags"]);
        assert_eq!(workspace.for_each_purchase(|_, _, _| {}).expect("scan"), 3);
    }

    #[test]
    fn duplicates_are_found_across_blocks_and_batches() {
        let (directory, mut workspace) = workspace();
        let mut content = String::from("event_id,customer_id,time,amount\n");
        for row in 0..150_000 {
            content.push_str(&format!("e{},c{},2020-01-01,{}\n", row % 100_000, row % 977, row % 50));
        }
        let report = workspace.ingest(EventKind::Purchases, &purchases_file(directory.path(), "big.csv", &content)).expect("ingest");
        assert_eq!((report.accepted, report.duplicates), (100_000, 50_000));
        let mut overlap = String::from("event_id,customer_id,time,amount\n");
        for row in 90_000..110_000 {
            overlap.push_str(&format!("e{row},c1,2020-01-02,1\n"));
        }
        let report = workspace.ingest(EventKind::Purchases, &purchases_file(directory.path(), "overlap.csv", &overlap)).expect("ingest");
        assert_eq!((report.accepted, report.duplicates), (10_000, 10_000));
        let stored = workspace.for_each_purchase(|_, _, _| {}).expect("scan");
        assert_eq!(stored, 110_000);
    }

    /// The id cache of a long-running ingester follows the manifest: ids published by
    /// another process in between, and ids of rows without one (derived from content),
    /// are duplicates; a failed ingest leaves nothing of itself in the cache.
    #[test]
    fn cached_ids_follow_ingests_by_others() {
        let (directory, mut workspace) = workspace();
        let mut cache = IdCache::default();
        let file = |name: &str, rows: &str| purchases_file(directory.path(), name, &format!("event_id,customer_id,time,amount\n{rows}"));
        let report = workspace.ingest_cached(EventKind::Purchases, &file("1.csv", "e1,a,2020-01-01,1\n,b,2020-01-01,2\n"), &mut cache);
        assert_eq!(report.expect("first").accepted, 2);
        // Another process publishes e2.
        let mut other = Workspace::open(workspace.root()).expect("open");
        assert_eq!(other.ingest(EventKind::Purchases, &file("2.csv", "e2,a,2020-01-02,1\n")).expect("other").accepted, 1);
        let report = workspace
            .ingest_cached(
                EventKind::Purchases,
                &file("3.csv", "e1,a,2020-01-01,1\ne2,a,2020-01-02,1\n,b,2020-01-01,2\ne3,c,2020-01-03,1\n"),
                &mut cache,
            )
            .expect("third");
        assert_eq!((report.accepted, report.duplicates), (1, 3));
        let mut refused = file("4.csv", "e4,a,2020-01-04,1\ne5,a,not a date,1\n");
        refused.max_rejects = 0;
        assert!(workspace.ingest_cached(EventKind::Purchases, &refused, &mut cache).is_err());
        let report = workspace
            .ingest_cached(EventKind::Purchases, &file("5.csv", "e4,a,2020-01-04,1\ne3,c,2020-01-03,1\n"), &mut cache)
            .expect("fifth");
        assert_eq!((report.accepted, report.duplicates), (1, 1), "e4 was never published");
        assert_eq!(workspace.for_each_purchase(|_, _, _| {}).expect("scan"), 5);
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
        options.mapping.map.insert("time".into(), "when".into());
        options.mapping.map.insert("amount".into(), "total".into());
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
