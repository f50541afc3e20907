//! Forgetting a customer: every event that names them (or only an order of theirs), every
//! reference to them in another customer's event (a referral), their quarantined rows and
//! their rows in every results run are removed, as one step, and the request is recorded
//! in `audit.jsonl` without the id.
//!
//! One step: new event and quarantine files are written under new names, new results
//! files under `.staging/`; a journal lists the results files to move into place and the
//! manifest that publishes the new event files; the manifest is swapped (the commit
//! point), then the results files are moved, the journal and the old files removed. A run
//! interrupted before the swap leaves the workspace as it was (the next ingest or forget
//! removes the new files); after it, the next one completes it.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::workspace::{Workspace, sync_parent, write_synced};

const JOURNAL: &str = ".forget-journal.json";
const AUDIT: &str = "audit.jsonl";
const AUDIT_KEY: &str = ".audit-key";

/// What forgetting a customer removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ForgetReport {
    /// Events removed (the customer's, and those naming only an order of theirs).
    pub events_removed: u64,
    /// References to them in other customers' events cleared (a referral's referred id).
    pub references_cleared: u64,
    /// Quarantined rows removed.
    pub quarantined_removed: u64,
    /// Rows removed from results runs.
    pub result_rows_removed: u64,
    /// Files rewritten.
    pub files_rewritten: u64,
}

impl ForgetReport {
    /// Whether the customer was found anywhere.
    pub fn found(&self) -> bool {
        self.events_removed + self.references_cleared + self.quarantined_removed + self.result_rows_removed > 0
    }
}

/// The journal of a forget between its manifest swap and its last move.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    /// blake3 of the manifest that commits the forget.
    manifest_blake3: String,
    /// Results files to move into place: (staged, final), relative to the workspace.
    moves: Vec<(String, String)>,
}

/// Finish or undo an interrupted forget (called with the ingest lock held).
pub(crate) fn recover(root: &Path) -> Result<(), StoreError> {
    let path = root.join(JOURNAL);
    let Ok(bytes) = fs::read(&path) else { return Ok(()) };
    let journal: Journal =
        serde_json::from_slice(&bytes).map_err(|error| StoreError::Format { path: path.clone(), message: error.to_string() })?;
    let manifest = fs::read(root.join("manifest.json")).map_err(StoreError::read(root.join("manifest.json")))?;
    let committed = blake3::hash(&manifest).to_hex().to_string() == journal.manifest_blake3;
    for (staged, target) in &journal.moves {
        let staged = root.join(staged);
        if !staged.exists() {
            continue;
        }
        if committed {
            fs::rename(&staged, root.join(target)).map_err(StoreError::write(root.join(target)))?;
        } else {
            fs::remove_file(&staged).map_err(StoreError::write(&staged))?;
        }
    }
    fs::remove_file(&path).map_err(StoreError::write(&path))
}

impl Workspace {
    /// Forget `customer` everywhere in the workspace (see the module's documentation).
    pub fn forget(&mut self, customer: &str) -> Result<ForgetReport, StoreError> {
        self.forget_by(customer, "rapport forget")
    }

    /// [`Workspace::forget`], recording in the audit log who asked (`by`: a token's id and
    /// name, or the command).
    pub fn forget_by(&mut self, customer: &str, by: &str) -> Result<ForgetReport, StoreError> {
        let lock = self.lock()?;
        let tag = chrono::Utc::now().format("%Y%m%dT%H%M%S%3f").to_string();
        let mut report = ForgetReport::default();
        let root = self.root().to_path_buf();
        let key = audit_key(&root)?;

        // Their orders: rows naming only one of these are theirs too.
        let mut orders: HashSet<String> = HashSet::new();
        for batch in self.batches().iter().filter(|batch| batch.kind == rapport_core::event::EventKind::Purchases) {
            let Some(file) = &batch.events_file else { continue };
            let data = crate::input::read_parquet_file(&root.join(file))?;
            if let (Some(ids), Some(order)) = (text_column(&data, "customer_id"), text_column(&data, "order_id")) {
                for row in 0..data.num_rows() {
                    if ids.is_valid(row) && ids.value(row) == customer && order.is_valid(row) {
                        orders.insert(order.value(row).to_string());
                    }
                }
            }
        }

        let mut manifest = self.manifest().clone();
        for batch in &mut manifest.batches {
            if let Some(file) = batch.events_file.clone() {
                let data = crate::input::read_parquet_file(&root.join(&file))?;
                let (kept, removed, cleared) = without_customer(&data, customer, &orders, &key)?;
                if removed + cleared > 0 {
                    let new = file.replace(".parquet", &format!("-f{tag}.parquet"));
                    crate::output::write_parquet(&kept, &root.join(&new))?;
                    batch.events_file = Some(new);
                    batch.accepted = batch.accepted.saturating_sub(removed);
                    report.events_removed += removed;
                    report.references_cleared += cleared;
                    report.files_rewritten += 1;
                }
            }
            if let Some(file) = batch.quarantine_file.clone() {
                let (kept, removed) = quarantine_without(&root.join(&file), customer)?;
                if removed > 0 {
                    let new = file.replace(".csv", &format!("-f{tag}.csv"));
                    write_synced(&root.join(&new), &kept)?;
                    batch.rejected = batch.rejected.saturating_sub(removed);
                    batch.quarantine_file = (batch.rejected > 0).then_some(new);
                    report.quarantined_removed += removed;
                    report.files_rewritten += 1;
                }
            }
        }

        // Results runs: every table with the customer's rows, staged beside the original.
        let mut moves: Vec<(String, String)> = Vec::new();
        for run in self.runs()? {
            let directory = self.run_directory(&run.id);
            let mut removed_customers = 0;
            for entry in fs::read_dir(&directory).map_err(StoreError::read(&directory))? {
                let path = entry.map_err(StoreError::read(&directory))?.path();
                if path.extension().and_then(|extension| extension.to_str()) != Some("parquet") {
                    continue;
                }
                let data = crate::input::read_parquet_file(&path)?;
                let (kept, removed, cleared) = without_customer(&data, customer, &HashSet::new(), &key)?;
                if removed + cleared == 0 {
                    continue;
                }
                if path.file_name().and_then(|name| name.to_str()) == Some("customers.parquet") {
                    removed_customers = removed;
                }
                // Staged under .staging, which an interrupted forget's next lock removes.
                let staged = root.join(".staging").join("forget").join(&run.id).join(path.file_name().unwrap_or_default());
                fs::create_dir_all(staged.parent().unwrap_or(&root)).map_err(StoreError::write(&staged))?;
                crate::output::write_parquet(&kept, &staged)?;
                moves.push((relative(&root, &staged), relative(&root, &path)));
                report.result_rows_removed += removed + cleared;
                report.files_rewritten += 1;
            }
            if removed_customers > 0 {
                let mut info = run.clone();
                info.customers = info.customers.saturating_sub(removed_customers);
                let staged = root.join(".staging").join("forget").join(&run.id).join("run.json");
                let text = serde_json::to_vec_pretty(&info).map_err(|error| StoreError::Internal(error.to_string()))?;
                write_synced(&staged, &text)?;
                moves.push((relative(&root, &staged), relative(&root, &directory.join("run.json"))));
            }
        }

        if !report.found() {
            // Nobody to forget: nothing was written.
            return Ok(report);
        }
        // Commit: the journal, then the manifest (the commit point), then the moves.
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).map_err(|error| StoreError::Internal(error.to_string()))?;
        let journal = Journal { manifest_blake3: blake3::hash(&manifest_bytes).to_hex().to_string(), moves };
        let journal_bytes = serde_json::to_vec_pretty(&journal).map_err(|error| StoreError::Internal(error.to_string()))?;
        write_synced(&root.join(JOURNAL), &journal_bytes)?;
        self.publish_manifest(manifest, &manifest_bytes)?;
        recover(&root)?;
        self.remove_unlisted()?;
        audit(&root, customer, by, &report)?;
        drop(lock);
        Ok(report)
    }
}

/// Whether `text` holds `id` as a whole token (letters and digits do not continue it on
/// either side, but for a letter before it: `RC00000004` holds `C00000004`).
fn holds(text: &str, id: &str) -> bool {
    text.match_indices(id).any(|(start, _)| {
        let after = text[start + id.len()..].chars().next();
        !after.is_some_and(char::is_alphanumeric) && !text[..start].chars().next_back().is_some_and(|c| c.is_ascii_digit())
    })
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().into_owned()
}

fn text_column<'a>(data: &'a RecordBatch, name: &str) -> Option<&'a StringArray> {
    data.column_by_name(name).and_then(|column| column.as_string_opt::<i32>())
}

/// `data` without the customer's rows (their `customer_id`, or no customer and one of
/// their `orders`), and with any other text cell equal to their id cleared: the rows kept,
/// the rows removed, the cells cleared.
fn without_customer(
    data: &RecordBatch,
    customer: &str,
    orders: &HashSet<String>,
    key: &[u8; 32],
) -> Result<(RecordBatch, u64, u64), StoreError> {
    let rows = data.num_rows();
    let id_column = data.schema().index_of("customer_id").ok();
    let text = |index: usize| -> Option<Vec<Option<String>>> {
        let column = data.column(index);
        match column.data_type() {
            DataType::Utf8 => Some(column.as_string::<i32>().iter().map(|value| value.map(str::to_string)).collect()),
            DataType::LargeUtf8 => Some(column.as_string::<i64>().iter().map(|value| value.map(str::to_string)).collect()),
            _ => None,
        }
    };
    let ids = id_column.and_then(text);
    let order_ids = data.schema().index_of("order_id").ok().and_then(text);
    let keep: Vec<bool> = (0..rows)
        .map(|row| {
            let id = ids.as_ref().and_then(|ids| ids[row].as_deref());
            let order = order_ids.as_ref().and_then(|orders| orders[row].as_deref());
            !(id == Some(customer) || (id.is_none() && order.is_some_and(|order| orders.contains(order))))
        })
        .collect();
    let removed = keep.iter().filter(|keep| !**keep).count() as u64;
    // The rows kept that refer to them in a field of their own (a referral naming them as
    // the referred customer): only these may have an event id that spells their id. Other
    // customers' event ids are never touched, whatever they contain (`x-1` of another
    // customer when customer `1` is forgotten): they are what makes a re-sent event a
    // duplicate.
    let event_id_column = data.schema().index_of("event_id").ok();
    let mut refers = vec![false; rows];
    for (index, column) in data.columns().iter().enumerate() {
        if Some(index) == id_column || Some(index) == event_id_column {
            continue;
        }
        let equal = |row: usize| match column.data_type() {
            DataType::Utf8 => column.as_string::<i32>().is_valid(row) && column.as_string::<i32>().value(row) == customer,
            DataType::LargeUtf8 => column.as_string::<i64>().is_valid(row) && column.as_string::<i64>().value(row) == customer,
            _ => false,
        };
        for (row, refers) in refers.iter_mut().enumerate() {
            *refers = *refers || (keep[row] && equal(row));
        }
    }
    let mut cleared = 0;
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(data.num_columns());
    for (index, column) in data.columns().iter().enumerate() {
        let is_event_id = data.schema().field(index).name() == "event_id";
        // An event id of a row that refers to them and spells their id (`RC00000004`, a
        // referral of them) is replaced by a keyed hash of itself: still one id per event,
        // naming nobody.
        let touches = |row: usize, value: &Option<String>| match value.as_deref() {
            Some(value) if is_event_id => refers[row] && holds(value, customer),
            value => value == Some(customer),
        };
        // Only a column that mentions them is copied out as text (most mention nobody).
        let mentions = match column.data_type() {
            DataType::Utf8 => column.as_string::<i32>().iter().any(|value| value.is_some_and(|value| value.contains(customer))),
            DataType::LargeUtf8 => column.as_string::<i64>().iter().any(|value| value.is_some_and(|value| value.contains(customer))),
            _ => false,
        };
        let replaced = match (Some(index) != id_column && mentions).then(|| text(index)).flatten() {
            Some(values) if values.iter().enumerate().any(|(row, value)| keep[row] && touches(row, value)) => {
                let values: Vec<Option<String>> = values
                    .into_iter()
                    .enumerate()
                    .map(|(row, value)| {
                        if keep[row] && touches(row, &value) {
                            cleared += 1;
                            if is_event_id { value.map(|value| format!("forgotten:{}", &keyed(key, &value)[..32])) } else { None }
                        } else {
                            value
                        }
                    })
                    .collect();
                let array = StringArray::from(values);
                arrow::compute::cast(&array, column.data_type())?
            }
            _ => column.clone(),
        };
        columns.push(replaced);
    }
    if removed + cleared == 0 {
        return Ok((data.clone(), 0, 0));
    }
    // A cleared column may now hold nulls its field did not allow.
    let fields: Vec<_> = data
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(field, column)| Arc::new(field.as_ref().clone().with_nullable(field.is_nullable() || column.null_count() > 0)))
        .collect();
    let schema = Arc::new(arrow::datatypes::Schema::new(fields).with_metadata(data.schema().metadata().clone()));
    let batch = RecordBatch::try_new(schema, columns)?;
    let kept = arrow::compute::filter_record_batch(&batch, &BooleanArray::from(keep))?;
    Ok((kept, removed, cleared))
}

/// A quarantine file without the rows that name the customer: the value at fault, or any
/// field of the row as written, equal to their id (or to it written as a float, `17850.0`).
fn quarantine_without(path: &Path, customer: &str) -> Result<(Vec<u8>, u64), StoreError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(|error| StoreError::Format { path: path.to_path_buf(), message: error.to_string() })?;
    let header = reader.headers().map_err(|error| StoreError::Format { path: path.to_path_buf(), message: error.to_string() })?.clone();
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&header).map_err(|error| StoreError::Internal(error.to_string()))?;
    let names = |field: &str| {
        let field = field.trim().trim_matches('"');
        field == customer || field.strip_suffix(".0").is_some_and(|whole| whole == customer)
    };
    let mut removed = 0;
    // Byte records: a quarantined row keeps its bytes as written, UTF-8 or not.
    for record in reader.byte_records() {
        let record = record.map_err(|error| StoreError::Format { path: path.to_path_buf(), message: error.to_string() })?;
        let value = String::from_utf8_lossy(record.get(3).unwrap_or_default());
        let row = String::from_utf8_lossy(record.get(5).unwrap_or_default());
        let in_row = row.split([',', ';', '\t', '|']).any(names);
        if names(&value) || in_row {
            removed += 1;
            continue;
        }
        writer.write_byte_record(&record).map_err(|error| StoreError::Internal(error.to_string()))?;
    }
    Ok((writer.into_inner().map_err(|error| StoreError::Internal(error.to_string()))?, removed))
}

/// The workspace's audit key (made on the first forget).
fn audit_key(root: &Path) -> Result<[u8; 32], StoreError> {
    let key_path = root.join(AUDIT_KEY);
    match fs::read(&key_path) {
        Ok(bytes) if bytes.len() == 32 => Ok(bytes.try_into().unwrap_or([0; 32])),
        _ => {
            let key: [u8; 32] = rand::random();
            write_synced(&key_path, &key)?;
            Ok(key)
        }
    }
}

fn keyed(key: &[u8; 32], text: &str) -> String {
    blake3::keyed_hash(key, text.as_bytes()).to_hex().to_string()
}

/// The customers forgotten in a workspace, as the audit log's keyed hashes: an ingest
/// skips their rows, so a later export that still lists them does not bring them back.
#[derive(Debug)]
pub(crate) struct Forgotten {
    key: [u8; 32],
    hashes: HashSet<String>,
}

impl Forgotten {
    /// The forgotten customers of the workspace at `root`, if any.
    pub(crate) fn load(root: &Path) -> Result<Option<Forgotten>, StoreError> {
        let Ok(text) = fs::read_to_string(root.join(AUDIT)) else { return Ok(None) };
        let hashes: HashSet<String> = text
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|entry| entry["action"] == "forget")
            .filter_map(|entry| entry["customer_keyed_blake3"].as_str().map(str::to_string))
            .collect();
        if hashes.is_empty() {
            return Ok(None);
        }
        Ok(Some(Forgotten { key: audit_key(root)?, hashes }))
    }

    /// Whether `customer` was forgotten.
    pub(crate) fn contains(&self, customer: &str) -> bool {
        self.hashes.contains(&keyed(&self.key, customer))
    }
}

/// Record the forget in `audit.jsonl`: when, and what was removed, with the id only as a
/// keyed hash (the key stays in the workspace), so a request can be checked later without
/// the log naming anyone.
fn audit(root: &Path, customer: &str, by: &str, report: &ForgetReport) -> Result<(), StoreError> {
    let key = audit_key(root)?;
    let line = serde_json::json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "action": "forget",
        "by": by,
        "customer_keyed_blake3": keyed(&key, customer),
        "removed": report,
    });
    let path = root.join(AUDIT);
    let mut file = fs::OpenOptions::new().create(true).append(true).open(&path).map_err(StoreError::write(&path))?;
    std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes()).map_err(StoreError::write(&path))?;
    file.sync_all().map_err(StoreError::write(&path))?;
    sync_parent(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Forgetting customer `1` removes their rows and clears the referral naming them (and
    /// the referral's event id, which spells them), but leaves other customers' event ids
    /// alone even when they contain `1` as a token.
    #[test]
    fn only_the_customer_and_references_to_them_are_touched() {
        let batch = RecordBatch::try_from_iter([
            ("event_id", Arc::new(StringArray::from(vec!["1", "x-1", "1-x", "order:1", "R1", "e5"])) as ArrayRef),
            (
                "customer_id",
                Arc::new(StringArray::from(vec![Some("2"), Some("3"), Some("4"), Some("5"), Some("6"), Some("1")])) as ArrayRef,
            ),
            ("referred_customer_id", Arc::new(StringArray::from(vec![None, None, None, None, Some("1"), None])) as ArrayRef),
        ])
        .expect("batch");
        let (kept, removed, cleared) = without_customer(&batch, "1", &HashSet::new(), &[7; 32]).expect("forget");
        assert_eq!((removed, cleared), (1, 2));
        let ids: Vec<&str> = kept.column(0).as_string::<i32>().iter().map(|id| id.expect("id")).collect();
        assert_eq!(&ids[..4], ["1", "x-1", "1-x", "order:1"], "other customers' event ids are kept");
        assert!(ids[4].starts_with("forgotten:"), "the referral's id spelt them: {}", ids[4]);
        assert!(kept.column(2).is_null(4), "the reference is cleared");
    }

    /// A forget interrupted after its manifest swap is completed by the next lock; one
    /// interrupted before it is undone (its staged files removed, the originals kept).
    #[test]
    fn an_interrupted_forget_is_finished_or_undone() {
        for committed in [true, false] {
            let directory = tempfile::tempdir().expect("tempdir");
            let root = directory.path();
            fs::write(root.join("manifest.json"), b"{\"version\":1,\"batches\":[]}").expect("manifest");
            fs::create_dir_all(root.join(".staging/forget/run")).expect("staging");
            fs::create_dir_all(root.join("results/run")).expect("results");
            fs::write(root.join(".staging/forget/run/customers.parquet"), b"new").expect("staged");
            fs::write(root.join("results/run/customers.parquet"), b"old").expect("original");
            let manifest = fs::read(root.join("manifest.json")).expect("read");
            let hash = if committed { blake3::hash(&manifest).to_hex().to_string() } else { "another manifest".into() };
            let journal = Journal {
                manifest_blake3: hash,
                moves: vec![(".staging/forget/run/customers.parquet".into(), "results/run/customers.parquet".into())],
            };
            fs::write(root.join(JOURNAL), serde_json::to_vec(&journal).expect("json")).expect("journal");
            recover(root).expect("recover");
            let now = fs::read(root.join("results/run/customers.parquet")).expect("results");
            assert_eq!(now, if committed { b"new".to_vec() } else { b"old".to_vec() });
            assert!(!root.join(JOURNAL).exists() && !root.join(".staging/forget/run/customers.parquet").exists());
        }
    }
}
