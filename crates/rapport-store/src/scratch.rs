//! Scratch directories inside a workspace: the tables a cluster's executors read for one
//! command (the customers to score, the order links), where every process of the cluster
//! sees them. Each holds a lock file, locked while its command runs; a directory whose lock
//! is free was left by an interrupted command (Ctrl-C, a kill) and is removed when the next
//! scratch directory is made or the next ingest takes the workspace's lock, so an
//! interrupted command leaves nothing behind for long.

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::StoreError;

/// What every scratch directory's name starts with.
pub const PREFIX: &str = ".scratch-";

/// A directory without its lock file yet is being made by another process, unless it is
/// older than this.
const BEING_MADE: Duration = Duration::from_secs(3600);

/// A scratch directory, removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    // Dropped first: the directory (and the lock file in it) go while the lock is held.
    directory: tempfile::TempDir,
    _lock: File,
}

impl Scratch {
    /// A new scratch directory for `what` (a word: `links`, `scoring`) inside the workspace
    /// at `root`, after removing those interrupted commands left.
    pub fn new(root: &Path, what: &str) -> Result<Scratch, StoreError> {
        remove_stale(root)?;
        let write = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Write { path, source }
        };
        let directory = tempfile::Builder::new().prefix(&format!("{PREFIX}{what}-")).tempdir_in(root).map_err(write(root))?;
        let lock_path = directory.path().join(".lock");
        let lock = File::create(&lock_path).map_err(write(&lock_path))?;
        lock.lock().map_err(write(&lock_path))?;
        Ok(Scratch { directory, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.directory.path()
    }
}

/// Remove the scratch directories of `root` no running command holds.
pub(crate) fn remove_stale(root: &Path) -> Result<(), StoreError> {
    let Ok(entries) = fs::read_dir(root) else { return Ok(()) };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) || !entry.path().is_dir() {
            continue;
        }
        let stale = match File::open(entry.path().join(".lock")) {
            Ok(lock) => lock.try_lock().is_ok(),
            Err(_) => entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .is_ok_and(|modified| SystemTime::now().duration_since(modified).unwrap_or_default() > BEING_MADE),
        };
        if stale {
            match fs::remove_dir_all(entry.path()) {
                Ok(()) => {}
                // Another process removed it first.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(StoreError::Write { path: entry.path(), source }),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_commands_scratch_is_removed_and_a_running_ones_kept() {
        let root = tempfile::tempdir().expect("tempdir");
        let running = Scratch::new(root.path(), "links").expect("scratch");
        // What a killed command leaves: the directory and its lock file, unlocked.
        let left = root.path().join(format!("{PREFIX}scoring-killed"));
        fs::create_dir(&left).expect("dir");
        File::create(left.join(".lock")).expect("lock");
        fs::write(left.join("customers.parquet"), b"x").expect("file");
        // One being made by another process: no lock file yet, new.
        let making = root.path().join(format!("{PREFIX}links-new"));
        fs::create_dir(&making).expect("dir");

        let next = Scratch::new(root.path(), "scoring").expect("scratch");
        assert!(!left.exists(), "the interrupted command's scratch is removed");
        assert!(running.path().exists() && making.exists(), "a running command's scratch is kept");
        let (running_path, next_path) = (running.path().to_path_buf(), next.path().to_path_buf());
        drop(running);
        drop(next);
        assert!(!running_path.exists() && !next_path.exists(), "a dropped scratch is removed");
    }
}
