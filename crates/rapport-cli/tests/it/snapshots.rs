//! Snapshot tests (insta) of what people read: help, a fit table, the demo's headline.

use crate::{ok, repo};

#[test]
fn help_lists_every_subcommand() {
    insta::assert_snapshot!("help", ok(&["--help"]));
}

#[test]
fn clv_fit_table_for_cdnow() {
    let summary = repo().join("data/cdnow/cdnow_customers_summary.csv");
    let table = ok(&["clv", "fit", "--model", "bg-nbd", "--summary", summary.to_str().expect("path"), "--format", "table", "-q"]);
    insta::assert_snapshot!("clv_fit_bg_nbd_table", table);
}

#[test]
fn demo_headline() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("demo");
    let out = ok(&["demo", "--cdnow", "--workspace", workspace.to_str().expect("path"), "-q"]);
    // The first block (figures and models) without the workspace path.
    let headline: Vec<&str> = out.lines().skip(1).take_while(|line| !line.starts_with("Customer summary")).collect();
    insta::assert_snapshot!("demo_headline", headline.join("\n"));
}

/// The synthetic-brand demo's headlines beside the truth (a small brand, a small truth
/// simulation; times and paths redacted).
#[test]
fn brand_demo_headlines() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("demo");
    let workspace = workspace.to_str().expect("path");
    let out = ok(&["demo", "--customers", "1500", "--seed", "5", "--truth-customers", "20000", "--workspace", workspace, "-q"]);
    let seconds = regex_lite_seconds(&out.replace(workspace, "[workspace]"));
    let run = seconds
        .lines()
        .map(|line| line.split("results/").nth(1).and_then(|rest| rest.split('/').next()).map(str::to_string))
        .find_map(|id| id);
    let redacted = match run {
        Some(id) => seconds.replace(&id, "[run]"),
        None => seconds,
    };
    insta::assert_snapshot!("brand_demo_headlines", redacted);
}

/// "(1.2 s)" → "([time])".
fn regex_lite_seconds(text: &str) -> String {
    text.lines()
        .map(|line| match (line.rfind("  ("), line.ends_with(" s)")) {
            (Some(at), true) => format!("{}  ([time])", &line[..at]),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Floats rounded to 6 significant digits, so a snapshot does not move with the last bits.
fn rounded(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or_default();
            let rounded = if float == 0.0 { 0.0 } else { format!("{float:.5e}").parse::<f64>().unwrap_or(float) };
            serde_json::json!(rounded)
        }
        Value::Array(values) => Value::Array(values.into_iter().map(rounded).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(key, value)| (key, rounded(value))).collect()),
        other => other,
    }
}

#[test]
fn clv_fit_json_for_cdnow() {
    let summary = repo().join("data/cdnow/cdnow_customers_summary.csv");
    let out = ok(&["clv", "fit", "--model", "pareto-nbd", "--summary", summary.to_str().expect("path"), "-q"]);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    insta::assert_json_snapshot!("clv_fit_pareto_nbd_json", rounded(json));
}

#[test]
fn summary_json_and_runs_json() {
    let sample = repo().join("crates/rapport-engine/data/CDNOW_sample.txt");
    let out = ok(&[
        "summary",
        sample.to_str().expect("path"),
        "--columns",
        "orig,customer_id,date,cds,amount",
        "--amount-column",
        "amount",
        "--time-unit",
        "weeks",
        "--calibration-end",
        "1997-09-30",
        "--observation-end",
        "1998-06-30",
        "--format",
        "json",
        "-q",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
    insta::assert_json_snapshot!("summary_first_rows_json", rounded(serde_json::Value::Array(rows[..3].to_vec())));
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = directory.path().join("demo");
    ok(&["demo", "--cdnow", "--workspace", workspace.to_str().expect("path"), "-q"]);
    let runs: serde_json::Value =
        serde_json::from_str(&ok(&["runs", "--workspace", workspace.to_str().expect("path"), "--format", "json"])).expect("json");
    insta::assert_json_snapshot!("runs_json", runs, {
        "[].run" => "[run id]",
        "[].started_at" => "[time]",
        "[].finished_at" => "[time]",
        "[].rapport_version" => "[version]",
    });
}
