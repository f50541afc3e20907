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
    // A window's count is a whole number, in the JSON and in the table.
    assert!(weekly["n"].is_u64(), "{weekly}");
    let table = ok(&["alerts", "-w", &workspace]);
    let value = weekly["value"].as_f64().expect("value");
    let line = format!("contacts_per_week up: {value:.0} (n = {})", weekly["n"]);
    assert!(table.contains(&line), "{line:?} in {table}");

    let quiet = tempfile::tempdir().expect("tempdir");
    let workspace = contacts_workspace(quiet.path(), false);
    let json: serde_json::Value = serde_json::from_str(&ok(&["alerts", "-w", &workspace, "--format", "json"])).expect("json");
    assert_eq!(json["alerts"].as_array().map(Vec::len), Some(0), "{json:#}");
}

/// An indicator with nothing to count is named with why, not judged "in control": on the
/// contacts workspace NPS, engagement and reply times; on a purchases-only brand every one.
#[test]
fn indicators_without_data_are_not_judged_and_say_why() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = contacts_workspace(directory.path(), false);
    let json: serde_json::Value = serde_json::from_str(&ok(&["alerts", "-w", &workspace, "--format", "json"])).expect("json");
    let skipped = &json["not_judged"];
    assert_eq!(skipped["nps"], "no NPS answers before the observation end", "{json:#}");
    assert_eq!(skipped["engagement_per_week"], "no social engagement before the observation end", "{json:#}");
    assert_eq!(skipped["first_response_hours_median"], "no conversation has a reply after a customer message", "{json:#}");
    assert!(skipped["contacts_per_week"].is_null() && json["history"]["contacts_per_week"].is_object(), "{json:#}");
    assert!(json["history"]["nps"].is_null(), "{json:#}");

    let purchases = tempfile::tempdir().expect("tempdir");
    let workspace = purchases.path().join("ws").to_str().expect("path").to_string();
    ok(&["init", &workspace]);
    let mut rows = String::from("customer_id,time,amount\n");
    for n in 0..200_i64 {
        writeln!(rows, "c{},{},{}.00", n % 40, chrono_like(1_751_284_800 - n * 86_400 * 4), 10 + n % 7).expect("write");
    }
    let file = purchases.path().join("purchases.csv");
    std::fs::write(&file, rows).expect("write");
    ok(&["-q", "ingest", "-w", &workspace, "-k", "purchases", file.to_str().expect("path")]);
    ok(&["-q", "analyze", "-w", &workspace, "--as-of", "2025-06-30"]);
    let json: serde_json::Value = serde_json::from_str(&ok(&["alerts", "-w", &workspace, "--format", "json"])).expect("json");
    for indicator in ["contacts_per_week", "contacts_per_day", "negative_contact_share", "first_response_hours_median"] {
        assert_eq!(json["not_judged"][indicator], "no conversations (interactions) before the observation end", "{json:#}");
    }
    assert_eq!(json["history"], serde_json::json!({}), "{json:#}");
    let table = ok(&["alerts", "-w", &workspace]);
    assert!(table.contains("0 indicators outside the baseline (0 judged in the latest window, 6 not)"), "{table}");
    assert!(table.contains("  not judged: contacts_per_week (no conversations") && table.contains("; nps (no NPS answers"), "{table}");

    // Conversations over the last 100 days of 800 days of purchases: their indicators are
    // judged from their first data, not over 800 days of "quiet" before it.
    let mut rows = String::from("customer_id,conversation_id,time,channel,direction,text\n");
    for day in 0..100_i64 {
        for k in 0..3 {
            writeln!(rows, "c{},k{day}-{k},{},chat,inbound,Hello there", day % 40, chrono_like(1_751_284_800 - day * 86_400 - k * 3_600))
                .expect("write");
        }
    }
    let file = purchases.path().join("interactions.csv");
    std::fs::write(&file, rows).expect("write");
    ok(&["-q", "ingest", "-w", &workspace, "-k", "interactions", file.to_str().expect("path")]);
    ok(&["-q", "analyze", "-w", &workspace, "--as-of", "2025-06-30"]);
    let json: serde_json::Value = serde_json::from_str(&ok(&["alerts", "-w", &workspace, "--format", "json"])).expect("json");
    let judged = |name: &str| json["history"][name]["windows_judged"].as_u64().unwrap_or_else(|| panic!("{name}: {json:#}"));
    assert!(judged("contacts_per_day") <= 100 - 28 && judged("contacts_per_day") >= 60, "{json:#}");
    assert!(judged("contacts_per_week") <= 15 - 12, "{json:#}");
    assert!(json["not_judged"]["contacts_per_week"].is_null(), "{json:#}");
}
