//! `fit`, `predict`, `track`, saving and loading models.

use rapport_engine::clv::{ClvSpec, CustomerSource, FitRequest, PredictRequest, TrackRequest, fit, load_model, predict, save_model, track};
use rapport_engine::input::{TransactionColumns, WindowSpec};
use rapport_engine::{ModelKind, MonthDefinition, Period, TimeUnit};

use crate::{cdnow_sample, repo_file};

fn hardie_summary(unit: Option<TimeUnit>) -> CustomerSource {
    CustomerSource::SummaryFile { path: repo_file("data/cdnow/cdnow_customers_summary_with_transactions.csv"), time_unit: unit }
}

/// FHL (2005): r = 0.2426, alpha = 4.4135, a = 0.7929, b = 2.4258 (4 significant
/// digits); the saved model records its unit and customers and reloads equal.
#[test]
fn fit_matches_fader_hardie_lee_2005_and_round_trips() {
    let outcome = fit(&FitRequest { source: hardie_summary(Some(TimeUnit::Weeks)), model: ModelKind::BgNbd, options: Default::default() })
        .expect("fit");
    let report = outcome.saved.model.report();
    for ((name, value), published) in report.named_params().zip([0.2426, 4.4135, 0.7929, 2.4258]) {
        assert!((value - published).abs() < 5e-4 * published.max(1.0), "{name}: {value} vs {published}");
    }
    assert_eq!(outcome.saved.time_unit(), Some(TimeUnit::Weeks));
    assert_eq!(outcome.saved.fitted_on.customers, 2357.0);
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("bg.json");
    save_model(&path, &outcome.saved).expect("save");
    assert_eq!(load_model(&path).expect("load"), outcome.saved);
    let error = load_model(&directory.path().join("missing.json")).expect_err("no file");
    assert_eq!(error.code(), "read_failed");
    // A saved BG/NBD is not silently applied when another model is asked for.
    let request = PredictRequest {
        source: hardie_summary(Some(TimeUnit::Weeks)),
        model: Some(ModelKind::ParetoNbd),
        saved: Some(path.clone()),
        horizon: 39.0,
        clv: ClvSpec::default(),
        options: Default::default(),
    };
    let error = predict(&request).expect_err("kind mismatch");
    assert!(error.to_string().contains("bg-nbd") && error.to_string().contains("pareto-nbd"), "{error}");
    assert!(predict(&PredictRequest { model: None, ..request }).is_ok(), "without a kind the file decides");
}

/// Predictions are columns of the customer table; CLV needs the unit, and lifetimes'
/// month reproduces lifetimes' CLV (customer 1: 36.2785, to 0.01).
#[test]
fn predict_adds_columns_and_needs_the_unit_for_clv() {
    let request = |unit, month| PredictRequest {
        source: hardie_summary(unit),
        model: Some(ModelKind::BgNbd),
        saved: None,
        horizon: 39.0,
        clv: ClvSpec { month, ..ClvSpec::default() },
        options: Default::default(),
    };
    let error = predict(&request(None, MonthDefinition::Mean)).expect_err("no unit");
    assert_eq!(error.code(), "time_unit_needed");
    let outcome = predict(&request(Some(TimeUnit::Weeks), MonthDefinition::Lifetimes)).expect("predict");
    let table = &outcome.customers;
    for column in ["p_alive", "expected_purchases", "expected_average_spend", "clv"] {
        assert!(table.f64(column).is_some(), "{column}");
    }
    assert!((table.f64("clv").expect("clv")[0] - 36.2785).abs() < 0.01);
    assert_eq!(outcome.models.iter().map(|model| model.model.as_str()).collect::<Vec<_>>(), ["bg-nbd", "gamma-gamma"]);
    assert!(outcome.run.is_none(), "a summary file is not a workspace: no run");
}

/// Tracking needs a calibration end when it fits, and a count model.
#[test]
fn tracking_checks_its_request() {
    let mut request = TrackRequest {
        input: cdnow_sample(),
        columns: TransactionColumns { customer: "customer_id".into(), time: "date".into(), amount: None },
        window: WindowSpec { period: Period::Day, time_unit: Some(TimeUnit::Weeks), ..WindowSpec::default() },
        model: Some(ModelKind::BgNbd),
        saved: None,
        step: 7,
        periods: None,
        max_rejects: 0,
        options: Default::default(),
    };
    assert_eq!(track(&request).expect_err("no calibration end").code(), "calibration_end_needed");
    request.window.calibration_end = Some("1997-09-30".into());
    let points = track(&request).expect("track").points;
    assert_eq!(points.len(), 78);
    assert_eq!(points[77].actual, 4339);
    request.model = Some(ModelKind::GammaGamma);
    request.columns.amount = Some("dollars".into());
    assert_eq!(track(&request).expect_err("not a count model").code(), "not_applicable");
}

/// A Parquet summary written by Rapport carries its time unit to the fit and the saved
/// model; a fit report is not mistaken for a saved model.
#[test]
fn parquet_summaries_carry_their_unit() {
    use rapport_engine::output::{OutputFormat, write};
    use rapport_engine::summary::{PurchaseSource, SummaryRequest, summarize};
    let directory = tempfile::tempdir().expect("tempdir");
    let request = SummaryRequest {
        source: PurchaseSource::File { input: cdnow_sample(), columns: TransactionColumns::default() },
        window: WindowSpec { time_unit: Some(TimeUnit::Weeks), ..WindowSpec::default() },
        max_rejects: 0,
    };
    let summary = summarize(&request).expect("summary").summary;
    let path = directory.path().join("summary.parquet");
    write(&summary.customers.to_record_batch(), OutputFormat::Parquet, Some(&path), &mut std::io::sink()).expect("parquet");
    let outcome = fit(&FitRequest {
        source: CustomerSource::SummaryFile { path: path.clone(), time_unit: None },
        model: ModelKind::BgNbd,
        options: Default::default(),
    })
    .expect("fit from parquet");
    assert_eq!(outcome.saved.time_unit(), Some(TimeUnit::Weeks));
    assert_eq!(outcome.saved.fitted_on.customers, summary.customers.len() as f64);
    let report = directory.path().join("report.json");
    std::fs::write(&report, serde_json::to_string(&rapport_engine::clv::fit_json(outcome.saved.model.report())).expect("json"))
        .expect("write");
    let error = load_model(&report).expect_err("a report is not a model");
    assert!(error.to_string().contains("fit report"), "{error}");
}
