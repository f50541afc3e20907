//! `rapport cluster`: a Ballista scheduler and executors from this binary, and
//! `--engine ballista://…` giving the embedded path's results.

use crate::{ok, user_error};

/// Without the `cluster` feature the commands are there and say how to get them.
#[test]
#[cfg(not(feature = "cluster"))]
fn cluster_without_the_feature_says_how_to_build_it() {
    let message = user_error(&["cluster", "scheduler"]);
    assert!(message.contains("--features cluster"), "{message}");
    let message = user_error(&["cluster", "executor", "--scheduler", "127.0.0.1:50050"]);
    assert!(message.contains("--features cluster"), "{message}");
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    let message = user_error(&["summary", "--workspace", workspace, "--engine", "ballista://127.0.0.1:50050"]);
    assert!(message.contains("--features cluster"), "{message}");
}

/// A malformed engine is refused before anything runs.
#[test]
fn a_malformed_engine_is_refused() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    for engine in ["spark", "ballista://", "ballista://host:notaport"] {
        let message = user_error(&["summary", "--workspace", workspace, "--engine", engine]);
        assert!(message.contains("ballista://HOST:PORT"), "{engine}: {message}");
    }
    let message = user_error(&["cluster", "executor", "--scheduler", "nohostport"]);
    assert!(message.contains("HOST:PORT"), "{message}");
    let message = user_error(&["cluster", "executor", "--memory-limit", "lots"]);
    assert!(message.contains("--memory-limit") && message.contains("expected a size such as 4GiB"), "{message}");
    // A share under 32 MiB a task fails every query (a sort's merge reserves 10 MB): refused
    // at start, with what to give.
    let message = user_error(&["cluster", "executor", "--memory-limit", "48MiB", "--concurrency", "2"]);
    assert!(message.contains("leaves 24.0 MiB to each of the 2 task(s)") && message.contains("--memory-limit 64MiB"), "{message}");
    // The client's --memory-limit bounds the datafusion engine only, and what each of its
    // partitions (one a core) gets must be enough to run.
    let message = user_error(&["summary", "--workspace", workspace, "--memory-limit", "1GiB"]);
    assert!(message.contains("give it with --engine datafusion"), "{message}");
    let message = user_error(&["summary", "--workspace", workspace, "--memory-limit", "1GiB", "--engine", "ballista://127.0.0.1:50050"]);
    assert!(message.contains("rapport cluster executor --memory-limit SIZE"), "{message}");
    let message = user_error(&["analyze", "--workspace", workspace, "--memory-limit", "16MiB", "--engine", "datafusion"]);
    assert!(message.contains("MiB a partition: give --memory-limit"), "{message}");
    let message = user_error(&["sql", "--workspace", workspace, "SELECT 1", "--memory-limit", "many"]);
    assert!(message.contains("expected a size such as 4GiB"), "{message}");
    let message = user_error(&["sql", "--workspace", workspace, "SELECT 1", "--memory-limit", "64"]);
    assert!(message.contains("give a unit, such as 64MiB"), "{message}");
}

/// A limit above the machine's memory bounds nothing (and is most likely a typo): refused,
/// with the machine's memory.
#[test]
#[cfg(feature = "sql")]
fn a_memory_limit_above_the_machine_is_refused() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    let message = user_error(&["summary", "--workspace", workspace, "--engine", "datafusion", "--memory-limit", "1PiB"]);
    assert!(message.contains("--memory-limit 1048576.0 GiB is more than this machine's") && message.contains("GiB of memory"), "{message}");
    let message = user_error(&["sql", "--workspace", workspace, "SELECT 1", "--memory-limit", "1PiB"]);
    assert!(message.contains("would bound nothing"), "{message}");
    #[cfg(feature = "cluster")]
    {
        let message = user_error(&["cluster", "executor", "--scheduler", "127.0.0.1:1", "--memory-limit", "1PiB"]);
        assert!(message.contains("would bound nothing"), "{message}");
    }
}

#[cfg(feature = "cluster")]
mod on_a_cluster {
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use crate::{csv_rows, ok, user_error};

    /// The processes of a cluster, killed when dropped.
    struct Cluster(Vec<Child>);

    impl Drop for Cluster {
        fn drop(&mut self) {
            for child in &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// `count` consecutive free ports on loopback.
    fn free_ports(count: u16) -> u16 {
        for _ in 0..100 {
            let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind").local_addr().expect("addr").port();
            if first.checked_add(count).is_none() {
                continue;
            }
            if (0..count).all(|offset| TcpListener::bind((Ipv4Addr::LOCALHOST, first + offset)).is_ok()) {
                return first;
            }
        }
        panic!("no {count} consecutive free ports");
    }

    fn spawn(args: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_rapport")).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start rapport")
    }

    /// A scheduler with no executor queues the job and says nothing; the client says,
    /// once it has waited `RAPPORT_CLUSTER_PATIENCE` seconds, that a job waits while no
    /// executor is connected and how to start one.
    #[test]
    fn a_cluster_without_executors_is_said() {
        let directory = tempfile::tempdir().expect("tempdir");
        let (workspace, purchases) = (directory.path().join("ws"), directory.path().join("p.csv"));
        let workspace = workspace.to_str().expect("path");
        ok(&["init", workspace, "-q"]);
        std::fs::write(&purchases, "customer_id,time,amount\na,2020-01-01,3\na,2020-02-01,4\n").expect("write");
        ok(&["ingest", "-q", "-w", workspace, "-k", "purchases", purchases.to_str().expect("path")]);
        let scheduler_address = format!("127.0.0.1:{}", free_ports(1));
        let mut cluster = Cluster(vec![spawn(&["cluster", "scheduler", "--bind", &scheduler_address])]);
        let started = Instant::now();
        while TcpStream::connect(&scheduler_address).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "the scheduler did not start listening");
            std::thread::sleep(Duration::from_millis(100));
        }
        let stderr = directory.path().join("stderr");
        let mut client = Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(["summary", "-q", "--workspace", workspace, "--engine", &format!("ballista://{scheduler_address}")])
            .env("RAPPORT_CLUSTER_PATIENCE", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start rapport");
        let started = Instant::now();
        let said = loop {
            let text = std::fs::read_to_string(&stderr).unwrap_or_default();
            if text.contains("no executor is connected") || started.elapsed() > Duration::from_secs(60) {
                break text;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let _ = client.kill();
        let _ = client.wait();
        assert!(said.contains("no executor is connected") && said.contains(&format!("--scheduler {scheduler_address}")), "{said}");

        // Ctrl-C (SIGINT) stops the scheduler, exit 0.
        let scheduler = &mut cluster.0[0];
        let sent = Command::new("kill").args(["-INT", &scheduler.id().to_string()]).status().expect("kill");
        assert!(sent.success());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = scheduler.try_wait().expect("wait") {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the scheduler did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "{status:?}");
    }

    /// A scheduler and two executors (this binary, three processes, on loopback) run the
    /// summary, `clv predict`'s scoring and `analyze`'s per-customer aggregation and
    /// scoring of a generated workspace of 100,000 customers, and give the embedded
    /// path's results: every customer, column and count. An executor's address given as
    /// the engine is said not to be a scheduler's.
    #[test]
    fn a_scheduler_and_two_executors_give_the_embedded_results() {
        let directory = tempfile::tempdir().expect("tempdir");
        let brand = directory.path().join("brand");
        let workspace = directory.path().join("ws");
        let (brand, workspace) = (brand.to_str().expect("path"), workspace.to_str().expect("path"));
        ok(&["generate", "--customers", "100000", "--truth-customers", "1", "--output", brand]);
        ok(&["init", workspace]);
        for kind in ["customers", "purchases", "interactions", "surveys", "engagement"] {
            ok(&["ingest", "-q", "-w", workspace, "-k", kind, &format!("{brand}/{kind}.csv")]);
        }

        let scheduler = free_ports(1);
        let scheduler_address = format!("127.0.0.1:{scheduler}");
        let mut cluster = Cluster(vec![spawn(&["cluster", "scheduler", "--bind", &scheduler_address])]);
        let started = Instant::now();
        while TcpStream::connect(&scheduler_address).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "the scheduler did not start listening");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut executor_ports = Vec::new();
        // The first executor may hold 96 MiB (48 MiB a task): its sorts and shuffle writes
        // spill to its work directory, which its log of each task's plan shows, and the
        // results are still the embedded ones.
        let spilling_log = directory.path().join("executor0.log");
        for index in 0..2 {
            let port = free_ports(2);
            executor_ports.push(port);
            let work = directory.path().join(format!("executor{index}"));
            std::fs::create_dir_all(&work).expect("work dir");
            let bind = format!("127.0.0.1:{port}");
            let mut args = vec!["cluster", "executor", "--scheduler", &scheduler_address, "--bind", &bind, "--concurrency", "2"];
            args.extend(["--work-dir", work.to_str().expect("path")]);
            let mut command = Command::new(env!("CARGO_BIN_EXE_rapport"));
            command.stdout(Stdio::null()).stderr(Stdio::null());
            if index == 0 {
                args.extend(["--memory-limit", "96MiB"]);
                command
                    .env("RAPPORT_LOG", "ballista_executor::execution_engine=debug")
                    .stderr(std::fs::File::create(&spilling_log).expect("log file"));
            }
            cluster.0.push(command.args(&args).spawn().expect("start rapport"));
        }
        let engine = format!("ballista://{scheduler_address}");
        // An executor's address is not a scheduler's, and is said to be so.
        let executor_address = format!("127.0.0.1:{}", executor_ports[0]);
        let started = Instant::now();
        while TcpStream::connect(&executor_address).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "the executor did not start listening");
            std::thread::sleep(Duration::from_millis(100));
        }
        let message =
            user_error(&["summary", "-q", "--workspace", workspace, "--engine", &format!("ballista://127.0.0.1:{}", executor_ports[0])]);
        assert!(message.contains("not as a Ballista scheduler") && message.contains("executor's port"), "{message}");
        // A second executor on a port the first holds is refused with the reason, not
        // started as if it had stopped at once.
        let taken = format!("127.0.0.1:{}", executor_ports[0]);
        let message = user_error(&["cluster", "executor", "--scheduler", &scheduler_address, "--bind", &taken]);
        assert!(message.contains("cannot listen on") && message.contains("two apart"), "{message}");

        // The summary.
        let embedded = ok(&["summary", "-q", "--workspace", workspace, "--format", "csv"]);
        let planned = ok(&["summary", "-q", "--workspace", workspace, "--format", "csv", "--engine", &engine]);
        let (header, rows) = csv_rows(&embedded);
        assert!(rows.len() > 50_000, "{} customers summarised", rows.len());
        assert_eq!(csv_rows(&planned), (header.clone(), rows.clone()), "the summary on the cluster");

        // The datafusion engine in this process, at the least memory it takes (32 MiB a
        // partition, one a core): the same summary; and a sort of every purchase under
        // that limit spills (its plan's metrics say so) rather than failing.
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        let limit = format!("{}MiB", 32 * cores.max(2));
        let bounded =
            ok(&["summary", "-q", "--workspace", workspace, "--format", "csv", "--engine", "datafusion", "--memory-limit", &limit]);
        assert_eq!(csv_rows(&bounded), (header, rows), "the summary on the datafusion engine with --memory-limit {limit}");
        let plan = ok(&[
            "sql",
            "--workspace",
            workspace,
            "--memory-limit",
            &limit,
            "--format",
            "csv",
            "EXPLAIN ANALYZE SELECT * FROM purchases ORDER BY customer_id, time, amount",
        ]);
        let spills: u64 = plan
            .split("spill_count=")
            .skip(1)
            .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u64>().ok())
            .sum();
        assert!(spills > 0, "the sort under --memory-limit {limit} did not spill: {plan}");

        // Scoring after the fit: BG/NBD with Gamma-Gamma and a CLV, in weeks.
        let predict = ["clv", "predict", "-q", "--workspace", workspace, "--time-unit", "weeks", "--format", "csv"];
        let embedded = ok(&predict);
        let planned = ok(&[&predict[..], &["--engine", &engine]].concat());
        let (header, rows) = csv_rows(&embedded);
        assert!(header.contains(&"clv".to_string()), "{header:?}");
        assert_eq!(csv_rows(&planned), (header, rows), "the predictions on the cluster");

        // The analysis, its per-customer aggregation and scoring on the cluster: the same
        // customer table.
        // Besides the customer table, the tables strength, the matrix, the clusters, the
        // indicator alerts' weekly counts and the playbook (plans on the cluster too) make.
        let queries = [
            "SELECT * FROM customers ORDER BY customer_id",
            "SELECT * FROM indicators ORDER BY 1, 2, 3",
            "SELECT * FROM matrix ORDER BY 1, 2",
            "SELECT * FROM clusters ORDER BY 1",
            // The playbook's facts and predictable needs are plans too.
            "SELECT * FROM actions ORDER BY customer_id, action",
            // And propensity's facts at its cut-offs (this brand has no programs: the
            // response's are compared in rapport-engine's sql tests).
            "SELECT * FROM propensity ORDER BY 1",
        ];
        let tables = |engine: Option<&str>| {
            let mut analyze = vec!["analyze", "-q", "--workspace", workspace, "--as-of", "2025-12-31", "--format", "json"];
            analyze.extend(engine.map(|engine| ["--engine", engine]).into_iter().flatten());
            ok(&analyze);
            queries.map(|query| ok(&["sql", "--workspace", workspace, query, "--format", "csv"]))
        };
        // The measures: each customer's timeline built and folded on the executors, the
        // partitions' partial sums merged in another order than the embedded path's, so
        // their floats agree to 1e-9 relative (the tolerance).
        let measures =
            ["SELECT * FROM voice_of_customer ORDER BY 1, 2, 3", "SELECT * FROM service ORDER BY 1, 2", "SELECT * FROM regions ORDER BY 1"];
        let tables = |engine: Option<&str>| {
            let tables = tables(engine);
            let measured = measures.map(|query| ok(&["sql", "--workspace", workspace, query, "--format", "csv"]));
            (tables, measured)
        };
        let (embedded, embedded_measures) = tables(None);
        let (planned, planned_measures) = tables(Some(&engine));
        for ((query, embedded), planned) in measures.iter().zip(&embedded_measures).zip(&planned_measures) {
            let (header, rows) = csv_rows(embedded);
            let (planned_header, planned_rows) = csv_rows(planned);
            assert!(!rows.is_empty(), "{query}: no rows");
            assert_eq!((&planned_header, planned_rows.len()), (&header, rows.len()), "the measures on the cluster: {query}");
            for (found, expected) in planned_rows.iter().flatten().zip(rows.iter().flatten()) {
                let same = found == expected
                    || matches!((found.parse::<f64>(), expected.parse::<f64>()), (Ok(a), Ok(b)) if (a - b).abs() <= 1e-9 * a.abs().max(b.abs()));
                assert!(same, "the measures on the cluster: {query}: {found} against {expected}");
            }
        }
        let (header, rows) = csv_rows(&embedded[0]);
        assert!(rows.len() >= 100_000 && header.contains(&"opened_negative".to_string()), "{} customers, {header:?}", rows.len());
        for ((query, embedded), planned) in queries.iter().zip(&embedded).zip(&planned) {
            let (header, rows) = csv_rows(embedded);
            assert!(!rows.is_empty(), "{query}: no rows");
            assert_eq!(csv_rows(planned), (header, rows), "the analysis on the cluster: {query}");
        }

        // The scratch tables the executors read (order links, customers to score) are gone.
        let scratch: Vec<_> = std::fs::read_dir(workspace)
            .expect("workspace")
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".scratch-"))
            .collect();
        assert!(scratch.is_empty(), "scratch left behind: {scratch:?}");

        // The executors did the work: their shuffle files are there.
        let files = |index: usize| walk(&directory.path().join(format!("executor{index}")));
        assert!(files(0) + files(1) > 0, "no executor wrote shuffle files");
        // And the executor with a memory limit spilled on the way to the same results.
        let log = std::fs::read_to_string(&spilling_log).expect("executor log");
        let spills: u64 = log
            .split("spill_count=")
            .skip(1)
            .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u64>().ok())
            .sum();
        assert!(spills > 0, "the executor with --memory-limit 96MiB did not spill ({} bytes of log)", log.len());
        drop(cluster);

        // A scheduler that is not there is said plainly.
        let message = crate::user_error(&["summary", "--workspace", workspace, "--engine", &engine]);
        assert!(message.contains("cannot reach the scheduler") && message.contains("rapport cluster scheduler"), "{message}");
        // A host name that does not resolve is said as such (`.invalid` never resolves).
        let message = crate::user_error(&["summary", "--workspace", workspace, "--engine", "ballista://no-such-host.invalid:50050"]);
        assert!(message.contains("does not resolve") && !message.contains("rapport cluster scheduler"), "{message}");
    }

    fn walk(directory: &std::path::Path) -> usize {
        std::fs::read_dir(directory)
            .map(|entries| entries.filter_map(Result::ok).map(|entry| if entry.path().is_dir() { walk(&entry.path()) } else { 1 }).sum())
            .unwrap_or(0)
    }
}
