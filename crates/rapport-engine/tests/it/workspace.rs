//! Workspaces: init, ingest with mappings, predictions written as results runs.

use rapport_engine::clv::{ClvSpec, CustomerSource, PredictRequest, predict};
use rapport_engine::input::{FileInput, WindowSpec};
use rapport_engine::summary::{PurchaseSource, SummaryRequest};
use rapport_engine::workspace::{IngestRequest, ingest, init, runs};
use rapport_engine::{EventKind, ModelKind, TimeUnit};

use crate::write;

#[test]
fn ingest_then_predict_writes_a_run() {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path().join("ws");
    assert_eq!(init(&root, "Mars/Base", "USD").expect_err("bad zone").code(), "invalid_option");
    assert_eq!(init(&root, "UTC", "dollars").expect_err("bad currency").code(), "invalid_value");
    init(&root, "Europe/Paris", "eur").expect("init");
    let mut rows = String::from("client,order_date,total\n");
    for (customer, days) in [("a", [1, 5, 9]), ("b", [2, 30, 31]), ("c", [3, 3, 3])] {
        for day in days {
            rows += &format!("{customer},2024-01-{day:02},{}\n", 10 + day);
        }
    }
    rows += "d,2024-02-01,5\n";
    let file = write(directory.path(), "orders.csv", &rows);
    let mut request = IngestRequest {
        workspace: root.clone(),
        kind: EventKind::Purchases,
        input: FileInput::new(&file),
        mappings: vec!["customer_id=client".into(), "time=order_date".into(), "nonsense=x".into()],
        sets: Vec::new(),
        filter: None,
        replace: None,
        profile: None,
        max_rejects: 0,
    };
    assert_eq!(ingest(&request).expect_err("unknown field").code(), "invalid_value");
    request.mappings.pop();
    request.mappings.push("amount=total".into());
    let report = ingest(&request).expect("ingest");
    assert_eq!(report.accepted, 10);
    assert!(runs(&root).expect("runs").is_empty());
    let outcome = predict(&PredictRequest {
        source: CustomerSource::Purchases(SummaryRequest {
            source: PurchaseSource::Workspace(root.clone()),
            window: WindowSpec { time_unit: Some(TimeUnit::Days), ..WindowSpec::default() },
            max_rejects: 0,
        }),
        model: Some(ModelKind::BgNbd),
        saved: None,
        horizon: 30.0,
        clv: ClvSpec::default(),
        options: Default::default(),
    })
    .expect("predict");
    let run = outcome.run.expect("a run");
    assert_eq!(run.customers, 4);
    assert_eq!(run.command, "clv predict");
    assert_eq!(runs(&root).expect("runs"), [run]);
}

/// The workspace's parallel scan (every stored file and row group on its own core)
/// summarises exactly as reading the same purchases from one file.
#[test]
fn workspace_summary_equals_the_file_summary() {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path().join("ws");
    init(&root, "UTC", "USD").expect("init");
    let mut all = String::from("customer_id,date,amount\n");
    for part in 0..4 {
        let mut rows = String::from("customer_id,date,amount\n");
        for index in 0..3_000 {
            let customer = (index * 7 + part) % 500;
            let line = format!("c{customer},2024-{:02}-{:02},{}.{:02}\n", index % 12 + 1, index % 28 + 1, index % 90, index % 100);
            rows += &line;
            all += &line;
        }
        let file = write(directory.path(), &format!("orders-{part}.csv"), &rows);
        let request = IngestRequest {
            workspace: root.clone(),
            kind: EventKind::Purchases,
            input: FileInput::new(&file),
            mappings: vec!["time=date".into()],
            sets: Vec::new(),
            filter: None,
            replace: None,
            profile: None,
            max_rejects: 0,
        };
        ingest(&request).expect("ingest");
    }
    let window = WindowSpec { time_unit: Some(TimeUnit::Days), ..WindowSpec::default() };
    let from_workspace = rapport_engine::summary::summarize(&SummaryRequest {
        source: PurchaseSource::Workspace(root),
        window: window.clone(),
        max_rejects: 0,
    })
    .expect("workspace");
    let file = write(directory.path(), "all.csv", &all);
    let from_file = rapport_engine::summary::summarize(&SummaryRequest {
        source: PurchaseSource::File {
            input: FileInput::new(&file),
            columns: rapport_engine::input::TransactionColumns { amount: Some("amount".into()), ..Default::default() },
        },
        window,
        max_rejects: 0,
    })
    .expect("file");
    assert_eq!(from_workspace.summary.customers.len(), 500);
    assert_eq!(from_workspace.summary.counts, from_file.summary.counts);
    assert_eq!(from_workspace.summary.customers, from_file.summary.customers);
}
