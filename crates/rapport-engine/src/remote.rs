//! Event files in an object store: `rapport ingest s3://bucket/exports/orders/` reads
//! every data file under a prefix (or one object), from Amazon S3 or an S3-compatible
//! store, Google Cloud Storage or Azure Blob Storage, through the `object_store` crate
//! (the one Apache DataFusion uses).
//!
//! Each object is downloaded into a scratch directory under `TMPDIR`, ingested as its
//! own batch under its URL, and removed, so the local disk holds one object at a time
//! and a file ingested before is recognised as it is for a local directory (by its
//! content). Credentials and endpoints come from the environment, as each store's own
//! tools read them (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, `GOOGLE_APPLICATION_CREDENTIALS`,
//! `AZURE_STORAGE_ACCOUNT_NAME`, …).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt as _;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _};

use crate::EngineError;
use crate::input::{is_data_file, is_hidden};

/// URL schemes read from an object store.
const SCHEMES: [&str; 7] = ["s3", "s3a", "gs", "az", "azure", "abfs", "abfss"];

/// Whether `source` names an object store (`s3://…`, `gs://…`, `az://…`, `abfss://…`)
/// rather than a local path.
pub fn is_remote(source: &str) -> bool {
    source.split_once("://").is_some_and(|(scheme, _)| SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// The store's error, with what to do about the common causes.
fn explain(error: &object_store::Error) -> String {
    let text = error.to_string();
    let hint = if text.contains("169.254.169.254") || text.contains("169.254.170.2") {
        " (no credentials in the environment, so the client asked the cloud's instance metadata service, which answered this: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_SKIP_SIGNATURE=true for a public bucket)"
    } else if text.contains("URL scheme is not allowed") || text.contains("builder error") {
        " (an http:// endpoint needs AWS_ALLOW_HTTP=true)"
    } else if text.contains("403") {
        " (the store refused these credentials for this bucket or prefix)"
    } else {
        ""
    };
    format!("{text}{hint}")
}

/// A prefix (or one object) in an object store.
pub struct RemoteSource {
    store: Arc<dyn ObjectStore>,
    /// `scheme://bucket`, to which object paths are appended for their URLs.
    root: String,
    /// The path within the bucket.
    path: ObjectPath,
    url: String,
    runtime: tokio::runtime::Runtime,
}

/// One object to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteObject {
    /// Its full URL as a person writes it (not percent-encoded), which names its batch.
    pub url: String,
    /// Its key within the bucket, as written.
    pub key: String,
    /// Its path as the store's client holds it (kept as it is: rebuilding it from the key
    /// would encode an already encoded name a second time).
    location: ObjectPath,
    /// Bytes.
    pub size: u64,
}

impl std::fmt::Debug for RemoteSource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("RemoteSource").field("url", &self.url).finish_non_exhaustive()
    }
}

impl RemoteSource {
    /// Connect to the store `url` names, with credentials from the environment.
    pub fn open(url: &str) -> Result<RemoteSource, EngineError> {
        let failed = |reason: String| EngineError::ObjectStore { url: url.to_string(), reason };
        let parsed = url::Url::parse(url).map_err(|error| failed(format!("not a URL ({error})")))?;
        let scheme = parsed.scheme().to_ascii_lowercase();
        let bucket = parsed.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(failed(format!("no bucket or container: write {scheme}://BUCKET/PREFIX")));
        }
        let built = match scheme.as_str() {
            "s3" | "s3a" => {
                object_store::aws::AmazonS3Builder::from_env().with_url(url).build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
            }
            "gs" => {
                object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(url).build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
            }
            _ => object_store::azure::MicrosoftAzureBuilder::from_env().with_url(url).build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        };
        let store = built.map_err(|error| failed(error.to_string()))?;
        // `abfss://container@account.dfs…/path`: the bucket is the URL's host; the path
        // is the URL's path either way.
        let path = ObjectPath::from_url_path(parsed.path()).map_err(|error| failed(format!("not an object path ({error})")))?;
        // `scheme://bucket` as written (the parsed path is percent-encoded, so its length
        // does not say where the written one starts).
        let after_scheme = url.find("://").map_or(0, |at| at + 3);
        let root = match url[after_scheme..].find('/') {
            Some(slash) => url[..after_scheme + slash].to_string(),
            None => url.to_string(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| EngineError::Internal(format!("starting the object store client: {error}")))?;
        Ok(RemoteSource { store, root, path, url: url.to_string(), runtime })
    }

    /// The objects to ingest: the one the URL names, or every data file under its prefix
    /// (names and folders starting with `.` or `_`, such as `_SUCCESS`, left out), in
    /// path order.
    pub fn objects(&self) -> Result<Vec<RemoteObject>, EngineError> {
        let failed = |error: object_store::Error| EngineError::ObjectStore { url: self.url.clone(), reason: explain(&error) };
        let object = |location: &ObjectPath, size: u64| {
            let key = percent_encoding::percent_decode_str(location.as_ref()).decode_utf8_lossy().into_owned();
            RemoteObject { url: format!("{}/{}", self.root, key), key, location: location.clone(), size }
        };
        self.runtime.block_on(async {
            if !self.url.ends_with('/') && !self.path.as_ref().is_empty() {
                match self.store.head(&self.path).await {
                    Ok(meta) => return Ok(vec![object(&meta.location, meta.size)]),
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(error) => return Err(failed(error)),
                }
            }
            let prefix = (!self.path.as_ref().is_empty()).then_some(&self.path);
            let mut listing = self.store.list(prefix);
            let mut objects = Vec::new();
            while let Some(meta) = listing.next().await {
                let meta = meta.map_err(failed)?;
                let relative: Vec<String> = match prefix {
                    Some(prefix) => meta.location.prefix_match(prefix).map(|parts| parts.map(|part| part.as_ref().to_string()).collect()),
                    None => Some(meta.location.parts().map(|part| part.as_ref().to_string()).collect()),
                }
                .unwrap_or_default();
                let Some(name) = relative.last() else { continue };
                if relative.iter().any(|part| is_hidden(part)) || !is_data_file(name) {
                    continue;
                }
                objects.push(object(&meta.location, meta.size));
            }
            if objects.is_empty() {
                return Err(EngineError::ObjectStore {
                    url: self.url.clone(),
                    reason: "no such object, and no data file under it as a prefix (.parquet, .csv, .tsv, .txt, .jsonl, .ndjson or .json)"
                        .into(),
                });
            }
            objects.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(objects)
        })
    }

    /// Download `object` into `directory` (streamed, not held in memory), keeping its
    /// file name so its extension still tells its format.
    pub fn download(&self, object: &RemoteObject, directory: &Path) -> Result<PathBuf, EngineError> {
        let failed = |reason: String| EngineError::ObjectStore { url: object.url.clone(), reason };
        let name = object.key.rsplit('/').next().filter(|name| !name.is_empty()).unwrap_or("object");
        let path = directory.join(name);
        let write = |error: std::io::Error| EngineError::Write { target: path.display().to_string(), source: error };
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).map_err(write)?);
        self.runtime.block_on(async {
            let mut stream = self.store.get(&object.location).await.map_err(|error| failed(explain(&error)))?.into_stream();
            while let Some(bytes) = stream.next().await {
                let bytes = bytes.map_err(|error| failed(explain(&error)))?;
                file.write_all(&bytes).map_err(write)?;
            }
            Ok::<(), EngineError>(())
        })?;
        file.into_inner().map_err(|error| write(error.into_error()))?.sync_all().map_err(write)?;
        Ok(path)
    }
}

/// Ingest one object of `source`: downloaded into a scratch directory in the system's
/// temporary directory (`TMPDIR`; removed afterwards, error or not; a killed process
/// leaves it there, never in the workspace), then ingested like a local file,
/// with its batch, rows and rejects named by its URL. `request.input` says how to read
/// it; its path is replaced by the download's.
pub fn ingest_object(
    request: &crate::workspace::IngestRequest,
    source: &RemoteSource,
    object: &RemoteObject,
) -> Result<rapport_store::workspace::IngestReport, EngineError> {
    // A workspace that does not exist is said before anything is downloaded.
    rapport_store::workspace::Workspace::open(&request.workspace)?;
    let scratch = tempfile::Builder::new()
        .prefix("rapport-download-")
        .tempdir()
        .map_err(|error| EngineError::Write { target: std::env::temp_dir().display().to_string(), source: error })?;
    let path = source.download(object, scratch.path())?;
    let request = crate::workspace::IngestRequest { input: crate::input::FileInput { path, ..request.input.clone() }, ..request.clone() };
    crate::workspace::ingest_labelled(&request, Some(object.url.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_store_urls_are_told_from_paths() {
        for remote in ["s3://bucket/orders/", "S3://bucket/a.csv", "gs://b/p", "az://container/p", "abfss://c@a.dfs.core.windows.net/p"] {
            assert!(is_remote(remote), "{remote}");
        }
        for local in ["orders.csv", "/data/s3://x", "http://example.com/a.csv", "file:///tmp/a.csv", "C:\\data"] {
            assert!(!is_remote(local), "{local}");
        }
    }

    #[test]
    fn a_url_without_a_bucket_is_refused_with_the_form_to_use() {
        let error = RemoteSource::open("s3:///orders/").expect_err("no bucket");
        assert_eq!(error.code(), "object_store");
        assert!(error.to_string().contains("write s3://BUCKET/PREFIX"), "{error}");
    }
}
