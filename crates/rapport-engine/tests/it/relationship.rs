//! Strength, the Customer Matrix and segments inside `analyze`, held against the
//! synthetic brand's own later purchases.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, UInt32Type};
use rapport_engine::analyze::{AnalyzeRequest, analyze, load_timelines};
use rapport_engine::demo::{BrandDemoRequest, run_brand_demo};

fn read(path: &std::path::Path) -> RecordBatch {
    rapport_store::input::read_parquet_file(path).expect("parquet")
}

/// A column as text (whatever its string type).
fn texts(batch: &RecordBatch, name: &str) -> Vec<String> {
    let column = arrow::compute::cast(batch.column_by_name(name).expect(name), &arrow::datatypes::DataType::Utf8).expect("cast");
    (0..column.len()).map(|row| column.as_string::<i32>().value(row).to_string()).collect()
}

/// A Float64 column, nulls as NaN.
fn numbers(batch: &RecordBatch, name: &str) -> Vec<f64> {
    let column = batch.column_by_name(name).expect(name).as_primitive::<Float64Type>().clone();
    (0..column.len()).map(|row| if column.is_valid(row) { column.value(row) } else { f64::NAN }).collect()
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    rapport_action::rank::spearman(a, b)
}

/// Analysed as of 2024-12-31, the matrix's cells ordered by predicted spend over the
/// next 52 weeks track what their customers actually spent in 2025 (the brand's own
/// later purchases, never seen by the analysis): Spearman ≥ 0.9 across cells.
#[test]
fn matrix_cells_by_predicted_spend_track_the_next_years_spend() {
    let directory = tempfile::tempdir().expect("temp");
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: 6_000, seed: 5, truth_customers: 20_000 };
    run_brand_demo(&request, &|_| {}).expect("demo");
    let outcome =
        analyze(&AnalyzeRequest { workspace: request.directory.clone(), as_of: Some("2024-12-31".into()) }, &|_| {}).expect("analyze");
    let run = request.directory.join("results").join(&outcome.run.id);
    let customers = read(&run.join("customers.parquet"));

    // Actual spend in 2025, per customer, from the whole history.
    let workspace = rapport_store::workspace::Workspace::open(&request.directory).expect("open");
    let loaded = load_timelines(&workspace, Some("2025-12-31"), &|_| {}).expect("timelines");
    let as_of = 1_735_689_599; // 2024-12-31T23:59:59 London (GMT)
    let actual: HashMap<&str, f64> = loaded
        .timelines
        .iter()
        .map(|t| (t.customer.as_str(), t.purchases.iter().filter(|p| p.time > as_of).map(|p| p.amount).sum::<f64>()))
        .collect();

    let ids = customers.column_by_name("customer_id").expect("ids");
    let ids = ids.as_string::<i64>();
    let band = |name: &str| customers.column_by_name(name).expect(name).as_primitive::<UInt32Type>().clone();
    let (longevity, strength) = (band("longevity_band"), band("strength_band"));
    let predicted = customers.column_by_name("predicted_spend_52_weeks").expect("predicted").as_primitive::<Float64Type>().clone();
    // Per cell: predicted spend summed over the customers who have a prediction (null,
    // not zero, for one without: no purchase to fit on), actual spend over every customer.
    let mut cells: BTreeMap<(u32, u32), (f64, u64, f64, u64)> = BTreeMap::new();
    for row in (0..customers.num_rows()).filter(|&row| longevity.is_valid(row) && strength.is_valid(row)) {
        let cell = cells.entry((longevity.value(row), strength.value(row))).or_default();
        if predicted.is_valid(row) {
            cell.0 += predicted.value(row);
            cell.1 += 1;
        }
        cell.2 += actual.get(ids.value(row)).copied().unwrap_or(0.0);
        cell.3 += 1;
    }
    let cells: Vec<(f64, f64)> = cells.values().filter(|c| c.1 >= 30).map(|c| (c.0 / c.1 as f64, c.2 / c.3 as f64)).collect();
    assert!(cells.len() >= 15, "{} cells with 30 customers", cells.len());
    let (predicted, actual): (Vec<f64>, Vec<f64>) = cells.iter().copied().unzip();
    let rho = spearman(&predicted, &actual);
    eprintln!("cells {} spearman {rho:.3}: {cells:?}", cells.len());
    assert!(rho >= 0.9, "Spearman {rho} across {} cells: {cells:?}", cells.len());

    // The strength weights were learned, and the strength index itself ranks next year's spend.
    let aggregates: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("aggregates.json")).expect("aggregates")).expect("json");
    assert_eq!(aggregates["relationship"]["strength"]["learned"], true, "{}", aggregates["relationship"]);

    // Every customer is on the grid and the cells add up.
    let matrix = read(&run.join("matrix.parquet"));
    let counts = matrix.column_by_name("customers").expect("customers").as_primitive::<arrow::datatypes::UInt64Type>();
    assert_eq!(counts.values().iter().sum::<u64>() as usize, customers.num_rows());
}

/// A 6,000-customer synthetic brand analysed at its observation end, shared by the tests
/// that read a whole analysis: the report and the results run's directory.
fn brand() -> (&'static rapport_engine::demo::BrandDemoReport, std::path::PathBuf) {
    static BRAND: std::sync::OnceLock<(tempfile::TempDir, rapport_engine::demo::BrandDemoReport)> = std::sync::OnceLock::new();
    let (directory, report) = BRAND.get_or_init(|| {
        let directory = tempfile::tempdir().expect("temp");
        let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: 6_000, seed: 5, truth_customers: 1 };
        let report = run_brand_demo(&request, &|_| {}).expect("demo");
        (directory, report)
    });
    (report, directory.path().join("demo").join("results").join(&report.analysis.run.id))
}

/// The brand's planted incident (deliveries failed 2025-11-03 … 2025-11-09, and that
/// week's complaints surged) raises the contact-volume and negative-contact alerts in the
/// windows that overlap it; on quiet windows the volume alerts rarely fire (false alarms
/// per 100 quiet windows printed for every indicator, and bounded for the volume ones).
/// Every limit lies within what its measure can take.
#[test]
fn alerts_fire_on_the_planted_incident_and_rarely_on_quiet_weeks() {
    let (_, run) = brand();
    let indicators = read(&run.join("indicators.parquet"));
    let text = |name: &str| texts(&indicators, name);
    let number = |name: &str| numbers(&indicators, name);
    let (names, ends) = (text("indicator"), text("window_end"));
    let days = indicators.column_by_name("window_days").expect("days").as_primitive::<arrow::datatypes::UInt64Type>().clone();
    let signal = indicators.column_by_name("signal").expect("signal").as_primitive::<arrow::datatypes::Int64Type>().clone();
    let (lower, upper) = (number("lower"), number("upper"));
    // A window's size is a count.
    assert_eq!(indicators.column_by_name("n").expect("n").data_type(), &arrow::datatypes::DataType::UInt64);
    // Every limit is a value the measure can take: no negative counts or reply times, NPS
    // within ±100, a share within 0–1.
    for row in (0..names.len()).filter(|&row| !lower[row].is_nan()) {
        let (least, most) = match names[row].as_str() {
            "negative_contact_share" => (0.0, 1.0),
            "nps" => (-100.0, 100.0),
            _ => (0.0, f64::INFINITY),
        };
        assert!(
            least <= lower[row] && lower[row] <= upper[row] && upper[row] <= most,
            "{} {}: {} {}",
            names[row],
            ends[row],
            lower[row],
            upper[row]
        );
    }
    // A window ending on `end` (local date, inclusive) of `length` days overlaps the incident.
    let day_number = |date: &str| {
        chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date").signed_duration_since(chrono::NaiveDate::default()).num_days()
    };
    let (first, last) = (day_number("2025-11-03"), day_number("2025-11-09"));
    let overlaps = |row: usize| {
        let end = day_number(&ends[row]);
        end >= first && end - (days.value(row) as i64) < last
    };
    let mut quiet: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut incident: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for row in 0..names.len() {
        if lower[row].is_nan() {
            continue; // no baseline yet
        }
        let tally =
            if overlaps(row) { incident.entry(names[row].as_str()).or_default() } else { quiet.entry(names[row].as_str()).or_default() };
        tally.0 += 1;
        tally.1 += u64::from(signal.value(row) > 0 || (!overlaps(row) && signal.value(row) != 0));
    }
    for (name, (windows, alarms)) in &quiet {
        eprintln!("{name}: {alarms} false alarms in {windows} quiet windows ({:.1} per 100)", 100.0 * *alarms as f64 / *windows as f64);
    }
    eprintln!("incident windows (windows, raised): {incident:?}");
    assert_eq!(incident["contacts_per_day"], (7, 7), "every incident day raises contacts_per_day");
    assert_eq!(
        incident["contacts_per_week"].0, incident["contacts_per_week"].1,
        "every week overlapping the incident raises contacts_per_week"
    );
    assert!(incident["negative_contact_share"].1 >= 1, "the negative share rises: {incident:?}");
    for name in ["contacts_per_day", "contacts_per_week"] {
        let (windows, alarms) = quiet[name];
        assert!(alarms * 100 <= 3 * windows, "{name}: {alarms} false alarms in {windows} quiet windows");
    }
    // Reply times, judged on the log scale: 10 in 182 quiet weeks on this brand (16 on
    // the hours scale); docs/measures.md, "Alerts".
    let (windows, alarms) = quiet["first_response_hours_median"];
    assert!(alarms * 100 <= 6 * windows, "first_response_hours_median: {alarms} false alarms in {windows} quiet windows");
}

/// On the synthetic brand at its observation end, the supervised propensity model that
/// scores customers beats the BG/NBD baseline on the holdout (both AUCs reported, and
/// DeLong's paired interval for the lead above 0): the brand plants effects BG/NBD cannot
/// see (customers who leave after an unresolved bad experience; contact as a sign of life).
#[test]
fn supervised_propensity_beats_the_btyd_baseline_on_the_holdout() {
    let (report, run) = brand();
    let propensity = read(&run.join("propensity.parquet"));
    let text = |name: &str| texts(&propensity, name);
    let number = |name: &str| numbers(&propensity, name);
    let (models, chosen) = (text("model"), text("scores_customers"));
    let (auc, lead_lower) = (number("auc"), number("auc_over_baseline_lower"));
    eprintln!("propensity {models:?} auc {auc:?} lead lower {lead_lower:?} chosen {chosen:?}");
    assert_eq!(models[0], "btyd_baseline");
    let scoring = chosen.iter().position(|flag| flag == "true").expect("a model scores customers");
    assert_ne!(scoring, 0, "a supervised model fitted and scores");
    assert!(auc[scoring] > auc[0] && lead_lower[scoring] > 0.0, "supervised {} vs baseline {}: {lead_lower:?}", auc[scoring], auc[0]);
    let headlines = &report.analysis.headlines;
    assert!(headlines.contains_key("purchase_propensity_auc") && headlines.contains_key("purchase_propensity_auc_btyd"));
    let customers = read(&run.join("customers.parquet"));
    let purchase = customers.column_by_name("purchase_propensity").expect("column").as_primitive::<Float64Type>().clone();
    let churn = customers.column_by_name("churn_propensity").expect("column").as_primitive::<Float64Type>().clone();
    for row in 0..customers.num_rows() {
        if purchase.is_valid(row) && purchase.value(row).is_finite() {
            assert!((0.0..=1.0).contains(&purchase.value(row)));
            assert!((purchase.value(row) + churn.value(row) - 1.0).abs() < 1e-12);
        }
    }
}

/// Who responds to a program: the brand plants a response 2.5 times the program's mean
/// for the socially engaged 30% and 0.36 times for the others. Scored as of the end, the
/// T-learner predicts a larger response for the engaged than for the others, for each
/// program it learned (and at least one); the cross-fitted ranking of the contacted
/// customers and its groups are printed.
#[test]
fn response_to_programs_finds_the_customers_who_respond() {
    // Control groups are a fifth of a quarter of the eligible customers: learning who
    // responds needs a brand larger than the other tests' (`brand()`).
    const CUSTOMERS: u64 = 25_000;
    let directory = tempfile::tempdir().expect("temp");
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: CUSTOMERS, seed: 5, truth_customers: 1 };
    let report = run_brand_demo(&request, &|_| {}).expect("demo");
    let run = request.directory.join("results").join(&report.analysis.run.id);
    for name in ["spring_winback", "autumn_voucher"] {
        let key = format!("response_gain_{name}");
        eprintln!("{key}: {:?} {:?}", report.analysis.headlines.get(&key), report.analysis.skipped.get(&key));
    }
    let groups = read(&run.join("program_response.parquet"));
    let programs = texts(&groups, "program");
    let uplift = numbers(&groups, "uplift");
    eprintln!("program response groups: {:?}", programs.iter().zip(&uplift).collect::<Vec<_>>());
    let scores = read(&run.join("program_response_scores.parquet"));
    let (customers, program, predicted) =
        (texts(&scores, "customer_id"), texts(&scores, "program"), numbers(&scores, "predicted_response"));
    let mut checked = 0;
    for name in ["spring_winback", "autumn_voucher"] {
        let headline = report.analysis.headlines.get(&format!("response_gain_{name}"));
        let Some(headline) = headline else {
            eprintln!("{name}: {:?}", report.analysis.skipped.get(&format!("response_gain_{name}")));
            continue;
        };
        eprintln!("{name}: gain {headline:?}");
        let mut sums = [(0.0, 0u64); 2];
        for row in (0..customers.len()).filter(|&row| program[row] == name) {
            let index: u64 = customers[row][1..].parse().expect("a generated id");
            let engaged = rapport_synth::story::story(5, index, CUSTOMERS).engaged;
            let sum = &mut sums[usize::from(engaged)];
            sum.0 += predicted[row];
            sum.1 += 1;
        }
        let (others, engaged) = (sums[0].0 / sums[0].1 as f64, sums[1].0 / sums[1].1 as f64);
        eprintln!("{name}: mean predicted response engaged {engaged:.4} ({}), others {others:.4} ({})", sums[1].1, sums[0].1);
        assert!(engaged > others + 0.02, "{name}: engaged {engaged} vs others {others}");
        checked += 1;
    }
    assert!(checked >= 1, "no program's response was learned");
    // The best program is one of them, only where its predicted response is above 0.
    let table = read(&run.join("customers.parquet"));
    let (best, response) = (table.column_by_name("best_program").expect("best_program"), numbers(&table, "best_program_response"));
    let best = arrow::compute::cast(best, &arrow::datatypes::DataType::Utf8).expect("cast");
    let best = best.as_string::<i32>();
    for (row, response) in response.iter().enumerate() {
        if best.is_valid(row) {
            assert!(*response > 0.0 && ["spring_winback", "autumn_voucher"].contains(&best.value(row)));
        }
    }
}

/// The customer table's columns are the documented ones, in order (rapport.toml's
/// conditions are checked against this list when the config loads).
#[test]
fn the_customer_table_has_the_documented_columns() {
    let directory = tempfile::tempdir().expect("temp");
    let request = BrandDemoRequest { directory: directory.path().join("demo"), customers: 400, seed: 3, truth_customers: 20_000 };
    let report = run_brand_demo(&request, &|_| {}).expect("demo");
    let run = request.directory.join("results").join(&report.analysis.run.id);
    let customers = read(&run.join("customers.parquet"));
    let names: Vec<String> = customers.schema().fields().iter().map(|field| field.name().clone()).collect();
    let documented: Vec<String> = rapport_core::table::analyze_columns().iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(names, documented);
    for file in ["matrix.parquet", "top_tier_watch.parquet", "segments.parquet", "clusters.parquet"] {
        assert!(run.join(file).is_file(), "{file}");
    }
}
