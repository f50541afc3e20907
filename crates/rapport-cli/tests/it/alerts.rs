//! `rapport alerts`: a planted surge of contacts is an alert; quiet weeks rarely are.

use std::fmt::Write as _;

use crate::ok;

/// 40 weeks of about 20 contacts a week (a steady pattern), then, with `surge`, a last
/// week of 80.
fn contacts_workspace(directory: &std::path::Path, surge: bool) -> String {
    let workspace = directory.join("ws");
    let workspace = workspace.to_str().expect("path").to_string();
    ok(&["init", &workspace]);
    let mut rows = String::from("customer_id,conversation_id,time,channel,direction,text\n");
    let end = 1_751_284_800_i64; // 2025-06-30T12:00:00Z
    let mut n = 0;
    for day in 1..280_i64 {
        // 2 or 3 contacts a day, in a fixed weekly pattern (20 a week).
        for k in 0..(2 + i64::from(day % 7 < 6)) {
            n += 1;
            writeln!(rows, "c{n},k{n},{},chat,inbound,Hello there", chrono_like(end - day * 86_400 - k * 3_600)).expect("write");
        }
    }
    if surge {
        for k in 0..60 {
            n += 1;
            writeln!(rows, "c{n},k{n},{},chat,inbound,Hello there", chrono_like(end - (k % 6) * 86_400 - 7_200)).expect("write");
        }
    }
    let file = directory.join("interactions.csv");
    std::fs::write(&file, rows).expect("write");
    ok(&["-q", "ingest", "-w", &workspace, "-k", "interactions", file.to_str().expect("path")]);
    ok(&["-q", "analyze", "-w", &workspace, "--as-of", "2025-06-30"]);
    workspace
}

fn chrono_like(time: i64) -> String {
    chrono::DateTime::from_timestamp(time, 0).expect("time").format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[test]
fn a_surge_of_contacts_is_an_alert_and_quiet_weeks_are_not() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = contacts_workspace(directory.path(), true);
    let json: serde_json::Value = serde_json::from_str(&ok(&["alerts", "-w", &workspace, "--format", "json"])).expect("json");
    let alerts = json["alerts"].as_array().expect("alerts");
    let weekly = alerts.iter().find(|a| a["indicator"] == "contacts_per_week").unwrap_or_else(|| panic!("no weekly alert: {json:#}"));
    assert_eq!(weekly["direction"], "up");
    assert!(weekly["value"].as_f64().is_some_and(|v| v >= 70.0), "{weekly}");
    let history = &json["history"]["contacts_per_week"];
    assert_eq!(history["alarms"], 0, "the 40 steady weeks before raise no alarm: {history}");
    let table = ok(&["alerts", "-w", &workspace]);
    assert!(table.contains("contacts_per_week up"), "{table}");

    let quiet = tempfile::tempdir().expect("tempdir");
    let workspace = contacts_workspace(quiet.path(), false);
    let json: serde_json::Value = serde_json::from_str(&ok(&["alerts", "-w", &workspace, "--format", "json"])).expect("json");
    assert_eq!(json["alerts"].as_array().map(Vec::len), Some(0), "{json:#}");
}
