//! The cluster: Apache Ballista's scheduler and executor, run from this binary so that
//! both sides know Rapport's functions (their parameters travel in the plans, through
//! [`crate::codec`]), and sessions that run their plans on it.
//!
//! A cluster is this binary on each machine: one `rapport cluster scheduler`, any number
//! of `rapport cluster executor --scheduler HOST:PORT`, and the workspace on storage every
//! machine sees at the same path (a shared file system). Plans name the workspace's
//! Parquet files by absolute path; executors read them and exchange intermediate results
//! through Ballista's shuffle files and Arrow Flight.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;

use crate::SqlError;
use crate::codec::{LogicalCodec, PhysicalCodec};

/// The logical-plan codec of every side of the cluster.
pub fn logical_codec() -> Arc<dyn LogicalExtensionCodec> {
    Arc::new(LogicalCodec::new(Arc::new(BallistaLogicalExtensionCodec::default())))
}

/// The physical-plan codec of every side of the cluster.
pub fn physical_codec() -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(PhysicalCodec::new(Arc::new(BallistaPhysicalExtensionCodec::default())))
}

/// A session context whose plans run on the cluster whose scheduler is at `url`
/// (`ballista://HOST:PORT`).
pub(crate) async fn remote_context(url: &str, config: SessionConfig) -> Result<SessionContext, SqlError> {
    // Reach the scheduler first, so that a cluster that is not there is said plainly
    // rather than as the first query's transport error.
    let address = url.split_once("://").map_or(url, |(_, address)| address).trim_end_matches('/');
    // A name that does not resolve is a typo or a DNS problem, not a scheduler to start.
    let socket = std::net::ToSocketAddrs::to_socket_addrs(address)
        .map_err(|error| error.to_string())
        .and_then(|mut addresses| addresses.next().ok_or_else(|| "it resolves to no address".to_string()))
        .map_err(|reason| {
            SqlError::Cluster(format!("cannot reach the scheduler at {url}: the host name does not resolve ({reason}); check the address"))
        })?;
    if let Err(reason) = std::net::TcpStream::connect_timeout(&socket, std::time::Duration::from_secs(10)) {
        return Err(SqlError::Cluster(format!(
            "cannot reach the scheduler at {url} ({socket}): {reason} (start one there with `rapport cluster scheduler --bind {address}`)"
        )));
    }
    let config = config
        .with_target_partitions(cluster_partitions())
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(logical_codec())
        .with_ballista_physical_extension_codec(physical_codec())
        .with_ballista_job_name("rapport")
        .with_ballista_grpc_client_max_message_size(MESSAGE_LIMIT)
        // Ballista 55's adaptive planner (on by default since 55) never finishes some of
        // the analysis's plans: with the order links restricted to the orders that need
        // them, the scheduler spins in `AdaptiveExecutionGraph::revive` while no task
        // runs (seen with a join whose build side is empty). The static planner runs
        // them; the cluster test covers it.
        .with_ballista_adaptive_query_planner(false);
    let state = SessionStateBuilder::new().with_default_features().with_config(config).build();
    SessionContext::remote_with_state(url, state)
        .await
        .map_err(|error| SqlError::Cluster(format!("connecting to the scheduler at {url}: {}", error.strip_backtrace())))
}

/// The largest message between the processes of a cluster (a record batch of a
/// shuffle or of a result). Ballista's 16 MiB default refused the measures' plan at 1M
/// customers: a partition's partial `Measures` is one value, and it keeps the rows its
/// regressions and exact medians need (34 MB over half the customers). 1 GiB leaves room
/// for about 30M customers per partition; the partials' size grows with the customers
/// until those rows are replaced by sufficient statistics (docs/scaling.md).
pub const MESSAGE_LIMIT: usize = 1 << 30;

/// How many partitions a shuffle on a cluster writes, unless `RAPPORT_CLUSTER_PARTITIONS`
/// says otherwise. A per-customer aggregation's final stage holds every group of its
/// partition until the partition ends (its states are lists of rows, which do not
/// spill), so an executor running one task at a time holds about 1/N of the customers,
/// where with the client's core count (two here) each of two executors held half.
pub const CLUSTER_PARTITIONS: usize = 16;

/// The shuffle partitions of a cluster session: `RAPPORT_CLUSTER_PARTITIONS` when it is a
/// positive number, else [`CLUSTER_PARTITIONS`].
pub fn cluster_partitions() -> usize {
    std::env::var("RAPPORT_CLUSTER_PARTITIONS")
        .ok()
        .and_then(|value| value.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(CLUSTER_PARTITIONS)
}

/// Where a scheduler listens.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// The host name executors and clients reach it by (default: the bound address).
    pub external_host: Option<String>,
}

/// Run a scheduler until the process is stopped.
pub fn run_scheduler(options: &SchedulerOptions) -> Result<(), SqlError> {
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options.external_host.clone().unwrap_or_else(|| options.bind.ip().to_string()),
        // Spread a job's tasks over the executors rather than filling the first one.
        task_distribution: TaskDistributionPolicy::RoundRobin,
        // An executor silent for a minute is lost and its tasks run elsewhere (Ballista's
        // default waits three minutes, with heartbeats every minute; ours beat every 10 s).
        executor_timeout_seconds: 60,
        override_logical_codec: Some(logical_codec()),
        override_physical_codec: Some(physical_codec()),
        ..SchedulerConfig::default()
    };
    runtime()?.block_on(async {
        let cluster = BallistaCluster::new_from_config(&config).await.map_err(cluster_error)?;
        let server = start_server(cluster, options.bind, Arc::new(config));
        // Stopped by Ctrl-C or SIGTERM, as the executor is, also when started in the
        // background of a script (where the shell ignores SIGINT for it unless a handler
        // is installed).
        tokio::select! {
            served = server => served.map_err(|error| SqlError::Cluster(format!("the scheduler on {}: {error}", options.bind))),
            () = stop_signal() => Ok(()),
        }
    })
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            // Without handlers the default actions stop the process.
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// How an executor joins a cluster.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// The address to listen on; its port serves Arrow Flight (shuffle data), the next
    /// port the executor's gRPC service.
    pub bind: SocketAddr,
    /// The host name other executors and the scheduler reach it by (default: the bound
    /// address).
    pub external_host: Option<String>,
    /// Tasks run at once.
    pub concurrency: usize,
    /// Where shuffle files go (default: a temporary directory).
    pub work_dir: Option<PathBuf>,
    /// Bytes the query operators may hold, shared by the tasks: an aggregation past it
    /// spills to the work directory (Ballista's `memory_pool_size`; its default is 70% of
    /// the machine's or container's memory).
    pub memory_limit: Option<u64>,
}

/// Run an executor until the process is stopped.
pub fn run_executor(options: &ExecutorOptions) -> Result<(), SqlError> {
    let grpc_port = options
        .bind
        .port()
        .checked_add(1)
        .ok_or_else(|| SqlError::Cluster(format!("port {} leaves no room for the gRPC port after it", options.bind.port())))?;
    // Ballista's executor returns as if stopped when one of its servers cannot bind (exit
    // 0, no word), so a port in use is found here first: the likely cause is another
    // executor on this machine, which holds its --bind port and the one after it.
    for port in [options.bind.port(), grpc_port] {
        let address = std::net::SocketAddr::new(options.bind.ip(), port);
        if let Err(error) = std::net::TcpListener::bind(address) {
            return Err(SqlError::Cluster(format!(
                "cannot listen on {address}: {error} (each executor takes its --bind port and the next one, for gRPC: give each executor on a machine ports two apart)"
            )));
        }
    }
    // Without --work-dir, Ballista makes a temporary directory for the shuffle files and
    // leaves it behind when the executor stops. Rapport makes it instead, and removes it
    // when the executor stops on Ctrl-C or SIGTERM (Ballista's process returns then).
    let temporary = match &options.work_dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("rapport-executor-")
                .tempdir()
                .map_err(|error| SqlError::Cluster(format!("making the executor's work directory: {error}")))?,
        ),
    };
    let work_dir = options.work_dir.clone().or_else(|| temporary.as_ref().map(|directory| directory.path().to_path_buf()));
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: Some(options.external_host.clone().unwrap_or_else(|| options.bind.ip().to_string())),
        port: options.bind.port(),
        grpc_port,
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        vcores: options.concurrency.max(1),
        executor_heartbeat_interval_seconds: 10,
        work_dir: work_dir.map(|dir| dir.to_string_lossy().into_owned()),
        // 0 is Ballista's "unbounded": a limit rounds up to at least a byte per task.
        memory_pool_size: options.memory_limit.map(|bytes| bytes.max(options.concurrency.max(1) as u64)),
        override_logical_codec: Some(logical_codec()),
        override_physical_codec: Some(physical_codec()),
        grpc_max_encoding_message_size: MESSAGE_LIMIT as u32,
        grpc_max_decoding_message_size: MESSAGE_LIMIT as u32,
        ..ExecutorProcessConfig::default()
    };
    let stopped = runtime()?.block_on(start_executor_process(Arc::new(config))).map_err(|error| {
        SqlError::Cluster(format!(
            "the executor on {} (and port {grpc_port}) for the scheduler at {}:{}: {error}",
            options.bind, options.scheduler_host, options.scheduler_port
        ))
    });
    drop(temporary);
    stopped
}

fn runtime() -> Result<tokio::runtime::Runtime, SqlError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(crate::PLAN_STACK_BYTES)
        .build()
        .map_err(|error| SqlError::Internal(format!("starting the cluster runtime: {error}")))
}

fn cluster_error(error: ballista_core::error::BallistaError) -> SqlError {
    SqlError::Cluster(error.to_string())
}
