//! `rapport clv` from the command line.

use crate::{csv_rows, ok, repo, user_error};

fn summary_file() -> String {
    repo().join("data/cdnow/cdnow_customers_summary.csv").display().to_string()
}

/// The BG/NBD fit JSON on Hardie's CDNOW summary: FHL (2005) parameters to 4 significant
/// digits, LL to 0.01; saved and reloaded, the model predicts the same.
#[test]
fn fit_prints_json_and_saves_a_model_that_predicts() {
    let directory = tempfile::tempdir().expect("tempdir");
    let saved = directory.path().join("bg.json");
    let out = ok(&["clv", "fit", "--model", "bg-nbd", "--summary", &summary_file(), "--save", saved.to_str().expect("path")]);
    let fit: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(fit["model"], "bg-nbd");
    assert_eq!(fit["n_customers"], 2357.0);
    assert_eq!(fit["converged"], true);
    let param = |name: &str| fit["params"][name].as_f64().expect("param");
    assert!((param("r") - 0.2426).abs() < 5e-5 && (param("alpha") - 4.4135).abs() < 5e-4);
    assert!((fit["log_likelihood"].as_f64().expect("ll") - -9582.43).abs() < 0.01);
    let saved_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&saved).expect("saved")).expect("json");
    assert_eq!((saved_json["format"].as_str(), saved_json["version"].as_u64()), (Some("rapport-model"), Some(2)));
    let with_params =
        ok(&["clv", "predict", "-m", "bg-nbd", "--summary", &summary_file(), "--params", saved.to_str().expect("path"), "--horizon", "39"]);
    let refitted = ok(&["clv", "predict", "-m", "bg-nbd", "--summary", &summary_file(), "--horizon", "39"]);
    assert!(
        with_params.starts_with("customer_id,frequency,recency,T,p_alive,expected_purchases\n1,2,30.43,38.86,0.72660"),
        "{}",
        &with_params[..100]
    );
    assert_eq!(with_params.lines().count(), 2358);
    assert_eq!(with_params.lines().nth(5), refitted.lines().nth(5));
}

#[test]
fn predict_with_spend_needs_an_explicit_time_unit() {
    let file = repo().join("data/cdnow/cdnow_customers_summary_with_transactions.csv").display().to_string();
    let message = user_error(&["clv", "predict", "-m", "bg-nbd", "--summary", &file]);
    assert!(message.contains("--time-unit"), "{message}");
    let clv = |extra: &[&str]| {
        let mut args = vec!["clv", "predict", "-m", "bg-nbd", "--summary", &file, "--time-unit", "week", "--format", "json"];
        args.extend_from_slice(extra);
        let rows: serde_json::Value = serde_json::from_str(&ok(&args)).expect("json");
        rows[0]["clv"].as_f64().expect("clv")
    };
    // lifetimes 0.11.3: customer 1's 12-month CLV (1% monthly, weekly data, its month of
    // 4.345 weeks) is 36.2785.
    let lifetimes_months = clv(&["--month", "lifetimes"]);
    assert!((lifetimes_months - 36.2785).abs() < 0.01, "{lifetimes_months}");
    // The default month is the mean Gregorian month (4.348125 weeks): a slightly longer horizon.
    let mean_months = clv(&[]);
    assert!(mean_months > lifetimes_months && mean_months < lifetimes_months * 1.001, "{mean_months} vs {lifetimes_months}");
}

#[test]
fn invalid_summaries_name_the_customer_or_line() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("s.csv");
    std::fs::write(&file, "customer_id,frequency,recency,T\na,1,2,3\nb,2,5,4\n").expect("write");
    let message = user_error(&["clv", "fit", "-m", "bg-nbd", "--summary", file.to_str().expect("path")]);
    assert!(message.contains("customer b") && message.contains("after T"), "{message}");
    std::fs::write(&file, "customer_id,frequency,recency,T\na,1.5,2,3\n").expect("write");
    assert!(user_error(&["clv", "fit", "-m", "pareto-nbd", "--summary", file.to_str().expect("path")]).contains("whole number"));
    std::fs::write(&file, "customer_id,frequency,recency,T\na,x,2,3\n").expect("write");
    assert!(user_error(&["clv", "fit", "-m", "bg-nbd", "--summary", file.to_str().expect("path")]).contains(":2: column \"frequency\""));
    std::fs::write(&file, "customer_id,frequency,recency,T\na,-1,0,3\n").expect("write");
    assert!(user_error(&["clv", "fit", "-m", "bg-nbd", "--summary", file.to_str().expect("path")]).contains("customer a"));
    assert!(user_error(&["clv", "fit", "-m", "bg-xyz", "--summary", file.to_str().expect("path")]).contains("--model"));
    assert!(
        user_error(&["clv", "fit", "-m", "bg-xyz", "--summary", file.to_str().expect("path")]).contains("pareto-nbd"),
        "lists the choices"
    );
}

const CDNOW_SAMPLE_READ: [&str; 10] = [
    "--columns",
    "original,id,date,cds,dollars",
    "--customer-column",
    "id",
    "--time-column",
    "date",
    "--time-format",
    "%Y%m%d",
    "--time-unit",
    "weeks",
];

/// lifetimes 0.11.3 `expected_cumulative_transactions` on the CDNOW sample (weekly points
/// over 78 weeks, BG/NBD at lifetimes' own fit): data/reference/lifetimes_cdnow_sample_tracking.csv,
/// made by scripts/reference/make_lifetimes_tracking_reference.py. Actual counts must be
/// equal; expected within 1e-9 relative (measured: 3e-12).
#[test]
fn tracking_matches_lifetimes_expected_cumulative_transactions_on_cdnow_sample() {
    let directory = tempfile::tempdir().expect("tempdir");
    let sample = repo().join("crates/rapport-engine/data/CDNOW_sample.txt");
    let sample = sample.to_str().expect("path");
    // Save a fitted model, then put lifetimes' parameters in it.
    let saved = directory.path().join("bg.json");
    let mut args =
        vec!["clv", "fit", "--model", "bg-nbd", sample, "--calibration-end", "1997-09-30", "--save", saved.to_str().expect("path")];
    args.extend_from_slice(&CDNOW_SAMPLE_READ);
    ok(&args);
    let mut model: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&saved).expect("read")).expect("json");
    model["fit"]["params"] = serde_json::json!([0.242592928279822, 4.413532265271825, 0.7928859664406758, 2.4257523826258134]);
    std::fs::write(&saved, model.to_string()).expect("write");
    let mut args =
        vec!["clv", "track", "--model", "bg-nbd", sample, "--params", saved.to_str().expect("path"), "--step", "7", "--periods", "546"];
    args.extend_from_slice(&CDNOW_SAMPLE_READ);
    let (header, rows) = csv_rows(&ok(&args));
    assert_eq!(header, ["step", "date", "time", "actual", "expected"]);
    let reference = std::fs::read_to_string(repo().join("data/reference/lifetimes_cdnow_sample_tracking.csv")).expect("reference");
    let (_, expected) = csv_rows(&reference);
    assert_eq!(rows.len(), 78);
    assert_eq!(rows[77][1], "1998-07-01");
    for (got, want) in rows.iter().zip(&expected) {
        assert_eq!(got[0], want[0], "week");
        assert_eq!(got[3], want[1], "actual repeat purchases, week {}", want[0]);
        let (got, want): (f64, f64) = (got[4].parse().expect("expected"), want[2].parse().expect("predicted"));
        assert!((got - want).abs() <= 1e-9 * want, "week: {got} vs {want}");
    }
}

#[test]
fn tracking_fits_on_the_calibration_period_or_says_what_is_missing() {
    let sample = repo().join("crates/rapport-engine/data/CDNOW_sample.txt");
    let sample = sample.to_str().expect("path");
    let mut args = vec!["clv", "track", "--model", "bg-nbd", sample, "--step", "7", "--calibration-end", "1997-09-30", "--format", "json"];
    args.extend_from_slice(&CDNOW_SAMPLE_READ);
    let points: Vec<serde_json::Value> = serde_json::from_str(&ok(&args)).expect("json");
    // Through the last purchase (1998-06-30): 546 days from 1997-01-01, 78 whole weeks; the
    // model fitted on the raw calibration log is within 1 purchase of lifetimes' at week 78.
    assert_eq!(points.len(), 78);
    let last = &points[77];
    assert_eq!(last["actual"], 4339);
    let expected = last["expected"].as_f64().expect("expected");
    assert!((expected - 4165.69).abs() < 1.0, "{expected}");
    let mut args = vec!["clv", "track", "--model", "bg-nbd", sample];
    args.extend_from_slice(&CDNOW_SAMPLE_READ);
    let message = user_error(&args);
    assert!(message.contains("--calibration-end") && message.contains("--params"), "{message}");
    let mut args = vec!["clv", "track", "--model", "gamma-gamma", sample, "--calibration-end", "1997-09-30", "--amount-column", "dollars"];
    args.extend_from_slice(&CDNOW_SAMPLE_READ);
    let message = user_error(&args);
    assert!(message.contains("purchase-count model"), "{message}");
}

/// A model saved in weeks, applied to the same customers expressed in days, is converted:
/// the same P(alive) and the same expected purchases over the same span (39 weeks = 273
/// days), to 1e-9.
#[test]
fn model_saved_in_weeks_predicts_the_same_on_daily_data() {
    let directory = tempfile::tempdir().expect("tempdir");
    let saved = directory.path().join("weekly.json");
    let weekly_file = summary_file();
    ok(&[
        "clv",
        "fit",
        "-m",
        "pareto-nbd",
        "--summary",
        &weekly_file,
        "--time-unit",
        "weeks",
        "--save",
        saved.to_str().expect("path"),
        "-q",
    ]);
    let (header, rows) = csv_rows(&std::fs::read_to_string(&weekly_file).expect("summary"));
    let daily_file = directory.path().join("daily.csv");
    let mut daily = header.join(",") + "\n";
    for row in &rows {
        let days = |text: &str| (text.parse::<f64>().expect("number") * 7.0).to_string();
        daily += &format!("{},{},{},{}\n", row[0], row[1], days(&row[2]), days(&row[3]));
    }
    std::fs::write(&daily_file, daily).expect("write");
    let predict = |file: &str, unit: &str, horizon: &str| {
        let out = ok(&[
            "clv",
            "predict",
            "--summary",
            file,
            "--time-unit",
            unit,
            "--params",
            saved.to_str().expect("path"),
            "--horizon",
            horizon,
        ]);
        csv_rows(&out).1
    };
    let in_weeks = predict(&weekly_file, "weeks", "39");
    let in_days = predict(daily_file.to_str().expect("path"), "days", "273");
    assert_eq!(in_weeks.len(), 2357);
    for (week, day) in in_weeks.iter().zip(&in_days) {
        for column in [4, 5] {
            let (a, b) = (week[column].parse::<f64>().expect("number"), day[column].parse::<f64>().expect("number"));
            assert!((a - b).abs() <= 1e-9 * b.abs().max(1e-12), "customer {}: {a} vs {b}", week[0]);
        }
    }
    // Without a unit the saved model cannot be converted: refused, naming both units.
    let message =
        user_error(&["clv", "predict", "--summary", daily_file.to_str().expect("path"), "--params", saved.to_str().expect("path")]);
    assert!(message.contains("weeks") && message.contains("unknown unit") && message.contains("--time-unit"), "{message}");
}

/// `clv predict --workspace` writes a results run, and `rapport runs` lists it.
#[test]
fn predict_on_a_workspace_writes_a_run() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("demo");
    let workspace = workspace.to_str().expect("path");
    ok(&["demo", "--cdnow", "--workspace", workspace, "-q"]);
    let before = csv_rows(&ok(&["runs", "--workspace", workspace, "--format", "csv"])).1;
    assert_eq!(before.len(), 1, "the demo writes one run");
    let out = ok(&[
        "clv",
        "predict",
        "--workspace",
        workspace,
        "--time-unit",
        "weeks",
        "--calibration-end",
        "1997-09-30",
        "--observation-end",
        "1998-06-30",
        "--horizon",
        "39",
        "-q",
    ]);
    let (header, rows) = csv_rows(&out);
    assert_eq!(rows.len(), 2357);
    assert!(header.iter().any(|name| name == "clv") && header.iter().any(|name| name == "frequency_holdout"), "{header:?}");
    let (header, runs) = csv_rows(&ok(&["runs", "--workspace", workspace, "--format", "csv"]));
    let column = |name: &str| header.iter().position(|column| column == name).expect(name);
    assert_eq!(runs.len(), 2);
    assert_eq!((runs[1][column("command")].as_str(), runs[1][column("customers")].as_str()), ("clv predict", "2357"));
    assert_eq!(runs[1][column("engine")], "embedded");
    let run_directory = std::path::Path::new(workspace).join("results").join(&runs[1][0]);
    for file in ["customers.parquet", "aggregates.json", "run.json"] {
        assert!(run_directory.join(file).is_file(), "{file}");
    }
}

/// Found by a first-time user on the UCI Online Retail log: a negative horizon was
/// accepted; `clv fit --format parquet` had nowhere to write; `--output x.parquet`
/// without `--format` wrote CSV into it.
#[test]
fn horizons_and_output_files_are_checked() {
    let message = user_error(&["clv", "predict", "--summary", &summary_file(), "--horizon=-3"]);
    assert!(message.contains("horizon") && message.contains("-3"), "{message}");
    let directory = tempfile::tempdir().expect("tempdir");
    let parquet = directory.path().join("fit.parquet");
    ok(&["clv", "fit", "--summary", &summary_file(), "--format", "parquet", "--output", parquet.to_str().expect("path"), "-q"]);
    assert!(std::fs::read(&parquet).expect("parquet").starts_with(b"PAR1"));
    let predictions = directory.path().join("p.parquet");
    ok(&["clv", "predict", "--summary", &summary_file(), "--output", predictions.to_str().expect("path"), "-q"]);
    assert!(std::fs::read(&predictions).expect("parquet").starts_with(b"PAR1"), "the extension chooses Parquet");
    let json = directory.path().join("fit.json");
    ok(&["clv", "fit", "--summary", &summary_file(), "--output", json.to_str().expect("path"), "-q"]);
    let fit: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("valid json");
    assert_eq!(fit["model"], "bg-nbd");
}

/// `analyze` and `clv predict` on the same workspace fit the same spend model: a refund
/// naming its order nets against that order's purchase in both (not on its own day in
/// `analyze`), so the Gamma-Gamma inputs, the customers it is fitted on and its
/// parameters agree. The generated brand's refunds name their orders.
#[test]
fn analyze_and_clv_predict_fit_the_same_spend_model() {
    let directory = tempfile::tempdir().expect("tempdir");
    let brand = directory.path().join("brand");
    let workspace = directory.path().join("ws");
    let (brand, workspace) = (brand.to_str().expect("path"), workspace.to_str().expect("path"));
    ok(&["generate", "--customers", "3000", "--truth-customers", "1", "--output", brand]);
    ok(&["init", workspace]);
    ok(&["ingest", "-q", "-w", workspace, "-k", "purchases", &format!("{brand}/purchases.csv")]);
    // (The summary says how many refunds it netted against their order's purchase.)
    let summary = crate::rapport(&["summary", "-w", workspace, "--format", "csv"]);
    let stderr = String::from_utf8_lossy(&summary.stderr);
    let netted = stderr
        .split(" refund(s) netted")
        .next()
        .and_then(|head| head.rsplit(['\n', ' ']).next())
        .and_then(|count| count.parse::<u64>().ok());
    assert!(summary.status.success() && netted.is_some_and(|netted| netted > 50), "{stderr}");

    let spend_model = || {
        let mut runs: Vec<_> = std::fs::read_dir(std::path::Path::new(workspace).join("results"))
            .expect("results")
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.join("aggregates.json").exists())
            .collect();
        runs.sort();
        let latest = runs.last().expect("a run");
        let aggregates: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(latest.join("aggregates.json")).expect("read")).expect("json");
        aggregates["models"].as_array().expect("models").iter().find(|model| model["model"] == "gamma-gamma").cloned().expect("gamma-gamma")
    };
    ok(&["clv", "predict", "-q", "-w", workspace, "--time-unit", "weeks", "--format", "csv"]);
    let predicted = spend_model();
    ok(&["analyze", "-q", "-w", workspace, "--format", "json"]);
    let analysed = spend_model();
    assert_eq!(predicted["n_customers"], analysed["n_customers"]);
    for name in ["p", "q", "v"] {
        let (a, b) = (predicted["params"][name].as_f64().expect("param"), analysed["params"][name].as_f64().expect("param"));
        assert!((a - b).abs() <= 1e-9 * a.abs(), "{name}: clv predict {a}, analyze {b}");
    }
}
