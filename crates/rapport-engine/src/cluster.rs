//! `rapport cluster`: an Apache Ballista scheduler or executor in this process, which
//! knows Rapport's functions. Built only with the `cluster` feature; without it both
//! requests answer [`EngineError::NotBuiltIn`].

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::EngineError;

/// A scheduler to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerRequest {
    /// The address to listen on.
    pub bind: SocketAddr,
    /// The host name executors and clients reach it by (default: the bound address).
    pub external_host: Option<String>,
}

/// An executor to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorRequest {
    /// The scheduler, `HOST:PORT`.
    pub scheduler: String,
    /// The address to listen on (Arrow Flight); the next port serves its gRPC service.
    pub bind: SocketAddr,
    /// The host name others reach it by (default: the bound address).
    pub external_host: Option<String>,
    /// Tasks run at once.
    pub concurrency: usize,
    /// Where shuffle files go (default: a temporary directory).
    pub work_dir: Option<PathBuf>,
    /// Bytes the executor's query operators may hold before they spill to the work
    /// directory (default: Ballista's, 70% of the machine's or container's memory).
    pub memory_limit: Option<u64>,
}

/// Whether this build runs a cluster.
pub const AVAILABLE: bool = cfg!(feature = "cluster");

/// Run a scheduler until the process is stopped.
pub fn scheduler(request: &SchedulerRequest) -> Result<(), EngineError> {
    #[cfg(feature = "cluster")]
    {
        let options = rapport_sql::cluster::SchedulerOptions { bind: request.bind, external_host: request.external_host.clone() };
        Ok(rapport_sql::cluster::run_scheduler(&options)?)
    }
    #[cfg(not(feature = "cluster"))]
    {
        let _ = request;
        Err(not_built_in())
    }
}

/// Run an executor until the process is stopped.
pub fn executor(request: &ExecutorRequest) -> Result<(), EngineError> {
    // `ballista://HOST:PORT`, as given to --engine, is accepted too.
    let address = request.scheduler.strip_prefix("ballista://").unwrap_or(&request.scheduler).trim_end_matches('/');
    let (host, port) = address
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .filter(|(host, _)| !host.is_empty())
        .ok_or_else(|| EngineError::Request(format!("--scheduler {:?}: expected HOST:PORT", request.scheduler)))?;
    if let Some(bytes) = request.memory_limit {
        crate::summary::within_machine(bytes)?;
    }
    #[cfg(feature = "cluster")]
    {
        let options = rapport_sql::cluster::ExecutorOptions {
            scheduler_host: host.to_string(),
            scheduler_port: port,
            bind: request.bind,
            external_host: request.external_host.clone(),
            concurrency: request.concurrency,
            work_dir: request.work_dir.clone(),
            memory_limit: request.memory_limit,
        };
        Ok(rapport_sql::cluster::run_executor(&options)?)
    }
    #[cfg(not(feature = "cluster"))]
    {
        let _ = (host, port);
        Err(not_built_in())
    }
}

#[cfg(not(feature = "cluster"))]
fn not_built_in() -> EngineError {
    EngineError::NotBuiltIn { feature: "cluster", what: "`rapport cluster`" }
}
