//! Compaction: many small batches of one kind (the server's ingest endpoint writes one
//! per request; a data lake's directory gives one per part) merged into one, so that the
//! manifest stays short and a scan opens few files.
//!
//! Only batches without quarantined rows are merged (a batch lists one quarantine file,
//! and `rapport quarantine` names rows by batch). The merged file is written and fsynced
//! in `.staging`, moved into place, and published by the same atomic manifest swap as an
//! ingest; the merged batches' files are removed after it. An interruption at any step
//! leaves the workspace as before or as after. Event ids are kept, so duplicate detection
//! is unchanged.

use std::fs::{self, File};
use std::sync::Arc;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use rapport_core::event::EventKind;

use crate::StoreError;
use crate::workspace::{Batch, IdCache, Workspace, event_schema, read_columns, sync_parent};

/// What a compaction did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    /// The kind.
    pub kind: EventKind,
    /// Batches merged.
    pub merged: u64,
    /// Events in them (now in one file).
    pub events: u64,
    /// The new batch.
    pub batch: u64,
}

impl Workspace {
    /// Merge the batches of `kind` that hold fewer than `small` events each and no
    /// quarantined rows into one, when there are at least `at_least` of them; `None` when
    /// there is nothing to do. `cache` (the ids of a long-running ingester) is kept valid.
    pub fn compact(
        &mut self,
        kind: EventKind,
        small: u64,
        at_least: usize,
        cache: Option<&mut IdCache>,
    ) -> Result<Option<CompactReport>, StoreError> {
        let lock = self.lock()?;
        let chosen: Vec<Batch> = self
            .manifest()
            .batches
            .iter()
            .filter(|batch| batch.kind == kind && batch.events_file.is_some() && batch.quarantine_file.is_none() && batch.accepted < small)
            .cloned()
            .collect();
        if chosen.len() < at_least.max(2) {
            return Ok(None);
        }
        let id = self.manifest().batches.iter().map(|batch| batch.id).max().unwrap_or(0) + 1;
        let staging = self.root().join(".staging").join(format!("{id:06}"));
        fs::create_dir_all(&staging).map_err(StoreError::write(&staging))?;
        let staged = staging.join("events.parquet");
        let schema = Arc::new(event_schema(kind));
        let names: Vec<&str> = schema.fields().iter().map(|field| field.name().as_str()).collect();
        let file = File::create(&staged).map_err(StoreError::write(&staged))?;
        let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))?;
        let mut events = 0_u64;
        let mut hasher = blake3::Hasher::new();
        for batch in &chosen {
            hasher.update(batch.source_blake3.as_bytes());
            let path = self.root().join(batch.events_file.as_deref().unwrap_or_default());
            for part in read_columns(&path, &names, None)? {
                events += part.num_rows() as u64;
                writer.write(&RecordBatch::try_new(schema.clone(), part.columns().to_vec())?)?;
            }
        }
        writer.into_inner()?.sync_all().map_err(StoreError::write(&staged))?;
        let events_file = format!("events/{}/{id:06}.parquet", kind.name());
        let target = self.root().join(&events_file);
        fs::rename(&staged, &target).map_err(StoreError::write(&target))?;
        sync_parent(&target)?;
        let (first, last) = (chosen.first().map_or(0, |batch| batch.id), chosen.last().map_or(0, |batch| batch.id));
        let merged = Batch {
            id,
            kind,
            source: format!("{} batches compacted (ids {first}–{last})", chosen.len()),
            source_blake3: hasher.finalize().to_hex().to_string(),
            ingested_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            accepted: chosen.iter().map(|batch| batch.accepted).sum(),
            rejected: 0,
            duplicates: chosen.iter().map(|batch| batch.duplicates).sum(),
            events_file: Some(events_file),
            quarantine_file: None,
            filtered: chosen.iter().map(|batch| batch.filtered).sum(),
            options_blake3: None,
            header: None,
            source_format: Some("parquet".into()),
        };
        if merged.accepted != events {
            let _ = fs::remove_file(&target);
            return Err(StoreError::Internal(format!("compaction read {events} events where the batches list {}", merged.accepted)));
        }
        let mut manifest = self.manifest().clone();
        manifest.batches.retain(|batch| !chosen.iter().any(|merged| merged.id == batch.id));
        manifest.batches.push(merged);
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|error| StoreError::Internal(error.to_string()))?;
        self.publish_manifest(manifest, &bytes)?;
        self.remove_unlisted()?;
        let _ = fs::remove_dir_all(self.root().join(".staging"));
        if let Some(cache) = cache {
            cache.replace_batches(kind, &chosen.iter().map(|batch| batch.id).collect::<Vec<_>>(), id);
        }
        drop(lock);
        Ok(Some(CompactReport { kind, merged: chosen.len() as u64, events, batch: id }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputSpec;
    use crate::workspace::IngestOptions;

    /// Twenty small batches become one with the same events; ids stay stored (a re-sent
    /// event is a duplicate); a batch with quarantined rows stays as it was; the cache
    /// of a long-running ingester stays valid.
    #[test]
    fn small_batches_merge_into_one_with_the_same_events() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut workspace = Workspace::init(&directory.path().join("ws"), Default::default()).expect("init");
        let mut cache = IdCache::default();
        let file = |name: &str, rows: String| {
            let path = directory.path().join(name);
            fs::write(&path, format!("event_id,customer_id,time,amount\n{rows}")).expect("write");
            IngestOptions { input: InputSpec { path, ..InputSpec::default() }, max_rejects: 5, ..IngestOptions::default() }
        };
        for part in 0..20 {
            let rows: String = (0..10).map(|row| format!("e{part}-{row},c{row},2024-01-{:02},{}.5\n", 1 + part, row)).collect();
            workspace.ingest_cached(EventKind::Purchases, &file(&format!("{part}.csv"), rows), &mut cache).expect("ingest");
        }
        let rejected = workspace
            .ingest_cached(EventKind::Purchases, &file("bad.csv", "x1,c1,2024-02-01,1\nx2,c1,never,1\n".into()), &mut cache)
            .expect("ingest");
        assert_eq!(rejected.rejected, 1);
        let mut total = 0.0;
        workspace.for_each_purchase(|_, _, amount| total += amount).expect("scan");
        assert!(workspace.compact(EventKind::Purchases, 1_000, 50, Some(&mut cache)).expect("compact").is_none(), "too few to bother");
        let report = workspace.compact(EventKind::Purchases, 1_000, 8, Some(&mut cache)).expect("compact").expect("merged");
        assert_eq!((report.merged, report.events), (20, 200));
        assert_eq!(workspace.batches().len(), 2, "the merged batch and the one with a quarantine file");
        let files = fs::read_dir(workspace.root().join("events/purchases")).expect("dir").count();
        assert_eq!(files, 2, "the merged files are removed");
        let mut after = 0.0;
        assert_eq!(workspace.for_each_purchase(|_, _, amount| after += amount).expect("scan"), 201);
        assert_eq!(total, after);
        let again = workspace
            .ingest_cached(EventKind::Purchases, &file("again.csv", "e3-4,c4,2024-01-04,4.5\ne99-1,c1,2024-03-01,1\n".into()), &mut cache)
            .expect("ingest");
        assert_eq!((again.accepted, again.duplicates), (1, 1));
        let fresh = Workspace::open(workspace.root())
            .expect("open")
            .ingest(EventKind::Purchases, &file("third.csv", "e3-4,c4,2024-01-04,4.5\n".into()))
            .expect("ingest");
        assert_eq!(fresh.duplicates, 1, "ids read from the merged file");
    }
}
