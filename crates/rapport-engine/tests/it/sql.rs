//! `rapport sql`: DataFusion over the workspace's published events and results runs.

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use rapport_engine::demo::{BrandDemoRequest, run_brand_demo};
use rapport_engine::sql::{SqlRequest, run_table_name, sql, tables};

fn count(workspace: &std::path::Path, query: &str) -> i64 {
    let batch =
        sql(&SqlRequest { workspace: workspace.to_path_buf(), query: query.into() }).unwrap_or_else(|error| panic!("{query}: {error}"));
    assert_eq!(batch.num_rows(), 1, "{query}");
    batch.column(0).as_primitive::<Int64Type>().value(0)
}

/// Every event table and every table of the results runs is queryable; each event table
/// holds exactly the rows its ingest accepted; only the published batches are read (a
/// Parquet file left beside them, as an interrupted ingest would, is not); the run's
/// tables are there under their plain names and as run_<id>_<name>; a bad query is a
/// `bad_query` error naming what is wrong.
#[test]
fn events_and_results_are_tables() {
    let directory = tempfile::tempdir().expect("temp");
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: 600, seed: 3, truth_customers: 1 };
    let report = run_brand_demo(&request, &|_| {}).expect("demo");
    let workspace = request.directory.clone();

    for (kind, ingest) in &report.ingests {
        let table = if *kind == rapport_engine::EventKind::Customers { "events.customers".to_string() } else { kind.name().to_string() };
        assert_eq!(count(&workspace, &format!("SELECT COUNT(*) FROM {table}")), ingest.accepted as i64, "{table}");
    }
    // A stray file beside a published batch is not part of the table.
    let purchases = workspace.join("events/purchases");
    let published = std::fs::read_dir(&purchases).expect("dir").next().expect("a batch").expect("entry").path();
    std::fs::copy(&published, purchases.join("999999.parquet")).expect("copy");
    let accepted =
        report.ingests.iter().find(|(kind, _)| *kind == rapport_engine::EventKind::Purchases).expect("purchases").1.accepted as i64;
    assert_eq!(count(&workspace, "SELECT COUNT(*) FROM purchases"), accepted);

    // The results run: the customer table and the breakdowns, plain and by run id.
    let run = report.analysis.run.id.clone();
    assert_eq!(count(&workspace, "SELECT COUNT(*) FROM customers"), 600);
    assert_eq!(count(&workspace, "SELECT COUNT(*) FROM results.customers"), 600);
    assert_eq!(count(&workspace, &format!("SELECT COUNT(*) FROM {}", run_table_name(&run, "customers"))), 600);
    let names: Vec<String> = tables(&workspace).expect("tables").into_iter().map(|table| table.name).collect();
    assert!(count(&workspace, "SELECT COUNT(*) FROM results.programs") > 0, "the programs breakdown");
    assert!(names.contains(&"events.customers".to_string()), "{names:?}");
    for name in ["voice_of_customer", "service", "programs", "regions", "detractor_drivers", "purchases", "interactions"] {
        assert!(names.contains(&name.to_string()), "{name} missing from {names:?}");
        count(&workspace, &format!("SELECT COUNT(*) FROM {name}"));
    }
    // A join across events and results: every customer in the table bought or not.
    let joined = count(
        &workspace,
        "SELECT COUNT(DISTINCT c.customer_id) FROM customers c JOIN purchases p ON p.customer_id = c.customer_id WHERE p.amount > 0",
    );
    assert!(joined > 0 && joined <= 600, "{joined}");

    let error = sql(&SqlRequest { workspace: workspace.clone(), query: "SELECT nope FROM purchases".into() }).expect_err("bad column");
    assert_eq!(error.code(), "bad_query");
    assert!(error.to_string().contains("nope"), "{error}");
    let error = sql(&SqlRequest { workspace: workspace.clone(), query: "SELEC 1".into() }).expect_err("syntax");
    assert_eq!(error.code(), "bad_query");
    let error = sql(&SqlRequest { workspace, query: "SELECT * FROM no_such_table".into() }).expect_err("table");
    assert!(error.to_string().contains("no_such_table"), "{error}");
}

/// The customer summary as a DataFusion plan (`rapport_summary` over the workspace's
/// Parquet files, refunds linked through their orders in the plan) equals the embedded
/// path's: every customer, column and count, for days and weeks, with and without a
/// calibration split, in the workspace's time zone.
#[test]
fn datafusion_summary_equals_the_embedded_one() {
    use rapport_engine::input::WindowSpec;
    use rapport_engine::summary::{Engine, PurchaseSource, SummaryRequest, summarize_on};
    use rapport_engine::{Period, TimeUnit};

    let directory = tempfile::tempdir().expect("temp");
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: 3000, seed: 11, truth_customers: 1 };
    run_brand_demo(&request, &|_| {}).expect("demo");
    let workspace = request.directory.clone();
    let summary = |window: WindowSpec, engine: Engine| {
        let request = SummaryRequest { source: PurchaseSource::Workspace(workspace.clone()), window, max_rejects: 0 };
        summarize_on(&request, &engine).unwrap_or_else(|error| panic!("{engine:?}: {error}"))
    };
    let embedded = summary(WindowSpec::default(), Engine::Embedded);
    assert!(embedded.refunds_by_order > 0 && embedded.summary.counts.refunds > 0, "the brand's refunds name their orders");
    let end = rapport_core::time::format_local(embedded.summary.observation_end);
    let calibration_end = rapport_core::time::format_local(embedded.summary.observation_end - 200 * 86_400);
    let windows = [
        WindowSpec::default(),
        WindowSpec { period: Period::Week, time_unit: Some(TimeUnit::Days), ..WindowSpec::default() },
        WindowSpec {
            period: Period::Day,
            time_unit: Some(TimeUnit::Weeks),
            observation_end: Some(end[..10].to_string()),
            calibration_end: Some(calibration_end[..10].to_string()),
            ..WindowSpec::default()
        },
        // An observation end before the last purchases: customers who first bought after
        // it are not seen (nor counted as refund-only).
        WindowSpec { observation_end: Some(calibration_end[..10].to_string()), ..WindowSpec::default() },
    ];
    for window in windows {
        let embedded = summary(window.clone(), Engine::Embedded);
        let planned = summary(window.clone(), Engine::DataFusion);
        assert!(embedded.summary.customers.len() > 1000, "{window:?}");
        assert_eq!(planned.summary, embedded.summary, "{window:?}");
        assert_eq!(
            (planned.unlinked, planned.unlinked_refunds, planned.refunds_by_order),
            (embedded.unlinked, embedded.unlinked_refunds, embedded.refunds_by_order),
            "{window:?}"
        );
    }
}

/// `clv predict` on DataFusion (the summary a plan, the model fitted here, every customer
/// scored by `rapport_score` carrying the fitted model) equals the embedded path: the same
/// models, and every prediction bit for bit, with and without a holdout, for BG/NBD with
/// Gamma-Gamma (CLV) and for Pareto/NBD. The scratch file the customers travel in is gone
/// afterwards.
#[test]
fn datafusion_scoring_equals_the_embedded_one() {
    use rapport_engine::clv::{ClvSpec, CustomerSource, DiscountPeriod, PredictRequest, predict_on};
    use rapport_engine::input::WindowSpec;
    use rapport_engine::summary::{Engine, PurchaseSource, SummaryRequest};
    use rapport_engine::{FitOptions, ModelKind, MonthDefinition, TimeUnit};

    let directory = tempfile::tempdir().expect("temp");
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: 2000, seed: 5, truth_customers: 1 };
    run_brand_demo(&request, &|_| {}).expect("demo");
    let workspace = request.directory.clone();
    let predict = |window: WindowSpec, model: ModelKind, engine: Engine| {
        let request = PredictRequest {
            source: CustomerSource::Purchases(SummaryRequest {
                source: PurchaseSource::Workspace(workspace.clone()),
                window,
                max_rejects: 0,
            }),
            model: Some(model),
            saved: None,
            horizon: 10.0,
            clv: ClvSpec { months: 12, discount_rate: 0.01, discount_period: DiscountPeriod::Month, month: MonthDefinition::Mean },
            options: FitOptions::default(),
        };
        predict_on(&request, &engine).unwrap_or_else(|error| panic!("{engine:?}: {error}"))
    };
    let everything = SummaryRequest { source: PurchaseSource::Workspace(workspace.clone()), window: WindowSpec::default(), max_rejects: 0 };
    let end = rapport_engine::summary::summarize(&everything).expect("summary").summary.observation_end;
    let calibration_end = rapport_core::time::format_local(end - 200 * 86_400)[..10].to_string();
    let windows = [
        WindowSpec { time_unit: Some(TimeUnit::Weeks), ..WindowSpec::default() },
        WindowSpec { time_unit: Some(TimeUnit::Weeks), calibration_end: Some(calibration_end), ..WindowSpec::default() },
    ];
    for window in windows {
        for model in [ModelKind::BgNbd, ModelKind::ParetoNbd] {
            let embedded = predict(window.clone(), model, Engine::Embedded);
            let planned = predict(window.clone(), model, Engine::DataFusion);
            // Debug text, so that a NaN standard error equals itself.
            assert_eq!(format!("{:?}", planned.models), format!("{:?}", embedded.models), "{model:?} {window:?}");
            assert_eq!(planned.holdout, embedded.holdout, "{model:?} {window:?}");
            let (planned, embedded) = (planned.customers.to_record_batch(), embedded.customers.to_record_batch());
            assert_eq!(planned.schema(), embedded.schema(), "{model:?} {window:?}");
            assert!(embedded.schema().column_with_name("clv").is_some(), "a CLV per customer");
            for (index, field) in embedded.schema().fields().iter().enumerate() {
                assert_eq!(planned.column(index), embedded.column(index), "{} with {model:?} {window:?}", field.name());
            }
        }
    }
    let scratch: Vec<_> = std::fs::read_dir(&workspace)
        .expect("workspace")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(".scoring-"))
        .collect();
    assert!(scratch.is_empty(), "scratch left behind: {scratch:?}");
}
