//! `rapport clv` from the command line.

use crate::{ok, repo, user_error};

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
    assert_eq!((saved_json["format"].as_str(), saved_json["version"].as_u64()), (Some("rapport-model"), Some(1)));
    let with_params =
        ok(&["clv", "predict", "-m", "bg-nbd", "--summary", &summary_file(), "--params", saved.to_str().expect("path"), "--horizon", "39"]);
    let refitted = ok(&["clv", "predict", "-m", "bg-nbd", "--summary", &summary_file(), "--horizon", "39"]);
    assert!(with_params.starts_with("customer_id,p_alive,expected_purchases\n1,0.72660"), "{}", &with_params[..100]);
    assert_eq!(with_params.lines().count(), 2358);
    assert_eq!(with_params.lines().nth(5), refitted.lines().nth(5));
}

#[test]
fn predict_with_spend_needs_an_explicit_time_unit() {
    let file = repo().join("data/cdnow/cdnow_customers_summary_with_transactions.csv").display().to_string();
    let message = user_error(&["clv", "predict", "-m", "bg-nbd", "--summary", &file]);
    assert!(message.contains("--time-unit"), "{message}");
    let out = ok(&["clv", "predict", "-m", "bg-nbd", "--summary", &file, "--time-unit", "weeks", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&out).expect("json");
    // lifetimes 0.11.3: customer 1's 12-month CLV (1% monthly, weekly data) is 36.2785.
    assert!((rows[0]["clv"].as_f64().expect("clv") - 36.2785).abs() < 0.01, "{}", rows[0]);
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
}
