//! `rapport actions`: the built-in "like a friend" playbook on a hand-made workspace with
//! one planted customer per rule, each with an opted-out twin; consent, cooldown and the
//! frequency cap; user rules.

use std::fmt::Write as _;

use crate::{csv_rows, ok, user_error};

const DAY: i64 = 86_400;
/// 2025-06-30T12:00:00Z.
const LAST: i64 = 1_751_284_800;

fn at(time: i64) -> String {
    chrono::DateTime::from_timestamp(time, 0).expect("time").format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn days_before(days: i64) -> i64 {
    LAST - days * DAY
}

/// The planted customers: (id, what they should get).
const PLANTED: [(&str, &str); 8] = [
    ("recover", "service_recovery"),
    ("winback", "win_back"),
    ("helpme", "proactive_help"),
    ("welcome", "welcome_back"),
    ("milestone", "thank_you"),
    ("promoter", "ask_for_review"),
    ("referrer", "ask_for_referral"),
    ("vip", "surprise_and_delight"),
];

struct Files {
    customers: String,
    purchases: String,
    interactions: String,
    surveys: String,
    engagement: String,
}

fn brand() -> Files {
    let mut files = Files {
        customers: "customer_id,preferred_channel,email_consent,sms_consent,opted_out\n".into(),
        purchases: "customer_id,order_id,time,amount\n".into(),
        interactions: "customer_id,conversation_id,time,channel,direction,text,resolved\n".into(),
        surveys: "customer_id,time,survey_type,score\n".into(),
        engagement: "customer_id,time,engagement_type,rating\n".into(),
    };
    let mut order = 0;
    let mut buy = |files: &mut Files, id: &str, time: i64, amount: f64| {
        order += 1;
        writeln!(files.purchases, "{id},o{order},{},{amount:.2}", at(time)).expect("write");
    };
    // Background: 120 customers who buy now and then, some of whom read help articles and
    // then get in touch (so article views predict a contact).
    for c in 0..120_i64 {
        let id = format!("bg{c:03}");
        writeln!(files.customers, "{id},email,true,true,false").expect("write");
        let gap = 20 + (c * 7) % 90;
        let mut time = days_before(700 - (c * 3) % 200);
        // A third stop buying long before the end, so the BG/NBD fit sees customers leave.
        let end = if c % 3 == 0 { days_before(250 + c) } else { days_before(5 + c % 60) };
        while time < end {
            buy(&mut files, &id, time, 20.0 + (c % 9) as f64 * 5.0);
            time += gap * DAY;
        }
        if c % 2 == 0 {
            let view = days_before(100 + c);
            writeln!(files.engagement, "{id},{},article-view,", at(view)).expect("write");
            if c % 4 == 0 {
                writeln!(files.interactions, "{id},k{id},{},chat,inbound,Where is my parcel?,true", at(view + 2 * DAY)).expect("write");
            }
        }
    }
    for twin in ["", "_out"] {
        let out = !twin.is_empty();
        let id = |name: &str| format!("{name}{twin}");
        let consent = |id: &str, preferred: &str, email: bool, sms: bool| format!("{id},{preferred},{email},{sms},{out}\n");
        // service_recovery: an unresolved complaint five days ago; prefers SMS but has not
        // consented to it, so e-mail.
        files.customers.push_str(&consent(&id("recover"), "sms", true, false));
        buy(&mut files, &id("recover"), days_before(200), 40.0);
        buy(&mut files, &id("recover"), days_before(30), 40.0);
        writeln!(
            files.interactions,
            "{},k{},{},chat,inbound,This is terrible. My order arrived broken and nobody answers.,false",
            id("recover"),
            id("recover"),
            at(days_before(5))
        )
        .expect("write");
        // win_back: a valuable regular who stopped buying.
        files.customers.push_str(&consent(&id("winback"), "email", true, true));
        for k in 0..14 {
            buy(&mut files, &id("winback"), days_before(600 - k * 30), 400.0);
        }
        // proactive_help: read a help article yesterday, no contact since.
        files.customers.push_str(&consent(&id("helpme"), "chat", true, true));
        buy(&mut files, &id("helpme"), days_before(300), 30.0);
        buy(&mut files, &id("helpme"), days_before(100), 30.0);
        writeln!(files.engagement, "{},{},article-view,", id("helpme"), at(days_before(1))).expect("write");
        // welcome_back: ordered three days ago after 250 days away.
        files.customers.push_str(&consent(&id("welcome"), "email", true, true));
        buy(&mut files, &id("welcome"), days_before(400), 35.0);
        buy(&mut files, &id("welcome"), days_before(253), 35.0);
        buy(&mut files, &id("welcome"), days_before(3), 35.0);
        // thank_you: the fifth order, two days ago.
        files.customers.push_str(&consent(&id("milestone"), "email", true, true));
        for k in [160, 120, 80, 40, 2] {
            buy(&mut files, &id("milestone"), days_before(k), 25.0);
        }
        // ask_for_review: a promoter ten days ago who never reviewed; no e-mail or SMS
        // consent, so by post.
        files.customers.push_str(&consent(&id("promoter"), "email", false, false));
        buy(&mut files, &id("promoter"), days_before(90), 50.0);
        buy(&mut files, &id("promoter"), days_before(45), 50.0);
        writeln!(files.surveys, "{},{},nps,10", id("promoter"), at(days_before(10))).expect("write");
        // ask_for_referral: a promoter who has already reviewed.
        files.customers.push_str(&consent(&id("referrer"), "email", true, true));
        buy(&mut files, &id("referrer"), days_before(95), 50.0);
        buy(&mut files, &id("referrer"), days_before(40), 50.0);
        writeln!(files.surveys, "{},{},nps,9", id("referrer"), at(days_before(12))).expect("write");
        writeln!(files.engagement, "{},{},review,5", id("referrer"), at(days_before(60))).expect("write");
        // surprise_and_delight: a long, strong relationship with no risk signal.
        files.customers.push_str(&consent(&id("vip"), "email", true, true));
        for k in 0..31 {
            buy(&mut files, &id("vip"), days_before(920 - k * 30), 120.0);
        }
        for k in 0..6 {
            writeln!(files.engagement, "{},{},share,", id("vip"), at(days_before(200 - k * 30))).expect("write");
        }
    }
    files
}

fn workspace(directory: &std::path::Path, extra_config: &str) -> String {
    let files = brand();
    let workspace = directory.join("ws");
    let workspace = workspace.to_str().expect("path").to_string();
    ok(&["init", &workspace]);
    let config = std::path::Path::new(&workspace).join("rapport.toml");
    let text = std::fs::read_to_string(&config).expect("config") + extra_config;
    std::fs::write(&config, text).expect("config");
    for (kind, text) in [
        ("customers", &files.customers),
        ("purchases", &files.purchases),
        ("interactions", &files.interactions),
        ("surveys", &files.surveys),
        ("engagement", &files.engagement),
    ] {
        let path = directory.join(format!("{kind}.csv"));
        std::fs::write(&path, text).expect("write");
        ok(&["-q", "ingest", "-w", &workspace, "-k", kind, path.to_str().expect("path")]);
    }
    workspace
}

fn actions(workspace: &str) -> Vec<Vec<String>> {
    let (header, rows) = csv_rows(&ok(&["actions", "-w", workspace]));
    assert_eq!(header, ["customer_id", "action", "channel", "priority", "reason", "control", "idempotency_key", "as_of"]);
    rows
}

#[test]
fn every_builtin_rule_fires_for_its_planted_customer_and_never_for_the_opted_out() {
    let directory = tempfile::tempdir().expect("tempdir");
    let workspace =
        workspace(directory.path(), "\n[matrix]\ntop_tier = \"strength_band = 5 AND longevity_band >= 4 AND net_spend > 3000\"\n");
    ok(&["-q", "analyze", "-w", &workspace, "--as-of", "2025-06-30"]);
    let rows = actions(&workspace);
    let of = |id: &str| rows.iter().find(|row| row[0] == id);
    for (id, action) in PLANTED {
        let row = of(id).unwrap_or_else(|| panic!("{id} got no action; actions: {rows:?}"));
        assert_eq!(row[1], action, "{id}: {row:?}");
        assert!(!row[4].is_empty(), "{id} has a reason");
        assert!(of(&format!("{id}_out")).is_none(), "{id}_out opted out but got {:?}", of(&format!("{id}_out")));
    }
    // Consent picks the channel; reasons carry the numbers.
    assert_eq!(of("recover").expect("recover")[2], "email");
    assert_eq!(of("promoter").expect("promoter")[2], "mail");
    assert!(of("welcome").expect("welcome")[4].contains("250 days away"), "{:?}", of("welcome"));
    assert!(of("milestone").expect("milestone")[4].starts_with("5th order"), "{:?}", of("milestone"));
    assert!(of("helpme").expect("helpme")[4].contains("article-view"), "{:?}", of("helpme"));
    // Idempotency keys are unique; the same analysis again gives the same actions.
    let mut keys: Vec<&String> = rows.iter().map(|row| &row[6]).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), rows.len());
    ok(&["-q", "analyze", "-w", &workspace, "--as-of", "2025-06-30"]);
    assert_eq!(actions(&workspace), rows, "a rerun on the same day repeats the list");

    // A day later: nobody who was sent an action yesterday gets another (frequency cap 7
    // days), and the cooldown keeps the same action from repeating.
    ok(&["-q", "analyze", "-w", &workspace, "--as-of", "2025-07-01"]);
    let later = actions(&workspace);
    for row in &later {
        let before = rows.iter().find(|earlier| earlier[0] == row[0]);
        assert!(before.is_none_or(|before| before[5] == "true"), "{} again a day later: {row:?}", row[0]);
    }
}

#[test]
fn user_rules_join_the_playbook_and_config_mistakes_are_caught() {
    let directory = tempfile::tempdir().expect("tempdir");
    let config = "\n[segments]\nbig = \"net_spend > 3000\"\n\n[actions]\nbuiltin = false\ncontrol_share = 0\n\n[[playbook]]\naction = \"big_thanks\"\nwhen = \"big AND net_spend > 3000\"\nchannel = \"phone\"\npriority = 70\n";
    let workspace = workspace(directory.path(), config);
    ok(&["-q", "analyze", "-w", &workspace, "--as-of", "2025-06-30"]);
    let rows = actions(&workspace);
    let ids: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(ids, ["vip", "winback"], "{rows:?}");
    assert!(rows.iter().all(|row| row[1] == "big_thanks" && row[2] == "phone" && row[5] == "false"));
    assert!(rows[0][4].starts_with("big AND net_spend > 3000 (big = true, net_spend = "), "{:?}", rows[0]);

    let path = std::path::Path::new(&workspace).join("rapport.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    std::fs::write(&path, text.replace("channel = \"phone\"", "channel = \"pigeon\"")).expect("config");
    let message = user_error(&["actions", "-w", &workspace]);
    assert!(message.contains("pigeon") && message.contains("line "), "{message}");
    std::fs::write(&path, text.replace("control_share = 0", "control_share = 0.9")).expect("config");
    let message = user_error(&["actions", "-w", &workspace]);
    assert!(message.contains("0 to 0.5"), "{message}");
}

/// A local webhook that fails some requests: the first attempt of every third action
/// gets a 503 (retried, then accepted), one customer's action a 400 (a bad request is
/// not retried, and is reported).
#[test]
fn the_webhook_retries_and_reports_failures() {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};

    let directory = tempfile::tempdir().expect("tempdir");
    let workspace = workspace(directory.path(), "\n[actions]\ncontrol_share = 0\n");
    ok(&["-q", "analyze", "-w", &workspace, "--as-of", "2025-06-30"]);
    let expected = actions(&workspace);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    // Per idempotency key: the bodies received and the statuses answered.
    type Seen = HashMap<String, Vec<(String, u16)>>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let (mut length, mut key) = (0, String::new());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("idempotency-key:") {
                    key = line["idempotency-key:".len()..].trim().to_string();
                }
                line.clear();
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("body");
            let body = String::from_utf8(body).expect("utf-8");
            let mut seen = record.lock().expect("lock");
            let attempts = seen.entry(key.clone()).or_default();
            let status = if body.contains("\"customer_id\":\"promoter\"") {
                400
            } else if attempts.is_empty() && key.as_bytes()[0] % 3 == 0 {
                503
            } else {
                200
            };
            attempts.push((body, status));
            drop(seen);
            let reason = match status {
                200 => "OK",
                400 => "Bad Request",
                _ => "Service Unavailable",
            };
            let _ = write!(stream, "HTTP/1.1 {status} {reason}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno");
        }
    });

    let output = crate::rapport(&["actions", "-w", &workspace, "--webhook", &url, "--webhook-retries", "2"]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 of ") && stderr.contains("could not be posted"), "{stderr}");
    let (header, failed) = csv_rows(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(header, ["customer_id", "action", "idempotency_key", "attempts", "error"]);
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0][0].as_str(), failed[0][3].as_str()), ("promoter", "1"), "a 400 is not retried");
    assert!(failed[0][4].starts_with("HTTP 400"), "{:?}", failed[0]);

    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), expected.len(), "every action reached the hook");
    let mut retried = 0;
    for row in &expected {
        let attempts = seen.get(&row[6]).unwrap_or_else(|| panic!("{} never posted", row[0]));
        let body: serde_json::Value = serde_json::from_str(&attempts[0].0).expect("json body");
        assert_eq!((body["customer_id"].as_str(), body["action"].as_str()), (Some(row[0].as_str()), Some(row[1].as_str())));
        assert_eq!(body["idempotency_key"], row[6].as_str());
        if row[0] != "promoter" {
            assert_eq!(attempts.last().map(|a| a.1), Some(200), "{}: {attempts:?}", row[0]);
            assert!(attempts.iter().filter(|a| a.1 == 200).count() == 1, "accepted once");
            retried += usize::from(attempts.len() > 1);
        }
    }
    assert!(retried > 0, "some action was retried after a 503");
    assert!(stderr.contains(&format!("({retried} after a retry)")), "{stderr}");

    let message = user_error(&["actions", "-w", &workspace, "--webhook", "ftp://example"]);
    assert!(message.contains("http:// or https://"), "{message}");
}

/// The generator's planted customers (`rapport generate --plant-playbook`), inside a
/// synthetic brand of 3,000 customers as the background: each built-in rule fires for
/// the customer planted for it, and never for its opted-out twin.
#[test]
fn every_builtin_rule_fires_for_the_customer_the_generator_planted() {
    let directory = tempfile::tempdir().expect("tempdir");
    let brand = directory.path().join("brand");
    let brand_text = brand.to_str().expect("path");
    let output = crate::rapport(&["generate", "--customers", "3000", "--truth-customers", "1", "--plant-playbook", "--output", brand_text]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("planted 16 customers for the playbook"));
    let workspace = directory.path().join("ws").to_str().expect("path").to_string();
    ok(&["init", &workspace, "--timezone", "Europe/London", "--currency", "GBP"]);
    for kind in ["customers", "purchases", "interactions", "surveys", "engagement"] {
        let file = brand.join(format!("{kind}.csv"));
        ok(&["-q", "ingest", "-w", &workspace, "-k", kind, file.to_str().expect("path")]);
    }
    ok(&["-q", "analyze", "-w", &workspace]);
    let rows = actions(&workspace);
    let (header, planted) = csv_rows(&std::fs::read_to_string(brand.join("planted_actions.csv")).expect("planted"));
    assert_eq!(header, ["customer_id", "expected_action", "opted_out"]);
    assert_eq!(planted.len(), 16);
    for row in &planted {
        let got = rows.iter().find(|action| action[0] == row[0]);
        if row[2] == "true" {
            assert!(got.is_none(), "{} opted out but got {got:?}", row[0]);
        } else {
            let got = got.unwrap_or_else(|| panic!("{} got no action", row[0]));
            assert_eq!(got[1], row[1], "{}: {got:?}", row[0]);
        }
    }
}
