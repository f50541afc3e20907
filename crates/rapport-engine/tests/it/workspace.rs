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
        model: ModelKind::BgNbd,
        saved: None,
        horizon: 30.0,
        clv: ClvSpec::default(),
    })
    .expect("predict");
    let run = outcome.run.expect("a run");
    assert_eq!(run.customers, 4);
    assert_eq!(run.command, "clv predict");
    assert_eq!(runs(&root).expect("runs"), [run]);
}
