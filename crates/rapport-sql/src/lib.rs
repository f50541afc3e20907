//! SQL over a workspace, with Apache DataFusion.
//!
//! Every event kind the workspace holds is a table named after it (`purchases`,
//! `interactions`, `surveys`, `engagement`, `programs`, `costs`, `stores`), reading
//! exactly the Parquet files of the batches the manifest publishes: a file an interrupted
//! ingest left in staging is never read. Batches written before a field existed read it
//! as null (the kind's current schema is the table's).
//!
//! The latest results run's Parquet files are tables named after them: `customers` (the
//! customer table) and each breakdown (`voice_of_customer`, `service`, …). Every run,
//! the latest included, is also there as `run_<id>_<name>`, the id in lower case with
//! anything but letters and digits as `_` (`run_20261130t132902_786z_customers`).
//!
//! `customers` is the results' customer table when there is a run; the customer-profile
//! events are always `events.customers` (every event table is also in the schema
//! `events`, and every table of the latest run in `results`). The other event kinds keep
//! their plain names: the breakdown `programs` of a run is `results.programs`.

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod codec;
pub mod features;
pub mod inputs;
mod links;
pub mod measures;
pub mod score;
pub mod summary;

/// Stack of each query and cluster runtime thread. Planning, optimising and
/// (de)serialising a plan recurse over its tree: the order links' joins and aggregates
/// nest deep enough to overflow tokio's default 2 MiB in a debug build's scheduler.
/// Reserved address space, touched only as deep as a plan goes.
pub(crate) const PLAN_STACK_BYTES: usize = 32 * 1024 * 1024;

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::prelude::{SessionConfig, SessionContext};
use rapport_core::event::EventKind;
use rapport_store::workspace::Workspace;

/// The memory of this machine, or of its container where a cgroup bounds it, in bytes
/// (`None` where it cannot be read).
pub fn machine_memory() -> Option<u64> {
    let mut system = sysinfo::System::new();
    system.refresh_memory();
    let total = system.total_memory();
    let bounded = system.cgroup_limits().map_or(total, |limits| limits.total_memory.min(total));
    (bounded > 0).then_some(bounded)
}

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// Opening the workspace or its runs.
    #[error(transparent)]
    Store(#[from] rapport_store::StoreError),
    /// The query: a syntax error, an unknown table or column, a type error.
    #[error("{0}")]
    Query(String),
    /// Setting DataFusion up.
    #[error("{0}")]
    Internal(String),
    /// Reaching or running the cluster.
    #[error("{0}")]
    Cluster(String),
    /// A capability this build leaves out (the cargo feature that builds it).
    #[error("{what} is not in this build: build with `cargo build --release --features {feature}`")]
    NotBuiltIn {
        /// The cargo feature.
        feature: &'static str,
        /// What is missing.
        what: &'static str,
    },
}

impl SqlError {
    /// A stable code for the front ends.
    pub fn code(&self) -> &'static str {
        match self {
            SqlError::Store(error) => error.code(),
            SqlError::Query(_) => "bad_query",
            SqlError::Internal(_) => "internal",
            SqlError::Cluster(_) => "cluster",
            SqlError::NotBuiltIn { .. } => "not_built_in",
        }
    }
}

/// One table the session offers.
#[derive(Debug, Clone, PartialEq)]
pub struct TableInfo {
    /// Its name in SQL.
    pub name: String,
    /// Where it comes from: `events` or `results <run id>`.
    pub origin: String,
    /// The Parquet files it reads.
    pub files: usize,
}

/// A DataFusion session over a workspace.
pub struct Session {
    context: SessionContext,
    tables: Vec<TableInfo>,
    runtime: tokio::runtime::Runtime,
    /// The scheduler's URL when the plans run on a cluster.
    cluster: Option<String>,
    /// Whether a long wait on the cluster has been said (once per session).
    said_waiting: std::sync::atomic::AtomicBool,
    /// The workspace's directory.
    root: std::path::PathBuf,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Session").field("tables", &self.tables).finish_non_exhaustive()
    }
}

pub use rapport_store::runs::sql_table_name as run_table_name;

impl Session {
    /// Open a session over the workspace at `root`, run in this process.
    pub fn open(root: &Path) -> Result<Session, SqlError> {
        Session::open_on(root, None)
    }

    /// Open a session over the workspace at `root` whose queries run on the cluster whose
    /// scheduler is at `cluster` (`ballista://HOST:PORT`), or in this process.
    pub fn open_on(root: &Path, cluster: Option<&str>) -> Result<Session, SqlError> {
        Session::open_in(root, cluster, None)
    }

    /// [`Session::open`] with the query operators' memory bounded at `memory_limit` bytes
    /// (`None`: unbounded, DataFusion's default). Past it, sorts, aggregations and joins
    /// spill to the system's temporary directory instead of growing; an operator that
    /// cannot spill fails with "Resources exhausted". The bound is on what the operators
    /// hold, not on the whole process (the results a query returns are outside it).
    pub fn open_bounded(root: &Path, memory_limit: Option<u64>) -> Result<Session, SqlError> {
        Session::open_in(root, None, memory_limit)
    }

    fn open_in(root: &Path, cluster: Option<&str>, memory_limit: Option<u64>) -> Result<Session, SqlError> {
        let workspace = Workspace::open(root)?;
        // Strings as plain Utf8 (not views), so results are the types every writer knows.
        // A small build side of a join (the order links) is broadcast to every task rather
        // than joined by shuffling both sides (crate::links).
        let config = SessionConfig::new()
            .with_information_schema(true)
            .set_bool("datafusion.execution.parquet.schema_force_view_types", false)
            .set_usize("datafusion.optimizer.hash_join_single_partition_threshold", links::BROADCAST_BYTES)
            .set_usize("datafusion.optimizer.hash_join_single_partition_threshold_rows", links::BROADCAST_ROWS);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_stack_size(PLAN_STACK_BYTES)
            .build()
            .map_err(|error| SqlError::Internal(format!("starting the query runtime: {error}")))?;
        let context = match cluster {
            None => match memory_limit {
                None => SessionContext::new_with_config(config),
                Some(bytes) => {
                    // Each of the plan's partitions (one per core) runs its own operators,
                    // and the fair pool shares the limit among the ones that can spill, as
                    // a Ballista executor's pool does among its tasks.
                    let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
                        .with_memory_pool(Arc::new(datafusion::execution::memory_pool::FairSpillPool::new(bytes as usize)))
                        .build_arc()
                        .map_err(internal)?;
                    SessionContext::new_with_config_rt(config, runtime)
                }
            },
            #[cfg(feature = "cluster")]
            Some(url) => runtime.block_on(cluster::remote_context(url, config))?,
            #[cfg(not(feature = "cluster"))]
            Some(_) => return Err(SqlError::NotBuiltIn { feature: "cluster", what: "running on a Ballista cluster" }),
        };
        let events = Arc::new(MemorySchemaProvider::new());
        let results = Arc::new(MemorySchemaProvider::new());
        let mut session = Session {
            context,
            tables: Vec::new(),
            runtime,
            cluster: cluster.map(str::to_string),
            said_waiting: std::sync::atomic::AtomicBool::new(false),
            root: root.to_path_buf(),
        };

        for kind in EventKind::ALL {
            let files = workspace.event_files(kind);
            if files.is_empty() {
                continue;
            }
            let schema = Arc::new(rapport_store::workspace::event_schema(kind));
            let table = session.parquet_table(&files, Some(schema))?;
            let name = kind.name();
            events.register_table(name.to_string(), table.clone()).map_err(internal)?;
            session.register(name, table, "events", files.len())?;
        }

        let runs = workspace.runs()?;
        for (index, run) in runs.iter().enumerate() {
            let latest = index + 1 == runs.len();
            let directory = root.join("results").join(&run.id);
            let mut files: Vec<_> = std::fs::read_dir(&directory)
                .map_err(|source| rapport_store::StoreError::Read { path: directory.clone(), source })?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|extension| extension == "parquet"))
                .collect();
            files.sort();
            for file in files {
                let Some(name) = file.file_stem().and_then(|stem| stem.to_str()).map(str::to_string) else { continue };
                let table = session.parquet_table(std::slice::from_ref(&file), None)?;
                let origin = format!("results {}", run.id);
                session.register(&run_table_name(&run.id, &name), table.clone(), &origin, 1)?;
                if latest {
                    results.register_table(name.clone(), table.clone()).map_err(internal)?;
                    // The run's `customers` takes the plain name from the profile events;
                    // any other event kind keeps its name (the breakdown `programs` is
                    // `results.programs`, the events `programs`).
                    let event_kind = EventKind::ALL.iter().any(|kind| kind.name() == name);
                    if event_kind && name != "customers" {
                        continue;
                    }
                    if session.context.table_exist(name.as_str()).map_err(internal)? {
                        session.context.deregister_table(name.as_str()).map_err(internal)?;
                        // Still there as events.<name>: listed under that name.
                        for info in session.tables.iter_mut().filter(|info| info.name == name && info.origin == "events") {
                            info.name = format!("events.{name}");
                        }
                    }
                    session.register(&name, table, &origin, 1)?;
                }
            }
        }
        let catalog = session.context.catalog("datafusion").ok_or_else(|| SqlError::Internal("no default catalog".into()))?;
        catalog.register_schema("events", events).map_err(internal)?;
        catalog.register_schema("results", results).map_err(internal)?;
        session.tables.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(session)
    }

    /// The tables offered, by name.
    pub fn tables(&self) -> &[TableInfo] {
        &self.tables
    }

    /// The workspace's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The scheduler's URL when the plans run on a cluster.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    /// The DataFusion context, for callers that register more (functions, tables).
    pub fn context(&self) -> &SessionContext {
        &self.context
    }

    /// Run `work` on the query runtime. On a cluster, a job still running after
    /// `RAPPORT_CLUSTER_PATIENCE` seconds (default 30) is said on stderr, once a session: Ballista
    /// queues a job while no executor is connected and says nothing, so without this a
    /// cluster with no executor looks like a hung command. A job that is merely long gets
    /// the same line and goes on. An address that answers gRPC but not as a scheduler (an
    /// executor's port) is said as such rather than as the raw `Unimplemented` status.
    pub(crate) fn block_on<T>(&self, work: impl std::future::Future<Output = Result<T, SqlError>>) -> Result<T, SqlError> {
        let Some(url) = &self.cluster else { return self.runtime.block_on(work) };
        let not_a_scheduler = |error: SqlError| {
            if error.to_string().contains("code: Unimplemented") {
                SqlError::Cluster(format!(
                    "{url} answered, but not as a Ballista scheduler (gRPC: unimplemented); is it an executor's port? \
                     --engine names the scheduler's address (`rapport cluster scheduler --bind …`)"
                ))
            } else {
                error
            }
        };
        let patience = std::env::var("RAPPORT_CLUSTER_PATIENCE").ok().and_then(|seconds| seconds.parse().ok()).unwrap_or(30);
        self.runtime.block_on(async {
            let mut work = std::pin::pin!(work);
            match tokio::time::timeout(std::time::Duration::from_secs(patience), &mut work).await {
                Ok(done) => done.map_err(not_a_scheduler),
                Err(_) if self.said_waiting.swap(true, std::sync::atomic::Ordering::Relaxed) => work.await.map_err(not_a_scheduler),
                Err(_) => {
                    let address = url.split_once("://").map_or(url.as_str(), |(_, address)| address);
                    // Written, not `eprintln!`: a closed stderr must not stop the job.
                    use std::io::Write as _;
                    let _ = writeln!(
                        std::io::stderr(),
                        "the cluster at {url} has been on this job for {patience} s; a job waits while no executor is connected \
                         (start one with `rapport cluster executor --scheduler {address}`), or it is simply long"
                    );
                    work.await.map_err(not_a_scheduler)
                }
            }
        })
    }

    /// Run one SQL query and collect its result. Queries only: a statement that would
    /// write (`COPY … TO`, `INSERT`), define (`CREATE`, `DROP`) or set anything is refused
    /// before it runs, so `rapport sql` cannot change a workspace (a `COPY` onto an event
    /// file would replace published events behind the manifest's back).
    pub fn query(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
        let read_only =
            datafusion::execution::context::SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        self.block_on(async {
            let frame = self.context.sql_with_options(sql, read_only).await.map_err(|error| self.query_error(error, sql))?;
            let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await.map_err(query)?;
            Ok((schema, batches))
        })
    }

    /// A query error, with the nearest table's name when the query names one that does
    /// not exist (`purchase` for `purchases`), and where to find them all.
    fn query_error(&self, error: datafusion::error::DataFusionError, sql: &str) -> SqlError {
        let message = error.strip_backtrace();
        if ["DDL not supported", "DML not supported", "Statement not supported"].iter().any(|refused| message.contains(refused)) {
            // The statement in the user's words (`DROP TABLE`), not DataFusion's plan name
            // (`DropTable`).
            let words: Vec<String> = sql.split_whitespace().take(2).map(str::to_uppercase).collect();
            let what = match words.first().map(String::as_str) {
                Some("CREATE" | "DROP" | "ALTER") => words.join(" "),
                Some(first) => first.to_string(),
                None => String::new(),
            };
            return SqlError::Query(format!(
                "only queries run here (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE), not {what}: `rapport sql` never changes the \
                 workspace. To save a result, give --output FILE (.csv, .json or .parquet)"
            ));
        }
        let Some(missing) =
            message.split("table '").nth(1).and_then(|rest| rest.split('\'').next()).filter(|_| message.contains("not found"))
        else {
            return SqlError::Query(message);
        };
        let bare = missing.rsplit('.').next().unwrap_or(missing);
        // An event kind with nothing ingested has no table yet: say that, not a typo.
        if EventKind::ALL.iter().any(|kind| kind.name() == bare) {
            return SqlError::Query(format!(
                "{message} (the workspace holds no {bare} yet: `rapport ingest --workspace DIR --kind {bare} FILE` adds them; `rapport sql --tables` lists every table)"
            ));
        }
        let hint = match rapport_core::nearest_name(bare, self.tables.iter().map(|table| table.name.as_str())) {
            Some(name) => format!(" (did you mean `{name}`? `rapport sql --tables` lists every table)"),
            None => " (`rapport sql --tables` lists every table)".to_string(),
        };
        SqlError::Query(format!("{message}{hint}"))
    }

    fn register(&mut self, name: &str, table: Arc<dyn TableProvider>, origin: &str, files: usize) -> Result<(), SqlError> {
        self.context.register_table(name, table).map_err(internal)?;
        self.tables.push(TableInfo { name: name.to_string(), origin: origin.to_string(), files });
        Ok(())
    }

    /// A table over exactly these Parquet files, with `schema` (missing columns read as
    /// null) or the first file's.
    fn parquet_table(&self, files: &[std::path::PathBuf], schema: Option<SchemaRef>) -> Result<Arc<dyn TableProvider>, SqlError> {
        let urls = files
            .iter()
            .map(|file| {
                let path = std::path::absolute(file).map_err(|source| rapport_store::StoreError::Read { path: file.clone(), source })?;
                ListingTableUrl::parse(path.to_string_lossy()).map_err(internal)
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let schema = match schema {
            Some(schema) => schema,
            None => self.runtime.block_on(options.infer_schema(&self.context.state(), &urls[0])).map_err(internal)?,
        };
        let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema);
        Ok(Arc::new(ListingTable::try_new(config).map_err(internal)?))
    }
}

fn internal(error: impl std::fmt::Display) -> SqlError {
    SqlError::Internal(error.to_string())
}

fn query(error: datafusion::error::DataFusionError) -> SqlError {
    SqlError::Query(error.strip_backtrace())
}
