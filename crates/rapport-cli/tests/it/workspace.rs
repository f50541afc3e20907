//! The workspace from the command line: init, ingest, duplicates, quarantine, kill -9.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{ok, rapport, user_error};

#[test]
fn ingest_reports_counts_and_duplicates() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace]);
    let file = directory.path().join("p.csv");
    std::fs::write(&file, "event_id,customer_id,time,amount\n1,a,2020-01-01,3\n2,a,2020-01-02,4\n1,a,2020-01-01,3\n").expect("write");
    let file = file.to_str().expect("path");
    let first: serde_json::Value =
        serde_json::from_str(&ok(&["ingest", "-w", workspace, "-k", "purchases", file, "--format", "json"])).expect("json");
    assert_eq!((first[0]["accepted"].as_u64(), first[0]["duplicates"].as_u64()), (Some(2), Some(1)));
    let second: serde_json::Value =
        serde_json::from_str(&ok(&["ingest", "-w", workspace, "-k", "purchases", file, "--format", "json"])).expect("json");
    assert_eq!((second[0]["accepted"].as_u64(), second[0]["duplicates"].as_u64()), (Some(0), Some(3)));
    assert_eq!(second[0]["batch"], "(nothing new)");
    // Too many rejects: exit 1, nothing published.
    let bad = directory.path().join("bad.csv");
    std::fs::write(&bad, "customer_id,time,amount\nz,2020-01-01,x\n").expect("write");
    let message = user_error(&["ingest", "-w", workspace, "-k", "purchases", bad.to_str().expect("path")]);
    assert!(message.contains("bad.csv:2: column \"amount\""), "{message}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(directory.path().join("ws/manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["batches"].as_array().map(Vec::len), Some(1));
    assert!(user_error(&["ingest", "-w", workspace, "-k", "orders", file]).contains("--kind"));
    assert!(user_error(&["ingest", "-w", "/nonexistent", "-k", "purchases", file]).contains("not a Rapport workspace"));
}

/// kill -9 at random moments of an ingest: the workspace is always exactly as before
/// (one batch) or exactly as after (two), and its events are readable.
#[test]
fn kill_nine_during_ingest_leaves_before_or_after() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace_text = workspace.to_str().expect("path");
    ok(&["init", workspace_text]);
    let small = directory.path().join("small.csv");
    std::fs::write(&small, "customer_id,time,amount\na,2020-01-01,1\n").expect("write");
    ok(&["ingest", "-w", workspace_text, "-k", "purchases", small.to_str().expect("path")]);
    let mut big = String::from("customer_id,time,amount\n");
    for row in 0..300_000 {
        big.push_str(&format!("c{},2020-01-{:02},{}.5\n", row % 5000, row % 28 + 1, row % 97));
    }
    let big_path = directory.path().join("big.csv");
    std::fs::write(&big_path, big).expect("write");
    let mut outcomes = Vec::new();
    for delay in [5u64, 40, 120, 250, 600] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rapport"))
            .args(["ingest", "-w", workspace_text, "-k", "purchases", big_path.to_str().expect("path"), "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let out = rapport(&["summary", "--workspace", workspace_text, "--format", "csv", "-q"]);
        assert!(out.status.success(), "workspace unreadable after kill at {delay} ms: {}", String::from_utf8_lossy(&out.stderr));
        let customers = String::from_utf8_lossy(&out.stdout).lines().count() - 1;
        assert!(customers == 1 || customers == 5001, "half-written workspace after kill at {delay} ms: {customers} customers");
        outcomes.push(customers);
    }
    // Whatever happened, finishing the ingest publishes everything exactly once.
    ok(&["ingest", "-w", workspace_text, "-k", "purchases", big_path.to_str().expect("path")]);
    let out = ok(&["summary", "--workspace", workspace_text, "--format", "csv"]);
    assert_eq!(out.lines().count() - 1, 5001, "{outcomes:?}");
}

/// `--timezone` with `--workspace` buckets days in that zone instead of the workspace's
/// (a purchase at 23:30 UTC is the next day in Auckland).
#[test]
fn a_given_timezone_overrides_the_workspace_zone() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("ws");
    let workspace = workspace.to_str().expect("path");
    ok(&["init", workspace, "--timezone", "Pacific/Auckland"]);
    let file = directory.path().join("p.csv");
    std::fs::write(&file, "customer_id,time,amount\na,2020-01-01T10:00:00Z,3\na,2020-01-01T23:30:00Z,4\n").expect("write");
    ok(&["ingest", "-w", workspace, "-k", "purchases", file.to_str().expect("path"), "-q"]);
    let frequency = |extra: &[&str]| {
        let mut args = vec!["summary", "--workspace", workspace, "--format", "json", "-q"];
        args.extend_from_slice(extra);
        let rows: serde_json::Value = serde_json::from_str(&ok(&args)).expect("json");
        rows[0]["frequency"].as_u64().expect("frequency")
    };
    assert_eq!(frequency(&[]), 1, "two Auckland days");
    assert_eq!(frequency(&["--timezone", "UTC"]), 0, "one UTC day");
}

/// A missing field suggests the `--map` that fixes it, and `ingest --help` lists every
/// kind's fields.
#[test]
fn a_missing_field_suggests_its_mapping() {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path().join("ws");
    ok(&["init", root.to_str().expect("path")]);
    let file = directory.path().join("orders.csv");
    std::fs::write(&file, "CustomerID,order_date,total\n1,2024-01-01,5\n").expect("write");
    let message = user_error(&["ingest", "--workspace", root.to_str().expect("path"), "--kind", "purchases", file.to_str().expect("path")]);
    assert!(message.contains("--map customer_id=CustomerID"), "{message}");
    let help = ok(&["ingest", "--help"]);
    assert!(help.contains("purchases") && help.contains("amount*") && help.contains("survey_type*"), "{help}");
}
